"""The feed watcher: fetch → parse → store, and queue announcements for releases never seen.

Fetch, parse and store are separate steps with plain data between them; this module only
combines them and decides what is new.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum

import aiohttp

from bot.backoff import backoff_delay, wait_any
from bot.database import Database
from bot.ingest.feed import fetch_feed
from bot.ingest.fields import log_problems
from bot.ingest.identity import recognise
from bot.ingest.rss import parse_feed
from bot.models import ALERT, FeedError, FeedFailure, Parsed, Place, Release, Validators
from bot.store import COLLECTED, PENDING, Store

log = logging.getLogger(__name__)

# However long a server asks us to wait, poll again within this.
MAX_RETRY_AFTER = 6 * 3600
# The least time between two polls admins ask for (POLL_INTERVAL if shorter).
REQUESTED_GAP = 60.0
# A poll that finds more new releases than this at once holds them for an admin (issue 10).
# The RSS lists the ~20 newest releases and the ISSCR publishes a few a month (tests/data's
# sample: 5 in 7 weeks), so even a bot stopped for weeks finds only a handful new. More than 10
# means the feed's identities changed wholesale (a site migration rewriting guids and links),
# the database was swapped, or FEED_URL points to another feed: posting them all, one a second
# per channel, buried the channels (a 10,000-item feed queued 2.8 hours of posts).
FLOOD_THRESHOLD = 10
# Of a flood, the newest few are announced at once: the news among them is not held back.
FLOOD_ANNOUNCED = 3


class Outcome(Enum):
    NOT_MODIFIED = "not modified (304)"
    UNCHANGED = "unchanged (same body)"
    UPDATED = "updated"
    FAILED = "failed"


@dataclass(frozen=True)
class FetchResult:
    """What fetching the feed found: whether it changed, its releases when it did (`parsed`,
    None unless UPDATED), and the validators to ask with next time."""

    outcome: Outcome
    parsed: Parsed | None
    validators: Validators


@dataclass(frozen=True)
class Plan:
    """What a poll's releases mean against the database, before anything is written."""

    releases: list[Release]
    first_poll: bool
    new: list[Release]
    to_announce: list[Release]  # oldest first: the order they are posted in
    held: list[Release] = field(default_factory=list)  # of a flood, for an admin; oldest first


@dataclass(frozen=True)
class PollResult:
    outcome: Outcome
    plan: Plan | None = None
    updated: list[Release] = field(default_factory=list)
    failure: FeedFailure | None = None
    failures_in_a_row: int = 0
    problems: list[str] = field(default_factory=list)  # items skipped or given a fallback


def plan_poll(store: Store, parsed: Parsed, announce_existing: int) -> Plan:
    """Decide which parsed releases are new and which of them to announce.

    A release stored under another id (its guid changed, its link did not) is not new: see
    identity.py. A poll with more than FLOOD_THRESHOLD new releases announces the newest
    FLOOD_ANNOUNCED and holds the rest for an admin.

    The first poll on an empty database only sets a baseline: it stores everything and
    announces the newest `announce_existing` releases (none by default), so installing the
    bot does not flood a channel with the archive. Those are the newest of the feed, stored
    or not: an archive backfill that ran before the first poll must not take them away.
    A successful poll that stored nothing (an empty feed, a 304) is no baseline: the next
    one would otherwise announce the whole feed.
    """
    recognised = recognise(store, parsed.releases, site=parsed.site)
    ordered = recognised.releases
    new = [release for release in ordered if release.id not in recognised.known]
    first_poll = not store.ever_polled() or not store.has_releases()
    held: list[Release] = []
    if first_poll:
        newest_first = sorted(ordered, key=_age_key, reverse=True)
        to_announce = newest_first[:announce_existing]
    else:
        to_announce = sorted(new, key=_age_key)
        if len(new) > FLOOD_THRESHOLD:
            held, to_announce = to_announce[:-FLOOD_ANNOUNCED], to_announce[-FLOOD_ANNOUNCED:]
    return Plan(ordered, first_poll, new, sorted(to_announce, key=_age_key), held)


def flood_reason(found: int, *, now: float) -> str:
    """Why a flood's releases are held, for the admin who decides on them."""
    when = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"the poll of {when} found {found:,} new releases at once, more than the "
        f"{FLOOD_THRESHOLD} a feed ever has new between two polls (did the site change the "
        f"items' guids and links, or FEED_URL its feed?): only the newest {FLOOD_ANNOUNCED} "
        "were announced"
    )


def correction_flood_reason(corrected: int) -> str:
    """Why a mass correction's updates are held, for the admin who decides on them."""
    return (
        f"one poll found {corrected:,} posted releases changed at once (their title, summary, "
        f"categories or image), more than the {FLOOD_THRESHOLD} a site ever corrects between two "
        "polls: the feed may be broken rather than corrected"
    )


async def fetch_releases(
    session: aiohttp.ClientSession,
    feed_url: str,
    validators: Validators,
    *,
    allowed_hosts: frozenset[str] = frozenset(),
    now: float | None = None,
) -> FetchResult:
    """Fetch and parse; nothing parsed when the feed did not change since `validators`."""
    fetched = await fetch_feed(session, feed_url, validators, allowed_hosts=allowed_hosts)
    if fetched.body is None:
        return FetchResult(Outcome.NOT_MODIFIED, None, validators)
    if fetched.validators.body_hash == validators.body_hash:
        return FetchResult(Outcome.UNCHANGED, None, fetched.validators)
    # feedparser is CPU-bound; a big feed must not stall Slack's 3-second acks.
    parsed = await asyncio.to_thread(
        parse_feed,
        fetched.body,
        fetched.url,
        fetched.content_type,
        now=time.time() if now is None else now,
    )
    return FetchResult(Outcome.UPDATED, parsed, fetched.validators)


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
        channels_for: Callable[[Store, Release], Iterable[Place]],
        poll_interval: float,
        alerts_for: Callable[[Store, Release], Iterable[tuple[Place, Sequence[str]]]] = (
            lambda store, release: ()
        ),
        announce_existing: int = 0,
        on_queued: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        allowed_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.db = db
        self.session = session
        self.feed_url = feed_url
        self.channels_for = channels_for
        # The members whose alerts a new release matches (`bot.alerts.AlertMatcher`).
        self.alerts_for = alerts_for
        self.poll_interval = poll_interval
        self.announce_existing = announce_existing
        self.on_queued = on_queued
        self.clock = clock
        # Hosts besides the feed's own site that a redirect may lead to (FEED_ALLOWED_HOSTS).
        self.allowed_hosts = allowed_hosts
        self._poll_now = asyncio.Event()
        self._last_requested = -float("inf")  # monotonic
        # Set by the first successful poll: the archive backfill waits for this baseline.
        self.polled = asyncio.Event()

    def poll_now(self) -> None:
        """Cut the current wait short (for an admin's "poll now"), but never a failing feed's
        backoff, nor more than once a REQUESTED_GAP."""
        self._poll_now.set()

    async def fetch_releases(self, validators: Validators) -> FetchResult:
        return await fetch_releases(
            self.session, self.feed_url, validators, allowed_hosts=self.allowed_hosts,
            now=self.clock(),
        )  # fmt: skip

    async def poll_once(self) -> PollResult:
        """One poll: never raises for feed problems, records them in the feed status instead.
        The database is written off the event loop, a big feed's thousands of rows included."""
        status = await self.db.read(lambda store: store.feed_status(self.feed_url))
        try:
            fetched = await self.fetch_releases(status.validators)
        except FeedError as error:
            failures = await self._record_failure(error.failure.reason)
            log.warning("feed poll failed (%d in a row): %s", failures, error.failure.reason)
            return PollResult(Outcome.FAILED, failure=error.failure, failures_in_a_row=failures)
        parsed, validators = fetched.parsed, fetched.validators
        if parsed is None:
            await self.db.write(
                lambda store: store.record_poll_success(self.feed_url, validators, now=self.clock())
            )
            self.polled.set()
            log.debug("feed %s", fetched.outcome.value)
            return PollResult(fetched.outcome)
        plan, updated = await self.db.write(lambda store: self._save(store, parsed, validators))
        self.polled.set()
        log.info(
            "feed polled: %d releases, %d new, %d updated, %d to announce%s",
            len(plan.releases),
            len(plan.new),
            len(updated),
            len(plan.to_announce),
            " (first poll: baseline)" if plan.first_poll else "",
        )
        log_problems(log, "feed", parsed.problems)
        if plan.held:
            log.warning(
                "%d new releases at once: announcing the newest %d, holding %d for an admin "
                "(App Home or `isscr-news-bot status`)",
                len(plan.new),
                len(plan.to_announce),
                len(plan.held),
            )
        if plan.to_announce:
            self.on_queued()
        return PollResult(Outcome.UPDATED, plan=plan, updated=updated, problems=parsed.problems)

    async def _record_failure(self, reason: str) -> int:
        return await self.db.write(
            lambda store: store.record_poll_failure(self.feed_url, reason, now=self.clock())
        )

    def _save(
        self, store: Store, parsed: Parsed, validators: Validators
    ) -> tuple[Plan, list[Release]]:
        # One transaction: releases, their deliveries and the validators land together or not
        # at all, so a crash here can neither lose a release (validators saved, items not) nor
        # queue one twice.
        now = self.clock()
        with store.transaction():
            plan = plan_poll(store, parsed, self.announce_existing)
            new_ids = {release.id for release in plan.new}
            updated = [
                release
                for release in plan.releases
                if store.save_release(release, source="rss", now=now) and release.id not in new_ids
            ]
            # Held first: a channel's deliveries then stay in publication order.
            held_because = flood_reason(len(plan.new), now=now) if plan.held else None
            for release in plan.held:
                for place in self.channels_for(store, release):
                    store.add_delivery(release.id, place, now=now, held_because=held_because)
            # A channel that gets digests collects the release for its next one.
            collecting = store.collecting_places()
            for release in plan.to_announce:
                for place in self.channels_for(store, release):
                    state = COLLECTED if place in collecting else PENDING
                    store.add_delivery(release.id, place, now=now, state=state)
                # A member's alerts are about news: not the releases a first poll finds (they
                # were out before the bot looked), nor a flood's held ones (most likely old
                # releases whose identities changed: an admin decides on the channels' posts,
                # and a member cannot take a DM back).
                if not plan.first_poll:
                    for member, queries in self.alerts_for(store, release):
                        about = json.dumps(list(queries))
                        store.add_delivery(release.id, member, now=now, kind=ALERT, about=about)
            corrected = store.corrections_queued(at=now)
            if corrected > FLOOD_THRESHOLD:
                store.hold_corrections(queued_at=now, because=correction_flood_reason(corrected))
                log.warning(
                    "%d releases changed at once: their posted messages are not updated until "
                    "an admin says so (App Home or `isscr-news-bot status`)",
                    corrected,
                )
            store.record_poll_success(self.feed_url, validators, now=now)
            store.record_bad_feed_items(self.feed_url, parsed.problems)
            # For the archive backfill: what is newer than this is the watcher's to announce.
            dates = [release.published for release in parsed.releases if release.published]
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
            if result.failure is not None:
                # Failing, or told to wait (Retry-After): no request cuts the wait short. In
                # distribution mode anyone may be some workspace's admin.
                await wait_any(stop, seconds=delay)
                continue
            await wait_any(stop, self._poll_now, seconds=delay)
            if self._poll_now.is_set():
                # Polls asked for come at most once a REQUESTED_GAP (the first at once).
                gap = min(self.poll_interval, REQUESTED_GAP)
                wait = self._last_requested + gap - time.monotonic()
                if wait > 0:
                    await wait_any(stop, seconds=wait)
                self._last_requested = time.monotonic()

    def retry_delay(self, failures_in_a_row: int, retry_after: float | None) -> float:
        """Backoff after failures, never sooner than the server's Retry-After."""
        delay = backoff_delay(
            failures_in_a_row, base=self.poll_interval, cap=max(self.poll_interval, 3600)
        )
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
        return delay
