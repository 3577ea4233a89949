"""The archive backfill: the news archive's JSON pages, walked back to the first release.

`Backfill` fetches each page (politely: our User-Agent, a pause between pages, retries with
backoff, `Retry-After` honoured), reads it (archive_page.py) and stores it. Each page's
releases and the offset of the next page are committed in one transaction, so a walk
interrupted at any moment — even by kill -9 — resumes where it stopped and stores nothing twice.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

import aiohttp

from bot.backoff import backoff_delay
from bot.database import Database
from bot.ingest.archive_page import ArchiveError, ArchivePage, archive_page_url, parse_archive_page
from bot.ingest.feed import fetch_feed
from bot.ingest.fields import log_problems
from bot.ingest.identity import recognise
from bot.models import NORMAL_ENDS, FeedError, Validators
from bot.store import Store

log = logging.getLogger(__name__)

# Releases published within this long before the last successful RSS poll are left to the
# feed watcher: it announces what is not stored yet, so storing them here could silence an
# announcement. The margin covers a post published just before a poll but not yet in the RSS.
# So are releases newer than the oldest one in the RSS at that poll: one of those not stored
# yet is new to the RSS too (e.g. backdated), and the watcher will announce it.
RECENT_MARGIN = 24 * 3600
# However long a server asks us to wait between two tries of one page, this is the most we
# wait in place; beyond it the walk stops (progress kept) and resumes later.
MAX_PAGE_WAIT = 300.0

# HTTP answers that will not change by asking again.
_PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 406, 410, 414, 451})
# How a walk ends when the archive is read to its end.


@dataclass(frozen=True)
class BackfillResult:
    """What one run of `Backfill` did (running totals while it runs)."""

    resumed_from: int | None = None  # the saved offset this run started at, if any
    pages: int = 0
    stored: int = 0  # releases new to the database
    already_stored: int = 0
    left_to_watcher: int = 0  # too recent: see RECENT_MARGIN
    reached: datetime | None = None  # the oldest publication date seen so far
    bad_items: int = 0  # items skipped or stored with a fallback
    finished: bool = False
    # Why the walk ended: one of NORMAL_ENDS, or what stopped it early (a repeated offset…).
    stop_reason: str | None = None

    def summary(self) -> str:
        """One line for a person: what was stored, what was left alone, what went wrong."""
        line = (
            f"{self.stored} new releases stored from {self.pages} pages"
            f"{f' (resumed at offset {self.resumed_from})' if self.resumed_from else ''}; "
            f"{self.already_stored} already stored"
        )
        if self.left_to_watcher:
            line += f"; {self.left_to_watcher} recent releases left to the feed watcher"
        if self.bad_items:
            line += f"; {self.bad_items} malformed items skipped or stored undated (see status)"
        if self.stop_reason not in (None, *NORMAL_ENDS):
            line += f"; stopped early: {self.stop_reason}"
        return line + "."


class Backfill:
    """Walks the archive from the saved offset (or the first page) to its end, storing what
    the database lacks. Never queues an announcement."""

    def __init__(
        self,
        db: Database,
        session: aiohttp.ClientSession,
        *,
        archive_url: str,
        pause: float = 1.0,
        attempts: int = 4,
        retry_base: float = 2.0,
        retry_cap: float = 60.0,
        on_page: Callable[[BackfillResult], None] = lambda progress: None,
        clock: Callable[[], float] = time.time,
        allowed_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.db = db
        self.session = session
        self.archive_url = archive_url
        self.pause = pause
        self.attempts = attempts
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.on_page = on_page
        self.clock = clock
        # Hosts besides the archive's own site that a redirect may lead to (FEED_ALLOWED_HOSTS).
        self.allowed_hosts = allowed_hosts

    async def run(self) -> BackfillResult:
        """Walk to the end. Raises ArchiveError once a page has failed every attempt (or
        permanently); the failure is recorded and the next run resumes at that page."""
        offset = await self.db.write(
            lambda store: store.start_archive(self.archive_url, now=self.clock())
        )
        result = BackfillResult(resumed_from=offset)
        if offset is not None:
            log.info("archive backfill resuming at offset %d", offset)
        seen: set[int | None] = set()
        while True:
            seen.add(offset)
            page = await self._fetch_page(archive_page_url(self.archive_url, offset))
            stop_reason = None
            if not page.releases and not page.problems:
                stop_reason = "empty page"
            elif page.offset_problem is not None:
                stop_reason = f"the next page cannot be asked for: {page.offset_problem}"
            elif page.next_offset is None:
                stop_reason = "last page"
            elif page.next_offset in seen:
                # A server that points back to a page already read would keep us forever.
                stop_reason = f"repeated offset {page.next_offset}"
            elif offset is not None and page.next_offset > offset:
                # Each page goes back in time; one that does not could keep us going forever.
                stop_reason = (
                    f"next-page offset {page.next_offset} is not older than this page's {offset}"
                )
            if stop_reason not in (None, *NORMAL_ENDS):
                log.warning("archive walk stopped at offset %s: %s", offset, stop_reason)
            result = await self.db.write(
                functools.partial(self._save, page, result, offset=offset, stop_reason=stop_reason)
            )
            self.on_page(result)
            if result.finished:
                if result.stored:
                    # Written page by page, the index is in many pieces; one piece makes every
                    # search read one b-tree per word (about a third faster on a big archive).
                    await self.db.write(lambda store: store.tidy_search_index())
                return result
            offset = page.next_offset
            await asyncio.sleep(self.pause)

    def _save(
        self,
        page: ArchivePage,
        so_far: BackfillResult,
        store: Store,
        *,
        offset: int | None,
        stop_reason: str | None,
    ) -> BackfillResult:
        now = self.clock()
        finished = stop_reason is not None
        where = "first page" if offset is None else f"page at offset {offset}"
        problems = [f"{where}, {problem}" for problem in page.problems]
        # One transaction: the page's releases and the next offset land together, so a kill
        # between pages loses nothing and a kill during one re-reads only that page.
        with store.transaction():
            stored, already, recent = self._store_releases(store, page, offset=offset, now=now)
            store.record_archive_page(
                self.archive_url,
                next_offset=None if finished else page.next_offset,
                stored=stored,
                recent=recent,
                finished=finished,
                problems=problems,
                stop_reason=stop_reason,
                now=now,
            )
        log_problems(log, "archive", problems, " on this page")
        dates = [release.published for release in page.releases]
        reached = min(filter(None, [*dates, so_far.reached]), default=None)
        log.debug(
            "archive page %d: %d releases, %d stored", so_far.pages + 1, len(page.releases), stored
        )
        return replace(
            so_far,
            pages=so_far.pages + 1,
            stored=so_far.stored + stored,
            already_stored=so_far.already_stored + already,
            left_to_watcher=so_far.left_to_watcher + recent,
            bad_items=so_far.bad_items + len(problems),
            reached=reached,
            finished=finished,
            stop_reason=stop_reason,
        )

    def _store_releases(
        self, store: Store, page: ArchivePage, *, offset: int | None, now: float
    ) -> tuple[int, int, int]:
        """Store the page's releases the database lacks, but those the watcher is to
        announce; how many were stored, already stored, and left to the watcher."""
        stored = already = recent = 0
        # Read inside the transaction: a poll that succeeded a moment ago counts.
        cutoff = self._recent_cutoff(store)
        recognised = recognise(store, page.releases, site=page.site)
        known = recognised.known
        # This page's releases are older than its offset; as the walk goes on, older
        # still than each dated one read.
        older_than = offset / 1000 if offset is not None else None
        for release in recognised.releases:
            if release.published is not None:
                seconds = release.published.timestamp()
                older_than = seconds if older_than is None else min(older_than, seconds)
            if release.id in known:
                # The RSS (or an earlier walk) stored it: its row is at least as good.
                already += 1
            elif cutoff is not None and (
                release.published.timestamp() > cutoff
                if release.published is not None
                # Undated (its date broken): the watcher's only while the walk is still
                # among releases the feed may show; past them, it is an old one.
                else older_than is None or older_than > cutoff
            ):
                recent += 1
            else:
                store.save_release(release, source="archive", now=now)
                known.add(release.id)
                stored += 1
        return stored, already, recent

    def _recent_cutoff(self, store: Store) -> float | None:
        """Releases published after this are left to the watcher; None before any poll (the
        first poll only sets a baseline, it announces nothing new)."""
        last_poll = store.latest_poll_success()
        if last_poll is None:
            return None
        window = store.feed_window_start()
        cutoff = last_poll - RECENT_MARGIN
        return min(cutoff, window) if window is not None else cutoff

    async def _fetch_page(self, url: str) -> ArchivePage:
        """One page, tried up to `attempts` times on 429s, 5xx, timeouts and network errors."""
        attempt = 0
        while True:
            attempt += 1
            try:
                # No validators: every page is needed whole, whatever was fetched before.
                fetched = await fetch_feed(
                    self.session, url, Validators(), allowed_hosts=self.allowed_hosts
                )
                if fetched.body is None:
                    raise ArchiveError("unexpected 304 Not Modified")
                return await asyncio.to_thread(
                    parse_archive_page,
                    fetched.body,
                    fetched.url,
                    fetched.content_type,
                    now=self.clock(),
                )
            except FeedError as error:
                problem = ArchiveError(
                    error.failure.reason,
                    permanent=error.status in _PERMANENT_STATUSES,
                    retry_after=error.failure.retry_after,
                )
            except ArchiveError as error:
                problem = error
            wait = backoff_delay(attempt, base=self.retry_base, cap=self.retry_cap)
            if problem.retry_after is not None:
                wait = max(wait, problem.retry_after)
            if problem.permanent or attempt >= self.attempts or wait > MAX_PAGE_WAIT:
                tries = f"after {attempt} attempts" if attempt > 1 else "not retried"
                reason = f"{problem.reason} (page {url}, {tries})"
                await self._record_failure(reason)
                raise ArchiveError(
                    reason, permanent=problem.permanent, retry_after=problem.retry_after
                )
            log.warning(
                "archive page failed (%s); attempt %d of %d in %.1f s",
                problem.reason,
                attempt + 1,
                self.attempts,
                wait,
            )
            await asyncio.sleep(wait)

    async def _record_failure(self, reason: str) -> None:
        """Mark the walk failed. Apart from the retry loop: a lambda written there would bind
        `reason` through a default argument, which mypy cannot type."""
        await self.db.write(
            lambda store: store.record_archive_failure(self.archive_url, reason, now=self.clock())
        )
