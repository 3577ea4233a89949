"""Events: the App Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.listeners.commands import COMMAND
from bot.store import Store

HOME_RELEASES = 10


def register(app: AsyncApp, store: Store) -> None:
    @app.event("app_home_opened")
    async def app_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        # Bolt acks events before this runs; the Messages tab also sends this event.
        if event.get("tab", "home") != "home":
            return
        view = blocks.home_view(store.latest_releases(HOME_RELEASES), COMMAND)
        await client.views_publish(user_id=event["user"], view=view)
