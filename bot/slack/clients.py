"""The Slack Web API clients, built from settings: each with the retries its calls can bear."""

from __future__ import annotations

import asyncio
import logging
import random

import aiohttp
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
from bot.settings import Settings

# slack_sdk logs every response body at DEBUG, and oauth.v2.access's holds a workspace's new
# bot token: its debug lines stay out of the log whatever LOG_LEVEL says.
logging.getLogger("slack_sdk").setLevel(logging.INFO)

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


def posting_client(
    settings: Settings,
    token: str | None = None,
    session: aiohttp.ClientSession | None = None,
) -> AsyncWebClient:
    """The client that posts announcements (and what people ask to be posted).

    It repeats nothing by itself: not a connection error (the request may have reached Slack;
    the outbox looks in the channel's history first) and not a 429 either. Waiting out a 429
    inside the request would send it again long after the outbox last checked that the channel
    is still its to post to; the outbox reschedules it instead (see bot.slack.outbox, rule 4).

    `token`: a workspace's (distribution mode), else SLACK_BOT_TOKEN; `session`: connections
    shared by many workspaces' clients (else each request opens its own).
    """
    return AsyncWebClient(
        token=token or settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT,
        user_agent_prefix=USER_AGENT,
        retry_handlers=[],
        session=session,
    )


def app_client(
    settings: Settings,
    token: str | None = None,
    session: aiohttp.ClientSession | None = None,
) -> AsyncWebClient:
    """The client Bolt uses for everything else, all of it safe to repeat (`token` and
    `session` as for `posting_client`)."""
    return AsyncWebClient(
        token=token or settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT,
        user_agent_prefix=USER_AGENT,
        session=session,
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
