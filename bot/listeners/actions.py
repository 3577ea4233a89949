"""Buttons on the bot's messages."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import blocks


def register(app: AsyncApp) -> None:
    @app.action(blocks.READ_ACTION_ID)
    async def read_release(ack: AsyncAck) -> None:
        # A link button opens the URL in the reader's browser by itself; Slack still sends us
        # the click, and an unanswered click shows the reader a warning icon.
        await ack()
