"""Events: the App Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.slack.home import Home


def register(app: AsyncApp, home: Home) -> None:
    @app.event("app_home_opened")
    async def app_home_opened(event: dict[str, Any]) -> None:
        # Bolt acks events before this runs; the Messages tab also sends this event.
        if event.get("tab", "home") != "home":
            return
        await home.publish(event["user"])
