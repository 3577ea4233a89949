"""`Search.run()` with the database's pages evicted from the OS page cache before each query:
a search after the machine has needed the memory for something else.

One Store and one Search, warmed by the warm-up queries, as the bot's search thread holds
them: its connection, SQLite's own page cache and the parsed schema stay; before each measured
query `page_cache.evict` drops the database file's (and WAL's) pages from this process's
mappings and from the OS page cache (see page_cache.py for how, without root). How much of the
file each query then brings back into the cache (`mincore`) is counted outside the timing: it
includes the kernel's read-ahead, which for a fault in a memory-mapped file reads
`read_ahead_kb` around the page that faulted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from page_cache import database_files, evict, resident
from queries import Probe
from timing import Timing, time_searches

from bot.search.engine import Search
from bot.search.service import CACHE_MB
from bot.store import Store


@dataclass(frozen=True)
class ColdTiming:
    timing: Timing
    read: int  # bytes of the database's files the query brought into the page cache


@dataclass(frozen=True)
class ColdSeries:
    timings: list[ColdTiming]
    files: list[Path]  # what was evicted
    size: int  # bytes of those files
    resident_before: int  # bytes of them cached after the warm-up, before the first eviction
    resident_evicted: int  # the most left cached right after an eviction
    read_ahead_kb: int | None  # of the block device holding the database, when known


def time_cold_searches(path: Path, probes: Sequence[Probe], warmup: int) -> ColdSeries:
    """`Search.run()` for each probe after the first `warmup`, each after an eviction."""
    store = Store(path, cache_mb=CACHE_MB)  # as the bot's search thread opens it
    try:
        search = Search(store)
        time_searches(search, probes[:warmup], warmup)
        files = database_files(path)
        before = sum(resident(f) for f in files)
        timings, left_most = [], 0
        for probe in probes[warmup:]:
            evict(files)
            left = sum(resident(f) for f in files)
            left_most = max(left_most, left)
            [timing] = time_searches(search, [probe], 0)
            timings.append(ColdTiming(timing, sum(resident(f) for f in files) - left))
        size = sum(f.stat().st_size for f in files)
    finally:
        store.close()  # the last connection: SQLite removes the WAL
    return ColdSeries(timings, files, size, before, left_most, read_ahead_kb(path))


def read_ahead_kb(path: Path) -> int | None:
    """The read-ahead of the block device `path` is on (its disk's, for a partition)."""
    device = os.stat(path).st_dev
    node = Path(f"/sys/dev/block/{os.major(device)}:{os.minor(device)}")
    for queue in (node / "queue", node / ".." / "queue"):
        try:
            return int((queue / "read_ahead_kb").read_text())
        except (OSError, ValueError):
            continue
    return None
