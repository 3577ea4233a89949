"""The connection: how the database file is opened, its pragmas, transactions, time limits,
and the whole-file operations (backup copy, integrity check).

WAL mode lets the watcher write while the web handlers read; every multi-step write runs in one
`BEGIN IMMEDIATE` transaction so two bot processes on one file serialise cleanly.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import sqlite_utils

# How long a statement waits for another connection's lock before failing with "locked".
PAGE_SIZE = 16_384  # bytes, of a new database's pages
BUSY_TIMEOUT_MS = 30_000
# Pages a backup copies per step (16 MB of a new database's pages): between steps, Ctrl-C stops
# it.
BACKUP_PAGES = 1024
# Keys looked up per statement by `rows_for`: SQLite's oldest limit on a statement's parameters
# is 999.
KEYS_AT_MOST = 500


def rows_for(db: sqlite_utils.Database, sql: str, keys: Sequence[object]) -> list[Any]:
    """The rows of `sql` for all of `keys`, which "IN (?)" in `sql` stands for, asked for
    KEYS_AT_MOST at a time, in the order `sql` returns them chunk by chunk."""
    rows: list[Any] = []
    for start in range(0, len(keys), KEYS_AT_MOST):
        chunk = list(keys[start : start + KEYS_AT_MOST])
        marks = "IN (" + ",".join("?" * len(chunk)) + ")"
        rows += db.execute(sql.replace("IN (?)", marks), chunk).fetchall()
    return rows


def only_value(db: sqlite_utils.Database, sql: str, params: Sequence[object] = ()) -> object:
    """The value in the one row `sql` always returns (an aggregate, EXISTS, a PRAGMA)."""
    row = db.execute(sql, params).fetchone()
    if row is None:
        raise LookupError(f"no row from {sql!r}")
    value: object = row[0]
    return value


def int_value(db: sqlite_utils.Database, sql: str, params: Sequence[object] = ()) -> int:
    """`only_value` of a query whose value is a whole number, never NULL (count, EXISTS)."""
    value = only_value(db, sql, params)
    if not isinstance(value, int):
        raise TypeError(f"{sql!r} gave {value!r}, not a whole number")
    return value


def int_or_none(db: sqlite_utils.Database, sql: str, params: Sequence[object] = ()) -> int | None:
    """`only_value` of a query whose value is a whole number or NULL (max of no rows)."""
    value = only_value(db, sql, params)
    if value is not None and not isinstance(value, int):
        raise TypeError(f"{sql!r} gave {value!r}, not a whole number")
    return value


def float_or_none(
    db: sqlite_utils.Database, sql: str, params: Sequence[object] = ()
) -> float | None:
    """`only_value` of a query whose value is a number or NULL (min or max of a REAL column)."""
    value = only_value(db, sql, params)
    if value is not None and not isinstance(value, int | float):
        raise TypeError(f"{sql!r} gave {value!r}, not a number")
    return value


class SchemaTooNew(Exception):
    """The database was written by a newer version of the bot: this one would misread it, and
    its writes could break what the newer version relies on."""

    def __init__(self, found: int, known: int) -> None:
        self.found = found
        super().__init__(f"schema version {found}, this version knows up to {known}")


class StoreBase:
    """The connection every part of the store shares (see bot/store/__init__.py)."""

    # The newest schema version this code can read (the composed Store sets it: schema.py).
    schema_version: ClassVar[int]

    def __init__(
        self,
        path: Path | str,
        *,
        read_only: bool = False,
        create: bool = True,
        busy_timeout: float | None = None,
        cache_mb: int | None = None,
    ) -> None:
        """Open the database; `create=False` (implied by `read_only`) never creates the file.
        `busy_timeout`: seconds a statement waits for another connection's lock (default
        BUSY_TIMEOUT_MS); `cache_mb`: the most SQLite keeps of the file in memory (default 2).
        Raises SchemaTooNew for a database of a newer version of the bot."""
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, sqlite3 never opens
        # an implicit transaction behind our back.
        uri = read_only or not create
        target = f"{Path(path).resolve().as_uri()}?mode={'ro' if read_only else 'rw'}"
        conn = sqlite3.connect(
            target if uri else str(path), timeout=30, isolation_level=None, uri=uri
        )
        try:
            # Checked before anything else touches the file (enabling WAL writes to it).
            found = conn.execute("PRAGMA user_version").fetchone()[0]
            if found > self.schema_version:
                raise SchemaTooNew(found, self.schema_version)
        except BaseException:
            conn.close()
            raise
        self.db = sqlite_utils.Database(conn)
        self._deadlines: list[float] = []  # see time_limit
        busy_ms = BUSY_TIMEOUT_MS if busy_timeout is None else max(1, int(busy_timeout * 1000))
        self.db.execute(f"PRAGMA busy_timeout = {busy_ms}")
        # FULL: a committed "sending"/"sent" mark survives even a power cut, which is what
        # keeps a restart from posting twice.
        self.db.execute("PRAGMA synchronous = FULL")
        # No memory map (SQLite's default): a mapped archive counts in the process's
        # resident memory page by page as searches touch it (2 GB at 100,000 releases), and a
        # disk failing under a mapped page would end the process with SIGBUS.
        self.db.execute("PRAGMA mmap_size = 0")
        if not read_only and self.db.execute("PRAGMA page_count").fetchone()[0] == 0:
            # A new database: pages of 16 KB. A release's row (2 to 3 KB) would leave much of
            # a 4 KB page empty, and a search whose pages the OS no longer caches reads a
            # quarter as many (benchmarks/search.py: p95 4 ms, against 9 ms with 4 KB). An
            # older database keeps its pages until a VACUUM (docs/deploy.md).
            self.db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        if cache_mb is not None:
            self.db.execute(f"PRAGMA cache_size = {-1024 * cache_mb}")  # negative: in KiB
        if str(path) != ":memory:" and not read_only:
            self.db.enable_wal()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction; nested uses join the outer one."""
        if self.db.conn.in_transaction:
            yield
            return
        # IMMEDIATE takes the write lock up front, so a read-then-write never fails half-way
        # with SQLITE_BUSY when another process wrote in between.
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            # SQLite may have rolled back already (a full disk, an interrupt): say what failed,
            # not that there was nothing left to roll back.
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        try:
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    @contextmanager
    def time_limit(self, seconds: float) -> Iterator[None]:
        """Abort statements still running after `seconds` (sqlite3.OperationalError); nested
        limits keep the earliest deadline."""
        self._deadlines.append(time.monotonic() + seconds)
        earliest = min(self._deadlines)
        # Checked every 1,000 VM steps: FTS5 does most of its work inside a single step.
        self.db.conn.set_progress_handler(lambda: time.monotonic() > earliest, 1_000)
        try:
            yield
        finally:
            self._deadlines.pop()
            if self._deadlines:
                outer = min(self._deadlines)
                self.db.conn.set_progress_handler(lambda: time.monotonic() > outer, 1_000)
            else:
                self.db.conn.set_progress_handler(None, 0)

    @contextmanager
    def bounded(self, seconds: float) -> Iterator[None]:
        """Wait at most `seconds` for a lock, and abort statements still running after them
        (sqlite3.OperationalError, "locked" or "interrupted"): for work someone waits on."""
        previous = self.db.execute("PRAGMA busy_timeout").fetchone()[0]
        self.db.execute(f"PRAGMA busy_timeout = {max(1, min(previous, int(seconds * 1000)))}")
        try:
            with self.time_limit(seconds):
                yield
        finally:
            self.db.execute(f"PRAGMA busy_timeout = {previous}")

    def copy_to(
        self,
        target: Path,
        *,
        pages: int = BACKUP_PAGES,
        on_step: Callable[[int, int], object] | None = None,
    ) -> None:
        """Copy the whole database into the empty file `target` with SQLite's online backup,
        `pages` at a time (`on_step(remaining, total)` after each), as of one moment.

        In WAL mode, the bot's, the copy reads one snapshot held from its first page to its
        last: a snapshot blocks no writer, and whatever the bot commits meanwhile is simply
        not in the copy. (Without it SQLite starts the copy over after every write of another
        connection, and a busy bot could keep a large copy from ever finishing.) A database in
        rollback-journal mode has no such snapshot: there each step holds a read lock only
        while it runs. The copy is left in rollback-journal mode, one self-contained file."""
        copy = sqlite3.connect(target, isolation_level=None)
        try:
            snapshot = self.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            if snapshot:
                self.db.execute("BEGIN")
                self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # begins it
            try:
                self.db.conn.backup(
                    copy,
                    pages=pages,
                    progress=None
                    if on_step is None
                    else lambda _, left, total: on_step(left, total),
                )
            finally:
                if snapshot:
                    self.db.execute("COMMIT")
            copy.execute("PRAGMA journal_mode = DELETE")
        finally:
            copy.close()

    def integrity_problems(self) -> list[str]:
        """What SQLite's integrity check finds wrong with the database; empty when sound."""
        found = [row[0] for row in self.db.execute("PRAGMA integrity_check")]
        return [] if found == ["ok"] else found
