"""Timing `Search.run()`: each query whole, and, in a separate untimed pass, split into the
Store methods it calls and the SQL statements they run."""

from __future__ import annotations

import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from queries import Probe

from bot.search.engine import Search, SearchError
from bot.search.grammar import QueryError
from bot.store import Store


@dataclass(frozen=True)
class Timing:
    probe: Probe
    seconds: float
    matches: int  # Results.total; REJECTED or STOPPED when no results came back


REJECTED, STOPPED = -1, -2  # a QueryError; a SearchError (the 5 s time limit, normally)


def time_searches(search: Search, probes: Sequence[Probe], warmup: int) -> list[Timing]:
    """`search.run()` for every probe; the first `warmup` are run but not recorded."""
    timings = []
    for index, probe in enumerate(probes):
        started = time.perf_counter()
        try:
            total = search.run(probe.text).total
        except QueryError:
            total = REJECTED
        except SearchError:
            total = STOPPED
        seconds = time.perf_counter() - started
        if index >= warmup:
            timings.append(Timing(probe, seconds, total))
    return timings


class StageClock:
    """Splits `Search.run()` time into the Store methods it calls and the SQL each one runs.

    Wraps methods of one Store and Search instance and proxies the connection; time outside any
    wrapped call is Search's own Python (parsing, filters, tidying). Statement time is the
    `execute()` plus the fetching of its rows; only used in a separate, untimed pass.
    """

    METHODS = ("matching_rowids", "count_matching", "relevance", "releases_by_rowid",
               "marked", "tokens", "stem_counts", "word_counts", "words_beginning",
               "words_sized", "acronyms", "releases_counted", "category_named", "categories",
               "authors")  # fmt: skip

    def __init__(self, search: Search) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._stack: list[list[Any]] = []  # [name, child seconds]
        store = search.store
        for name in self.METHODS:
            setattr(store, name, self._wrap(name, getattr(store, name)))
        search._hints = self._wrap("hints", search._hints)  # type: ignore[method-assign]
        store.db.conn = _TimedConnection(store.db.conn, self)  # type: ignore[assignment]

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            frame = [name, 0.0]
            self._stack.append(frame)
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent = time.perf_counter() - started
                self._stack.pop()
                self.record(name, spent - frame[1], spent, count=True)

        return timed

    def record(self, leaf: str, own: float, spent: float, *, count: bool) -> None:
        """Charge `own` seconds to the call path ending in `leaf`, `spent` to its parent."""
        path = " › ".join([*(frame[0] for frame in self._stack), leaf])
        self.totals[path] += own
        if count:
            self.calls[path] += 1
        if self._stack:
            self._stack[-1][1] += spent


def _statement(sql: str) -> str:
    """A short name for one of the Store's search statements."""
    sql = " ".join(sql.split())
    if sql.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
        return "sql: savepoint (sqlite-utils query())"
    names = [
        ("bm25(", "sql: bm25 of the distinctive words"),
        ("count(*) FROM (SELECT 1 FROM releases_fts", "sql: count before weighing"),
        ("{title}", "sql: title matches"),
        ("FROM releases_fts WHERE", "sql: matching rowids (index)"),
        ("FROM releases WHERE rowid IN", "sql: page rows"),
        ("FROM releases WHERE", "sql: latest (no MATCH)"),
        ("FROM search_stems", "sql: stem counts"),
        ("FROM search_words", "sql: word counts"),
        ("FROM search_acronyms", "sql: acronyms (after a change)"),
        ("FROM releases_version", "sql: change check"),
        ("WHERE category = ?", "sql: category lookup"),
        ("WITH RECURSIVE", "sql: categories or authors (after a change)"),
    ]
    return next((name for key, name in names if key in sql), "sql: other: " + sql[:50])


class _TimedConnection:
    """A sqlite3.Connection whose statements are timed into a StageClock."""

    def __init__(self, conn: Any, clock: StageClock) -> None:
        self._conn = conn
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def execute(self, sql: str, *args: Any) -> Any:
        name = _statement(sql)
        started = time.perf_counter()
        cursor = self._conn.execute(sql, *args)
        spent = time.perf_counter() - started
        self._clock.record(name, spent, spent, count=True)
        return _TimedCursor(cursor, self._clock, name)


class _TimedCursor:
    def __init__(self, cursor: Any, clock: StageClock, name: str) -> None:
        self._cursor, self._clock, self._name = cursor, clock, name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        return self._timed(self._cursor.__next__)

    def fetchone(self) -> Any:
        return self._timed(self._cursor.fetchone)

    def fetchall(self) -> Any:
        return self._timed(self._cursor.fetchall)

    def _timed(self, fetch: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return fetch()
        finally:
            spent = time.perf_counter() - started
            self._clock.record(self._name, spent, spent, count=False)


def profile_searches(path: Path, probes: Sequence[Probe]) -> tuple[StageClock, float]:
    """Run `probes` again on a fresh connection with a StageClock; returns it and the total."""
    store = Store(path)
    search = Search(store)
    for probe in probes[:3]:  # warm this connection's page cache
        with contextlib.suppress(QueryError, SearchError):
            search.run(probe.text)
    clock = StageClock(search)
    started = time.perf_counter()
    for probe in probes:
        with contextlib.suppress(QueryError, SearchError):
            search.run(probe.text)
    total = time.perf_counter() - started
    store.close()
    return clock, total
