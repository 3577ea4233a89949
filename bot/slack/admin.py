"""The admin service: what admins do, from the slash command (route, unroute, digest, routes,
status, poll), the App Home's buttons and its forms, each written once here.

Every command asks Slack whether the user is an admin first (`bot.slack.rights`), then calls
the domain; a member's attempt gets a polite refusal and changes nothing. The listeners ask
the same check before calling the other operations.
"""

from __future__ import annotations

import logging
import sqlite3
import time

from slack_sdk.web.async_client import AsyncWebClient

from bot.database import Database, DatabaseBusy
from bot.health import HealthReport, report
from bot.models import CHANNEL_ID, SINGLE_WORKSPACE, Release
from bot.routes import RouteError, Routes, typed_categories, unrouted
from bot.schedule import FALLBACK_TZ, ScheduleError, next_boundary, read_schedule, zone
from bot.settings import Settings
from bot.slack import route_text
from bot.slack.blocks.admin import route_answer, routes_table, schedule_answer, status_answer
from bot.slack.blocks.announcement import trial_message
from bot.slack.blocks.common import escape, fallback_text, text_blocks
from bot.slack.blocks.shapes import Block, Message
from bot.slack.controls import Controls
from bot.slack.errors import Failure, classify, explain
from bot.slack.markup import COMMAND, channel_id, mentions_channel, unescaped
from bot.slack.posting import join, post
from bot.slack.rights import CHANGE, POLL, SEE, AdminCheck
from bot.store import Store

log = logging.getLogger(__name__)

# Each verb, and what a member who may not use it is told they cannot do.
VERBS = {
    "route": CHANGE,
    "unroute": CHANGE,
    "digest": CHANGE,
    "routes": SEE,
    "status": SEE,
    "poll": POLL,
}
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


def unrouted_in(store: Store, team: str) -> list[str]:
    """What no route of `team` takes, for the ⚠ warnings (see `bot.routes.unrouted`)."""
    return unrouted(
        store.routes(team=team),
        store.categories(),
        uncategorized=store.has_uncategorized_releases(),
    )


def is_admin_command(text: str) -> bool:
    """Whether `text` is an admin command rather than a search that starts with one of its
    words ("status of embryo research"): `routes`, `status` and `poll` alone; `route`,
    `unroute` and `digest` always (a mistyped channel gets its hint, not a search)."""
    words = text.split()
    if not words or words[0].casefold() not in VERBS:
        return False
    return words[0].casefold() in ("route", "unroute", "digest") or len(words) == 1


def _first_word(text: str) -> tuple[str, str]:
    """`text`'s first word and the rest, split at any space (a tab, a newline or a no-break
    space too), as `is_admin_command` reads it."""
    words = text.split(maxsplit=1)
    return (words[0], words[1]) if len(words) == 2 else (text.strip(), "")


class Admin:
    """What the admins of one workspace do (`team`; single-workspace mode's is
    SINGLE_WORKSPACE): everything they see and change is that workspace's. Each operation
    raises DatabaseBusy when the database does not answer in time."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        client: AsyncWebClient,
        poster: AsyncWebClient,
        controls: Controls,
        *,
        team: str = SINGLE_WORKSPACE,
    ) -> None:
        """`poster` posts the test announcement: a client that never repeats a request that
        may have reached Slack (`bot.slack.app.posting_client`), so a dropped connection is
        not a second post."""
        self.settings = settings
        self.db = db
        self.client = client
        self.poster = poster
        self.controls = controls
        self.team = team
        self.check = AdminCheck(client, settings.admin_user_ids)

    async def report(self) -> HealthReport:
        """The health report, as `/healthz` gives it, of this workspace's routes and
        deliveries."""
        return await report(
            self.db,
            self.settings,
            live=self.controls.live_problems(),
            within=READ_WITHIN,
            team=self.team,
        )

    async def answer(self, user_id: str, text: str) -> tuple[Message, bool]:
        """The ephemeral answer to an admin command (or the refusal), and whether it changed
        something (the admin's Home is to be refreshed then)."""
        verb, rest = _first_word(text)
        verb = verb.casefold()
        # A digest's hour is in the time zone of the admin who sets it.
        verdict = await self.check.verdict(
            user_id, wanted=VERBS.get(verb, CHANGE), with_tz=verb == "digest"
        )
        refusal = verdict.refusal
        if refusal is not None:
            refusal += f' To search for the word, put it in quotes: `{COMMAND} "{verb}"`.'
            return _message(refusal, text_blocks(escape(refusal))), False
        try:
            if verb == "routes":
                routes, missing = await self.db.read(
                    lambda store: (store.routes(team=self.team), unrouted_in(store, self.team)),
                    within=READ_WITHIN,
                )
                shown = routes_table(routes, missing)
                return _message("Where ISSCR news goes", shown), False
            if verb == "status":
                health = await self.report()
                per_channel = await self.db.read(
                    lambda store: store.delivery_counts_by_channel(team=self.team),
                    within=READ_WITHIN,
                )
                shown = status_answer(health, per_channel)
                return _message("ISSCR news bot status", shown), False
            if verb == "poll":
                await self.poll(user_id)
                note = "Polling the ISSCR feed now; anything new is announced in a moment."
                answer = _message(note, text_blocks(note))
            elif verb in ("route", "unroute"):
                answer = await self._change_route(user_id, verb, rest)
            elif verb == "digest":
                answer = await self._change_schedule(user_id, rest, verdict.tz)
            else:  # never a fall-through into a change
                raise RouteError(f"There is no admin command “{verb}”.")
        except RouteError as error:
            problem = route_text.explain(error)
            return _message(problem, text_blocks(escape(problem))), False
        except ScheduleError as error:
            problem = route_text.explain_schedule(error)
            return _message(problem, text_blocks(escape(problem))), False
        except DatabaseBusy:
            return _message(BUSY, text_blocks(BUSY)), False
        return answer, True

    async def poll(self, user_id: str) -> None:
        """Poll the feed now, as `user_id` asked (audited)."""
        await self.db.write(
            lambda store: store.record_change(
                user_id, "poll", "asked for a feed poll", now=time.time(), team=self.team
            ),
            within=WRITE_WITHIN,
        )
        self.controls.poll_now()

    async def retry_failed(self, user_id: str) -> None:
        """Queue the failed deliveries again, and deliver them now."""
        count = await self.db.write(
            lambda store: store.retry_failed(team=self.team, now=time.time(), by=user_id),
            within=WRITE_WITHIN,
        )
        if count:
            self.controls.deliver_now()

    async def announce_held(self, user_id: str) -> None:
        """Announce what a flood held back."""
        announced = await self.db.write(
            lambda store: store.announce_held(team=self.team, by=user_id, now=time.time()),
            within=WRITE_WITHIN,
        )
        if announced:
            self.controls.deliver_now()

    async def discard_held(self, user_id: str) -> None:
        """Drop what a flood held back: it stays stored and searchable."""
        await self.db.write(
            lambda store: store.discard_held(team=self.team, by=user_id, now=time.time()),
            within=WRITE_WITHIN,
        )

    async def apply_held_corrections(self, user_id: str) -> None:
        """Update the posted messages of what a mass correction held back."""
        applied = await self.db.write(
            lambda store: store.apply_held_corrections(team=self.team, by=user_id, now=time.time()),
            within=WRITE_WITHIN,
        )
        if applied:
            self.controls.deliver_now()

    async def skip_held_corrections(self, user_id: str) -> None:
        """Leave the posted messages of what a mass correction held back as they are."""
        await self.db.write(
            lambda store: store.skip_held_corrections(team=self.team, by=user_id, now=time.time()),
            within=WRITE_WITHIN,
        )

    async def first_route(self, user_id: str, channel: str) -> str:
        """The setup card's choice: every category goes to `channel`; the notice to show
        (RouteError when another admin chose first)."""
        await self.db.write(
            lambda store: self.routes(store).first(channel, by=user_id), within=WRITE_WITHIN
        )
        membership = await self.join(channel)
        notice = (
            f"Set up: new ISSCR releases will be announced in <#{channel}>. Send a test "
            "announcement to see one now."
        )
        return f"{notice} {membership}" if membership else notice

    async def remove_route(self, user_id: str, channel: str) -> bool:
        """Remove `channel`'s route; False when `channel` is no value a Remove button may
        carry: a channel ID, or the exact channel of a stored route (one an older version
        saved from a forged form)."""

        def remove(store: Store) -> bool:
            stored = any(route.channel == channel for route in store.routes(team=self.team))
            if stored:
                self.routes(store).unroute(channel, [], by=user_id)
            return stored or CHANNEL_ID.fullmatch(channel) is not None

        return await self.db.write(remove, within=WRITE_WITHIN)

    async def send_test(self, user_id: str, channel: str, release: Release) -> tuple[str, bool]:
        """Post a test announcement of `release` in `channel` (audited): the notice to show
        the admin (mrkdwn), and whether it was posted."""
        failure = (await post(self.poster, channel, trial_message(release, user_id))).failure
        if failure is not None:
            log.warning("test announcement in %s failed: %s", channel, failure.reason)
            if failure.kind is Failure.UNKNOWN:
                return (
                    f"Slack did not answer when I posted the test announcement in <#{channel}>: "
                    "it may be there. Look before sending another."
                ), False
            reason = escape(explain(failure.reason))
            return f"The test announcement could not be posted in <#{channel}> ({reason}).", False
        try:
            await self.db.write(
                lambda store: store.record_change(
                    user_id,
                    "test",
                    f"{channel}: sent a test announcement to {channel}",
                    now=time.time(),
                    team=self.team,
                )
            )
        except sqlite3.Error as error:  # posted all the same: say so, log why it is unrecorded
            log.warning("the test announcement in %s was not recorded: %s", channel, error)
        return f"Test announcement posted in <#{channel}>.", True

    async def _change_route(self, user_id: str, verb: str, rest: str) -> Message:
        where, names = _first_word(rest)
        channel = channel_id(where)
        if channel is None:
            raise route_text.not_a_channel(where)
        if mentions_channel(names):
            raise RouteError(route_text.ONE_CHANNEL)
        known = await self.db.read(lambda store: store.categories(), within=READ_WITHIN)
        categories = typed_categories(unescaped(names), known, verb=verb)
        if verb == "route":
            changed = await self.db.write(
                lambda store: self.routes(store).route(channel, categories, by=user_id),
                within=WRITE_WITHIN,
            )
            membership = None if changed.unchanged else await self.join(channel)
        else:
            changed = await self.db.write(
                lambda store: self.routes(store).unroute(channel, categories, by=user_id),
                within=WRITE_WITHIN,
            )
            membership = None
        routes, missing = await self.db.read(
            lambda store: (store.routes(team=self.team), unrouted_in(store, self.team)),
            within=READ_WITHIN,
        )
        # The whole table after the change: routes only add, and the admin sees at once what
        # every channel receives and which categories reach none.
        shown = route_answer(
            channel,
            changed,
            removing=verb == "unroute",
            membership=membership,
            routes=routes,
            unrouted=missing,
        )
        return _message("Routes changed", shown)

    async def _change_schedule(self, user_id: str, rest: str, tz: str | None) -> Message:
        """`digest #channel weekly monday 9:00`: the channel's route collects for a digest at
        that hour of the admin's own time zone (or posts at once again: `immediate`)."""
        where, words = _first_word(rest)
        channel = channel_id(where)
        if channel is None:
            raise route_text.not_a_channel(where, example=route_text.DIGEST_EXAMPLE)
        known = tz if tz is not None and zone(tz) is not None else None
        schedule = read_schedule(unescaped(words), tz=known or FALLBACK_TZ)
        changed = await self.db.write(
            lambda store: self.routes(store).schedule(channel, schedule, by=user_id),
            within=WRITE_WITHIN,
        )
        routes, missing = await self.db.read(
            lambda store: (store.routes(team=self.team), unrouted_in(store, self.team)),
            within=READ_WITHIN,
        )
        saved = changed.route.schedule if changed.route else None
        shown = schedule_answer(
            channel,
            changed,
            next_at=next_boundary(saved, time.time()).timestamp() if saved else None,
            guessed_tz=known is None,
            routes=routes,
            unrouted=missing,
        )
        return _message("Delivery changed", shown)

    def routes(self, store: Store) -> Routes:
        """The route operations of this workspace, on `store`."""
        return Routes(store, team=self.team)

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


def _message(text: str, shown: list[Block]) -> Message:
    """An answer: `text` (plain, escaped here: it may quote what the user typed) is what
    notifications show, `shown` the blocks, escaped by their builders."""
    return {"text": fallback_text(text), "blocks": shown}
