"""The feed watcher: fetch → parse → store, and queue announcements for releases never seen.

Fetch, parse and store are separate steps with plain data between them; this module only
combines them and decides what is new.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

import aiohttp

from bot.backoff import backoff_delay
from bot.database import Database
from bot.feed import fetch_feed
from bot.models import FeedError, FeedFailure, Release, Validators
from bot.parse import parse_feed
from bot.store import Store

log = logging.getLogger(__name__)

# However long a server asks us to wait, poll again within this.
MAX_RETRY_AFTER = 6 * 3600


class Outcome(Enum):
    NOT_MODIFIED = "not modified (304)"
    UNCHANGED = "unchanged (same body)"
    UPDATED = "updated"
    FAILED = "failed"


@dataclass(frozen=True)
class Plan:
    """What a poll's releases mean against the database, before anything is written."""

    releases: list[Release]
    first_poll: bool
    new: list[Release]
    to_announce: list[Release]  # oldest first: the order they are posted in


@dataclass(frozen=True)
class PollResult:
    outcome: Outcome
    plan: Plan | None = None
    updated: list[Release] = field(default_factory=list)
    failure: FeedFailure | None = None
    failures_in_a_row: int = 0


def plan_poll(store: Store, releases: Sequence[Release], announce_existing: int) -> Plan:
    """Decide which parsed releases are new and which of them to announce.

    The first poll on an empty database only sets a baseline: it stores everything and
    announces the newest `announce_existing` releases (none by default), so installing the
    bot does not flood a channel with the archive. Those are the newest of the feed, stored
    or not: an archive backfill that ran before the first poll must not take them away.
    A successful poll that stored nothing (an empty feed, a 304) is no baseline: the next
    one would otherwise announce the whole feed.
    """
    unique: dict[str, Release] = {}
    for release in releases:
        unique.setdefault(release.id, release)
    ordered = list(unique.values())
    known = store.known_release_ids(unique)
    new = [release for release in ordered if release.id not in known]
    first_poll = not store.ever_polled() or not store.has_releases()
    if first_poll:
        newest_first = sorted(ordered, key=_age_key, reverse=True)
        to_announce = newest_first[:announce_existing]
    else:
        to_announce = new
    return Plan(ordered, first_poll, new, sorted(to_announce, key=_age_key))


async def fetch_releases(
    session: aiohttp.ClientSession, feed_url: str, validators: Validators
) -> tuple[Outcome, list[Release] | None, Validators]:
    """Fetch and parse; no releases when the feed did not change since `validators`."""
    fetched = await fetch_feed(session, feed_url, validators)
    if fetched.body is None:
        return Outcome.NOT_MODIFIED, None, validators
    if fetched.validators.body_hash == validators.body_hash:
        return Outcome.UNCHANGED, None, fetched.validators
    # feedparser is CPU-bound; a big feed must not stall Slack's 3-second acks.
    releases = await asyncio.to_thread(parse_feed, fetched.body, fetched.url, fetched.content_type)
    return Outcome.UPDATED, releases, fetched.validators


def _age_key(release: Release) -> tuple[float, str]:
    # Undated releases count as oldest; the id keeps the order stable between runs.
    return (release.published.timestamp() if release.published else float("-inf"), release.id)


class Watcher:
    """Polls one feed URL on a schedule, backing off while it fails."""

    def __init__(
        self,
        db: Database,
        session: aiohttp.ClientSession,
        *,
        feed_url: str,
        channels_for: Callable[[Store, Release], Iterable[str]],
        poll_interval: float,
        announce_existing: int = 0,
        on_queued: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.session = session
        self.feed_url = feed_url
        self.channels_for = channels_for
        self.poll_interval = poll_interval
        self.announce_existing = announce_existing
        self.on_queued = on_queued
        self.clock = clock
        self._poll_now = asyncio.Event()
        # Set by the first successful poll: the archive backfill waits for this baseline.
        self.polled = asyncio.Event()

    def poll_now(self) -> None:
        """Cut the current wait short (for an admin's "poll now")."""
        self._poll_now.set()

    async def fetch_releases(
        self, validators: Validators
    ) -> tuple[Outcome, list[Release] | None, Validators]:
        return await fetch_releases(self.session, self.feed_url, validators)

    async def poll_once(self) -> PollResult:
        """One poll: never raises for feed problems, records them in the feed status instead.
        The database is written off the event loop, a big feed's thousands of rows included."""
        status = await self.db.read(lambda store: store.feed_status(self.feed_url))
        try:
            outcome, releases, validators = await self.fetch_releases(status.validators)
        except FeedError as error:
            failures = await self._record_failure(error.failure.reason)
            log.warning("feed poll failed (%d in a row): %s", failures, error.failure.reason)
            return PollResult(Outcome.FAILED, failure=error.failure, failures_in_a_row=failures)
        if releases is None:
            await self.db.write(
                lambda store: store.record_poll_success(self.feed_url, validators, now=self.clock())
            )
            self.polled.set()
            log.debug("feed %s", outcome.value)
            return PollResult(outcome)
        plan, updated = await self.db.write(lambda store: self._save(store, releases, validators))
        self.polled.set()
        log.info(
            "feed polled: %d releases, %d new, %d updated, %d to announce%s",
            len(plan.releases),
            len(plan.new),
            len(updated),
            len(plan.to_announce),
            " (first poll: baseline)" if plan.first_poll else "",
        )
        if plan.to_announce:
            self.on_queued()
        return PollResult(Outcome.UPDATED, plan=plan, updated=updated)

    async def _record_failure(self, reason: str) -> int:
        return await self.db.write(
            lambda store: store.record_poll_failure(self.feed_url, reason, now=self.clock())
        )

    def _save(
        self, store: Store, releases: list[Release], validators: Validators
    ) -> tuple[Plan, list[Release]]:
        # One transaction: releases, their deliveries and the validators land together or not
        # at all, so a crash here can neither lose a release (validators saved, items not) nor
        # queue one twice.
        now = self.clock()
        with store.transaction():
            plan = plan_poll(store, releases, self.announce_existing)
            new_ids = {release.id for release in plan.new}
            updated = [
                release
                for release in plan.releases
                if store.save_release(release, source="rss", now=now) and release.id not in new_ids
            ]
            for release in plan.to_announce:
                for channel in self.channels_for(store, release):
                    store.add_delivery(release.id, channel, now=now)
            store.record_poll_success(self.feed_url, validators, now=now)
            # For the archive backfill: what is newer than this is the watcher's to announce.
            dates = [release.published for release in releases if release.published]
            store.record_feed_window(self.feed_url, min(dates).timestamp() if dates else None)
        return plan, updated

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set: every `poll_interval` seconds, backing off while failing."""
        while not stop.is_set():
            try:
                result = await self.poll_once()
            except Exception as error:  # a bug or a locked database must not stop polling
                if isinstance(error, sqlite3.Error):  # locked, full: one line says it
                    log.warning("feed poll failed: the database: %s", error)
                    reason = f"the database could not be used ({error})"
                else:
                    log.exception("feed poll crashed")
                    reason = f"internal error ({error.__class__.__name__}), see the bot's log"
                try:
                    failures = await self._record_failure(reason)
                except Exception:  # the database itself may be what fails
                    failures = 1
                result = PollResult(
                    Outcome.FAILED, failure=FeedFailure(reason), failures_in_a_row=failures
                )
            delay = self.poll_interval
            if result.failure is not None:
                delay = self.retry_delay(result.failures_in_a_row, result.failure.retry_after)
                log.info("next feed poll in %.0f s", delay)
            self._poll_now.clear()
            await _wait_any(stop, self._poll_now, seconds=delay)

    def retry_delay(self, failures_in_a_row: int, retry_after: float | None) -> float:
        """Backoff after failures, never sooner than the server's Retry-After."""
        delay = backoff_delay(
            failures_in_a_row, base=self.poll_interval, cap=max(self.poll_interval, 3600)
        )
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
        return delay


async def _wait_any(*events: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
