"""The first search after a start: in a fresh process, `Store(path)` as the bot's search thread
opens it, then the first `Search(store).run(text)` of a words query (building the `Search`
included, as `SearchService` builds it for its first search), timed apart; then a second,
different query and the first one again, to show what the first paid once. Each fresh process
has a query of its own. With `cold`, the database's pages are evicted from the OS page cache
before each process starts (page_cache.py): the first search after the machine restarted.

Run by `time_first_searches`; as a script it is that child:
`python first_search.py DATABASE TEXT OTHER_TEXT`.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from page_cache import database_files, evict, resident

from bot.search.engine import Search, SearchError
from bot.search.grammar import QueryError
from bot.store import Store


@dataclass(frozen=True)
class FirstSearch:
    text: str
    open: float  # seconds: Store(path)
    first: float  # Search(store) and its first run(text)
    other: float  # then a different query
    again: float  # then `text` again
    cached_at_start: int  # bytes of the database's files in the OS page cache at the start


def time_first_searches(path: Path, texts: Sequence[str], *, cold: bool) -> list[FirstSearch]:
    """One fresh process per text (the next text is its second query)."""
    files = database_files(path)
    found = []
    for text, other in zip(texts, [*texts[1:], texts[0]], strict=True):
        if cold:
            evict(files)
        cached = sum(resident(f) for f in files)
        done = subprocess.run(
            [sys.executable, __file__, str(path), text, other],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            sys.exit(f"the first-search child failed:\n{done.stderr}")
        found.append(FirstSearch(text, cached_at_start=cached, **json.loads(done.stdout)))
    return found


def _timed(search: Search, text: str) -> float:
    started = time.perf_counter()
    with contextlib.suppress(QueryError, SearchError):
        search.run(text)
    return time.perf_counter() - started


def _first_search(path: Path, text: str, other: str) -> None:
    started = time.perf_counter()
    store = Store(path)
    opened = time.perf_counter() - started
    started = time.perf_counter()
    search = Search(store)  # built on the first search, as SearchService builds it
    first = time.perf_counter() - started + _timed(search, text)
    times = {"open": opened, "first": first, "other": _timed(search, other),
             "again": _timed(search, text)}  # fmt: skip
    store.close()
    print(json.dumps(times))


if __name__ == "__main__":
    _first_search(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
