"""The Bolt app and the Slack Web API clients, built from settings."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import (
    warning_client_prioritized_and_token_skipped,
    warning_token_skipped,
)
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot import USER_AGENT
from bot.backoff import retry_after_seconds
from bot.database import Database
from bot.search.service import SearchService
from bot.settings import Settings
from bot.slack import listeners
from bot.slack.admin import Admin
from bot.slack.controls import Controls

SLACK_TIMEOUT = 30
# A 429 asking to wait longer than this is not waited out inside the request: the request
# fails and says so (those that must answer sooner bound their own wait).
RETRY_AFTER_AT_MOST = 30.0


class ShortRateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """slack-sdk's retry of 429 answers, for short waits only, reading Retry-After as seconds
    or as an HTTP date (slack-sdk's own handler reads only seconds, and sleeps however long it
    is told: an hour inside one request, with the delivery shown as merely pending)."""

    def __init__(self, *, max_retry_count: int, at_most: float) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.at_most = at_most

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = _retry_after(response)
        return wait is None or wait <= self.at_most

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = _retry_after(response) if response is not None else None
        state.next_attempt_requested = True
        await asyncio.sleep((1.0 if wait is None else wait) + random.random())
        state.increment_current_attempt()


def _retry_after(response: HttpResponse) -> float | None:
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            return retry_after_seconds(values[0] if isinstance(values, list) else values)
    return None


def posting_client(settings: Settings) -> AsyncWebClient:
    """The client that posts announcements (and what people ask to be posted).

    It repeats nothing by itself: not a connection error (the request may have reached Slack;
    the outbox looks in the channel's history first) and not a 429 either. Waiting out a 429
    inside the request would send it again long after the outbox last checked that the channel
    is still its to post to; the outbox reschedules it instead (see bot.slack.outbox, rule 4).
    """
    return AsyncWebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT,
        user_agent_prefix=USER_AGENT,
        retry_handlers=[],
    )


def app_client(settings: Settings) -> AsyncWebClient:
    """The client Bolt uses for everything else, all of it safe to repeat."""
    return AsyncWebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT,
        user_agent_prefix=USER_AGENT,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            ShortRateLimitRetry(max_retry_count=2, at_most=RETRY_AFTER_AT_MOST),
        ],
    )


def connections_client(settings: Settings) -> AsyncWebClient:
    """The client that opens Socket Mode connections (apps.connections.open, with the
    app-level token passed per call). No retries of its own: `SocketMode` retries with
    backoff, and stops at once on shutdown."""
    return AsyncWebClient(
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT,
        user_agent_prefix=USER_AGENT,
        retry_handlers=[],  # not slack_sdk's default, which retries a dropped connection once
    )


class Identity:
    """Who the bot is in Slack (auth.test), learnt by the start-up check and handed to Bolt
    for every request.

    Left to itself, Bolt calls auth.test before the first request's listener runs, and again
    on every request until one call succeeds: a slow Slack then breaks the 3-second
    acknowledgement, and a failing one answers members "please reinstall this app", though
    nothing we answer needs it.
    """

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.auth: dict[str, Any] = {}

    def learn(self, auth: dict[str, Any]) -> None:
        self.auth = dict(auth)

    def authorize(self) -> Callable[..., Awaitable[AuthorizeResult]]:
        # A plain function: Bolt passes arguments by the names it finds in the signature.
        async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
            return AuthorizeResult(
                enterprise_id=self.auth.get("enterprise_id") or enterprise_id,
                team_id=self.auth.get("team_id") or team_id,
                bot_user_id=self.auth.get("user_id"),
                bot_id=self.auth.get("bot_id"),
                bot_token=self.token,
            )

        return authorize


class _EnvironmentTokenNotice(logging.Filter):
    """Drops Bolt's notices that it ignores SLACK_BOT_TOKEN, and nothing else.

    Bolt reads SLACK_BOT_TOKEN from the environment by itself, even when given a client and an
    authorize function, and then warns that it ignores it, at every start. Our client and
    `Identity` carry that very token (the settings read it from the same place), so the
    warning tells the operator nothing.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in (
            warning_client_prioritized_and_token_skipped(),
            warning_token_skipped(),
        )


_ENVIRONMENT_TOKEN_NOTICE = _EnvironmentTokenNotice()  # one instance: addFilter adds it once


def build_app(
    settings: Settings,
    db: Database,
    client: AsyncWebClient,
    search: SearchService,
    controls: Controls,
    identity: Identity | None = None,
    *,
    poster: AsyncWebClient | None = None,
) -> AsyncApp:
    """The Bolt app with every listener registered.

    In HTTP mode Bolt checks every request's signature and timestamp (401 otherwise); in Socket
    Mode requests arrive over a connection opened with the app-level token instead. Requests
    are authorized with `identity` (by default one that has not learnt who the bot is).
    `poster` posts what a person asks for (Share, a test announcement): like announcements,
    never repeated blindly after a lost answer (by default a `posting_client` of its own).
    """
    logger = logging.getLogger("bot.slack")
    logger.addFilter(_ENVIRONMENT_TOKEN_NOTICE)
    app = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret or "",
        request_verification_enabled=not settings.socket_mode,
        authorize=(identity or Identity(settings.slack_bot_token)).authorize(),
        logger=logger,
    )
    admin = Admin(settings, db, client, poster or posting_client(settings), controls)
    listeners.register(app, db, search, admin, controls)
    return app
