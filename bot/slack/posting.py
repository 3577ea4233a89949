"""Posting what a person asked for right now (a shared release, a test announcement).

Like the outbox, the bot joins a public channel it is not in yet, once, and posts again; a
private channel needs an invitation, so the first refusal stands there.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.errors import Failure, classify


async def post_joining(client: AsyncWebClient, message: dict[str, Any]) -> None:
    """`chat.postMessage` with `message`, joining its channel first if Slack asks for that;
    raises the error that stopped it otherwise."""
    try:
        await client.chat_postMessage(**message)
        return
    except SlackApiError as error:
        if classify(error).kind is not Failure.NOT_IN_CHANNEL:
            raise
        refused = error
    try:
        await client.conversations_join(channel=message["channel"])
    except Exception:
        raise refused from None  # private, archived…: the post's own error says what to do
    await client.chat_postMessage(**message)
