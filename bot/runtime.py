"""One asyncio process: the Slack app (HTTP or Socket Mode), the feed watcher, the outbox and,
on a first start, the archive backfill."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sqlite3
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from slack_sdk.errors import SlackApiError

from bot.backoff import backoff_delay
from bot.database import Database
from bot.health import HealthReport, iso, report
from bot.ingest.archive import Backfill
from bot.ingest.archive_page import ArchiveError
from bot.ingest.feed import open_session
from bot.ingest.watcher import MAX_RETRY_AFTER, Watcher
from bot.routes import Router
from bot.search.service import SearchService
from bot.settings import Settings, SettingsError
from bot.slack import route_text
from bot.slack.app import Identity, app_client, build_app, connections_client, posting_client
from bot.slack.controls import Controls
from bot.slack.errors import Failure, classify, explain
from bot.slack.outbox import Outbox
from bot.slack.socket_mode import SlackConnection, SocketMode
from bot.slack.verify import MAX_BODY, SlackRequests
from bot.store import DONE, NOT_STARTED, ArchiveStatus, Route, Store

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0
# /healthz answers within this, whatever the database is doing.
HEALTH_WITHIN = 2.0
# A failed archive backfill resumes after this, doubling per failed run, up to the cap.
ARCHIVE_RERUN_BASE = 60.0
ARCHIVE_RERUN_CAP = 6 * 3600.0


@dataclass(frozen=True)
class Core:
    """What polls the feed and announces it: the running bot's and one-shot `poll`'s."""

    db: Database
    router: Router
    outbox: Outbox
    watcher: Watcher


def build_core(settings: Settings, session: aiohttp.ClientSession) -> Core:
    """The database, the router, the outbox and the watcher that feeds it, in that order.
    `settings.database_path` must hold a database whose schema is ensured."""
    db = Database(settings.database_path)
    router = Router(settings.announce_channel, where=route_text.WHERE)
    outbox = Outbox(db, posting_client(settings), lease_ttl=settings.delivery_lease)
    watcher = Watcher(
        db,
        session,
        feed_url=settings.feed_url,
        channels_for=router.channels_for,
        poll_interval=settings.poll_interval,
        announce_existing=settings.announce_existing,
        on_queued=outbox.wake,
        allowed_hosts=settings.feed_allowed_hosts,
    )
    return Core(db, router, outbox, watcher)


class Bot:
    """Builds every part once, in order, each handed what it needs; `start` and `stop` are
    separate so tests can drive it. Built inside the event loop (the feed's HTTP session)."""

    def __init__(self, settings: Settings, *, host: str = "0.0.0.0") -> None:
        """`settings.database_path` must hold a database whose schema is ensured."""
        self.settings = settings
        self.host = host
        self._session = open_session()
        core = build_core(settings, self._session)
        self.db, self.router, self.outbox, self.watcher = (
            core.db, core.router, core.outbox, core.watcher
        )  # fmt: skip
        self.client = app_client(settings)
        self.search = SearchService(settings.database_path)
        self.controls = Controls(
            poll_now=self.watcher.poll_now,
            deliver_now=self.outbox.wake,
            live_problems=self.live_problems,
        )
        self.identity = Identity(settings.slack_bot_token)
        self.app = build_app(
            settings,
            self.db,
            self.client,
            self.search,
            self.controls,
            self.identity,
            poster=self.outbox.client,
        )
        # Why Slack has not confirmed the bot token: it refused it, or cannot be reached yet.
        self.token_problem: str | None = None
        self.stopping = asyncio.Event()
        self.port: int | None = None
        self._started = False
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        # The Socket Mode connection's state, for /healthz; None in HTTP mode.
        self.slack_connection = SlackConnection() if settings.socket_mode else None
        self._socket_mode: SocketMode | None = None
        # Cancelled on stop rather than awaited: see `stop`.
        self._cancel_on_stop: list[asyncio.Task[None]] = []
        # The archive backfill's pace: seconds between pages, first wait after a failed page
        # (doubling per try) and after a failed run; tests make them short.
        self.archive_pause = 1.0
        self.archive_retry_base = 2.0
        self.archive_rerun_base = ARCHIVE_RERUN_BASE

    async def start(self) -> None:
        if self.slack_connection is not None and self.settings.slack_app_token is not None:
            # Before anything is logged: a refused app token stops start-up in one line.
            self._socket_mode = SocketMode(
                self.app,
                self.settings.slack_app_token,
                connections_client(self.settings),
                self.slack_connection,
            )
            await self._socket_mode.start(self.stopping)
            if self.stopping.is_set():
                return  # SIGTERM while connecting: nothing else to start
        if not self.settings.socket_mode or self.settings.port_is_explicit:
            await self._serve_http()
        await self._seed_routes()  # logs: only once start-up can no longer fail
        # Nothing waits for Slack to answer auth.test: /healthz, polling and storing work
        # without Slack, and the outbox keeps announcements until it answers.
        self._start_cancellable(self._check_token(), "token-check")
        self._start_cancellable(self.watcher.run(self.stopping), "watcher")
        archive_url = await self._archive_due()
        if archive_url is not None:
            self._start_cancellable(self._backfill_archive(archive_url), "archive")
        self._start_cancellable(self._say_first_success(archive_url is not None), "first-poll")
        self._tasks.append(
            asyncio.create_task(self.outbox.run(self.stopping, grace=SHUTDOWN_GRACE), name="outbox")
        )
        self._started = True

    def _start_cancellable(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.append(task)
        self._cancel_on_stop.append(task)

    async def stop(self) -> None:
        """Stop polling, let a post in flight finish (or hand it back), close everything."""
        self.stopping.set()
        # Cancelling these is safe at any await, and a feed or Slack that never answers must
        # not hold up the exit: a poll writes its releases and deliveries in one transaction
        # after its last await, each archive page is committed with its offset (the next start
        # resumes there), and the token check only logs.
        for task in self._cancel_on_stop:
            task.cancel()
        if self._socket_mode is not None:
            await self._socket_mode.close()
        if self._runner is not None:
            await self._runner.cleanup()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._session.close()
        await asyncio.to_thread(self.search.close)
        await asyncio.to_thread(self.db.close)
        # A start that failed (PORT taken) is reported by its error alone, in one line.
        if self._started:
            log.info("stopped")

    async def run_forever(self, on_started: Callable[[], None] = lambda: None) -> None:
        """Run until SIGTERM or SIGINT; `on_started` is called once everything has started."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stopping.set)
        await self.start()
        if not self.stopping.is_set():  # else stopped while connecting to Slack
            on_started()
        await self.stopping.wait()
        log.info("shutting down")
        await self.stop()

    async def _seed_routes(self) -> None:
        """ANNOUNCE_CHANNEL's route, on a new database (the first poll seeds it too, should
        this write fail); and a word in the log when the setting no longer decides anything."""
        try:
            seeded, unused = await self.db.write(
                lambda store: (self.router.seed(store), self.router.unused_setting(store))
            )
        except sqlite3.Error as error:  # a full disk, say: shown in /healthz
            log.warning("cannot apply ANNOUNCE_CHANNEL yet: %s", error)
            return
        if seeded:
            log.info(
                "ANNOUNCE_CHANNEL: every category goes to %s; admins change routes in Slack",
                self.settings.announce_channel,
            )
        if unused:
            log.info(unused)

    async def _say_first_success(self, importing: bool) -> None:
        """One line after the first poll: what is stored and what happens next, so that a
        new installation whose channel stays quiet (the first poll only sets a baseline)
        says why."""
        await self.watcher.polled.wait()
        try:
            stored, routes = await self.db.read(
                lambda store: (store.release_count(), store.routes())
            )
        except sqlite3.Error:
            return  # the poll's own log lines have said what happened
        unset = self.settings.announce_channel is None
        log.info(first_success(stored, routes, importing=importing, suggest_setting=unset))

    async def _archive_due(self) -> str | None:
        """The archive URL to backfill from in the background, or None: on a first start (an
        empty database), or when an earlier backfill did not finish."""
        url = self.settings.archive_url
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

    async def _backfill_archive(self, url: str) -> None:
        """Walk the archive once the first poll has set the baseline, so nothing backfilled is
        ever mistaken for news. Failures are logged and resumed later with capped backoff; a
        permanent one (HTML, 404) is logged once and left for the operator. Never raises."""
        await self.watcher.polled.wait()
        log.info("archive backfill starting from %s", url)
        while True:
            backfill = Backfill(
                self.db,
                self._session,
                archive_url=url,
                pause=self.archive_pause,
                retry_base=self.archive_retry_base,
                allowed_hosts=self.settings.feed_allowed_hosts,
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
                    failures = await self._record_archive_failure(url, reason)
                except Exception:  # the database itself may be what fails
                    failures = 1
            else:
                log.info("archive backfill done: %s", result.summary())
                return
            delay = backoff_delay(failures, base=self.archive_rerun_base, cap=ARCHIVE_RERUN_CAP)
            if retry_after is not None:
                delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
            log.warning("archive backfill failed (%s); resuming in %.0f s", reason, delay)
            await asyncio.sleep(delay)

    async def _check_token(self) -> None:
        """Learn who the bot is from Slack (auth.test), trying again while Slack cannot be
        reached. A bad token is reported, not fatal: the feed is still watched and stored, and
        announcements wait in the outbox until the token is fixed."""
        attempt = 0
        while True:
            try:
                auth = await self.client.auth_test()
            except SlackApiError as error:
                failure = classify(error)
                if failure.kind in (Failure.NEEDS_ADMIN, Failure.PERMANENT):  # Slack said no
                    log.error(
                        "Slack rejected SLACK_BOT_TOKEN (%s); announcements will wait",
                        explain(failure.reason),
                    )
                    self.token_problem = (
                        f"Slack rejected SLACK_BOT_TOKEN at start-up ({explain(failure.reason)}); "
                        "announcements wait until it is fixed"
                    )
                    return
                reason = failure.reason
            except Exception as error:
                reason = classify(error).reason
            else:
                break
            attempt += 1
            delay = backoff_delay(attempt, base=5, cap=300)
            log.warning("cannot reach Slack yet (%s); trying again in %.0f s", reason, delay)
            self.token_problem = f"Slack cannot be reached ({reason}); trying again"
            await asyncio.sleep(delay)
        self.token_problem = None
        self.identity.learn(auth.data if isinstance(auth.data, dict) else {})
        log.info("connected to Slack workspace %s as %s", auth.get("team"), auth.get("user"))

    async def _serve_http(self) -> None:
        if self.settings.socket_mode:
            # Slack's requests come over the socket, opened with the app-level token, and Bolt
            # checks no signatures then: a /slack/events here would take forged requests.
            web_app = web.Application()
            served = "GET /healthz only: Socket Mode"
        else:
            web_app = web.Application(client_max_size=MAX_BODY)
            requests = SlackRequests(self.app, self.settings.slack_signing_secret or "")
            web_app.router.add_post("/slack/events", requests.handle)
            served = "POST /slack/events, GET /healthz"
        web_app.router.add_get("/healthz", self._healthz)
        # Slack's requests finish within 3 s; a short shutdown keeps SIGTERM within platforms'
        # usual 30 s budget together with the outbox's grace.
        self._runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.settings.port)
        try:
            await site.start()
        except OSError as error:
            await self._runner.cleanup()
            self._runner = None
            raise SettingsError(
                "PORT",
                f"{self.settings.port} cannot be opened ({error.strerror})",
                "choose a free port or stop what is using it",
            ) from None
        self.port = self._runner.addresses[0][1]  # the real port when PORT=0
        log.info("listening on %s:%s (%s)", self.host, self.port, served)

    async def _record_archive_failure(self, url: str, reason: str) -> int:
        return await self.db.write(
            lambda store: store.record_archive_failure(url, reason, now=time.time())
        )

    async def report(self, *, within: float | None = None) -> HealthReport:
        """The health report (see `bot.health`), with what only this process knows."""
        return await report(
            self.db,
            self.settings,
            live=self.live_problems(),
            slack=self.slack_connection,
            within=within,
        )

    def live_problems(self) -> list[str]:
        """Problems the database does not record: it may be what fails."""
        problems = []
        failure = self.db.write_failure
        if failure is not None:
            why = (
                "another program holds it"
                if "locked" in failure.reason
                else "is the disk full, or the file read-only?"
            )
            problems.append(
                f"The database cannot be written since {iso(failure.since)}: {failure.reason} "
                f"({why}); nothing new can be stored or marked posted meanwhile"
            )
        if self.token_problem is not None:
            problems.append(self.token_problem)
        connection = self.slack_connection
        if connection is not None and not connection.connected:
            problems.append(
                f"Slack's Socket Mode connection is down since {iso(connection.since)}"
                + (f": {connection.last_error}" if connection.last_error else "")
                + "; requests from Slack cannot reach the bot meanwhile"
            )
        return problems

    async def _healthz(self, request: web.Request) -> web.Response:
        status = await self.report(within=HEALTH_WITHIN)
        return web.json_response(
            status,
            status=200 if status["ok"] else 503,
            dumps=lambda data: json.dumps(data, indent=2),
        )


def first_success(
    stored: int, routes: Sequence[Route], *, importing: bool, suggest_setting: bool
) -> str:
    """The log line after the first poll, e.g. "stored 20 releases; the archive import is
    running; the next new release will go to C0123456789". `suggest_setting`: ANNOUNCE_CHANNEL
    is unset, so it is a way to pick the channel."""
    parts = [f"stored {stored:,} release{'' if stored == 1 else 's'}"]
    if importing:
        parts.append("the archive import is running (older releases, not announced)")
    if not routes:
        parts.append(
            "no channel receives news yet: an admin picks one on the app's Home in Slack"
            + (" (or set ANNOUNCE_CHANNEL)" if suggest_setting else "")
        )
    elif len(routes) == 1 and not routes[0].categories:
        parts.append(f"the next new release will go to {routes[0].channel}")
    else:
        shown = [
            f"{route.channel} ({', '.join(route.categories) or 'every category'})"
            for route in routes[:5]
        ]
        more = f" and {len(routes) - 5} more routes" if len(routes) > 5 else ""
        parts.append(f"new releases will go to {'; '.join(shown)}{more}")
    return "; ".join(parts)
