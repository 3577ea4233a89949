"""A workspace leaving (distribution mode): `app_uninstalled`, and `tokens_revoked` for the bot
token. Either stops its deliveries at once and forgets its token and configuration; its audit
log keeps that it left. Bolt lets these events through without authorizing them (the token is
gone by then), so the workspace is the event's own `team_id`, which Slack signed."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.slack.installations import StoredInstallations


def register(app: AsyncApp, installations: StoredInstallations) -> None:
    @app.event("app_uninstalled")
    async def app_uninstalled(context: AsyncBoltContext) -> None:
        await installations.leave(context.team_id, why="uninstalled the app (app_uninstalled)")

    @app.event("tokens_revoked")
    async def tokens_revoked(event: dict[str, Any], context: AsyncBoltContext) -> None:
        tokens = event.get("tokens") if isinstance(event.get("tokens"), dict) else {}
        if tokens and tokens.get("bot"):  # user tokens ("oauth"): the bot keeps none
            await installations.leave(
                context.team_id, why="revoked the bot's token (tokens_revoked)"
            )
