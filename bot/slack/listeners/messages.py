"""Buttons on the bot's messages: read, share a search result, page through results."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.database import Database, DatabaseBusy
from bot.models import CONVERSATION_ID, Place, Release
from bot.search.service import SearchService
from bot.slack.admin import READ_WITHIN
from bot.slack.blocks.announcement import (
    READ_ACTION_ID,
    just_shared_text,
    shared_message,
)
from bot.slack.blocks.search import PAGE_ACTION_PREFIX, SHARE_ACTION_ID, read_page_value
from bot.slack.errors import Failure, SlackFailure
from bot.slack.listeners.commands import answer
from bot.slack.listeners.payloads import Action, ActionBody
from bot.slack.markup import COMMAND
from bot.slack.posting import post
from bot.slack.workspaces import Workspaces

log = logging.getLogger(__name__)

# Share pressed again for the same release in the same channel within this many seconds is
# not posted again: a member's second click is a double click, and another member is told
# whose post is already there.
SHARE_REPEAT_WINDOW = 30.0
SHARE_BUSY = "The bot's database is busy just now, so nothing was shared. Please press Share again."


@dataclass
class _Share:
    """A release just shared in a channel: by whom, when, who else pressed Share since, and
    whether the post went through."""

    user: str
    at: float
    posted: asyncio.Future[bool]
    pressed: set[str] = field(default_factory=set)


# Long, but a list of short handlers under Bolt's decorators that share these services: it reads
# best whole.
def register(app: AsyncApp, db: Database, search: SearchService, workspaces: Workspaces) -> None:
    """Shared releases are posted with the workspace's poster: a client that never repeats a
    request that may have reached Slack (`bot.slack.clients.posting_client`), so a dropped
    connection is not a second post."""
    recent_shares: dict[tuple[str, str, str], _Share] = {}

    @app.action(READ_ACTION_ID)
    async def read_release(ack: AsyncAck) -> None:
        # A link button opens the URL in the reader's browser by itself; Slack still sends us
        # the click, and an unanswered click shows the reader a warning icon.
        await ack()

    @app.action(re.compile(f"^{PAGE_ACTION_PREFIX}"))
    async def turn_page(
        ack: AsyncAck, respond: AsyncRespond, action: Action, body: ActionBody
    ) -> None:
        await ack()
        wanted = read_page_value(action.get("value") or "")
        if wanted is None:
            await respond(
                replace_original=False,
                text="That button is from an older version of this app: run the search again.",
            )
            return
        text, page = wanted
        channel = _channel(body)
        where = channel if isinstance(channel, str) else None
        found = await answer(search, text, page, COMMAND, where)
        await respond(replace_original=True, **found)

    @app.action(SHARE_ACTION_ID)
    async def share(
        ack: AsyncAck,
        respond: AsyncRespond,
        action: Action,
        body: ActionBody,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        ws = workspaces.of(context)
        user = body["user"]["id"]
        channel = _channel(body)
        value = action.get("value") or ""
        # A release ID is what a Share button carries (at most a button value's 2,000
        # characters); the channel is where the button was, a conversation ID.
        try:
            # Its revision read first: one corrected in between is updated once, needlessly.
            revision, release = (
                await db.read(
                    lambda store: (store.revision(value), store.release(value)),
                    within=READ_WITHIN,
                )
                if 0 < len(value) <= 2000
                else (None, None)
            )
        except DatabaseBusy:
            await respond(replace_original=False, text=SHARE_BUSY)
            return
        if (
            release is None
            or revision is None
            or not isinstance(channel, str)
            or not CONVERSATION_ID.fullmatch(channel)
        ):
            await respond(replace_original=False, text="That release can no longer be shared.")
            return
        key = (ws.team, channel, release.id)
        while (earlier := recent_shares.get(key)) and (
            time.monotonic() - earlier.at < SHARE_REPEAT_WINDOW
        ):
            if user == earlier.user or user in earlier.pressed:
                return  # a double click: the first one is being posted or answered
            earlier.pressed.add(user)
            # Another member's share: once it is posted, one post is enough; if it fails,
            # this member's share goes ahead.
            if await earlier.posted:
                await respond(replace_original=False, text=just_shared_text(earlier.user))
                return
        now = time.monotonic()
        mine = _Share(user, now, asyncio.get_running_loop().create_future())
        recent_shares[key] = mine
        for stale in [k for k, e in recent_shares.items() if now - e.at > SHARE_REPEAT_WINDOW]:
            del recent_shares[stale]
        posted = False
        try:
            problem, ts = await _post_share(ws.admin.poster, channel, release, user)
            posted = problem is None
            if posted:
                await _remember_share(db, release, revision, Place(ws.team, channel), user, ts)
        finally:
            if not posted and recent_shares.get(key) is mine:
                del recent_shares[key]  # a failed share does not hold back the next one
            mine.posted.set_result(posted)
        if problem is not None:
            await respond(replace_original=False, text=problem)


def _channel(body: ActionBody) -> Any:
    """The conversation of the message whose button was pressed (perhaps not a string, in a
    forged payload)."""
    return (body.get("channel") or {}).get("id") or body.get("container", {}).get("channel_id")


async def _remember_share(
    db: Database, release: Release, revision: int, place: Place, user: str, ts: str | None
) -> None:
    """Keep the shared post (of `release` at `revision`), for a correction of the release to
    update it too; a database too busy to take it costs only that (the member's share is in
    the channel)."""
    try:
        await db.write(
            lambda store: store.record_share(
                release.id, place, ts=ts, user=user, revision=revision, now=time.time()
            ),
            within=READ_WITHIN,
        )
    except DatabaseBusy:
        log.warning("the share of %s in %s was posted but not recorded", release.id, place)


async def _post_share(
    client: AsyncWebClient, channel: str, release: Release, user: str
) -> tuple[str | None, str | None]:
    """Post the shared release: (None, its ts) when posted, else (what to tell the member,
    None)."""
    posted = await post(client, channel, shared_message(release, user))
    if posted.failure is None:
        return None, posted.ts
    log.warning("sharing %s in %s failed: %s", release.id, channel, posted.failure.reason)
    return _share_problem(posted.failure), None


def _share_problem(failure: SlackFailure) -> str:
    """What to tell a member whose share Slack refused."""
    if failure.kind is Failure.NOT_IN_CHANNEL or failure.reason == "channel_not_found":
        return (
            "I can't post in this conversation. Invite me with `/invite @ISSCR News` "
            "(or share from a channel I'm in), then press Share again."
        )
    if failure.kind is Failure.UNKNOWN:
        return "Slack did not answer in time; look in the channel before pressing Share again."
    if failure.reason == "is_archived":
        return "Sharing failed: this channel is archived."
    if failure.kind is Failure.NEEDS_ADMIN:  # the token or the app's rights: not theirs to fix
        return (
            f"Sharing failed: the app cannot post just now ({failure.reason}). Please tell a "
            "workspace admin."
        )
    return f"Sharing failed: Slack answered {failure.reason}."
