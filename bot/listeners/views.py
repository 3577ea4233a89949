"""Form submissions: the Add / Edit route form and the test announcement form.

Errors are shown in the form, next to the field, and nothing is saved; the user's rights are
checked again on submission.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.listeners.admin import JOINED, AdminCommands
from bot.listeners.home import Home
from bot.outbox import classify, explain
from bot.posting import post_joining
from bot.routes import RouteError, resolve_categories

log = logging.getLogger(__name__)

CHANNEL, CATEGORIES = blocks.CHANNEL_FIELD, blocks.CATEGORIES_FIELD


def register(app: AsyncApp, admin: AdminCommands, home: Home) -> None:
    @app.view(blocks.ROUTE_FORM)
    async def save_route(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user, channel = await _allowed_with_channel(
            admin, ack, body, view, missing="Choose the channel that should receive these releases."
        )
        if channel is None:
            return
        values = view.get("state", {}).get("values", {})
        chosen = values.get(CATEGORIES, {}).get(CATEGORIES, {}).get("selected_options") or []
        try:
            categories = resolve_categories(
                ",".join(option["value"] for option in chosen), admin.store.categories()
            )
        except RouteError as error:
            await ack(response_action="errors", errors={CATEGORIES: str(error)[:150]})
            return
        try:
            admin.routes.set(
                channel, categories, by=user, replacing=view.get("private_metadata") or None
            )
        except RouteError as error:
            await ack(response_action="errors", errors={CHANNEL: _short(str(error))})
            return
        membership = await admin.join(channel)
        if membership and membership != JOINED:
            text = f"<#{channel}> now receives {blocks.categories_text(categories)}. {membership}"
            await ack(response_action="update", view=blocks.result_form("Route saved", text))
        else:
            await ack()
        await home.after_change(user)

    @app.view(blocks.TRIAL_FORM)
    async def send_trial(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user, channel = await _allowed_with_channel(
            admin, ack, body, view, missing="Choose a channel."
        )
        if channel is None:
            return
        latest = admin.store.latest_releases(1)
        if not latest:
            await ack(response_action="errors", errors={CHANNEL: "No release is stored yet."})
            return
        try:
            await post_joining(
                client,
                {
                    "channel": channel,
                    "text": f"Test: {blocks.announcement_text(latest[0])}",
                    "blocks": blocks.trial_blocks(latest[0], user),
                    "unfurl_links": False,
                    "unfurl_media": False,
                },
            )
        except Exception as error:
            reason = classify(error).reason
            log.warning("test announcement in %s failed: %s", channel, reason)
            await ack(
                response_action="errors",
                errors={CHANNEL: _short(f"Could not post there: {explain(reason)}")},
            )
            return
        admin.store.record_change(user, "test", f"{channel}: test announcement", now=time.time())
        await ack()
        await home.after_change(user)


async def _allowed_with_channel(
    admin: AdminCommands, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], *, missing: str
) -> tuple[str, str | None]:
    """The submitting user and the channel they picked; (user, None) after acking the form
    with the problem when they may not submit it or picked no channel."""
    user = body["user"]["id"]
    refusal = await admin.check.refusal(user)
    if refusal is not None:
        await ack(response_action="errors", errors={CHANNEL: _short(refusal)})
        return user, None
    values = view.get("state", {}).get("values", {})
    channel = values.get(CHANNEL, {}).get(CHANNEL, {}).get("selected_conversation")
    if not channel:
        await ack(response_action="errors", errors={CHANNEL: missing})
        return user, None
    return user, channel


def _short(text: str) -> str:
    """Slack shows at most 150 characters under a field."""
    return text if len(text) <= 150 else text[:149] + "…"
