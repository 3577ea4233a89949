"""The store, off the event loop: every read and write of the running bot goes through here.

SQLite calls block: a write waits for another process's lock, a big poll takes seconds to
store, fsync takes milliseconds. On the event loop any of these would hold up Slack's 3-second
acknowledgements, `/healthz` and every post. So a `Database` runs them on threads of its own,
each with its own connection (sqlite3 connections stay on the thread that opened them):

- one writer thread, so writes queue in order rather than fight for the lock;
- a few reader threads: WAL lets them read while the writer (or another process) writes.

A caller that must answer someone in time passes `within`: it then gets the result within
those seconds or `DatabaseBusy`, and the work either was done or will never be done, never
half and never later. Work still queued at the deadline is dropped unstarted; work that starts
gets only the time left to wait for a lock and to run (SQLite interrupts it past that, rolling
back). Work nobody waits on in person (polls, posts) waits up to BACKGROUND_BUSY_TIMEOUT for
another process's lock, then fails and is retried by its caller: short enough that stopping
the bot never waits long for it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from bot.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")

READERS = 2
# Seconds background work waits for another process's lock before failing (and being retried).
BACKGROUND_BUSY_TIMEOUT = 4.0
# A write failure stays reported until writes have succeeded for this long: a full disk lets
# some writes through (those that reuse space), which must not clear it at once.
FAILURE_QUIET = 15.0


class DatabaseBusy(Exception):
    """The database could not do the work in the time given; nothing was written."""


@dataclass(frozen=True)
class WriteFailure:
    """Why writes are failing (the disk is full, another program holds the lock), since when."""

    reason: str
    since: float
    last: float  # the latest failure


class _Job(Generic[T]):
    """One piece of work for a worker thread, which its caller may give up on before it starts."""

    def __init__(self, work: Callable[[Store], T]) -> None:
        self.work = work
        self._lock = threading.Lock()
        self._state = "queued"  # → "running" on the thread, or "abandoned" by the caller

    def start(self) -> bool:
        """On the worker thread: whether to run (False: the caller gave up meanwhile)."""
        with self._lock:
            if self._state == "abandoned":
                return False
            self._state = "running"
            return True

    def abandon(self) -> bool:
        """On the caller's side: give up unless it started; True when given up."""
        with self._lock:
            if self._state == "queued":
                self._state = "abandoned"
            return self._state == "abandoned"


class Worker:
    """One thread with its own connection to the database (opened there, on first use)."""

    def __init__(
        self, path: Path, name: str, busy_timeout: float, *, cache_mb: int | None = None
    ) -> None:
        """`cache_mb`: the most SQLite keeps of the file in memory for this worker."""
        self.path = path
        self.busy_timeout = busy_timeout
        self.cache_mb = cache_mb
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.store: Store | None = None
        self.queued = 0  # jobs submitted and not finished, to pick the least busy reader
        self.closing = False

    async def run(self, work: Callable[[Store], T], deadline: float | None = None) -> T:
        """`work(store)` on this thread; with `deadline` (monotonic), DatabaseBusy unless it
        starts by then (once started, it runs to its end)."""
        job = _Job(work)
        future = asyncio.wrap_future(self.submit(job))
        if deadline is None:
            return await future
        try:
            return await asyncio.wait_for(asyncio.shield(future), deadline - time.monotonic())
        except TimeoutError:
            if job.abandon():  # not started: it never will be
                future.cancel()
                raise DatabaseBusy("the database was busy with earlier work") from None
            return await future  # started: runs to its end (Database's work: see _bounded)

    def submit(self, job: _Job[T]) -> Future[T]:
        self.queued += 1
        future = self.executor.submit(self._run, job)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: object) -> None:
        self.queued -= 1

    def _run(self, job: _Job[T]) -> T:
        if self.closing or not job.start():
            raise DatabaseBusy("the database was busy with earlier work, or closing")
        if self.store is None:
            # Opened on the thread that uses it.
            self.store = Store(self.path, busy_timeout=self.busy_timeout, cache_mb=self.cache_mb)
        return job.work(self.store)

    def close(self) -> None:
        """Skip what is queued, finish what runs, then close the connection on its thread."""
        self.closing = True
        self.executor.submit(self._close_here)
        self.executor.shutdown(wait=True)

    def _close_here(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None


class Database:
    """Runs work on the bot's database off the event loop; see the module docstring."""

    def __init__(
        self,
        path: Path | str,
        *,
        readers: int = READERS,
        busy_timeout: float = BACKGROUND_BUSY_TIMEOUT,
    ) -> None:
        """`busy_timeout`: seconds background work waits for another process's lock."""
        self.path = Path(path)
        self._writer = Worker(self.path, "db-write", busy_timeout)
        self._readers = [Worker(self.path, f"db-read-{n}", busy_timeout) for n in range(readers)]
        self._lock = threading.Lock()  # guards _failure, set on the writer thread
        self._failure: WriteFailure | None = None

    @property
    def write_failure(self) -> WriteFailure | None:
        """Why writes are failing, while they do (see FAILURE_QUIET)."""
        with self._lock:
            return self._failure

    async def write(self, work: Callable[[Store], T], *, within: float | None = None) -> T:
        """`work(store)` on the writer thread; with `within`, done in time or not at all."""
        deadline = None if within is None else time.monotonic() + within
        return await self._writer.run(lambda store: self._write(store, work, deadline), deadline)

    async def read(self, work: Callable[[Store], T], *, within: float | None = None) -> T:
        """`work(store)` on the least busy reader thread; `within` as for `write`."""
        deadline = None if within is None else time.monotonic() + within
        reader = min(self._readers, key=lambda worker: worker.queued)
        return await reader.run(lambda store: _bounded(store, work, deadline), deadline)

    def close(self) -> None:
        """Skip queued work, finish what runs (within the busy timeout) and close every
        connection. Blocks: call it off the loop."""
        for worker in (self._writer, *self._readers):
            worker.close()

    def _write(self, store: Store, work: Callable[[Store], T], deadline: float | None) -> T:
        try:
            result = _bounded(store, work, deadline)
        except sqlite3.Error as error:
            if _is_storage_failure(error) or (deadline is None and _is_locked(error)):
                self._failed(str(error))
            raise
        self._succeeded()
        return result

    def _failed(self, reason: str) -> None:
        now = time.time()
        with self._lock:
            started = self._failure is None
            since = now if started else self._failure.since  # type: ignore[union-attr]
            self._failure = WriteFailure(reason, since, now)
        if started:  # once: every write fails the same way until it is fixed
            log.error("cannot write to the database %s: %s", self.path, reason)

    def _succeeded(self) -> None:
        with self._lock:
            failure = self._failure
            ended = failure is not None and time.time() - failure.last > FAILURE_QUIET
            if ended:
                self._failure = None
        if ended:
            log.info("the database %s can be written again", self.path)


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
        if time.monotonic() >= deadline or _is_locked(error) or "interrupted" in str(error):
            raise DatabaseBusy(str(error)) from None
        raise


def _is_locked(error: sqlite3.Error) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


def _is_storage_failure(error: sqlite3.Error) -> bool:
    """Whether `error` says the file cannot be written at all (disk full, read-only, I/O),
    rather than that one statement failed."""
    text = str(error).lower()
    return any(
        sign in text
        for sign in ("disk is full", "disk i/o error", "readonly database", "read-only")
    )
