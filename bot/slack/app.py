"""The Bolt app, built from settings: every listener, and how requests are authorized."""

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
from slack_sdk.web.async_client import AsyncWebClient

from bot.database import Database
from bot.search.service import SearchService
from bot.settings import Settings
from bot.slack import listeners
from bot.slack.clients import posting_client
from bot.slack.controls import Controls
from bot.slack.installations import UNAUTHORIZED, InstalledAuthorize, SignedStates, oauth_settings
from bot.slack.workspaces import Workspaces


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
    workspaces: Workspaces | None = None,
) -> AsyncApp:
    """The Bolt app with every listener registered.

    In HTTP mode Bolt checks every request's signature and timestamp (401 otherwise); in Socket
    Mode requests arrive over a connection opened with the app-level token instead.

    Single-workspace mode (no `workspaces`): requests are authorized with `identity` (by
    default one that has not learnt who the bot is); `poster` posts what a person asks for
    (Share, a test announcement): like announcements, never repeated blindly after a lost
    answer (by default a `posting_client` of its own).

    Distribution mode (`workspaces` with installations): Bolt's OAuth flow installs the app,
    and each request is authorized with its workspace's stored token; `client` (no token)
    exchanges the install's code.
    """
    logger = logging.getLogger("bot.slack")
    logger.addFilter(_ENVIRONMENT_TOKEN_NOTICE)
    installations = workspaces.installations if workspaces is not None else None
    if workspaces is None or installations is None:
        app = AsyncApp(
            client=client,
            signing_secret=settings.slack_signing_secret or "",
            request_verification_enabled=not settings.socket_mode,
            authorize=(identity or Identity(settings.slack_bot_token)).authorize(),
            logger=logger,
        )
        workspaces = workspaces or Workspaces(
            settings, db, controls, single=(client, poster or posting_client(settings))
        )
    else:
        app = AsyncApp(
            client=client,
            signing_secret=settings.slack_signing_secret or "",
            oauth_settings=oauth_settings(
                settings, installations, SignedStates(db, settings.slack_client_secret or "")
            ),
            # Bolt takes an AsyncAuthorize here, though its hint names only functions.
            authorize=InstalledAuthorize(installations),  # type: ignore[arg-type]
            user_facing_authorize_error_message=UNAUTHORIZED,
            logger=logger,
        )
    listeners.register(app, db, search, workspaces, controls)
    return app
