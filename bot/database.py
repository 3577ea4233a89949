"""The store, off the event loop: every read and write of the running bot goes through here.

SQLite calls block: a write waits up to the busy timeout for another process's lock, a big poll
takes seconds to store, fsync takes milliseconds. On the event loop any of these would hold up
Slack's 3-second acknowledgements, `/healthz` and every post. So a `Database` runs them on
threads of its own, each with its own connection (sqlite3 connections stay on the thread that
opened them):

- one writer thread, so writes queue in order rather than fight for the lock;
- a few reader threads: WAL lets them read while the writer (or another process) writes.

A caller that must answer someone in time passes `within`: the work then either finishes within
those seconds or does not happen at all (`DatabaseBusy`), never half and never later. Work
still queued at the deadline is dropped unstarted; work that starts gets only the time left to
wait for a lock and to run (SQLite interrupts it past that, rolling back).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bot.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")

READERS = 2


class DatabaseBusy(Exception):
    """The database could not do the work in the time given; nothing was written."""


@dataclass(frozen=True)
class WriteFailure:
    """Why writes are failing (the disk is full, say), and since when; cleared by a success."""

    reason: str
    since: float


class _Worker:
    """One thread with its own connection to the database."""

    def __init__(self, path: Path, name: str, busy_timeout: float | None) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.store: Store | None = None
        self.queued = 0  # jobs submitted and not finished, to pick the least busy reader

    def submit(self, job: Callable[[Store], T]) -> asyncio.Future[T]:
        self.queued += 1
        future = asyncio.wrap_future(self.executor.submit(self._run, job))
        future.add_done_callback(self._done)
        return future

    def _done(self, _: object) -> None:
        self.queued -= 1

    def _run(self, job: Callable[[Store], T]) -> T:
        if self.store is None:
            # Opened on the thread that uses it.
            self.store = Store(self.path, busy_timeout=self.busy_timeout)
        return job(self.store)

    def close(self) -> None:
        """Finish what is queued, then close the connection on its own thread."""
        self.executor.submit(self._close)
        self.executor.shutdown(wait=True)

    def _close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None


class Database:
    """Runs work on the bot's database off the event loop; see the module docstring."""

    def __init__(
        self, path: Path | str, *, readers: int = READERS, busy_timeout: float | None = None
    ) -> None:
        """`busy_timeout`: seconds unbounded work waits for another process's lock before
        failing (Store's default otherwise)."""
        self.path = Path(path)
        self._writer = _Worker(self.path, "db-write", busy_timeout)
        self._readers = [_Worker(self.path, f"db-read-{n}", busy_timeout) for n in range(readers)]
        self._lock = threading.Lock()  # guards write_failure, set on the writer thread
        self._write_failure: WriteFailure | None = None

    @property
    def write_failure(self) -> WriteFailure | None:
        """Why the last write failed, while no write has succeeded since."""
        with self._lock:
            return self._write_failure

    async def write(self, work: Callable[[Store], T], *, within: float | None = None) -> T:
        """`work(store)` on the writer thread; with `within`, done in time or not at all."""
        deadline = None if within is None else time.monotonic() + within
        return await self._writer.submit(lambda store: self._write(store, work, deadline))

    async def read(self, work: Callable[[Store], T], *, within: float | None = None) -> T:
        """`work(store)` on the least busy reader thread; `within` as for `write`."""
        deadline = None if within is None else time.monotonic() + within
        reader = min(self._readers, key=lambda worker: worker.queued)
        return await reader.submit(lambda store: _bounded(store, work, deadline))

    def close(self) -> None:
        """Finish the queued work and close every connection (blocks: call it off the loop)."""
        for worker in (self._writer, *self._readers):
            worker.close()

    def _write(self, store: Store, work: Callable[[Store], T], deadline: float | None) -> T:
        try:
            result = _bounded(store, work, deadline)
        except sqlite3.Error as error:
            if _is_storage_failure(error):
                with self._lock:
                    started = self._write_failure is None
                    if started:
                        self._write_failure = WriteFailure(str(error), time.time())
                if started:  # once: every write fails the same way until it is fixed
                    log.error("cannot write to the database %s: %s", self.path, error)
            raise
        with self._lock:
            ended, self._write_failure = self._write_failure is not None, None
        if ended:
            log.info("the database %s can be written again", self.path)
        return result


def _bounded(store: Store, work: Callable[[Store], T], deadline: float | None) -> T:
    """Run `work` on `store`, finishing by `deadline` (monotonic) or raising DatabaseBusy."""
    if deadline is None:
        return work(store)
    left = deadline - time.monotonic()
    if left <= 0:
        raise DatabaseBusy("the database was busy with earlier work")
    try:
        with store.bounded(left):
            return work(store)
    except sqlite3.OperationalError as error:
        if time.monotonic() >= deadline or "locked" in str(error) or "busy" in str(error):
            raise DatabaseBusy(str(error)) from None
        raise


def _is_storage_failure(error: sqlite3.Error) -> bool:
    """Whether `error` says the file cannot be written at all (disk full, read-only, I/O),
    rather than that one statement failed."""
    text = str(error).lower()
    return any(
        sign in text
        for sign in ("disk is full", "disk i/o error", "readonly database", "read-only")
    )
