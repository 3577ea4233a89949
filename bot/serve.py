"""The bot's HTTP server: `POST /slack/events` (in HTTP mode), `GET /healthz`, and in
distribution mode the install pages (`GET /slack/install`, `GET /slack/oauth_redirect`)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.database import DatabaseBusy
from bot.health import HealthReport
from bot.settings import Settings
from bot.settings.fields import REDIRECT_PATH
from bot.slack.installations import INSTALL_PATH, page_html
from bot.slack.verify import MAX_BODY, SlackRequests
from bot.starting import Starting, cannot_open

log = logging.getLogger(__name__)

# /healthz answers within this, whatever the database is doing.
HEALTH_WITHIN = 2.0


class HttpServer:
    """Served on `host` and PORT once `start` returns; `port` is the real one (PORT=0 picks)."""

    def __init__(
        self,
        settings: Settings,
        app: AsyncApp,
        report: Callable[..., Awaitable[HealthReport]],
        *,
        host: str,
        starting: Starting | None = None,
    ) -> None:
        """`report(within=...)`: the health report /healthz serves; `starting`: the port,
        listened on already while the bot started (else it is opened by `start`)."""
        self.settings = settings
        self.app = app
        self.report = report
        self.host = host
        self.starting = starting
        self.port: int | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen, or raise SettingsError naming PORT when it cannot be opened."""
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
            # Distribution mode's only: Bolt turns its own OAuth flow on whenever the
            # environment names SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, even empty.
            if self.settings.distribution and self.app.oauth_flow is not None:
                web_app.router.add_get(INSTALL_PATH, self._install)
                web_app.router.add_get(REDIRECT_PATH, self._redirected)
                served += f", GET {INSTALL_PATH} and {REDIRECT_PATH}"
        web_app.router.add_get("/healthz", self._healthz)
        # Slack's requests finish within 3 s; a short shutdown keeps SIGTERM within platforms'
        # usual 30 s budget together with the outbox's grace.
        self._runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=5)
        await self._runner.setup()
        site: web.BaseSite
        if self.starting is not None:
            # Off the event loop: it waits up to half a second for a slow client's answer.
            site = web.SockSite(self._runner, await asyncio.to_thread(self.starting.hand_over))
        else:
            site = web.TCPSite(self._runner, self.host, self.settings.port)
        try:
            await site.start()
        except OSError as error:
            await self._runner.cleanup()
            self._runner = None
            raise cannot_open(self.settings.port, error) from None
        self.port = self._runner.addresses[0][1]  # the real port when PORT=0
        log.info("listening on %s:%s (%s)", self.host, self.port, served)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _install(self, request: web.Request) -> web.Response:
        """The "Add to Slack" page (Bolt's), with a state of its own for this browser."""
        flow = self.app.oauth_flow
        assert flow is not None
        try:
            answer = await flow.handle_installation(await to_bolt_request(request))
        except DatabaseBusy:
            return _page(503, "Please try again in a few minutes", BUSY_INSTALLING)
        return await to_aiohttp_response(answer)

    async def _redirected(self, request: web.Request) -> web.Response:
        """Slack's redirect back after the install: Bolt checks the state and the browser's
        cookie, exchanges the code for the workspace's token and keeps it (encrypted)."""
        flow = self.app.oauth_flow
        assert flow is not None
        try:
            answer = await flow.handle_callback(await to_bolt_request(request))
        except DatabaseBusy:
            return _page(503, "Please try again in a few minutes", BUSY_INSTALLING)
        except (aiohttp.ClientError, TimeoutError) as error:  # Slack, mid-exchange
            log.warning("an install could not reach Slack: %s", type(error).__name__)
            return _page(503, "Please try again in a few minutes", SLACK_UNREACHABLE)
        return await to_aiohttp_response(answer)

    async def _healthz(self, request: web.Request) -> web.Response:
        status = await self.report(within=HEALTH_WITHIN)
        return web.json_response(
            status,
            status=200 if status["ok"] else 503,
            dumps=lambda data: json.dumps(data, indent=2),
        )


SLACK_UNREACHABLE = (
    "Slack did not answer while ISSCR News was being added, so it was not added. Please open "
    "the install link again in a few minutes."
)
BUSY_INSTALLING = (
    "ISSCR News is busy just now, so the app was not added. Please open the install link "
    "again in a few minutes."
)


def _page(status: int, title: str, text: str) -> web.Response:
    return web.Response(status=status, text=page_html(title, text), content_type="text/html")
