"""The Bolt app and the Slack Web API clients, built from settings."""

from __future__ import annotations

import logging
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
from slack_sdk.web.async_client import AsyncWebClient

from bot import USER_AGENT, listeners
from bot.controls import Controls
from bot.listeners.admin import AdminCommands
from bot.search import SearchService
from bot.settings import Settings
from bot.store import Store

SLACK_TIMEOUT = 30


def posting_client(settings: Settings) -> AsyncWebClient:
    """The client that posts announcements.

    slack-sdk retries 429s for us, honouring Retry-After. It does NOT retry connection errors
    here (unlike its default): a request that may have reached Slack is never blindly sent
    again; the outbox looks in the channel's history first.
    """
    return AsyncWebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT,
        user_agent_prefix=USER_AGENT,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
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
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
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
    store: Store,
    client: AsyncWebClient,
    search: SearchService,
    controls: Controls,
    identity: Identity | None = None,
) -> AsyncApp:
    """The Bolt app with every listener registered.

    In HTTP mode Bolt checks every request's signature and timestamp (401 otherwise); in Socket
    Mode requests arrive over a connection opened with the app-level token instead. Requests
    are authorized with `identity` (by default one that has not learnt who the bot is).
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
    admin = AdminCommands(settings, store, client, controls)
    listeners.register(app, store, search, admin, controls, posting_client(settings))
    return app
