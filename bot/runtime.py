"""One asyncio process: the Slack app (HTTP or Socket Mode), the feed watcher, the outbox, the
digest scheduler and, on a first start, the archive backfill."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.alerts import AlertMatcher
from bot.database import Database
from bot.digests import DigestScheduler
from bot.health import HealthReport, everyone, report
from bot.ingest.backfill_task import BackfillTask
from bot.ingest.feed import open_session
from bot.ingest.watcher import Watcher
from bot.live import TokenCheck, live_problems
from bot.models import SlackConnection
from bot.onboarding import say_first_success, say_unused_routes, seed_routes
from bot.routes import Router
from bot.search.service import SearchService
from bot.serve import HttpServer
from bot.settings import Settings
from bot.slack import route_text
from bot.slack.app import Identity, build_app
from bot.slack.clients import app_client, connections_client, posting_client
from bot.slack.controls import Controls
from bot.slack.installations import Posters, StoredInstallations
from bot.slack.outbox import Outbox
from bot.slack.socket_mode import SocketMode
from bot.slack.tokens import TokenCipher
from bot.slack.workspaces import Workspaces
from bot.starting import Starting

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0


@dataclass(frozen=True)
class Core:
    """What polls the feed and announces it: the running bot's and one-shot `poll`'s."""

    db: Database
    router: Router
    outbox: Outbox
    watcher: Watcher
    digests: DigestScheduler
    # Single-workspace mode: the client that posts; distribution mode: the installations.
    poster: AsyncWebClient | None = None
    installations: StoredInstallations | None = None
    posters: Posters | None = None


def build_core(
    settings: Settings,
    session: aiohttp.ClientSession,
    slack_session: aiohttp.ClientSession | None = None,
) -> Core:
    """The database, the router, the outbox, the watcher and the digest scheduler that feed
    it, in that order.
    `settings.database_path` must hold a database whose schema is ensured. `slack_session`:
    the connections to Slack that distribution mode's many workspaces share."""
    db = Database(settings.database_path)
    router = Router(
        settings.announce_channel, where=route_text.WHERE, distribution=settings.distribution
    )
    poster, installations, posters = None, None, None
    if settings.distribution:
        installations = StoredInstallations(
            db, TokenCipher(settings.token_keys), app_client(settings, session=slack_session)
        )
        posters = Posters(
            installations, lambda token: posting_client(settings, token, slack_session)
        )
        outbox = Outbox(db, posters, lease_ttl=settings.delivery_lease)
    else:
        poster = posting_client(settings)
        outbox = Outbox(db, poster, lease_ttl=settings.delivery_lease)
    watcher = Watcher(
        db,
        session,
        feed_url=settings.feed_url,
        channels_for=router.channels_for,
        poll_interval=settings.poll_interval,
        alerts_for=AlertMatcher(distribution=settings.distribution).alerts_for,
        announce_existing=settings.announce_existing,
        on_queued=outbox.wake,
        allowed_hosts=settings.feed_allowed_hosts,
    )
    digests = DigestScheduler(db, distribution=settings.distribution, on_made=outbox.wake)
    return Core(db, router, outbox, watcher, digests, poster, installations, posters)


class Bot:
    """Builds every part once, in order, each handed what it needs; `start` and `stop` are
    separate so tests can drive it. Built inside the event loop (the feed's HTTP session)."""

    def __init__(
        self, settings: Settings, *, host: str = "0.0.0.0", starting: Starting | None = None
    ) -> None:
        """`settings.database_path` must hold a database whose schema is ensured; `starting`:
        the HTTP port, listened on since the process started (see `bot.starting`)."""
        self.settings = settings
        self.host = host
        self._session = open_session()
        # Distribution mode: one pool of connections to Slack for every workspace's clients.
        # No cookies: one workspace's must not go out with another's requests.
        self._slack_session = (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
            if settings.distribution
            else None
        )
        core = build_core(settings, self._session, self._slack_session)
        self.db, self.router, self.outbox, self.watcher = (
            core.db, core.router, core.outbox, core.watcher
        )  # fmt: skip
        self.posters = core.posters
        # Tests set its `clock` (and `interval`) before `start`.
        self.digests = core.digests
        self.client = app_client(settings, session=self._slack_session)
        self.search = SearchService(settings.database_path)
        self.controls = Controls(
            poll_now=self.watcher.poll_now,
            deliver_now=self.outbox.wake,
            live_problems=self.live_problems,
        )
        self.identity = Identity(settings.slack_bot_token)
        self.workspaces = (
            Workspaces(
                settings,
                self.db,
                self.controls,
                installations=core.installations,
                session=self._slack_session,
            )
            if core.installations is not None
            else None
        )
        self.app = build_app(
            settings,
            self.db,
            self.client,
            self.search,
            self.controls,
            self.identity,
            poster=core.poster,
            workspaces=self.workspaces,
        )
        # Distribution mode has no token of its own to check: each workspace's is Slack's to
        # refuse, and its deliveries say so.
        self.token_check = None if settings.distribution else TokenCheck(self.client, self.identity)
        self.http = HttpServer(settings, self.app, self.report, host=host, starting=starting)
        # Tests set its pace (`pause`, `retry_base`, `rerun_base`) before `start`.
        self.archive = BackfillTask(
            self.db,
            self._session,
            archive_url=settings.archive_url,
            allowed_hosts=settings.feed_allowed_hosts,
            polled=self.watcher.polled,
        )
        self.stopping = asyncio.Event()
        self._started = False
        self._tasks: list[asyncio.Task[None]] = []
        # The Socket Mode connection's state, for /healthz; None in HTTP mode.
        self.slack_connection = SlackConnection() if settings.socket_mode else None
        self._socket_mode: SocketMode | None = None
        # Cancelled on stop rather than awaited: see `stop`.
        self._cancel_on_stop: list[asyncio.Task[None]] = []

    @property
    def port(self) -> int | None:
        """The HTTP server's port once started (the real one when PORT=0), else None."""
        return self.http.port

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
            await self.http.start()
        # Logs: only once start-up can no longer fail.
        if self.settings.distribution:
            await say_unused_routes(self.db)
        else:
            await seed_routes(self.db, self.router, self.settings.announce_channel)
        # Nothing waits for Slack to answer auth.test: /healthz, polling and storing work
        # without Slack, and the outbox keeps announcements until it answers.
        if self.token_check is not None:
            self._start_cancellable(self.token_check.run(), "token-check")
        self._start_cancellable(self.watcher.run(self.stopping), "watcher")
        # A digest's transaction is all or nothing: cancelling it at any await is safe.
        self._start_cancellable(self.digests.run(self.stopping), "digests")
        archive_url = await self.archive.due()
        if archive_url is not None:
            self._start_cancellable(self.archive.run(archive_url), "archive")
        first_poll = say_first_success(
            self.db,
            self.watcher.polled,
            importing=archive_url is not None,
            suggest_setting=self.settings.announce_channel is None,
            distribution=self.settings.distribution,
        )
        self._start_cancellable(first_poll, "first-poll")
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
        await self.http.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._session.close()
        if self._slack_session is not None:
            await self._slack_session.close()
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

    async def report(self, *, within: float | None = None) -> HealthReport:
        """The health report (see `bot.health`), with what only this process knows."""
        return await report(
            self.db,
            self.settings,
            live=self.live_problems(),
            slack=self.slack_connection,
            within=within,
            team=everyone(self.settings),
        )

    def live_problems(self) -> list[str]:
        """Problems the database does not record: it may be what fails."""
        if self.posters is not None:
            token_problem = self.posters.problem()
        else:
            token_problem = self.token_check.problem if self.token_check is not None else None
        return live_problems(self.db.write_failure, token_problem, self.slack_connection)
