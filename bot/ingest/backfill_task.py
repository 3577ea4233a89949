"""The archive backfill as a task of the running bot: due on a first start (an empty database)
or when an earlier backfill did not finish, started once the first poll has set the baseline,
and resumed after a failed run with capped backoff."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

import aiohttp

from bot.backoff import backoff_delay
from bot.database import Database
from bot.ingest.archive import Backfill
from bot.ingest.archive_page import ArchiveError
from bot.ingest.watcher import MAX_RETRY_AFTER
from bot.store import DONE, NOT_STARTED, ArchiveStatus, Store

log = logging.getLogger(__name__)

# A failed archive backfill resumes after this, doubling per failed run, up to the cap.
ARCHIVE_RERUN_BASE = 60.0
ARCHIVE_RERUN_CAP = 6 * 3600.0


class BackfillTask:
    """`due` says whether to backfill from ARCHIVE_URL; `run` walks it once `polled` is set,
    so nothing backfilled is ever mistaken for news."""

    def __init__(
        self,
        db: Database,
        session: aiohttp.ClientSession,
        *,
        archive_url: str | None,
        allowed_hosts: frozenset[str],
        polled: asyncio.Event,
    ) -> None:
        self.db = db
        self.session = session
        self.archive_url = archive_url
        self.allowed_hosts = allowed_hosts
        self.polled = polled
        # The pace: seconds between pages, first wait after a failed page (doubling per try)
        # and after a failed run; tests make them short.
        self.pause = 1.0
        self.retry_base = 2.0
        self.rerun_base = ARCHIVE_RERUN_BASE

    async def due(self) -> str | None:
        """The archive URL to backfill from in the background, or None: on a first start (an
        empty database), or when an earlier backfill did not finish."""
        url = self.archive_url
        if url is None:
            log.info("no archive backfill: FEED_URL is a local file and ARCHIVE_URL is not set")
            return None

        def plan(store: Store) -> ArchiveStatus:
            if not store.has_releases():
                # Recorded before the first poll, so that a kill before the first archive
                # page (when the database is no longer empty) still backfills at next start.
                store.plan_archive(url, now=time.time())
            return store.archive_status(url)

        try:
            status = await self.db.write(plan)
        except sqlite3.Error as error:  # a full disk, say: shown in /healthz; resumed later
            log.warning("cannot plan the archive backfill: %s", error)
            return None
        if status.state == DONE or (status.state == NOT_STARTED and not status.planned):
            return None
        return url

    async def run(self, url: str) -> None:
        """Walk the archive once the first poll has set the baseline, so nothing backfilled is
        ever mistaken for news. Failures are logged and resumed later with capped backoff; a
        permanent one (HTML, 404) is logged once and left for the operator. Never raises."""
        await self.polled.wait()
        log.info("archive backfill starting from %s", url)
        while True:
            backfill = Backfill(
                self.db,
                self.session,
                archive_url=url,
                pause=self.pause,
                retry_base=self.retry_base,
                allowed_hosts=self.allowed_hosts,
            )
            retry_after = None
            try:
                result = await backfill.run()
            except ArchiveError as error:
                if error.permanent:
                    log.error(
                        "archive backfill stopped: %s. Fix ARCHIVE_URL, then run "
                        "`isscr-news-bot backfill` or restart the bot",
                        error.reason,
                    )
                    return
                reason, retry_after = error.reason, error.retry_after
                failures = await self.db.read(lambda store: store.archive_status(url).failures)
            except Exception as error:  # a bug or a locked database must not stop the bot
                if isinstance(error, sqlite3.Error):  # locked, full: one line says it
                    reason = f"the database could not be used ({error})"
                else:
                    log.exception("archive backfill crashed")
                    reason = f"internal error ({error.__class__.__name__}), see the bot's log"
                try:
                    failures = await self._record_failure(url, reason)
                except Exception:  # the database itself may be what fails
                    failures = 1
            else:
                log.info("archive backfill done: %s", result.summary())
                return
            delay = backoff_delay(failures, base=self.rerun_base, cap=ARCHIVE_RERUN_CAP)
            if retry_after is not None:
                delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
            log.warning("archive backfill failed (%s); resuming in %.0f s", reason, delay)
            await asyncio.sleep(delay)

    async def _record_failure(self, url: str, reason: str) -> int:
        return await self.db.write(
            lambda store: store.record_archive_failure(url, reason, now=time.time())
        )
