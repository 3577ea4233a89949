"""The outbox: posts queued announcements to Slack, exactly once, oldest first.

Crash safety rests on three rules:
1. A delivery is marked "sending" (committed) before `chat.postMessage`, and "sent" after.
2. A delivery found "sending" — the process died mid-post, or the answer was lost to a timeout
   or a 5xx, even one given up on and queued again since — is first looked for in the
   channel's history by its message metadata; it is posted again only when it is not there.
3. Each channel is worked by one process at a time, under a lease in SQLite, renewed by a
   heartbeat; a crashed holder's lease is taken over at once (same host, dead pid) or when
   it expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.backoff import backoff_delay
from bot.models import Release
from bot.store import SENDING, Delivery, Lease, Store

log = logging.getLogger(__name__)

# How far before our own "sending" mark we look for the post in history: covers clock skew
# between this machine and Slack.
HISTORY_MARGIN = 600.0
HISTORY_PAGES = 10


class Failure(Enum):
    RATE_LIMITED = "rate limited"  # Slack refused it: not posted, wait Retry-After
    UNKNOWN = "unknown outcome"  # maybe posted: look in history before trying again
    NOT_IN_CHANNEL = "not in channel"  # join, then try again
    NEEDS_ADMIN = "needs an admin"  # token or scope problem: keep it, report it, retry slowly
    PERMANENT = "permanent"  # this post can never succeed as it is


_UNKNOWN_ERRORS = {"internal_error", "fatal_error", "request_timeout", "service_unavailable"}
_ADMIN_ERRORS = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "missing_scope",
    "no_permission",
    "not_allowed_token_type",
    "team_access_not_granted",
    "ekm_access_denied",
    "org_login_required",
}


@dataclass(frozen=True)
class SlackFailure:
    kind: Failure
    reason: str
    retry_after: float | None = None


def classify(error: Exception) -> SlackFailure:
    """What a failed Web API call means for the delivery (pure, so it is easy to test)."""
    if not isinstance(error, SlackApiError):
        # Network errors and timeouts: the request may have reached Slack.
        return SlackFailure(Failure.UNKNOWN, f"{error.__class__.__name__}: {error}".rstrip(": "))
    response = error.response
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    data = getattr(response, "data", None)
    code = data.get("error") if isinstance(data, dict) else None
    headers = getattr(response, "headers", None) or {}
    retry_after = _seconds(headers.get("Retry-After") or headers.get("retry-after"))
    if status == 429 or code == "ratelimited":
        return SlackFailure(Failure.RATE_LIMITED, "ratelimited", retry_after)
    if status is not None and status >= 500:
        return SlackFailure(Failure.UNKNOWN, f"HTTP {status}{f' {code}' if code else ''}")
    if code in _UNKNOWN_ERRORS:
        return SlackFailure(Failure.UNKNOWN, code)
    if code == "not_in_channel":
        return SlackFailure(Failure.NOT_IN_CHANNEL, code)
    if code in _ADMIN_ERRORS:
        return SlackFailure(Failure.NEEDS_ADMIN, code)
    if code is None:
        return SlackFailure(Failure.UNKNOWN, f"unexpected answer (HTTP {status})")
    return SlackFailure(Failure.PERMANENT, code)


def _seconds(value: Any) -> float | None:
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


_ADVICE = {
    "channel_not_found": "the channel was deleted, or it is private and the bot is not in it",
    "is_archived": "the channel is archived",
    "not_in_channel": "the channel is private: invite the bot with /invite",
    "invalid_auth": "SLACK_BOT_TOKEN is wrong or was revoked; fix it and restart",
    "token_revoked": "the app was uninstalled or its token revoked; reinstall and restart",
    "account_inactive": "the app was uninstalled or its token revoked; reinstall and restart",
    "missing_scope": "the app lacks a scope; reinstall it from the manifest",
}


def explain(reason: str) -> str:
    """The error code with what an admin can do about it."""
    advice = _ADVICE.get(reason)
    return f"{reason}: {advice}" if advice else reason


def process_is_gone(lease: Lease) -> bool:
    """Whether the holder of `lease` has certainly died (only knowable on the same host)."""
    if lease.host != socket.gethostname() or lease.pid == os.getpid():
        return False
    try:
        os.kill(lease.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    # A killed child its parent has not reaped yet still answers kill(0): a zombie.
    try:
        with open(f"/proc/{lease.pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


class Outbox:
    """Delivers queued announcements; `run` until stopped, or `drain` what is due now."""

    def __init__(
        self,
        store: Store,
        client: AsyncWebClient,
        *,
        spacing: float = 1.0,
        lease_ttl: float = 60.0,
        retry_base: float = 2.0,
        retry_cap: float = 600.0,
        max_attempts: int = 24,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.client = client
        self.spacing = spacing
        self.lease_ttl = lease_ttl
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.max_attempts = max_attempts
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._last_post: dict[str, float] = {}
        self._lost: set[str] = set()
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
        try:
            while not self._stop.is_set():
                timeout = 5.0
                try:
                    if not made_due:
                        self.store.make_all_due(now=self.clock())
                        made_due = True
                    self._start_workers()
                    next_due = self.store.next_due_at()
                    if next_due is not None:
                        timeout = min(timeout, max(0.05, next_due - self.clock()))
                except Exception:  # e.g. the database locked for too long: try again shortly
                    log.exception("outbox scheduling failed")
                    timeout = self._retry_delay(1)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                self._wake.clear()
        finally:
            stopper.cancel()
            await self._finish_workers(grace)

    async def drain(self) -> None:
        """Deliver everything due now, then return (for one-shot `poll`)."""
        self._draining = True
        self._start_workers()
        await self._finish_workers(grace=None)

    async def _follow(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._stop.set()
        self._wake.set()

    def _start_workers(self) -> None:
        now = time.monotonic()
        for channel in self.store.channels_with_work():
            worker = self._workers.get(channel)
            idle = worker is None or worker.done()
            if idle and self._resume_at.get(channel, 0.0) <= now:
                self._workers[channel] = asyncio.create_task(
                    self._work(channel), name=f"outbox:{channel}"
                )

    async def _finish_workers(self, grace: float | None) -> None:
        workers = [task for task in self._workers.values() if not task.done()]
        if not workers:
            return
        _, late = await asyncio.wait(workers, timeout=grace)
        for task in late:
            # Cancelled mid-post, a delivery stays "sending" and the next start checks history.
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    # -- one channel ----------------------------------------------------------------------

    async def _work(self, channel: str) -> None:
        try:
            await self._work_channel(channel)
        except Exception:  # e.g. the database locked for too long: start again a little later
            pause = self._retry_delay(1)
            log.exception("delivering to %s stopped; resuming in %.1f s", channel, pause)
            self._resume_at[channel] = time.monotonic() + pause

    async def _work_channel(self, channel: str) -> None:
        lease = f"channel:{channel}"
        if not self.store.acquire_lease(
            lease,
            owner=self.owner,
            host=socket.gethostname(),
            pid=os.getpid(),
            ttl=self.lease_ttl,
            now=self.clock(),
            holder_is_gone=process_is_gone,
        ):
            log.debug("channel %s is being delivered by another process", channel)
            return
        self._lost.discard(channel)
        heartbeat = asyncio.create_task(self._keep_lease(lease, channel))
        try:
            while not self._stop.is_set() and channel not in self._lost:
                delivery = self.store.next_delivery(channel)
                if delivery is None:
                    break
                wait = delivery.due_at - self.clock()
                if wait > 0:
                    if self._draining:
                        break
                    await self._sleep(wait)
                    continue
                await self._pace(channel)
                try:
                    await self._deliver(delivery)
                except asyncio.CancelledError:
                    raise
                except Exception:  # never let one bad delivery stop the channel
                    log.exception("delivery %d to %s failed unexpectedly", delivery.id, channel)
                    self.store.reschedule(
                        delivery.id,
                        due_at=self.clock() + self._retry_delay(delivery.attempts + 1),
                        error="internal error, see the bot's log",
                        outcome_known=False,
                    )
        finally:
            heartbeat.cancel()
            self.store.release_lease(lease, owner=self.owner)

    async def _keep_lease(self, lease: str, channel: str) -> None:
        while True:
            await asyncio.sleep(self.lease_ttl / 4)
            if not self.store.renew_lease(
                lease, owner=self.owner, ttl=self.lease_ttl, now=self.clock()
            ):
                log.warning("lost the delivery lease for %s to another process", channel)
                self._lost.add(channel)
                return

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
        release = self.store.release(delivery.release_id)
        if release is None:  # impossible through the foreign key, but never post garbage
            self.store.mark_failed(
                delivery.id, error="release missing from the database", outcome_known=True
            )
            return
        if delivery.state == SENDING:
            try:
                ts = await self._find_posted(delivery)
            except Exception as error:
                failure = classify(error)
                log.warning(
                    "cannot check %s's history for %s yet: %s",
                    delivery.channel,
                    release.id,
                    failure.reason,
                )
                self._retry(delivery, failure, outcome_known=False)
                return
            if ts is not None:
                log.info("found %s already posted in %s (ts %s)", release.id, delivery.channel, ts)
                self.store.mark_sent(delivery.id, ts=ts, now=self.clock())
                return
        with_image = True
        joined = False
        while True:
            self.store.mark_sending(delivery.id, now=self.clock())
            self._last_post[delivery.channel] = time.monotonic()
            try:
                response = await self._post(delivery.channel, release, with_image=with_image)
            except (SlackApiError, aiohttp.ClientError, TimeoutError) as error:
                failure = classify(error)
            else:
                self.store.mark_sent(delivery.id, ts=response.get("ts"), now=self.clock())
                log.info("announced %s in %s", release.id, delivery.channel)
                return
            if failure.kind is Failure.NOT_IN_CHANNEL and not joined:
                joined = True
                if await self._join(delivery.channel):
                    continue
            elif failure.reason == "invalid_blocks" and with_image and release.image_url:
                # Slack rejects the whole message when it cannot fetch the image.
                log.warning("retrying %s without its image (%s)", release.id, release.image_url)
                with_image = False
                continue
            break
        self._settle(delivery, failure)

    def _settle(self, delivery: Delivery, failure: SlackFailure) -> None:
        if failure.kind is Failure.PERMANENT or failure.kind is Failure.NOT_IN_CHANNEL:
            error = explain(failure.reason)
            log.error("giving up on %s in %s: %s", delivery.release_id, delivery.channel, error)
            self.store.mark_failed(delivery.id, error=error, outcome_known=True)
        elif failure.kind is Failure.RATE_LIMITED:
            self._retry(delivery, failure, outcome_known=True)
        elif failure.kind is Failure.NEEDS_ADMIN:
            log.error("cannot post to %s: %s", delivery.channel, explain(failure.reason))
            self._retry(delivery, failure, outcome_known=True, give_up=False)
        else:
            self._retry(delivery, failure, outcome_known=False)

    def _retry(
        self,
        delivery: Delivery,
        failure: SlackFailure,
        *,
        outcome_known: bool,
        give_up: bool = True,
    ) -> None:
        attempts = delivery.attempts + 1
        if give_up and attempts >= self.max_attempts:
            error = f"gave up after {attempts} attempts: {explain(failure.reason)}"
            log.error("%s in %s: %s", delivery.release_id, delivery.channel, error)
            # A last try that may have posted stays unknown: a retry checks history first.
            self.store.mark_failed(delivery.id, error=error, outcome_known=outcome_known)
            return
        delay = self._retry_delay(attempts)
        if failure.retry_after is not None:
            delay = failure.retry_after
        log.warning(
            "will retry %s in %s in %.1f s: %s",
            delivery.release_id,
            delivery.channel,
            delay,
            failure.reason,
        )
        self.store.reschedule(
            delivery.id,
            due_at=self.clock() + delay,
            error=explain(failure.reason),
            outcome_known=outcome_known,
        )

    async def _post(self, channel: str, release: Release, *, with_image: bool) -> Any:
        return await self.client.chat_postMessage(
            channel=channel,
            text=blocks.announcement_text(release),
            blocks=blocks.announcement_blocks(release, with_image=with_image),
            metadata=blocks.announcement_metadata(release),
            unfurl_links=False,
            unfurl_media=False,
        )

    async def _join(self, channel: str) -> bool:
        try:
            await self.client.conversations_join(channel=channel)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as error:
            log.warning("cannot join %s: %s", channel, classify(error).reason)
            return False
        log.info("joined %s to announce there", channel)
        return True

    async def _find_posted(self, delivery: Delivery) -> str | None:
        """The ts of this delivery's message if it is already in the channel, else None."""
        oldest = max(0.0, (delivery.sending_since or 0.0) - HISTORY_MARGIN)
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            try:
                page = await self.client.conversations_history(
                    channel=delivery.channel,
                    oldest=f"{oldest:.6f}",
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            except SlackApiError as error:
                if classify(error).reason in ("not_in_channel", "channel_not_found"):
                    return None  # we cannot have posted where we cannot read
                raise
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
        return None
