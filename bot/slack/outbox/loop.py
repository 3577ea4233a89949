"""The delivery loop: one worker per channel (of each workspace), each under a lease, until
stopped or drained; a bounded number of posts in flight, a few per workspace, so that one
workspace's slow or failing Slack never holds up the others.

Rule 3 of `bot.slack.outbox`: each channel is worked by one process at a time, under a lease in
SQLite, renewed by a heartbeat; a dead holder's lease is taken over at once (see `bot.holders`:
same boot, same PID namespace, PID gone), any other when it expires.

Every database call runs off the event loop (`bot.database`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable

from slack_sdk.web.async_client import AsyncWebClient

from bot.database import Database
from bot.holders import holder_is_gone, this_process
from bot.slack.outbox.group import GroupCommit
from bot.slack.outbox.schedule import MAX_RETRY_AFTER
from bot.slack.outbox.send import ClientFor, Sending
from bot.store import Delivery, Lease, Place, Store

log = logging.getLogger("bot.slack.outbox")  # one logger for the whole outbox

# Deliveries being worked on at once, in all and per workspace: one workspace whose Slack
# hangs (each request may take SLACK_TIMEOUT) holds at most its own share.
IN_FLIGHT = 16
IN_FLIGHT_PER_WORKSPACE = 2


class Outbox(Sending):
    """Delivers queued announcements; `run` until stopped, or `drain` what is due now."""

    def __init__(
        self,
        db: Database,
        clients: AsyncWebClient | ClientFor,
        *,
        spacing: float = 1.0,
        in_flight: int = IN_FLIGHT,
        in_flight_per_workspace: int = IN_FLIGHT_PER_WORKSPACE,
        lease_ttl: float = 60.0,
        retry_base: float = 2.0,
        retry_cap: float = 600.0,
        max_attempts: int = 24,
        max_retry_after: float = MAX_RETRY_AFTER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`clients`: the client that posts everything (one workspace), or the function giving
        each workspace's."""
        self.db = db
        self.clients = _each(clients) if isinstance(clients, AsyncWebClient) else clients
        self.spacing = spacing
        self._in_flight = asyncio.Semaphore(in_flight)
        # One workspace (single-workspace mode): its channels all in parallel, as many as in all.
        self._per_workspace = (
            in_flight if isinstance(clients, AsyncWebClient) else in_flight_per_workspace
        )
        self._workspace_slots: dict[str, asyncio.Semaphore] = {}
        self._claims = GroupCommit(db, self._begin_posts)
        self._sent_marks = GroupCommit(db, self._mark_all_sent)
        self.lease_ttl = lease_ttl
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self.clock = clock
        self.holder = this_process()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._workers: dict[Place, asyncio.Task[None]] = {}
        self._held: set[Place] = set()  # channels whose lease this outbox holds
        self._lost: set[Place] = set()  # ... and those it found taken by another process
        self._last_post: dict[Place, float] = {}
        # Channels whose worker crashed (a locked database, say), by when to start it again.
        self._resume_at: dict[Place, float] = {}
        # Leases of finished workers, given back together (one commit for many channels).
        self._to_release: set[Place] = set()
        self._releasing: asyncio.Task[None] | None = None
        self._draining = False

    def wake(self) -> None:
        """New deliveries were queued: look at once rather than at the next tick."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, *, grace: float = 10.0) -> None:
        """Deliver until `stop` is set, then let posts in flight finish within `grace` seconds."""
        made_due = False
        stopper = asyncio.create_task(self._follow(stop))
        heartbeat = asyncio.create_task(self._keep_leases())
        try:
            while not self._stop.is_set():
                timeout = 5.0
                try:
                    if not made_due:
                        await self.db.write(lambda store: store.make_all_due(now=self.clock()))
                        made_due = True
                    if await self._start_workers():
                        # Channels another process holds: look again when one may be due.
                        next_due = await self.db.read(lambda store: store.next_due_at())
                        if next_due is not None:
                            timeout = min(timeout, max(0.05, next_due - self.clock()))
                    # Every other channel with work has a worker of its own, which waits for
                    # its next delivery itself: nothing to look at until a wake, a crashed
                    # worker's restart, or the tick (a release to 2,000 channels had this
                    # loop read them all every 50 ms while they were being posted).
                    if self._resume_at:
                        resume = min(self._resume_at.values()) - time.monotonic()
                        timeout = min(timeout, max(0.05, resume))
                except Exception as error:  # a locked database, say: try again shortly
                    timeout = self._retry_delay(1)
                    _log_failure(
                        "outbox scheduling failed", error, f"trying again in {timeout:.1f} s"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                self._wake.clear()
        finally:
            stopper.cancel()
            heartbeat.cancel()
            await self._finish_workers(grace)
            await self._release_now()

    async def drain(self) -> None:
        """Deliver everything due now, then return (for one-shot `poll`)."""
        self._draining = True
        heartbeat = asyncio.create_task(self._keep_leases())
        try:
            await self._start_workers()
            await self._finish_workers(grace=None)
        finally:
            heartbeat.cancel()
            await self._release_now()

    async def _follow(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._stop.set()
        self._wake.set()

    async def _start_workers(self) -> int:
        """Take every channel with work that no live process holds, in one transaction, and
        start a worker for each: a release routed to hundreds of channels costs one commit
        before its first post, not one each. Returns how many channels with work are left
        to other processes."""
        now = time.monotonic()
        self._workers = {place: task for place, task in self._workers.items() if not task.done()}
        busy = set(self._workers)
        self._resume_at = {place: at for place, at in self._resume_at.items() if at > now}
        busy |= set(self._resume_at)
        busy |= self._to_release  # taken again only once its lease is given back
        waiting = await self.db.read(lambda store: store.channels_with_work())
        if not set(waiting) - busy:
            return 0
        taken = await self.db.write(
            lambda store: store.claim_channels(
                self.holder,
                skip=busy,
                ttl=self.lease_ttl,
                now=self.clock(),
                holder_is_gone=self._holder_is_gone,
            )
        )
        elsewhere = sorted(set(waiting) - busy - set(taken))
        for place in elsewhere:
            log.debug("channel %s is being delivered by another process", place)
        for place, delivery in taken.items():
            self._held.add(place)
            self._lost.discard(place)
            self._workers[place] = asyncio.create_task(
                self._work(place, delivery), name=f"outbox:{delivery.where}"
            )
        return len(elsewhere)

    def _holder_is_gone(self, lease: Lease) -> bool:
        return holder_is_gone(lease, self.holder)

    async def _finish_workers(self, grace: float | None) -> None:
        workers = [task for task in self._workers.values() if not task.done()]
        if not workers:
            return
        _, late = await asyncio.wait(workers, timeout=grace)
        for task in late:
            # Cancelled mid-post, a delivery stays "sending" and the next start checks history.
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    async def _keep_leases(self) -> None:
        """Renew every lease this outbox holds, in one transaction, a few times per lease."""
        while True:
            await asyncio.sleep(self.lease_ttl / 4)
            held = set(self._held)
            if not held:
                continue
            try:
                lost = await self.db.write(functools.partial(self._renew, held))
            except Exception as error:
                _log_failure("renewing the delivery leases failed", error, "trying again")
                continue
            for place in sorted(lost & self._held):
                log.warning("lost the delivery lease for %s to another process", place)
                self._lost.add(place)

    def _renew(self, places: set[Place], store: Store) -> set[Place]:
        return store.renew_leases(
            places, owner=self.holder.owner, ttl=self.lease_ttl, now=self.clock()
        )

    def _give_back(self, places: set[Place], store: Store) -> None:
        store.release_leases(places, owner=self.holder.owner)

    def _release_soon(self, place: Place) -> None:
        """Give `place`'s lease back with the others finishing about now, in one commit."""
        self._to_release.add(place)
        if self._releasing is None or self._releasing.done():
            self._releasing = asyncio.create_task(self._release_now())

    async def _release_now(self) -> None:
        # Until none is left: workers that finish meanwhile add theirs.
        while self._to_release:
            places = set(self._to_release)
            try:
                with contextlib.suppress(Exception):  # else they expire by themselves
                    await self.db.write(functools.partial(self._give_back, places))
            finally:
                self._to_release -= places
                self._wake.set()  # work for them queued meanwhile waits for no tick

    # -- one channel ----------------------------------------------------------------------

    async def _work(self, place: Place, first: Delivery) -> None:
        try:
            await self._work_channel(place, first)
        except Exception as error:  # a locked database, say: start again a little later
            pause = self._retry_delay(1)
            _log_failure(
                f"delivering to {first.where} stopped", error, f"resuming in {pause:.1f} s"
            )
            self._resume_at[place] = time.monotonic() + pause
        finally:
            self._held.discard(place)
            self._release_soon(place)

    async def _work_channel(self, place: Place, first: Delivery) -> None:
        delivery: Delivery | None = first
        while not self._stop.is_set() and place not in self._lost:
            if delivery is None:
                delivery = await self.db.read(lambda store: store.next_delivery(place))
                if delivery is None:
                    break
            wait = delivery.due_at - self.clock()
            if wait > 0:
                if self._draining:
                    break
                # Looked at again now and then: another process may have finished it, or an
                # admin made it due at once.
                await self._sleep(min(wait, self.lease_ttl / 4))
                delivery = None
                continue
            await self._pace(place)
            try:
                async with self._slot(place.team):
                    posted = await self._deliver(delivery)
                if posted is not None:
                    # Out of the slot: the next request need not wait for this "sent" mark.
                    await self._mark_sent(posted)
            except asyncio.CancelledError:
                raise
            except (sqlite3.Error, OSError):
                raise  # the database: the whole channel waits (see _work)
            except Exception:  # never let one bad delivery stop the channel
                log.exception("delivery %d to %s failed unexpectedly", delivery.id, delivery.where)
                await self._failed_unexpectedly(delivery)
            delivery = None

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    @contextlib.asynccontextmanager
    async def _slot(self, team: str) -> AsyncIterator[None]:
        """One of the workspace's few places in flight, then one of all: a workspace whose
        Slack hangs waits on its own slots and holds only those of the others'."""
        slots = self._workspace_slots.get(team)
        if slots is None:
            slots = self._workspace_slots[team] = asyncio.Semaphore(self._per_workspace)
        async with slots, self._in_flight:
            yield

    async def _pace(self, place: Place) -> None:
        # At most one post a second per channel (Slack's chat.postMessage limit).
        last = self._last_post.get(place)
        if last is not None:
            wait = last + self.spacing - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)


def _each(client: AsyncWebClient) -> ClientFor:
    """`client` for every delivery (single-workspace mode)."""

    async def for_team(team: str) -> AsyncWebClient:
        return client

    return for_team


def _log_failure(what: str, error: Exception, then: str) -> None:
    """One line for a database that is locked or full; a traceback for anything else."""
    if isinstance(error, sqlite3.Error | OSError):
        log.warning("%s (%s); %s", what, error, then)
    else:
        log.exception("%s; %s", what, then)
