"""The Socket Mode connection to Slack: opened, watched and opened again by us, and its state
for /healthz.

slack_sdk's aiohttp client, left to itself, retries a failed connection forever inside
`connect()`, logging a traceback every ~12 s, and nothing but closing the client stops it:
the bot ignored SIGTERM while Slack was unreachable or refused the app token, and /healthz
said ok. Here the client only ever makes one attempt when asked (`_Client`), and `SocketMode`
decides: a refused app token at start-up stops the bot with one line (exit 2); an unreachable
Slack, or a connection that drops later, is retried with capped backoff and jitter, one log
line per attempt; `close()` ends it in any state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.backoff import backoff_delay
from bot.models import SlackConnection
from bot.settings import SettingsError

log = logging.getLogger(__name__)

# One attempt: apps.connections.open, then the WebSocket handshake.
CONNECT_TIMEOUT = 30.0
# Start-up waits this long for Slack to accept or refuse the app token, then goes on (health,
# the feed) and keeps trying in the background.
FIRST_ATTEMPT_WAIT = 5.0
RETRY_BASE = 2.0
RETRY_CAP = 120.0
# apps.connections.open is rate-limited per minute; a longer Retry-After is not waited out.
MAX_RETRY_AFTER = 300.0
# slack_sdk pings this often, and takes a connection without an answer for 4 pings as lost.
PING_INTERVAL = 10.0
CLOSE_TIMEOUT = 2.0

_NEW_TOKEN = (
    "create an app-level token with the connections:write scope under Basic Information → "
    "App-Level Tokens and set SLACK_APP_TOKEN to it"
)
# apps.connections.open's answers that no retry can fix, with what the operator should do.
TOKEN_REFUSALS = {
    "invalid_auth": _NEW_TOKEN,
    "not_authed": _NEW_TOKEN,
    "token_revoked": "the token was revoked: " + _NEW_TOKEN,
    "token_expired": "the token expired: " + _NEW_TOKEN,
    "account_inactive": "the app was uninstalled or its workspace deleted: reinstall the app, "
    "then " + _NEW_TOKEN,
    "not_allowed_token_type": "it is not an app-level token (xapp-…): " + _NEW_TOKEN,
    "missing_scope": "the token lacks connections:write: " + _NEW_TOKEN,
    "no_permission": _NEW_TOKEN,
    "ekm_access_denied": "the workspace's administrators revoked the app's access",
    "org_login_required": "the workspace is migrating to an Enterprise Grid; try again later",
    "two_factor_setup_required": "the app's owner must set up two-factor authentication",
}


class _Client(SocketModeClient):
    """slack_sdk's aiohttp client that never connects by itself.

    `connect()` is one attempt that raises when it fails (the original retries forever). When
    the connection is lost, slack_sdk's monitor and receiver tasks (a closed socket, pings
    without answer) and its handling of Slack's `disconnect` message call
    `connect_to_new_endpoint`; here that only reports the loss to `on_lost`.
    """

    def __init__(self, *, on_lost: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_lost = on_lost
        self.on_error_listeners.append(self._errored)

    async def issue_new_wss_url(self) -> str:
        # The original sleeps through a rate limit and logs errors; the caller decides both.
        response = await self.web_client.apps_connections_open(app_token=self.app_token)
        return str(response["url"])

    async def connect(self) -> None:
        await self.abandon()
        if self.aiohttp_client_session.closed:
            self.aiohttp_client_session = aiohttp.ClientSession()
        self.wss_uri = await self.issue_new_wss_url()
        self.current_session = await self.aiohttp_client_session.ws_connect(
            self.wss_uri,
            autoping=False,
            heartbeat=self.ping_interval,
            proxy=self.proxy,
            ssl=self.web_client.ssl if self.web_client.ssl is not None else True,
        )
        self.stale = False
        self.last_ping_pong_time = None
        self.auto_reconnect_enabled = True  # what makes the monitor report a lost connection
        self.current_session_monitor = asyncio.ensure_future(self.monitor_current_session())
        self.message_receiver = asyncio.ensure_future(self.receive_messages())

    async def connect_to_new_endpoint(self, force: bool = False) -> None:
        if force:
            self.on_lost("Slack asked for a new connection")
        elif self.stale:
            self.on_lost(f"no answer to pings for {4 * self.ping_interval:g} s")
        else:
            self.on_lost(_closed(self.current_session))

    async def _errored(self, message: aiohttp.WSMessage) -> None:
        self.on_lost(f"connection error ({_name(message.data)})")

    async def send_message(self, message: str) -> None:
        session = self.current_session
        if session is None or session.closed:
            # An answer Bolt gave as the connection went: Slack retries events, a member sees
            # their command time out. One line, not slack_sdk's traceback.
            log.warning("Socket Mode: an answer to Slack was lost with the connection")
            return
        await session.send_str(message)

    async def abandon(self) -> None:
        """Stop watching the current connection and close it, within CLOSE_TIMEOUT."""
        self.auto_reconnect_enabled = False
        tasks = [t for t in (self.current_session_monitor, self.message_receiver) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            # Not `await task`: that would also swallow our own cancellation.
            await asyncio.wait(tasks)
        self.current_session_monitor = self.message_receiver = None
        session, self.current_session = self.current_session, None
        if session is not None and not session.closed:
            # A Slack that stopped answering would hold the closing handshake for 10 s.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await session.close()

    async def close(self) -> None:
        self.closed = True
        await self.abandon()
        self.message_processor.cancel()
        await self.aiohttp_client_session.close()


class _Chatter(logging.Filter):
    """slack_sdk's own notes on its sessions ("Reconnecting…", a failed ping) repeat what our
    lines say: shown at LOG_LEVEL=DEBUG only. Its errors always show."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or log.isEnabledFor(logging.DEBUG)


_sdk_log = logging.getLogger(f"{__name__}.sdk")
_sdk_log.addFilter(_Chatter())


class SocketMode:
    """Keeps the bot connected to Slack in Socket Mode until `close()`."""

    def __init__(
        self,
        app: AsyncApp,
        app_token: str,
        web_client: AsyncWebClient,
        connection: SlackConnection,
    ) -> None:
        self.app = app
        self.connection = connection
        self._client = _Client(
            app_token=app_token,
            logger=_sdk_log,
            web_client=web_client,
            ping_interval=PING_INTERVAL,
            on_lost=self._lost,
        )
        self._client.socket_mode_request_listeners.append(self._handle)
        self._loss = asyncio.Event()
        self._loss_reason = ""
        # Settled by the first attempt, or when start() stops waiting for it: a refused token
        # is fatal only while start() waits.
        self._first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task[None] | None = None

    async def start(self, stopping: asyncio.Event) -> None:
        """Start connecting and wait for the first attempt, at most FIRST_ATTEMPT_WAIT s or
        until `stopping`. Raises SettingsError when Slack refuses the app token."""
        self._task = asyncio.create_task(self._keep_connected(), name="socket-mode")
        stopped = asyncio.create_task(stopping.wait())
        waits: set[asyncio.Future[Any]] = {self._first, self._task, stopped}
        try:
            await asyncio.wait(
                waits,
                timeout=FIRST_ATTEMPT_WAIT,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            stopped.cancel()
        if self._first.done():
            self._first.result()  # raises the refusal
        else:
            self._first.set_result(None)  # from now on, a refusal is retried like the rest

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
        await self._client.close()

    async def _keep_connected(self) -> None:
        attempt = 0
        while True:
            self._loss.clear()
            try:
                # asyncio.timeout, not wait_for: in Python 3.11 wait_for loses a cancellation
                # (SIGTERM) that comes as the attempt fails, and the loop would go on.
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    await self._client.connect()
            except Exception as error:
                reason, code = _failure(error)
                if code in TOKEN_REFUSALS and not self._first.done():
                    self._first.set_exception(
                        SettingsError("SLACK_APP_TOKEN", reason, TOKEN_REFUSALS[code])
                    )
                    return
                attempt += 1
                delay = backoff_delay(attempt, base=RETRY_BASE, cap=RETRY_CAP)
                delay = max(delay, _retry_after(error))
                if code in TOKEN_REFUSALS:
                    reason = f"SLACK_APP_TOKEN {reason}: {TOKEN_REFUSALS[code]}"
                self.connection.down(reason)
                log.warning(
                    "Socket Mode: no connection to Slack (%s); attempt %d failed, next in %.0f s",
                    reason,
                    attempt,
                    delay,
                )
                self._first_attempt_made()
                await asyncio.sleep(delay)
                continue
            attempt = 0
            self.connection.up()
            log.info("connected to Slack in Socket Mode")
            self._first_attempt_made()
            await self._watch()
            await self._client.abandon()
            if self._loss_reason == "Slack asked for a new connection":
                log.info("Socket Mode: Slack asked for a new connection; reconnecting")
            else:
                self.connection.down(self._loss_reason)
                log.warning("Socket Mode connection lost (%s); reconnecting", self._loss_reason)

    async def _watch(self) -> None:
        """Until the connection is lost. slack_sdk reports most losses, but notices a socket
        closed under it only at its next ping (10 s): looked at here every second."""
        while not self._loss.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._loss.wait()
            session = self._client.current_session
            if session is None or session.closed:
                self._lost(_closed(session))

    def _first_attempt_made(self) -> None:
        if not self._first.done():
            self._first.set_result(None)

    def _lost(self, reason: str) -> None:
        if not self._loss.is_set():
            self._loss_reason = reason
            self._loss.set()

    async def _handle(self, client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        """An envelope from Slack, through Bolt, acknowledged with Bolt's answer."""
        started = time.time()
        response = await run_async_bolt_app(self.app, request)
        await send_async_response(client, request, response, started)


def _closed(session: aiohttp.ClientWebSocketResponse | None) -> str:
    code = session.close_code if session is not None else None
    return "connection closed" + (f" (code {code})" if code else "")


def _failure(error: Exception) -> tuple[str, str | None]:
    """A failed attempt in a few words, and Slack's error code when Slack answered."""
    if isinstance(error, SlackApiError):
        data = getattr(error.response, "data", None)
        code = data.get("error") if isinstance(data, dict) else None
        if code in TOKEN_REFUSALS:
            return f"was refused by Slack ({code})", code
        status = getattr(error.response, "status_code", None)
        return f"Slack answered {code or f'HTTP {status}'}", code
    if isinstance(error, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT:g} s", None
    return _name(error), None


def _name(error: object) -> str:
    text = str(error)
    kind = error.__class__.__name__ if isinstance(error, BaseException) else ""
    return f"{kind}: {text}" if kind and text else kind or text or "unknown"


def _retry_after(error: Exception) -> float:
    if not isinstance(error, SlackApiError):
        return 0.0
    headers = getattr(error.response, "headers", None) or {}
    try:
        seconds = float(headers.get("Retry-After") or headers.get("retry-after") or 0)
    except (TypeError, ValueError):
        return 0.0
    return min(seconds, MAX_RETRY_AFTER)
