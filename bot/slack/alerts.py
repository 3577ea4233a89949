"""What members do with their alerts, from the slash command (`subscribe`, `alerts`,
`unsubscribe`), the buttons of those answers and the Home's form, each written once here.

Every operation is the requesting member's own, in the workspace Bolt authorized the request
for: a button's value or a form's metadata only names a query or an alert, which is looked for
among that member's alerts (a forged alert ID of someone else's is "not among yours").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.alerts import MAX_ALERTS, MemberAlerts, Mine, Removed, Saved
from bot.database import Database, DatabaseBusy
from bot.search.alerts import Preview
from bot.search.grammar import QueryError, is_help
from bot.slack.admin import BUSY
from bot.slack.blocks.alerts import (
    alerts_help_blocks,
    alerts_message,
    not_saved_note,
    preview_message,
    problem_message,
    removed_note,
    saved_note,
)
from bot.slack.blocks.common import escape, fallback_text, text_blocks
from bot.slack.blocks.shapes import Message
from bot.slack.markup import COMMAND, from_slack
from bot.store import Store

T = TypeVar("T")

# The commands, by their first word: `subscribe` and `unsubscribe` always (what follows is a
# query), `alerts` and `subscriptions` alone (else a search that starts with the word).
SUBSCRIBE, UNSUBSCRIBE = "subscribe", "unsubscribe"
LIST = ("alerts", "subscriptions")
# How long a Slack request waits for the database (another process may hold its lock): the
# answer comes in time either way, and says when nothing was done.
WITHIN = 2.0


def is_alert_command(text: str) -> bool:
    """Whether `text` (what follows the slash command) is about the member's alerts."""
    words = text.split(maxsplit=1)
    if not words:
        return False
    first = words[0].casefold()
    return first in (SUBSCRIBE, UNSUBSCRIBE) or (first in LIST and len(words) == 1)


@dataclass(frozen=True)
class Previewed:
    preview: Preview
    mine: Mine


class AlertAnswers:
    """One workspace's members' alerts (`team`), answered as Slack shows them."""

    def __init__(self, db: Database, team: str) -> None:
        self.db = db
        self.team = team

    async def command(self, user: str, text: str) -> Message:
        """The ephemeral answer to an alert command (see `is_alert_command`); `text` as Slack
        sent it."""
        words = text.split(maxsplit=1)
        verb = words[0].casefold() if words else ""
        rest = from_slack(words[1]).strip() if len(words) == 2 else ""
        try:
            if verb == SUBSCRIBE:
                if not rest or is_help(rest):
                    return {
                        "text": fallback_text(f"How to use alerts of {COMMAND}"),
                        "blocks": alerts_help_blocks(),
                    }
                previewed = await self.preview(user, rest)
                return preview_message(
                    previewed.preview, previewed.mine.alerts, full=previewed.mine.full
                )
            if verb == UNSUBSCRIBE and rest and not is_help(rest):
                removed = await self._write(user, lambda alerts: alerts.remove_query(rest))
                return _list(removed.mine, removed_note(removed.alert))
            mine = await self.mine(user)
            note = "Press *Remove* on the alert to stop." if verb == UNSUBSCRIBE else None
            return _list(mine, note if mine.alerts else None)
        except QueryError as error:
            return problem_message(error.problem, error.example)
        except DatabaseBusy:
            return {"text": BUSY, "blocks": text_blocks(escape(BUSY))}

    async def preview(self, user: str, text: str) -> Previewed:
        """The alert `text` asks for and what it matches; QueryError, DatabaseBusy."""
        preview, mine = await self.db.read(
            lambda store: self._member(store, user).preview(text), within=WITHIN
        )
        return Previewed(preview, mine)

    async def save(self, user: str, query: str) -> Saved:
        """Save the alert (from a Save button's value or a form's metadata: a query, checked
        as one typed); QueryError, DatabaseBusy."""
        return await self._write(user, lambda alerts: alerts.save(query))

    async def save_answer(self, user: str, query: str) -> Message:
        """The member's alerts after Save, saying what it did."""
        try:
            saved = await self.save(user, query)
        except QueryError as error:
            return problem_message(error.problem, error.example)
        except DatabaseBusy:
            return {"text": BUSY, "blocks": text_blocks(escape(BUSY))}
        return _list(saved.mine, saved_text(saved))

    async def remove(self, user: str, value: object) -> Removed:
        """Remove the alert a Remove button names, if it is the member's; DatabaseBusy."""
        alert_id = _alert_id(value)
        if alert_id is None:  # no button of ours carries that: nothing to look for
            return Removed(None, await self.mine(user))
        return await self._write(user, lambda alerts: alerts.remove(alert_id))

    async def remove_answer(self, user: str, value: object) -> Message:
        """The member's alerts after Remove, saying what it did."""
        try:
            removed = await self.remove(user, value)
        except DatabaseBusy:
            return {"text": BUSY, "blocks": text_blocks(escape(BUSY))}
        return _list(removed.mine, removed_note(removed.alert))

    async def resume(self, user: str) -> Mine:
        """Resume the member's alerts (their Home's Resume); DatabaseBusy."""
        return await self.mine(user)

    async def mine(self, user: str) -> Mine:
        """The member's alerts, resumed if they were paused; DatabaseBusy. Read first, and
        written only when paused: a member who asks for their list does not wait for the
        lock of another writer (a long poll, another process) and is not told "busy"."""
        mine = await self.db.read(lambda store: self._member(store, user).listed(), within=WITHIN)
        if not mine.paused:
            return mine
        return await self._write(user, lambda alerts: alerts.mine())

    async def _write(self, user: str, work: Callable[[MemberAlerts], T]) -> T:
        return await self.db.write(lambda store: work(self._member(store, user)), within=WITHIN)

    def _member(self, store: Store, user: str) -> MemberAlerts:
        return MemberAlerts(store, team=self.team, user=user)


def saved_text(saved: Saved) -> str:
    """Escaped mrkdwn: what became of a Save."""
    if saved.alert is None:
        return not_saved_note(len(saved.mine.alerts))
    return saved_note(saved.alert.query, created=saved.created)


def _list(mine: Mine, note: str | None) -> Message:
    return alerts_message(mine.alerts, limit=MAX_ALERTS, note=note, resumed=mine.resumed)


def _alert_id(value: object) -> int | None:
    """The alert a Remove button names: its ID, digits only (else no button of ours)."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None
    return int(value) if len(value) <= 18 else None
