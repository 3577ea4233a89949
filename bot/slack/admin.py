"""The admin commands of `/isscr-news`: route, unroute, routes, status and poll.

Every one asks Slack whether the user is an admin first (`bot.slack.rights`), then calls the domain;
a member's attempt gets a polite refusal and changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.database import Database, DatabaseBusy
from bot.health import report
from bot.routes import RouteError, Routes, channel_id, typed_categories, unrouted
from bot.settings import Settings
from bot.slack import blocks
from bot.slack.controls import Controls
from bot.slack.errors import classify
from bot.slack.posting import join
from bot.slack.rights import CHANGE, POLL, SEE, AdminCheck
from bot.store import Store

log = logging.getLogger(__name__)

# Each verb, and what a member who may not use it is told they cannot do.
VERBS = {"route": CHANGE, "unroute": CHANGE, "routes": SEE, "status": SEE, "poll": POLL}
INVITE = "/invite @ISSCR News"
JOINED = "I joined the channel."
# How long a Slack request waits for the database (another process may hold its lock, or a big
# poll be storing): the answer comes in time either way, and says when nothing was done.
READ_WITHIN = 2.0
WRITE_WITHIN = 2.0
BUSY = (
    "The bot's database is busy just now (another program may be using it), so nothing was "
    "changed. Please try again in a minute."
)


def unrouted_in(store: Store) -> list[str]:
    """What no route takes, for the ⚠ warnings (see `bot.routes.unrouted`)."""
    return unrouted(
        store.routes(), store.categories(), uncategorized=store.has_uncategorized_releases()
    )


def is_admin_command(text: str) -> bool:
    """Whether `text` is an admin command rather than a search that starts with one of its
    words ("status of embryo research"): `routes`, `status` and `poll` alone; `route` and
    `unroute` always (a mistyped channel gets its hint, not a search)."""
    words = text.split()
    if not words or words[0].casefold() not in VERBS:
        return False
    return words[0].casefold() in ("route", "unroute") or len(words) == 1


def _first_word(text: str) -> tuple[str, str]:
    """`text`'s first word and the rest, split at any space (a tab, a newline or a no-break
    space too), as `is_admin_command` reads it."""
    words = text.split(maxsplit=1)
    return (words[0], words[1]) if len(words) == 2 else (text.strip(), "")


class AdminCommands:
    def __init__(
        self, settings: Settings, db: Database, client: AsyncWebClient, controls: Controls
    ) -> None:
        self.settings = settings
        self.db = db
        self.client = client
        self.controls = controls
        self.check = AdminCheck(client, settings.admin_user_ids)
        # Called with the admin's user ID after every change, to refresh their App Home.
        self.after_change: Callable[[str], Awaitable[None]] | None = None

    async def report(self) -> dict[str, Any]:
        """The health report, as `/healthz` gives it."""
        return await report(
            self.db, self.settings, live=self.controls.live_problems(), within=READ_WITHIN
        )

    async def answer(self, user_id: str, text: str) -> dict[str, Any]:
        """The ephemeral answer to an admin command (or the refusal)."""
        verb, rest = _first_word(text)
        verb = verb.casefold()
        refusal = await self.check.refusal(user_id, wanted=VERBS.get(verb, CHANGE))
        if refusal is not None:
            refusal += f' To search for the word, put it in quotes: `/isscr-news "{verb}"`.'
            return _message(refusal, blocks.text_blocks(blocks.escape(refusal)))
        try:
            if verb == "routes":
                routes, missing = await self.db.read(
                    lambda store: (store.routes(), unrouted_in(store)), within=READ_WITHIN
                )
                shown = blocks.routes_table(routes, missing)
                return _message("Where ISSCR news goes", shown)
            if verb == "status":
                health = await self.report()
                per_channel = await self.db.read(
                    lambda store: store.delivery_counts_by_channel(), within=READ_WITHIN
                )
                return _message("ISSCR news bot status", blocks.status_answer(health, per_channel))
            if verb == "poll":
                await self.db.write(
                    lambda store: store.record_change(
                        user_id, "poll", "asked for a feed poll", now=time.time()
                    ),
                    within=WRITE_WITHIN,
                )
                self.controls.poll_now()
                note = "Polling the ISSCR feed now; anything new is announced in a moment."
                answer = _message(note, blocks.text_blocks(note))
            elif verb in ("route", "unroute"):
                answer = await self._change_route(user_id, verb, rest)
            else:  # never a fall-through into a change
                raise RouteError(f"There is no admin command “{verb}”.")
        except RouteError as error:
            return _message(str(error), blocks.text_blocks(blocks.escape(str(error))))
        except DatabaseBusy:
            return _message(BUSY, blocks.text_blocks(BUSY))
        if self.after_change is not None:
            await self.after_change(user_id)
        return answer

    async def _change_route(self, user_id: str, verb: str, rest: str) -> dict[str, Any]:
        where, names = _first_word(rest)
        channel = channel_id(where)
        known = await self.db.read(lambda store: store.categories(), within=READ_WITHIN)
        categories = typed_categories(names, known, verb=verb)
        if verb == "route":
            changed = await self.db.write(
                lambda store: Routes(store).route(channel, categories, by=user_id),
                within=WRITE_WITHIN,
            )
            membership = None if changed.unchanged else await self.join(channel)
        else:
            changed = await self.db.write(
                lambda store: Routes(store).unroute(channel, categories, by=user_id),
                within=WRITE_WITHIN,
            )
            membership = None
        routes, missing = await self.db.read(
            lambda store: (store.routes(), unrouted_in(store)), within=READ_WITHIN
        )
        # The whole table after the change: routes only add, and the admin sees at once what
        # every channel receives and which categories reach none.
        shown = blocks.route_answer(
            channel,
            changed,
            removing=verb == "unroute",
            membership=membership,
            routes=routes,
            unrouted=missing,
        )
        return _message("Routes changed", shown)

    async def join(self, channel: str) -> str | None:
        """Join a public channel so announcements can be posted; say what else is needed."""
        joined = await join(self.client, channel)
        if joined.failure is None:
            return None if joined.already else JOINED
        code = joined.failure.code
        if code == "is_archived":
            return "It is archived: announcements there will fail until it is unarchived."
        if code == "method_not_supported_for_channel_type" and await self._is_member(channel):
            return None  # a private channel I was already invited to
        if code in ("method_not_supported_for_channel_type", "channel_not_found"):
            return (
                f"It is private (or I cannot see it): type `{INVITE}` in the channel, or "
                "the announcements there will fail."
            )
        if code is None:
            return f"Slack did not answer when I tried to join: type `{INVITE}` in the channel."
        return f"I could not join it ({code}): type `{INVITE}` in the channel."

    async def _is_member(self, channel: str) -> bool:
        """Whether the bot is in `channel`: only a member may read its history (the scopes
        the bot has anyway, for the outbox; conversations.info would need channels:read)."""
        try:
            await self.client.conversations_history(channel=channel, limit=1)
        except Exception as error:
            log.info("not a member of %s: %s", channel, classify(error).reason)
            return False
        return True


def _message(text: str, shown: list[dict[str, Any]]) -> dict[str, Any]:
    """An answer: `text` (plain, escaped here: it may quote what the user typed) is what
    notifications show, `shown` the blocks, escaped by their builders."""
    return {"text": blocks.fallback_text(text), "blocks": shown}
