"""`/isscr-news`: the slash command members type."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import blocks
from bot.store import Store

COMMAND = "/isscr-news"
LATEST_COUNT = 5


def register(app: AsyncApp, store: Store) -> None:
    @app.command(COMMAND)
    async def isscr_news(ack: AsyncAck, command: dict[str, Any]) -> None:
        # Answering inside the ack keeps us within Slack's 3 s even when Slack is slow to
        # accept a follow-up; reading five rows from SQLite takes well under a millisecond.
        words = (command.get("text") or "").strip()
        name = command.get("command") or COMMAND
        if not words:
            await ack(
                text="Latest ISSCR news",
                blocks=blocks.latest_blocks(store.latest_releases(LATEST_COUNT)),
            )
        elif words.casefold() in ("help", "?", "-h", "--help"):
            await ack(text=f"How to use {name}", blocks=blocks.help_blocks(name))
        else:
            await ack(
                text=f"How to use {name}",
                blocks=blocks.unknown_words_blocks(name, words),
            )
