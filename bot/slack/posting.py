"""Joining a channel, and posting what a person asked for right now (a shared release, a test
announcement): the one place either is done.

Like the outbox, the bot joins a public channel it is not in yet, once, and posts again; a
private channel needs an invitation, so the first refusal stands there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.blocks.shapes import Message
from bot.slack.errors import Failure, SlackFailure, classify

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Joined:
    """What `conversations.join` did: the bot is in the channel now (`already` there, or
    not), or `failure` says why it is not."""

    failure: SlackFailure | None = None
    already: bool = False


async def join(client: AsyncWebClient, channel: str) -> Joined:
    """Join a public channel so the bot can post there; never raises."""
    try:
        answer = await client.conversations_join(channel=channel)
    except Exception as error:  # a refusal, a timeout, a dropped connection: said by classify
        failure = classify(error)
        log.warning("cannot join %s: %s", channel, failure.reason)
        return Joined(failure)
    if "already_in_channel" in str(answer.get("warning", "")):
        return Joined(already=True)
    log.info("joined %s to post there", channel)
    return Joined()


@dataclass(frozen=True)
class Posted:
    """What `post` did: posted (`ts`, the message's), or `failure` says why not."""

    failure: SlackFailure | None = None
    ts: str | None = None


async def post(client: AsyncWebClient, channel: str, message: Message) -> Posted:
    """`chat.postMessage` of `message` (links not unfurled), joining the channel first if
    Slack asks for that."""
    joined = False
    while True:
        try:
            answer = await client.chat_postMessage(
                channel=channel, unfurl_links=False, unfurl_media=False, **message
            )
            ts = answer.get("ts")
            return Posted(ts=ts if isinstance(ts, str) else None)
        except Exception as error:
            failure = classify(error)
        if joined or failure.kind is not Failure.NOT_IN_CHANNEL:
            return Posted(failure)
        joined = True
        if (await join(client, channel)).failure is not None:
            return Posted(failure)  # private, archived…: the post's own error says what to do
