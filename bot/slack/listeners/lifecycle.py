"""A workspace leaving (distribution mode): `app_uninstalled`, and `tokens_revoked` for the bot
token. Either stops its deliveries at once and forgets its token and configuration; its audit
log keeps that it left. Bolt lets these events through without authorizing them (the token is
gone by then), so the workspace is the event's own `team_id`, which Slack signed.

Slack retries an event it saw no answer to for up to an hour: one that happened before the
workspace installed again (its `event_time`) changes nothing, nor does a revocation of a bot
that is not the installed one.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.slack.installations import StoredInstallations


def register(app: AsyncApp, installations: StoredInstallations) -> None:
    @app.event("app_uninstalled")
    async def app_uninstalled(body: dict[str, Any], context: AsyncBoltContext) -> None:
        await installations.leave(
            context.team_id,
            why="uninstalled the app (app_uninstalled)",
            happened_at=_event_time(body),
        )

    @app.event("tokens_revoked")
    async def tokens_revoked(
        body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        tokens = event.get("tokens") if isinstance(event.get("tokens"), dict) else {}
        bots = tokens.get("bot") if tokens else None
        if not isinstance(bots, list) or not bots:  # user tokens ("oauth"): the bot keeps none
            return
        await installations.leave(
            context.team_id,
            why="revoked the bot's token (tokens_revoked)",
            happened_at=_event_time(body),
            bot_user_ids=[bot for bot in bots if isinstance(bot, str)],
        )


def _event_time(body: dict[str, Any]) -> float | None:
    """When the event happened, in seconds (None when Slack did not say)."""
    at = body.get("event_time")
    return float(at) if isinstance(at, int | float) and not isinstance(at, bool) else None
