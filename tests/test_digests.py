"""Digests: admins set a route's schedule (by command or on the Home), new releases are
collected for it, and at each period's boundary they become one digest, exactly once."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.database import Database
from bot.digests import DigestScheduler
from bot.health import health
from bot.models import DAILY, SINGLE_WORKSPACE, WEEKLY, Place, Release, Schedule
from bot.routes import Routes
from bot.schedule import latest_boundary, next_boundary, period_key
from bot.settings import Settings
from bot.slack.blocks.common import local_time
from bot.slack.blocks.digest import digest_message
from bot.store import COLLECTED, DIGEST, DIGESTED, DISCARDED, HELD, PENDING, Store
from standins.block_kit import message_error
from standins.feed_server import FeedServer, make_item
from standins.slack_api import FakeResponse, SlackApi
from standins.slack_requests import (
    home_action_body,
    send_to_slack_app,
    slash_command_body,
    view_submission_body,
)
from tests.conftest import CHANNEL, bot_env, eventually, mrkdwn_texts
from tests.test_admin import ADMIN, EXTRA, MEMBER, POLICY_NEWS, PRESS_NEWS, at, command
from tests.test_admin import feed as feed  # the feed fixture: one release per category
from tests.test_bot import InspectedBot, events_url
from tests.test_home import notice, open_home, post
from tests.test_process import BotProcess

BERLIN, CHICAGO = "Europe/Berlin", "America/Chicago"
MONDAY_NINE = Schedule(WEEKLY, 9, BERLIN, 0)
OTHER_ADMIN = "U0ADMIN002"  # an admin in Chicago
HERE = Place(SINGLE_WORKSPACE, POLICY_NEWS)


class Clock:
    """The digest scheduler's clock, which the test moves (the rest of the bot keeps real
    time)."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def running_at(settings: Settings, clock: Clock) -> AsyncIterator[InspectedBot]:
    """The real bot, its digests made by `clock`'s time."""
    bot = InspectedBot(settings, host="127.0.0.1")
    bot.outbox.spacing = 0.05
    bot.digests.clock = clock
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(make_settings: Callable[..., Settings], slack: SlackApi) -> Settings:
    slack.add_user(ADMIN, is_admin=True, tz=BERLIN)
    slack.add_user(OTHER_ADMIN, is_admin=True, tz=CHICAGO)
    slack.add_user(MEMBER, tz=BERLIN)
    slack.add_channel(POLICY_NEWS, member=False, name="policy-news")
    slack.add_channel(PRESS_NEWS, member=False, name="press-news")
    return make_settings(ANNOUNCE_CHANNEL="", ADMIN_USER_IDS=EXTRA)


@pytest.fixture
async def bot(settings: Settings, clock: Clock) -> AsyncIterator[InspectedBot]:
    async with running_at(settings, clock) as started:
        await eventually(lambda: started.store.release_count() == 3)
        yield started


def digest_rows(store: Store, channel: str = POLICY_NEWS) -> list[dict[str, Any]]:
    """The digests made for `channel`, oldest first."""
    return list(
        store.db.query(
            "SELECT id, period, state, release_id FROM deliveries WHERE kind = ? "
            "AND channel = ? ORDER BY id",
            [DIGEST, channel],
        )
    )


def states(store: Store, channel: str = POLICY_NEWS) -> list[tuple[str, str]]:
    """(release id, state) of the announcements of `channel`, in queue order."""
    return [
        (row[0], row[1])
        for row in store.db.execute(
            "SELECT release_id, state FROM deliveries WHERE kind = 'announce' AND channel = ? "
            "ORDER BY id",
            [channel],
        )
    ]


def titles(store: Store, digest_id: int) -> list[str]:
    return [release.title for release in store.digest_releases(digest_id)]


async def set_weekly_digest(bot: InspectedBot) -> None:
    await command(bot, f"route {at(POLICY_NEWS, 'policy-news')}")
    await command(bot, f"digest {at(POLICY_NEWS, 'policy-news')} weekly monday 9:00")


async def collect_three(bot: InspectedBot, feed: FeedServer) -> None:
    feed.items[:0] = [make_item(6), make_item(5), make_item(4)]
    await eventually(lambda: bot.store.collected_count(HERE) == 3)


# -- by command, through to the digest ------------------------------------------------------


async def test_a_weekly_digest_collects_three_releases_into_one_digest_at_its_hour(
    bot: InspectedBot, slack: SlackApi, feed: FeedServer, clock: Clock
) -> None:
    await command(bot, f"route {at(POLICY_NEWS, 'policy-news')}")
    answer = await command(bot, f"digest {at(POLICY_NEWS, 'policy-news')} weekly Monday 9:00")

    coming = next_boundary(MONDAY_NINE, time.time())
    assert answer == (
        f"<#{POLICY_NEWS}> now gets a weekly digest, Mondays at 09:00 (Europe/Berlin). The "
        f"next goes out {local_time(coming.timestamp())} if anything new has come by then.\n"
        "*Where ISSCR news goes*\n"
        f"• <#{POLICY_NEWS}> ← every category · weekly digest, Mondays at 09:00 (Europe/Berlin)"
    )
    assert [(c.action, c.detail) for c in bot.store.recent_changes(1, team=SINGLE_WORKSPACE)] == [
        (
            "digest",
            f"{POLICY_NEWS}: {POLICY_NEWS} gets a weekly digest, Mondays at 09:00 "
            "(Europe/Berlin) (was each release as it appears)",
        )
    ]

    await collect_three(bot, feed)
    # A second before the hour: nothing yet, and nothing was posted meanwhile
    clock.now = coming.timestamp() - 1
    made, _ = await bot.db.write(bot.digests.make_due)
    assert made == [] and digest_rows(bot.store) == []
    assert slack.messages[POLICY_NEWS] == []

    clock.now = coming.timestamp()
    bot.digests.look_now()  # the running scheduler's own look
    await eventually(lambda: len(digest_rows(bot.store)) == 1)

    [digest] = digest_rows(bot.store)
    assert digest["period"] == period_key(coming)
    assert digest["release_id"] == make_item(6).item_id  # the newest it lists
    assert bot.store.collected_count(HERE) == 0
    assert {state for _, state in states(bot.store)} == {DIGESTED}
    # One message in the channel, listing the three
    await eventually(lambda: len(slack.messages[POLICY_NEWS]) == 1)
    [message] = slack.messages[POLICY_NEWS]
    assert message["metadata"] == {
        "event_type": "isscr_news_digest",
        "event_payload": {"period": period_key(coming)},
    }
    assert listed(message) == ["Release 6", "Release 5", "Release 4"]

    # A week on with nothing new: no digest
    clock.now = coming.timestamp() + timedelta(days=7).total_seconds()
    bot.digests.look_now()
    made, _ = await bot.db.write(bot.digests.make_due)
    assert made == [] and len(digest_rows(bot.store)) == 1
    await eventually(lambda: not bot.store.channels_with_work())
    assert len(slack.messages[POLICY_NEWS]) == 1


async def test_the_search_a_long_digest_names_finds_the_releases_it_left_out_and_no_newer_one(
    bot: InspectedBot, slack: SlackApi, feed: FeedServer, clock: Clock
) -> None:
    await set_weekly_digest(bot)
    for newest in (10, 17):  # 14, a day apart, in two polls (ten at once would be a flood)
        feed.items[:0] = [make_item(n) for n in range(newest, newest - 7, -1)]
        await eventually(lambda n=newest - 3: bot.store.collected_count(HERE) == n)
    clock.now = next_boundary(MONDAY_NINE, clock.now).timestamp()
    bot.digests.look_now()
    await eventually(lambda: len(slack.messages[POLICY_NEWS]) == 1)
    feed.items[:0] = [make_item(18)]  # published since the digest: the next one's
    await eventually(lambda: bot.store.collected_count(HERE) == 1)

    [digest] = slack.messages[POLICY_NEWS]
    more = mrkdwn_texts(digest["blocks"])[-1]
    named = re.search(r"`/isscr-news ([^`]+)`", more)
    assert named is not None, more
    status, found = await send_to_slack_app(
        events_url(bot), slash_command_body(named[1], user=MEMBER)
    )

    assert status == 200
    assert listed(digest)[-1] == "Release 8"
    shown = [
        block["accessory"]["value"]
        for block in found["blocks"]
        if block.get("accessory", {}).get("action_id") == "share_release"
    ]
    assert shown == [make_item(n).item_id for n in (7, 6, 5, 4)], found["text"]


async def test_a_release_corrected_while_its_digest_is_on_its_way_is_corrected_in_it_after(
    bot: InspectedBot, slack: SlackApi, feed: FeedServer, clock: Clock
) -> None:
    await set_weekly_digest(bot)
    await collect_three(bot, feed)
    slack.post_delay = 3.0  # the digest is stored in the channel, answered 3 s later
    clock.now = next_boundary(MONDAY_NINE, clock.now).timestamp()
    bot.digests.look_now()
    await eventually(lambda: len(slack.messages[POLICY_NEWS]) == 1)
    [message] = slack.messages[POLICY_NEWS]
    # The feed corrects a release the digest lists while the digest's answer is on its way.
    feed.items[1] = make_item(5, title="Release 5, corrected")
    release = make_item(5).item_id
    await eventually(lambda: bot.store.release(release).title == "Release 5, corrected")
    assert listed(message) == ["Release 6", "Release 5", "Release 4"]  # posted before it
    slack.post_delay = 0.0
    await eventually(lambda: digest_rows(bot.store)[0]["state"] == "sent")

    await eventually(lambda: message.get("updates") == 1)
    assert listed(message) == ["Release 6", "Release 5, corrected", "Release 4"]


def listed(message: dict[str, Any]) -> list[str]:
    """The titles a digest message lists, in its order."""
    return [
        block["text"]["text"].split("|", 1)[1].split(">*")[0]
        for block in message["blocks"]
        if block["type"] == "section" and block["text"]["text"].startswith("*<")
    ]


async def test_a_digest_made_at_the_boundary_is_made_and_posted_once_across_restarts(
    settings: Settings, slack: SlackApi, feed: FeedServer, clock: Clock
) -> None:
    async with running_at(settings, clock) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        await set_weekly_digest(bot)
        await collect_three(bot, feed)
        boundary = next_boundary(MONDAY_NINE, clock.now)
        clock.now = boundary.timestamp()
        bot.digests.look_now()
        await eventually(lambda: len(digest_rows(bot.store)) == 1)
        await eventually(lambda: len(slack.messages[POLICY_NEWS]) == 1)

    for later in (0, 30, 3600):  # started again at the boundary, and after it
        clock.now = boundary.timestamp() + later
        async with running_at(settings, clock) as bot:
            made, _ = await bot.db.write(bot.digests.make_due)
            assert made == []
            assert [d["period"] for d in digest_rows(bot.store)] == [period_key(boundary)]
            await eventually(lambda: not bot.store.channels_with_work())
    assert len(slack.messages[POLICY_NEWS]) == 1


async def test_a_digest_missed_while_the_bot_was_down_is_sent_once_on_start(
    settings: Settings, slack: SlackApi, feed: FeedServer, clock: Clock
) -> None:
    async with running_at(settings, clock) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        await set_weekly_digest(bot)
        await collect_three(bot, feed)
    # Down over three Mondays
    clock.now += timedelta(days=7 * 3 + 1).total_seconds()

    async with running_at(settings, clock) as bot:
        await eventually(lambda: len(digest_rows(bot.store)) == 1)
        [digest] = digest_rows(bot.store)
        # One digest, of the latest period: not one per week missed
        assert digest["period"] == period_key(latest_boundary(MONDAY_NINE, clock.now))
        assert titles(bot.store, digest["id"]) == ["Release 6", "Release 5", "Release 4"]
        await eventually(lambda: len(slack.messages[POLICY_NEWS]) == 1)
    async with running_at(settings, clock) as bot:
        made, _ = await bot.db.write(bot.digests.make_due)
        assert made == [] and len(digest_rows(bot.store)) == 1
    [message] = slack.messages[POLICY_NEWS]
    assert listed(message) == ["Release 6", "Release 5", "Release 4"]


async def test_going_back_to_immediate_sends_what_was_collected_in_a_last_digest(
    bot: InspectedBot, slack: SlackApi, feed: FeedServer
) -> None:
    await set_weekly_digest(bot)
    await collect_three(bot, feed)

    answer = await command(bot, f"digest {at(POLICY_NEWS, 'policy-news')} immediate")

    assert answer.splitlines()[0] == (
        f"<#{POLICY_NEWS}> now gets each release as it appears. The 3 releases waiting for its "
        "digest go out now, in a last digest."
    )
    [digest] = digest_rows(bot.store)
    assert titles(bot.store, digest["id"]) == ["Release 6", "Release 5", "Release 4"]
    assert bot.store.collected_count(HERE) == 0
    # What comes next is posted as it appears
    feed.items.insert(0, make_item(7))
    await eventually(lambda: len(slack.messages[POLICY_NEWS]) == 2)
    last, announced = slack.messages[POLICY_NEWS]
    assert last["metadata"]["event_type"] == "isscr_news_digest"
    assert listed(last) == ["Release 6", "Release 5", "Release 4"]
    assert announced["metadata"]["event_payload"] == {"item_id": make_item(7).item_id}
    assert bot.store.routes(team=SINGLE_WORKSPACE)[0].schedule is None


async def test_removing_a_digest_route_drops_what_it_collected_and_says_so(
    bot: InspectedBot, feed: FeedServer
) -> None:
    await set_weekly_digest(bot)
    await collect_three(bot, feed)

    answer = await command(bot, f"unroute {at(POLICY_NEWS, 'policy-news')}")

    assert answer.splitlines()[0] == (
        f"<#{POLICY_NEWS}> no longer receives ISSCR news. The 3 releases waiting for its digest "
        "will not be sent (they stay searchable)."
    )
    assert {state for _, state in states(bot.store)} == {DISCARDED}
    made, _ = await bot.db.write(bot.digests.make_due)
    assert made == [] and digest_rows(bot.store) == []


# -- what admins type -----------------------------------------------------------------------


async def test_every_mistake_in_a_digest_command_gets_one_line_with_an_example(
    bot: InspectedBot,
) -> None:
    await command(bot, f"route {at(POLICY_NEWS, 'policy-news')}")
    policy, press = at(POLICY_NEWS, "policy-news"), at(PRESS_NEWS, "press-news")
    answers = {
        "digest": "“(nothing)” is not a channel. Type # and pick the channel from the list, e.g. "
        "`/isscr-news digest #policy-news weekly monday 9:00`.",
        "digest policy weekly monday 9:00": "“policy” is not a channel. Type # and pick the "
        "channel from the list, e.g. `/isscr-news digest #policy-news weekly monday 9:00`.",
        f"digest {policy}": "Say how the channel should receive news: immediate, daily or "
        "weekly. For example: `/isscr-news digest #channel weekly monday 9:00`",
        f"digest {policy} hourly": "“hourly” is not a way to receive news: use immediate, daily "
        "or weekly. For example: `/isscr-news digest #channel daily 17:00`",
        f"digest {policy} weekly 9:00": "A weekly digest needs a day of the week. For example: "
        "`/isscr-news digest #channel weekly monday 9:00`",
        f"digest {policy} weekly mnday 9:00": "“mnday” is not a day of the week. Did you mean "
        "Monday? For example: `/isscr-news digest #channel weekly monday 9:00`",
        f"digest {policy} daily 9:30": "Digests go out on the hour: use 9:00 or 10:00 rather "
        "than 9:30. For example: `/isscr-news digest #channel daily 9:00`",
        f"digest {policy} daily 25:00": "“25:00” is not an hour of the day: use 0:00 to 23:00. "
        "For example: `/isscr-news digest #channel daily 9:00`",
        f"digest {policy} daily &lt;!channel&gt;": "“&lt;!channel&gt;” is not an hour of the "
        "day. For example: `/isscr-news digest #channel daily 9:00`",
        f"digest {press} daily 9:00": "That channel receives no ISSCR news, so there is nothing "
        "to digest: route categories to it first (`/isscr-news route #channel Policy`), then "
        "set its digest.",
    }
    for text, expected in answers.items():
        assert await command(bot, text) == expected, text

    assert bot.store.routes(team=SINGLE_WORKSPACE)[0].schedule is None
    assert [c.action for c in bot.store.recent_changes(team=SINGLE_WORKSPACE)] == ["route"]


async def test_a_time_off_the_hour_is_told_to_use_the_hour_however_it_is_written(
    bot: InspectedBot,
) -> None:
    await command(bot, f"route {at(POLICY_NEWS, 'policy-news')}")
    policy = at(POLICY_NEWS, "policy-news")
    example = " For example: `/isscr-news digest #channel daily 9:00`"

    times = {"9.30": "9:00 or 10:00", "9h30": "9:00 or 10:00", "9:30pm": "21:00 or 22:00"}
    times["11.45 p.m."] = "23:00 or 0:00"
    for typed, hours in times.items():
        shown = typed.replace(" ", "")
        answer = await command(bot, f"digest {policy} daily {typed}")
        assert answer == f"Digests go out on the hour: use {hours} rather than {shown}.{example}"
    assert bot.store.routes(team=SINGLE_WORKSPACE)[0].schedule is None


async def test_a_member_cannot_set_a_digest_and_nothing_changes(
    bot: InspectedBot, slack: SlackApi
) -> None:
    await command(bot, f"route {at(POLICY_NEWS, 'policy-news')}")

    answer = await command(bot, f"digest {at(POLICY_NEWS, 'policy-news')} daily 9:00", user=MEMBER)

    assert answer == (
        "Only workspace admins and owners can change where ISSCR news is announced; nothing was "
        "changed. Ask one of them, or ask whoever runs the bot to make you an admin of ISSCR "
        'News. To search for the word, put it in quotes: `/isscr-news "digest"`.'
    )
    assert bot.store.routes(team=SINGLE_WORKSPACE)[0].schedule is None


async def test_an_admin_whose_time_zone_slack_does_not_give_sets_the_hour_in_utc(
    bot: InspectedBot, slack: SlackApi
) -> None:
    await command(bot, f"route {at(POLICY_NEWS, 'policy-news')}")
    # ADMIN_USER_IDS needs no rights check, but its time zone is asked for: Slack fails.
    slack.fail_next("users.info", FakeResponse.server_error(503), times=3)

    answer = await command(bot, f"digest {at(POLICY_NEWS, 'policy-news')} daily 17", user=EXTRA)

    assert answer.splitlines()[0].startswith(
        f"<#{POLICY_NEWS}> now gets a daily digest at 17:00 (UTC). The next goes out "
    )
    assert answer.splitlines()[0].endswith(
        "(Slack did not tell me your time zone, so the hour is in UTC.)"
    )
    assert bot.store.routes(team=SINGLE_WORKSPACE)[0].schedule == Schedule(DAILY, 17, "UTC")


# -- on the Home ----------------------------------------------------------------------------


def route_form_fields(form: dict[str, Any]) -> dict[str, Any]:
    """The route form's menus by block ID: the value each shows chosen."""
    return {
        block["block_id"]: block["element"]["initial_option"]["value"]
        for block in form["blocks"]
        if block.get("element", {}).get("type") == "static_select"
    }


async def test_the_route_form_sets_a_weekly_digest_in_the_admins_time_zone(
    bot: InspectedBot, slack: SlackApi
) -> None:
    await post(bot, home_action_body("admin_add_route", user=ADMIN))
    await eventually(lambda: len(slack.modals) == 1)
    assert route_form_fields(slack.modals[0]) == {"mode": "immediate", "weekday": "0", "hour": "9"}

    slack.home_views.clear()
    await post(
        bot,
        view_submission_body(
            "route_form", user=ADMIN, channel=POLICY_NEWS, categories=["Policy"],
            selected={"mode": "weekly", "weekday": "4", "hour": "16"},
        ),
    )  # fmt: skip

    await eventually(lambda: ADMIN in slack.home_views)
    assert notice(slack) == (
        f"Route saved: <#{POLICY_NEWS}> receives *Policy*, in a weekly digest, Fridays at 16:00 "
        "(Europe/Berlin). I joined the channel."
    )
    [route] = bot.store.routes(team=SINGLE_WORKSPACE)
    assert route.schedule == Schedule(WEEKLY, 16, BERLIN, 4)
    line = f"<#{POLICY_NEWS}> ← *Policy* · weekly digest, Fridays at 16:00 (Europe/Berlin)"
    assert line in await open_home(bot, slack, ADMIN)
    assert [(c.action, c.detail) for c in bot.store.recent_changes(team=SINGLE_WORKSPACE)] == [
        (
            "digest",
            f"{POLICY_NEWS}: {POLICY_NEWS} gets a weekly digest, Fridays at 16:00 "
            "(Europe/Berlin) (was each release as it appears)",
        ),
        ("route", f"{POLICY_NEWS}: routed Policy to {POLICY_NEWS}"),
    ]

    # An admin in Chicago edits its categories: the digest keeps Berlin's 16:00
    await post(bot, home_action_body("admin_edit_route", POLICY_NEWS, user=OTHER_ADMIN))
    await eventually(lambda: len(slack.modals) == 2)
    form = slack.modals[1]
    assert route_form_fields(form) == {"mode": "weekly", "weekday": "4", "hour": "16"}
    await post(
        bot,
        view_submission_body(
            "route_form", user=OTHER_ADMIN, channel=POLICY_NEWS,
            categories=["Policy", "Statement"], private_metadata=form["private_metadata"],
            selected=route_form_fields(form),
        ),
    )  # fmt: skip
    [route] = bot.store.routes(team=SINGLE_WORKSPACE)
    assert (route.categories, route.schedule) == (("Policy", "Statement"), route.schedule)
    assert route.schedule == Schedule(WEEKLY, 16, BERLIN, 4)
    # And a new hour is read in the time zone of whoever picks it
    form = await _edit_form(bot, slack, OTHER_ADMIN)
    await post(
        bot,
        view_submission_body(
            "route_form", user=OTHER_ADMIN, channel=POLICY_NEWS,
            categories=["Policy", "Statement"], private_metadata=form["private_metadata"],
            selected={"mode": "daily", "weekday": "4", "hour": "8"},
        ),
    )  # fmt: skip
    assert bot.store.routes(team=SINGLE_WORKSPACE)[0].schedule == Schedule(DAILY, 8, CHICAGO)


async def _edit_form(bot: InspectedBot, slack: SlackApi, user: str) -> dict[str, Any]:
    opened = len(slack.modals)
    await post(bot, home_action_body("admin_edit_route", POLICY_NEWS, user=user))
    await eventually(lambda: len(slack.modals) == opened + 1)
    return slack.modals[-1]


@pytest.mark.parametrize(
    ("selected", "errors"),
    [
        ({"mode": "hourly", "weekday": "0", "hour": "9"},
         {"mode": "That is not a choice this form offered: close it, and open it again."}),
        ({"mode": "weekly", "weekday": "7", "hour": "9"},
         {"weekday": "That is not a choice this form offered: close it, and open it again."}),
        ({"mode": "daily", "weekday": "0", "hour": "24"},
         {"hour": "That is not a choice this form offered: close it, and open it again."}),
        ({"mode": "daily", "weekday": "0", "hour": "09"},
         {"hour": "That is not a choice this form offered: close it, and open it again."}),
        ({"mode": "daily", "weekday": "0", "hour": ["9"]},
         {"hour": "That is not a choice this form offered: close it, and open it again."}),
        ({"mode": "weekly", "weekday": None, "hour": "9"},
         {"weekday": "Choose the day the weekly digest goes out."}),
        ({"mode": "daily", "weekday": "0", "hour": None},
         {"hour": "Choose the hour the digest goes out."}),
        ({"mode": None}, {"mode": "That is not a choice this form offered: close it, and open "
                                  "it again."}),
    ],
)  # fmt: skip
async def test_a_forged_or_incomplete_delivery_in_the_route_form_changes_nothing(
    bot: InspectedBot, slack: SlackApi, selected: dict[str, Any], errors: dict[str, str]
) -> None:
    answer = await post(
        bot,
        view_submission_body(
            "route_form", user=ADMIN, channel=POLICY_NEWS, categories=["Policy"],
            selected=selected,
        ),
    )  # fmt: skip

    assert answer == {"response_action": "errors", "errors": errors}
    assert bot.store.routes(team=SINGLE_WORKSPACE) == []
    assert slack.calls_to("users.info") == []  # refused before Slack was asked anything


async def test_a_member_submitting_the_route_form_with_a_digest_is_refused(
    bot: InspectedBot,
) -> None:
    answer = await post(
        bot,
        view_submission_body(
            "route_form", user=MEMBER, channel=POLICY_NEWS, categories=["Policy"],
            selected={"mode": "daily", "weekday": "0", "hour": "9"},
        ),
    )  # fmt: skip

    assert answer["response_action"] == "errors"
    assert answer["errors"]["channel"].startswith("Only workspace admins and owners can change")
    assert bot.store.routes(team=SINGLE_WORKSPACE) == []


# -- the store and the scheduler, on one database -------------------------------------------


def add_release(store: Store, n: int) -> str:
    release = make_item(n)
    store.db["releases"].insert(
        {"id": release.item_id, "title": f"Release {n}", "link": f"https://www.isscr.org/{n}",
         "published": release.published.isoformat(), "categories": "[]", "first_seen": 1.0}
    )  # fmt: skip
    return release.item_id


def digest_route(store: Store, schedule: Schedule, channel: str = POLICY_NEWS) -> None:
    routes = Routes(store, team=SINGLE_WORKSPACE, clock=lambda: 1.0)
    routes.route(channel, [], by=ADMIN)
    routes.schedule(channel, schedule, by=ADMIN)


def scheduler(db: Database, clock: Clock) -> DigestScheduler:
    return DigestScheduler(db, distribution=False, clock=clock)


async def test_a_scheduler_ticking_through_daylight_saving_days_makes_one_digest_a_day(
    store: Store, db: Database
) -> None:
    # 02:00 in Berlin does not exist on 29 March 2026, and happens twice on 25 October.
    for start in ("2026-03-27T12:00:00+01:00", "2026-10-23T12:00:00+02:00"):
        store.db.execute("DELETE FROM deliveries")
        digest_route(store, Schedule(DAILY, 2, BERLIN))
        clock = Clock(datetime.fromisoformat(start).timestamp())
        making = scheduler(db, clock)
        n = 0
        end = clock.now + timedelta(days=4).total_seconds()
        while clock.now < end:  # a release collected every 20 minutes, a look every 5
            if int(clock.now) % 1200 == 0:
                n += 1
                release = add_release(store, n + (1000 if start.startswith("2026-10") else 0))
                store.add_delivery(release, HERE, now=clock.now, state=COLLECTED)
            await db.write(making.make_due)
            clock.now += 300

        periods = [row["period"] for row in digest_rows(store)]
        days = [period[:10] for period in periods]
        assert len(days) == len(set(days)) == 4, periods
        assert all(row["state"] == PENDING for row in digest_rows(store))  # for the outbox


async def test_two_processes_on_one_database_make_one_digest_of_a_period(
    store: Store, tmp_path: Path
) -> None:
    digest_route(store, MONDAY_NINE)
    boundary = next_boundary(MONDAY_NINE, time.time())
    for n in range(1, 4):
        store.add_delivery(add_release(store, n), HERE, now=time.time(), state=COLLECTED)
    clock = Clock(boundary.timestamp())
    # Two bots' connections, each with its own scheduler, looking at the same moment
    databases = [Database(tmp_path / "bot.db") for _ in range(2)]
    start = threading.Barrier(2)
    made: list[list[int]] = []

    def look(db: Database) -> None:
        making = scheduler(db, clock)
        start.wait()
        for _ in range(20):
            made.append(asyncio.run(db.write(making.make_due))[0])

    try:
        threads = [threading.Thread(target=look, args=(db,)) for db in databases]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for db in databases:
            db.close()

    assert sum(len(ids) for ids in made) == 1
    [digest] = digest_rows(store)
    assert titles(store, digest["id"]) == ["Release 3", "Release 2", "Release 1"]


def test_the_unique_index_refuses_a_second_digest_of_a_period(store: Store) -> None:
    digest_route(store, MONDAY_NINE)
    release = add_release(store, 1)
    store.add_delivery(release, HERE, now=1.0, state=COLLECTED)
    assert store.make_digest(HERE, period="2026-03-02T09:00:00+01:00", up_to=2.0, now=2.0)

    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute(
            "INSERT INTO deliveries (release_id, team, channel, state, attempts, due_at, "
            "created_at, kind, period) VALUES (?, '', ?, 'pending', 0, 3, 3, 'digest', ?)",
            [release, POLICY_NEWS, "2026-03-02T09:00:00+01:00"],
        )


def test_a_digest_that_fails_half_way_leaves_its_releases_collected_for_the_next_look(
    store: Store,
) -> None:
    digest_route(store, MONDAY_NINE)
    for n in (1, 2):
        store.add_delivery(add_release(store, n), HERE, now=1.0, state=COLLECTED)
    # The disk fills up (or the process dies) after the digest row is written.
    store.db.execute(
        "CREATE TRIGGER full BEFORE UPDATE OF digest_id ON deliveries "
        "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )

    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        store.make_digest(HERE, period="p", up_to=2.0, now=2.0)

    assert digest_rows(store) == []
    assert store.collected_count(HERE) == 2
    store.db.execute("DROP TRIGGER full")
    assert store.make_digest(HERE, period="p", up_to=2.0, now=2.0) is not None
    assert store.collected_count(HERE) == 0


def test_a_release_collected_after_the_boundary_waits_for_the_next_period(store: Store) -> None:
    digest_route(store, MONDAY_NINE)
    early, late = add_release(store, 1), add_release(store, 2)
    store.add_delivery(early, HERE, now=100.0, state=COLLECTED)
    store.add_delivery(late, HERE, now=201.0, state=COLLECTED)  # polled after the boundary

    first = store.make_digest(HERE, period="one", up_to=200.0, now=205.0)
    second = store.make_digest(HERE, period="two", up_to=300.0, now=305.0)

    assert first is not None and second is not None
    assert titles(store, first) == ["Release 1"]
    assert titles(store, second) == ["Release 2"]


def test_a_flood_an_admin_announces_waits_for_the_digest_of_a_digest_channel(
    store: Store,
) -> None:
    digest_route(store, MONDAY_NINE)
    Routes(store, team=SINGLE_WORKSPACE, clock=lambda: 1.0).set(PRESS_NEWS, [], by=ADMIN)
    release = add_release(store, 1)
    for channel in (POLICY_NEWS, PRESS_NEWS):
        store.add_delivery(release, Place(SINGLE_WORKSPACE, channel), now=1.0, held_because="x")
    assert states(store) == [(release, HELD)]

    store.announce_held(team=SINGLE_WORKSPACE, by=ADMIN, now=50.0)

    assert states(store, POLICY_NEWS) == [(release, COLLECTED)]
    assert states(store, PRESS_NEWS) == [(release, PENDING)]
    # Collected as it was announced: for the next boundary, not one already past
    assert store.make_digest(HERE, period="past", up_to=49.0, now=60.0) is None
    assert store.make_digest(HERE, period="next", up_to=51.0, now=60.0) is not None


def test_a_route_moved_to_another_channel_takes_what_it_collected_along(store: Store) -> None:
    digest_route(store, MONDAY_NINE)
    release = add_release(store, 1)
    store.add_delivery(release, HERE, now=1.0, state=COLLECTED)
    routes = Routes(store, team=SINGLE_WORKSPACE, clock=lambda: 2.0)
    [route] = store.routes(team=SINGLE_WORKSPACE)

    routes.set(PRESS_NEWS, [], by=ADMIN, replacing=POLICY_NEWS, seen=route.updated_at)

    [moved] = store.routes(team=SINGLE_WORKSPACE)
    assert (moved.channel, moved.schedule) == (PRESS_NEWS, MONDAY_NINE)
    assert states(store, PRESS_NEWS) == [(release, COLLECTED)]
    assert states(store, POLICY_NEWS) == []


def test_digest_counts_say_routes_by_mode_what_waits_and_when_the_next_digest_is(
    store: Store,
) -> None:
    digest_route(store, MONDAY_NINE)
    Routes(store, team=SINGLE_WORKSPACE, clock=lambda: 1.0).set(PRESS_NEWS, [], by=ADMIN)
    now = datetime.fromisoformat("2026-03-04T12:00:00+00:00").timestamp()
    assert health(store, "feed", team=SINGLE_WORKSPACE, now=now)["digests"] == {
        "routes": {"immediate": 1, "daily": 0, "weekly": 1},
        "waiting": 0,
        "next": None,  # nothing to send
    }
    store.add_delivery(add_release(store, 1), HERE, now=1.0, state=COLLECTED)

    assert health(store, "feed", team=None, now=now)["digests"] == {
        "routes": {"immediate": 1, "daily": 0, "weekly": 1},
        "waiting": 1,
        "next": "2026-03-09T08:00:00+00:00",  # Monday 09:00 in Berlin
    }
    assert store.digest_counts("T0OTHER01")["routes"] == {
        "immediate": 0,
        "daily": 0,
        "weekly": 0,
    }


def test_a_digest_lists_its_releases_newest_first(store: Store) -> None:
    digest_route(store, MONDAY_NINE)
    for n in (2, 5, 3):
        store.add_delivery(add_release(store, n), HERE, now=1.0, state=COLLECTED)

    digest = store.make_digest(HERE, period="p", up_to=2.0, now=2.0)

    assert digest is not None
    assert titles(store, digest) == ["Release 5", "Release 3", "Release 2"]
    delivery = store.delivery(digest)
    assert delivery is not None and (delivery.kind, delivery.state) == (DIGEST, PENDING)


# -- the message ----------------------------------------------------------------------------


def test_a_long_digest_lists_ten_releases_and_counts_the_rest_within_slacks_limits() -> None:
    hostile = [
        Release(
            id=str(n),
            title=f"<!channel> Release {n} & *bold* " + "x" * 600,
            link=f"https://www.isscr.org/isscr-news/{n}|<x>",
            published=datetime(2026, 3, 1, tzinfo=UTC) + timedelta(days=n),
            categories=("<!here>", "Policy"),
            author="<@U0ADMIN01>",
        )
        for n in range(14, 0, -1)  # newest first
    ]

    message = digest_message(hostile, period="2026-03-16T09:00:00+01:00")

    assert message_error(message) is None
    texts = mrkdwn_texts(message["blocks"])
    assert texts[0] == (
        "14 new releases since the last digest, to "
        "<!date^1773648000^{date_short_pretty} at {time}|Mon 16 Mar 2026 9:00>"
    )
    listed = [text for text in texts if text.startswith("*<https://")]
    assert len(listed) == 10 and "Release 14" in listed[0] and "Release 5" in listed[-1]
    assert texts[-1] == (
        "…and 4 more: `/isscr-news after:2026-03-02 before:2026-03-06` covers the days they "
        "were published."
    )
    for dangerous in ("<!channel", "<!here", "<@U0ADMIN01", "|<x>"):
        assert dangerous not in json.dumps([*texts, message["text"]]), dangerous
    assert message["text"] == "ISSCR News digest: 14 new releases"
    assert message["metadata"] == {
        "event_type": "isscr_news_digest",
        "event_payload": {"period": "2026-03-16T09:00:00+01:00"},
    }


def test_a_digest_past_what_a_search_shows_says_so_and_one_with_undated_releases_names_none() -> (
    None
):
    def release(n: int, published: datetime | None) -> Release:
        return Release(id=str(n), title=f"Release {n}", link=f"https://x/{n}", published=published)

    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    many = [release(n, start + timedelta(hours=n)) for n in range(215, 0, -1)]
    undated = [*many[:12], release(0, None)]

    more = mrkdwn_texts(digest_message(many, period="p")["blocks"])[-1]
    plain = mrkdwn_texts(digest_message(undated, period="p")["blocks"])[-1]

    assert more == (
        "…and 205 more: `/isscr-news after:2026-01-01 before:2026-01-11` covers the days they "
        "were published; a search shows 200 releases at most, so add words or a `category:` "
        "to narrow it."
    )
    assert plain == "…and 3 more."


def test_a_short_digest_lists_every_release_and_counts_none() -> None:
    one = Release(id="1", title="Release 1", link="https://www.isscr.org/1")

    message = digest_message([one], period="2026-03-02T09:00:00.123456+01:00")

    assert message_error(message) is None
    texts = mrkdwn_texts(message["blocks"])
    assert texts[0].startswith("1 new release since the last digest, to <!date^")
    assert texts[1:] == ["*<https://www.isscr.org/1|Release 1>*", "ISSCR News"]


# -- real processes -------------------------------------------------------------------------


async def test_two_bot_processes_started_after_a_missed_digest_post_it_once(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO")  # ANNOUNCE_CHANNEL: every category
    first = await BotProcess(env, tmp_path).start()
    processes.append(first)
    store = Store(tmp_path / "bot.db")
    await eventually(lambda: store.release_count() == 3, timeout=30)
    assert await first.terminate() == 0
    # While it was down, a daily digest at this hour (UTC) fell due, with three releases
    # collected before it.
    now = time.time()
    hour = datetime.fromtimestamp(now, UTC).hour
    boundary = latest_boundary(Schedule(DAILY, hour, "UTC"), now)
    Routes(store, team=SINGLE_WORKSPACE).schedule(CHANNEL, Schedule(DAILY, hour, "UTC"), by=ADMIN)
    for n in (1, 2, 3):
        place = Place(SINGLE_WORKSPACE, CHANNEL)
        store.add_delivery(make_item(n).item_id, place, now=now - 3600, state=COLLECTED)
    store.close()

    processes.extend(
        await asyncio.gather(BotProcess(env, tmp_path).start(), BotProcess(env, tmp_path).start())
    )

    await eventually(lambda: len(slack.messages[CHANNEL]) >= 1, timeout=60)
    await asyncio.sleep(2)  # a second digest would show up here
    [message] = slack.messages[CHANNEL]
    assert message["metadata"]["event_payload"] == {"period": period_key(boundary)}
    assert listed(message) == ["Release 3", "Release 2", "Release 1"]
    made = [bot.output().count(" made for ") for bot in processes[1:]]
    assert sorted(made) == [0, 1], [bot.output() for bot in processes[1:]]


async def test_the_admin_home_says_releases_wait_for_the_digest_rather_than_nothing_posted(
    bot: InspectedBot, slack: SlackApi, feed: FeedServer
) -> None:
    await set_weekly_digest(bot)
    before = await open_home(bot, slack, ADMIN)
    await collect_three(bot, feed)
    after = await open_home(bot, slack, ADMIN)

    assert "The next new release goes into the next digest." in before
    assert "3 new releases collected for the next digest, due <!date^" in after
    assert "*Digests*: 0 daily channels, 1 weekly channel; 3 releases waiting" in after


async def test_a_release_corrected_after_its_digest_went_out_updates_the_digest_once(
    bot: InspectedBot, slack: SlackApi, feed: FeedServer, clock: Clock
) -> None:
    await set_weekly_digest(bot)
    await collect_three(bot, feed)
    clock.now = next_boundary(MONDAY_NINE, time.time()).timestamp()
    bot.digests.look_now()
    await eventually(lambda: len(slack.messages[POLICY_NEWS]) == 1)
    [message] = slack.messages[POLICY_NEWS]
    await eventually(lambda: digest_rows(bot.store)[0]["state"] == "sent")

    feed.items[1] = make_item(5, title="Release 5, corrected")
    await eventually(lambda: message.get("updates") == 1)
    polls = len(feed.requests)
    await eventually(lambda: len(feed.requests) >= polls + 2)  # seen again: no second update

    assert message.get("updates") == 1
    assert listed(message) == ["Release 6", "Release 5, corrected", "Release 4"]
    assert "Updated" in json.dumps(message["blocks"][-1])
    # Still the digest of its period: a restart would recognise it.
    assert message["metadata"]["event_type"] == "isscr_news_digest"
    assert len(slack.messages[POLICY_NEWS]) == 1
