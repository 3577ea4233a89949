"""The outbox: posts queued announcements to Slack, exactly once, oldest first.

Crash safety rests on five rules:
1. A delivery is marked "sending" (committed) before `chat.postMessage`, and "sent" after.
2. A delivery found "sending" — the process died mid-post, or the answer was lost to a timeout
   or a 5xx, even one given up on and queued again since — is first looked for in the
   channel's history by its message metadata, over the whole time its posts may have landed
   in (however many messages that is); it is posted again only when it is surely not there.
   When the history cannot be read (the bot was removed from the channel, say), the delivery
   waits and says why: posting blind could post twice.
3. Each channel is worked by one process at a time, under a lease in SQLite, renewed by a
   heartbeat; a dead holder's lease is taken over at once (see `bot.holders`: same boot,
   same PID namespace, PID gone), any other when it expires.
4. A post happens only right after the same transaction that marks it "sending" has found
   the lease still ours (and extended it), and only while at least half of that lease is
   left: a process that was stopped (SIGSTOP, a paused VM) for longer than that wakes to
   find it may have lost the channel, and checks again instead of posting. The request is
   never repeated by the client (not even after a 429): each send passes this check. What is
   left is a stall between the check and the request leaving (connecting included).
5. What a try makes of a delivery (retry later, give up) applies only while no other try
   began since: a process that stalled mid-try cannot undo another's newer "sending" mark.

Every database call runs off the event loop (`bot.database`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.backoff import backoff_delay
from bot.database import Database
from bot.holders import holder_is_gone, this_process
from bot.models import Release
from bot.slack import blocks
from bot.slack.errors import MALFORMED, Failure, SlackFailure, classify, explain
from bot.slack.posting import join
from bot.store import RATE_LIMITED, SENDING, Delivery, Lease, Store

log = logging.getLogger(__name__)

# How far around our own "sending" marks we look for a post in history: covers clock skew
# between this machine and Slack, and a post request that took its time (timeouts, retries).
HISTORY_MARGIN = 600.0
# However long Slack asks us to wait after a 429, a delivery is tried again within this (and
# the wait is shown in /healthz meanwhile); a second 429 only waits again.
MAX_RETRY_AFTER = 300.0


class HistoryUnreadable(Exception):
    """The channel's history could not be read, so whether a post is there is unknown."""

    def __init__(self, failure: SlackFailure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


@dataclass(frozen=True)
class _Claim:
    """A delivery taken for one post: its attempt's number, and when, by both clocks (see
    rule 4 above)."""

    attempt: int
    at: float  # wall clock, as recorded with the lease
    at_monotonic: float


class Outbox:
    """Delivers queued announcements; `run` until stopped, or `drain` what is due now."""

    def __init__(
        self,
        db: Database,
        client: AsyncWebClient,
        *,
        spacing: float = 1.0,
        lease_ttl: float = 60.0,
        retry_base: float = 2.0,
        retry_cap: float = 600.0,
        max_attempts: int = 24,
        max_retry_after: float = MAX_RETRY_AFTER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.client = client
        self.spacing = spacing
        self.lease_ttl = lease_ttl
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self.clock = clock
        self.holder = this_process()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._held: set[str] = set()  # channels whose lease this outbox holds
        self._lost: set[str] = set()  # ... and those it found taken by another process
        self._last_post: dict[str, float] = {}
        # Channels whose worker crashed (a locked database, say), by when to start it again.
        self._resume_at: dict[str, float] = {}
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
                    await self._start_workers()
                    next_due = await self.db.read(lambda store: store.next_due_at())
                    if next_due is not None:
                        timeout = min(timeout, max(0.05, next_due - self.clock()))
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

    async def drain(self) -> None:
        """Deliver everything due now, then return (for one-shot `poll`)."""
        self._draining = True
        heartbeat = asyncio.create_task(self._keep_leases())
        try:
            await self._start_workers()
            await self._finish_workers(grace=None)
        finally:
            heartbeat.cancel()

    async def _follow(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._stop.set()
        self._wake.set()

    async def _start_workers(self) -> None:
        """Take every channel with work that no live process holds, in one transaction, and
        start a worker for each: a release routed to hundreds of channels costs one commit
        before its first post, not one each."""
        now = time.monotonic()
        busy = {channel for channel, task in self._workers.items() if not task.done()}
        busy |= {channel for channel, at in self._resume_at.items() if at > now}
        waiting = await self.db.read(lambda store: store.channels_with_work())
        if not set(waiting) - busy:
            return
        taken = await self.db.write(
            lambda store: store.claim_channels(
                self.holder,
                skip=busy,
                ttl=self.lease_ttl,
                now=self.clock(),
                holder_is_gone=self._holder_is_gone,
            )
        )
        for channel in sorted(set(waiting) - busy - set(taken)):
            log.debug("channel %s is being delivered by another process", channel)
        for channel, delivery in taken.items():
            self._held.add(channel)
            self._lost.discard(channel)
            self._workers[channel] = asyncio.create_task(
                self._work(channel, delivery), name=f"outbox:{channel}"
            )

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
            for channel in sorted(lost & self._held):
                log.warning("lost the delivery lease for %s to another process", channel)
                self._lost.add(channel)

    def _renew(self, channels: set[str], store: Store) -> set[str]:
        return store.renew_leases(
            channels, owner=self.holder.owner, ttl=self.lease_ttl, now=self.clock()
        )

    # -- one channel ----------------------------------------------------------------------

    async def _work(self, channel: str, first: Delivery) -> None:
        try:
            await self._work_channel(channel, first)
        except Exception as error:  # a locked database, say: start again a little later
            pause = self._retry_delay(1)
            _log_failure(f"delivering to {channel} stopped", error, f"resuming in {pause:.1f} s")
            self._resume_at[channel] = time.monotonic() + pause
        finally:
            self._held.discard(channel)
            with contextlib.suppress(Exception):  # else it expires by itself
                await self.db.write(
                    lambda store: store.release_lease(channel, owner=self.holder.owner)
                )

    async def _work_channel(self, channel: str, first: Delivery) -> None:
        delivery: Delivery | None = first
        while not self._stop.is_set() and channel not in self._lost:
            if delivery is None:
                delivery = await self.db.read(lambda store: store.next_delivery(channel))
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
            await self._pace(channel)
            try:
                await self._deliver(delivery)
            except asyncio.CancelledError:
                raise
            except (sqlite3.Error, OSError):
                raise  # the database: the whole channel waits (see _work)
            except Exception:  # never let one bad delivery stop the channel
                log.exception("delivery %d to %s failed unexpectedly", delivery.id, channel)
                await self.db.write(
                    lambda store, failed=delivery: store.reschedule(
                        failed.id,
                        attempt=None,  # whichever try it failed in: this process holds it
                        due_at=self.clock() + self._retry_delay(failed.attempts + 1),
                        error="internal error, see the bot's log",
                        outcome_known=False,
                        count_attempt=True,
                    )
                )
            delivery = None

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _pace(self, channel: str) -> None:
        # At most one post a second per channel (Slack's chat.postMessage limit).
        last = self._last_post.get(channel)
        if last is not None:
            wait = last + self.spacing - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)

    def _retry_delay(self, attempt: int) -> float:
        return backoff_delay(attempt, base=self.retry_base, cap=self.retry_cap)

    # -- one delivery ---------------------------------------------------------------------

    async def _deliver(self, delivery: Delivery) -> None:
        release = await self.db.read(lambda store: store.release(delivery.release_id))
        if release is None:  # impossible through the foreign key, but never post garbage
            await self.db.write(
                lambda store: store.mark_failed(
                    delivery.id,
                    attempt=None,
                    error="release missing from the database",
                    outcome_known=True,
                )
            )
            return
        if delivery.state == SENDING:
            try:
                ts = await self._find_posted(delivery)
            except HistoryUnreadable as unreadable:
                await self._wait_for_history(delivery, unreadable.failure)
                return
            if ts is not None:
                log.info("found %s already posted in %s (ts %s)", release.id, delivery.channel, ts)
                await self._mark_sent(delivery, ts)
                return
        await self._post_release(delivery, release)

    async def _post_release(self, delivery: Delivery, release: Release) -> None:
        """Post, joining a public channel once if need be; a message Slack rejects as malformed
        goes again without its image, then as a minimal message, the reason recorded."""
        channel = delivery.channel
        with_image, minimal, joined = bool(release.image_url), False, False
        note: str | None = None
        while True:
            claim = await self._claim(delivery)
            if claim is None:
                return
            # From here on this try is attempt `claim.attempt`: what it makes of the delivery
            # applies only while no other try began since (see Store.reschedule).
            delivery = replace(delivery, state=SENDING, attempts=claim.attempt)
            if not self._still_ours(claim):
                # Stopped (SIGSTOP, a paused machine) between taking the delivery and posting
                # it: the lease may have lapsed and another process posted it. Look again.
                log.warning(
                    "not posting %s in %s: this process stalled for %.0f s after taking it",
                    release.id, channel, time.monotonic() - claim.at_monotonic,
                )  # fmt: skip
                return
            self._last_post[channel] = time.monotonic()
            try:
                response = await self._post(channel, release, with_image, minimal)
            except (SlackApiError, aiohttp.ClientError, TimeoutError) as error:
                failure = classify(error)
            else:
                await self._mark_sent(delivery, response.get("ts"), note)
                log.info("announced %s in %s", release.id, channel)
                return
            if failure.kind is Failure.NOT_IN_CHANNEL and not joined:
                joined = True
                if (await join(self.client, channel)).failure is None:
                    continue
            elif failure.reason in MALFORMED and with_image:
                # Slack rejects the whole message when it cannot fetch the image.
                log.warning("retrying %s without its image (%s)", release.id, release.image_url)
                with_image = False
                continue
            elif failure.reason in MALFORMED and not minimal:
                note = (
                    f"sent as a minimal message: Slack rejected the announcement ({failure.reason})"
                )
                log.warning("%s in %s: %s", release.id, channel, note)
                minimal = True
                continue
            break
        await self._settle(delivery, failure)

    async def _mark_sent(self, delivery: Delivery, ts: str | None, note: str | None = None) -> None:
        await self.db.write(
            lambda store: store.mark_sent(delivery.id, ts=ts, now=self.clock(), note=note)
        )

    async def _claim(self, delivery: Delivery) -> _Claim | None:
        """Mark the delivery sending, if its channel's lease is still ours (rule 4)."""

        def begin(store: Store) -> tuple[int | None, float]:
            now = self.clock()
            owner, ttl = self.holder.owner, self.lease_ttl
            return store.begin_post(delivery.id, owner=owner, ttl=ttl, now=now), now

        attempt, at = await self.db.write(begin)
        if attempt is None:
            log.warning(
                "not posting %s in %s: another process took the channel or the delivery",
                delivery.release_id, delivery.channel,
            )  # fmt: skip
            self._lost.add(delivery.channel)
            return None
        return _Claim(attempt, at, time.monotonic())

    def _still_ours(self, claim: _Claim) -> bool:
        """Whether at least half of the lease taken with `claim` is left, by both clocks (a
        paused VM's monotonic clock may stand still; a wall clock may be set back)."""
        half = self.lease_ttl / 2
        return time.monotonic() - claim.at_monotonic < half and self.clock() - claim.at < half

    async def _settle(self, delivery: Delivery, failure: SlackFailure) -> None:
        if failure.kind is Failure.PERMANENT or failure.kind is Failure.NOT_IN_CHANNEL:
            error = explain(failure.reason)
            log.error("giving up on %s in %s: %s", delivery.release_id, delivery.channel, error)
            await self.db.write(
                lambda store: store.mark_failed(
                    delivery.id, attempt=delivery.attempts, error=error, outcome_known=True
                )
            )
        elif failure.kind is Failure.RATE_LIMITED:
            await self._rate_limited(delivery, failure)
        elif failure.kind is Failure.NEEDS_ADMIN:
            log.error("cannot post to %s: %s", delivery.channel, explain(failure.reason))
            await self._retry(delivery, failure, outcome_known=True, give_up=False)
        else:
            await self._retry(delivery, failure, outcome_known=False)

    async def _rate_limited(self, delivery: Delivery, failure: SlackFailure) -> None:
        """Wait as long as Slack asked, up to `max_retry_after`, and say until when."""
        asked = failure.retry_after
        delay = self._retry_delay(delivery.attempts) if asked is None else asked
        delay = min(delay, self.max_retry_after)
        until = datetime.fromtimestamp(self.clock() + delay, UTC).strftime("%H:%M:%S UTC")
        error = f"{RATE_LIMITED}: Slack asked the bot to slow down; trying again at {until}"
        if asked is not None and asked > delay:
            error += f" (Slack asked for {asked:.0f} s)"
        log.warning(
            "rate limited posting %s in %s: %s", delivery.release_id, delivery.channel, error
        )
        await self._reschedule(delivery, delay, error, outcome_known=True)

    async def _retry(
        self,
        delivery: Delivery,
        failure: SlackFailure,
        *,
        outcome_known: bool,
        give_up: bool = True,
        counted: bool = False,
        error: str | None = None,
    ) -> None:
        # A try that posted counted itself (begin_post); one that only looked does now.
        attempts = delivery.attempts + (1 if counted else 0)
        error = error or explain(failure.reason)
        if give_up and attempts >= self.max_attempts:
            error = f"gave up after {attempts} attempts: {error}"
            log.error("%s in %s: %s", delivery.release_id, delivery.channel, error)
            # A last try that may have posted stays unknown: a retry checks history first.
            await self.db.write(
                lambda store: store.mark_failed(
                    delivery.id,
                    attempt=delivery.attempts,
                    error=error,
                    outcome_known=outcome_known,
                )
            )
            return
        delay = self._retry_delay(attempts)
        log.warning(
            "will retry %s in %s in %.1f s: %s",
            delivery.release_id, delivery.channel, delay, failure.reason,
        )  # fmt: skip
        await self._reschedule(
            delivery, delay, error, outcome_known=outcome_known, count_attempt=counted
        )

    async def _reschedule(
        self,
        delivery: Delivery,
        delay: float,
        error: str,
        *,
        outcome_known: bool,
        count_attempt: bool = False,
    ) -> None:
        await self.db.write(
            lambda store: store.reschedule(
                delivery.id,
                attempt=delivery.attempts,
                due_at=self.clock() + delay,
                error=error,
                outcome_known=outcome_known,
                count_attempt=count_attempt,
            )
        )

    async def _wait_for_history(self, delivery: Delivery, failure: SlackFailure) -> None:
        """An unreadable history leaves the delivery waiting (rule 2), and says why."""
        if failure.reason in ("not_in_channel", "channel_not_found"):
            error = (
                "cannot read the channel's history to check whether the post already went out "
                f"({failure.reason}): invite the bot back with /invite; it will look, then post "
                "if needed"
            )
        else:
            error = (
                "cannot check the channel's history for an earlier post yet "
                f"({explain(failure.reason)}); waiting rather than posting twice"
            )
        log.warning("%s: %s", delivery.release_id, error)
        await self._retry(delivery, failure, outcome_known=False, counted=True, error=error)

    async def _post(self, channel: str, release: Release, with_image: bool, minimal: bool) -> Any:
        if minimal:
            message = blocks.minimal_announcement(release)
        else:
            message = {
                "text": blocks.announcement_text(release),
                "blocks": blocks.announcement_blocks(release, with_image=with_image),
                "metadata": blocks.announcement_metadata(release),
            }
        return await self.client.chat_postMessage(
            channel=channel, unfurl_links=False, unfurl_media=False, **message
        )

    async def _find_posted(self, delivery: Delivery) -> str | None:
        """The ts of this delivery's message if it is in the channel, else None; raises
        HistoryUnreadable when that cannot be known.

        Every message of the time its tries may have landed in is read, however many pages
        that takes: from a little before the first try to a little after the last.
        """
        first = delivery.sending_since or delivery.last_attempt_at or self.clock()
        # A delivery from before tries were timed: its last try may have been any time since.
        last = delivery.last_attempt_at or self.clock()
        last = max(first, last)
        window = {
            "oldest": f"{max(0.0, first - HISTORY_MARGIN):.6f}",
            "latest": f"{last + HISTORY_MARGIN:.6f}",
            "inclusive": True,
        }
        cursor: str | None = None
        cursors_seen: set[str] = set()
        while True:
            try:
                page = await self.client.conversations_history(
                    channel=delivery.channel,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                    **window,
                )
            except (SlackApiError, aiohttp.ClientError, TimeoutError) as error:
                raise HistoryUnreadable(classify(error)) from None
            for message in page.get("messages") or ():
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if (
                    metadata.get("event_type") == blocks.EVENT_TYPE
                    and payload.get("item_id") == delivery.release_id
                ):
                    return message.get("ts")
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return None
            if cursor in cursors_seen:  # a server going round in circles: we cannot know
                raise HistoryUnreadable(SlackFailure(Failure.UNKNOWN, "history paging repeats"))
            cursors_seen.add(cursor)


def _log_failure(what: str, error: Exception, then: str) -> None:
    """One line for a database that is locked or full; a traceback for anything else."""
    if isinstance(error, sqlite3.Error | OSError):
        log.warning("%s (%s); %s", what, error, then)
    else:
        log.exception("%s; %s", what, then)
