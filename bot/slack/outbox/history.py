"""Looking for a delivery's post in its channel's history (rule 2 of `bot.slack.outbox`): a
delivery found "sending" — the process died mid-post, or the answer was lost to a timeout or a
5xx, even one given up on and queued again since — is first looked for by its message metadata,
over the whole time its posts may have landed in (however many messages that is); it is posted
again only when it is surely not there.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.blocks.announcement import EVENT_TYPE
from bot.slack.blocks.digest import DIGEST_EVENT_TYPE
from bot.slack.errors import Failure, SlackFailure, classify
from bot.store import DIGEST, Delivery

# How far around our own "sending" marks we look for a post in history: covers clock skew
# between this machine and Slack, and a post request that took its time (timeouts, retries).
HISTORY_MARGIN = 600.0


class HistoryUnreadable(Exception):
    """The channel's history could not be read, so whether a post is there is unknown."""

    def __init__(self, failure: SlackFailure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


def _is_ours(message: dict[str, object], delivery: Delivery) -> bool:
    """Whether `message` is this delivery's, by its metadata: a digest's names its period,
    anything else's the release."""
    metadata = message.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    payload = metadata.get("event_payload")
    payload = payload if isinstance(payload, dict) else {}
    if delivery.kind == DIGEST:
        return (
            metadata.get("event_type") == DIGEST_EVENT_TYPE
            and payload.get("period") == delivery.period
        )
    return (
        metadata.get("event_type") == EVENT_TYPE and payload.get("item_id") == delivery.release_id
    )


async def find_posted(
    client: AsyncWebClient, delivery: Delivery, conversation: str, clock: Callable[[], float]
) -> str | None:
    """The ts of this delivery's message if it is in `conversation` (its channel, or an
    alert's DM), else None; raises HistoryUnreadable when that cannot be known.

    Every message of the time its tries may have landed in is read, however many pages
    that takes: from a little before the first try to a little after the last.
    """
    first = delivery.sending_since or delivery.last_attempt_at or clock()
    # A delivery from before tries were timed: its last try may have been any time since.
    last = delivery.last_attempt_at or clock()
    last = max(first, last)
    oldest, latest = f"{max(0.0, first - HISTORY_MARGIN):.6f}", f"{last + HISTORY_MARGIN:.6f}"
    cursor: str | None = None
    cursors_seen: set[str] = set()
    while True:
        try:
            page = await client.conversations_history(
                channel=conversation,
                include_all_metadata=True,
                limit=200,
                cursor=cursor,
                oldest=oldest,
                latest=latest,
                inclusive=True,
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as error:
            raise HistoryUnreadable(classify(error)) from None
        for message in page.get("messages") or ():
            if isinstance(message, dict) and _is_ours(message, delivery):
                ts: str | None = message.get("ts")
                return ts
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if cursor is None:
            return None
        if cursor in cursors_seen:  # a server going round in circles: we cannot know
            raise HistoryUnreadable(SlackFailure(Failure.UNKNOWN, "history paging repeats"))
        cursors_seen.add(cursor)
