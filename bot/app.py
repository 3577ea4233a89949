"""The Bolt app and the Slack Web API clients, built from settings."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
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


class _EnvironmentTokenNotice(logging.Filter):
    """Drops Bolt's "As you gave `client` as well, `token` will be unused" and nothing else.

    Bolt reads SLACK_BOT_TOKEN from the environment by itself, even when given a client, and
    then warns that it ignores it, at every start. Our client carries that very token (the
    settings read it from the same place), so the warning tells the operator nothing.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_ENVIRONMENT_TOKEN_NOTICE = _EnvironmentTokenNotice()  # one instance: addFilter adds it once


def build_app(
    settings: Settings,
    store: Store,
    client: AsyncWebClient,
    search: SearchService,
    controls: Controls,
) -> AsyncApp:
    """The Bolt app with every listener registered.

    In HTTP mode Bolt checks every request's signature and timestamp (401 otherwise); in Socket
    Mode requests arrive over a connection opened with the app-level token instead.
    """
    logger = logging.getLogger("bot.slack")
    logger.addFilter(_ENVIRONMENT_TOKEN_NOTICE)
    app = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret or "",
        request_verification_enabled=not settings.socket_mode,
        logger=logger,
    )
    listeners.register(app, store, search, AdminCommands(settings, store, client, controls))
    return app
