"""Admins route categories to channels from Slack; members cannot; every change is audited."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable

import pytest

from bot.models import SINGLE_WORKSPACE
from bot.runtime import Bot
from bot.settings import Settings
from standins.feed_server import Fault, FeedServer, make_item
from standins.slack_api import FakeResponse, SlackApi
from standins.slack_requests import home_action_body, send_to_slack_app, slash_command_body
from tests.conftest import CHANNEL, eventually, posted_ids
from tests.test_bot import InspectedBot, events_url, running

ADMIN, MEMBER, EXTRA = "U0ADMIN001", "U0MEMBER01", "U0EXTRA001"
POLICY_NEWS, PRESS_NEWS, SECRET = "C0POLICY01", "C0PRESS001", "C0PRIVAT01"
INVITED = "C0INVITED1"  # a private channel the bot was already invited to


@pytest.fixture
async def feed() -> AsyncIterator[FeedServer]:
    items = [
        make_item(3, categories=["Statement"]),
        make_item(2, categories=["Press Release"]),
        make_item(1, categories=["Policy"]),
    ]
    async with FeedServer(items) as server:
        yield server


@pytest.fixture
async def bot(
    make_settings: Callable[..., Settings], slack: SlackApi, feed: FeedServer
) -> AsyncIterator[Bot]:
    slack.add_user(ADMIN, is_admin=True)
    slack.add_user(MEMBER)
    slack.add_channel(POLICY_NEWS, member=False, name="policy-news")
    slack.add_channel(PRESS_NEWS, member=False, name="press-news")
    slack.add_channel(SECRET, private=True, member=False, name="secret")
    slack.add_channel(INVITED, private=True, name="invited")
    # Only the tokens: the channels are chosen by routes (none yet).
    async with running(make_settings(ADMIN_USER_IDS=EXTRA, ANNOUNCE_CHANNEL="")) as started:
        await eventually(lambda: started.store.release_count() == 3)
        yield started


# What our own answers may contain between < and >: channels, members and dates we name.
_OUR_MARKUP = re.compile(r"<(?:#[CG][A-Z0-9]+|@[UW][A-Z0-9]+|!date\^[^<>]*)>")
_ENTITY = re.compile(r"&(?:amp|lt|gt);")


def assert_escaped(mrkdwn: str) -> None:
    """Fail unless every `<…>` in `mrkdwn` is markup of ours and every `&` starts an entity:
    text a user typed could otherwise ping @channel, mention someone or disguise a link."""
    rest = _ENTITY.sub("", _OUR_MARKUP.sub("", mrkdwn))
    assert not set(rest) & set("<>&"), mrkdwn


async def command(bot: Bot, text: str, user: str = ADMIN) -> str:
    """Send `/isscr-news <text>` as `user`; the answer's text, as shown (its blocks). The
    notification text beside them is checked to be escaped, like the blocks."""
    status, answer = await send_to_slack_app(events_url(bot), slash_command_body(text, user=user))
    assert status == 200
    shown = [block["text"]["text"] for block in answer["blocks"]]
    for mrkdwn in (answer["text"], *shown):
        assert_escaped(mrkdwn)
    return "\n".join(shown)


def feed_polls(feed: FeedServer) -> int:
    """Requests for the feed itself: the archive backfill's pages, fetched in the background
    after the first poll, are not polls."""
    return len(feed.requests) - len(feed.json_requests())


def at(channel: str, name: str) -> str:
    return f"<#{channel}|{name}>"  # how Slack sends #name with should_escape


async def test_admin_routes_categories_and_new_releases_land_only_where_routed(
    bot: Bot, slack: SlackApi, feed: FeedServer
) -> None:
    policy = await command(bot, f"route {at(POLICY_NEWS, 'policy-news')} policy")
    press = await command(bot, f"route {at(PRESS_NEWS, 'press-news')} Press Release")

    assert policy == (
        f"<#{POLICY_NEWS}> now receives *Policy*. I joined the channel.\n"
        "*Where ISSCR news goes*\n"
        f"• <#{POLICY_NEWS}> ← *Policy*\n"
        "⚠ No channel takes *Press Release* or *Statement*: releases only in those are stored "
        "and searchable but not announced. Route them to a channel, or give one channel every "
        "category."
    )
    table = (
        "*Where ISSCR news goes*\n"
        f"• <#{POLICY_NEWS}> ← *Policy*\n"
        f"• <#{PRESS_NEWS}> ← *Press Release*\n"
        "⚠ No channel takes *Statement*: releases only in that category are stored and "
        "searchable but not announced. Route them to a channel, or give one channel every "
        "category."
    )
    assert press == f"<#{PRESS_NEWS}> now receives *Press Release*. I joined the channel.\n{table}"
    assert await command(bot, "routes") == table

    feed.items[:0] = [
        make_item(7, categories=["Statement"]),
        make_item(6, categories=["Policy", "Press Release"]),
        make_item(5, categories=["Press Release"]),
        make_item(4, categories=["Policy"]),
    ]
    await eventually(lambda: len(slack.messages[POLICY_NEWS]) == 2)
    await eventually(lambda: len(slack.messages[PRESS_NEWS]) == 2)
    await eventually(lambda: bot.store.release_count() == 7 and not bot.store.channels_with_work())

    assert posted_ids(slack, POLICY_NEWS) == [make_item(4).item_id, make_item(6).item_id]
    assert posted_ids(slack, PRESS_NEWS) == [make_item(5).item_id, make_item(6).item_id]
    assert slack.messages[CHANNEL] == []  # ANNOUNCE_CHANNEL is not set here
    changes = [
        (c.user_id, c.action, c.detail) for c in bot.store.recent_changes(team=SINGLE_WORKSPACE)
    ]
    assert changes == [
        (ADMIN, "route", f"{PRESS_NEWS}: routed Press Release to {PRESS_NEWS}"),
        (ADMIN, "route", f"{POLICY_NEWS}: routed Policy to {POLICY_NEWS}"),
    ]


async def test_a_channel_taking_both_categories_of_a_release_gets_it_once(
    bot: Bot, slack: SlackApi, feed: FeedServer
) -> None:
    await command(bot, f"route {at(POLICY_NEWS, 'policy-news')} Policy, Press Release")

    feed.items[:0] = [
        make_item(5, categories=["Press Release"]),
        make_item(4, categories=["Policy", "Press Release"]),
    ]
    await eventually(lambda: bot.store.release_count() == 5 and not bot.store.channels_with_work())
    polls = feed_polls(feed)
    await eventually(lambda: feed_polls(feed) >= polls + 2)  # a duplicate would show by now

    assert posted_ids(slack, POLICY_NEWS) == [make_item(4).item_id, make_item(5).item_id]
    assert bot.store.delivery_counts_by_channel(team=SINGLE_WORKSPACE) == {
        POLICY_NEWS: {"waiting": 0, "sent": 2, "failed": 0}
    }


async def test_a_member_is_refused_politely_and_nothing_changes(bot: Bot, slack: SlackApi) -> None:
    refusals = {
        f"route {at(POLICY_NEWS, 'x')} Policy": "can change where ISSCR news is announced; "
        "nothing was changed.",
        f"unroute\t{at(POLICY_NEWS, 'x')}": "can change where ISSCR news is announced; nothing "
        "was changed.",
        "routes": "can see where ISSCR news goes and how the bot is doing.",
        "status": "can see where ISSCR news goes and how the bot is doing.",
        "poll": "can have the feed polled on request; it was not polled.",
    }
    for text, refusal in refusals.items():
        answer = await command(bot, text, user=MEMBER)
        assert answer.startswith(f"Only workspace admins and owners {refusal} Ask one"), text
        verb = text.split()[0]
        assert answer.endswith(f'put it in quotes: `/isscr-news "{verb}"`.'), text
    # A search that merely starts with one of those words is a search
    for text in ("status of release", "poll release", '"status"'):
        status, searched = await send_to_slack_app(
            events_url(bot), slash_command_body(text, user=MEMBER)
        )
        heading = searched["blocks"][0]["text"]["text"]
        assert status == 200 and " match" in heading, text
        assert "admins" not in json.dumps(searched), text

    assert bot.store.routes(team=SINGLE_WORKSPACE) == []
    assert bot.store.recent_changes(team=SINGLE_WORKSPACE) == []
    assert len(slack.calls_to("users.info")) == 5  # asked every time, never cached


async def test_admin_user_ids_may_configure_without_being_workspace_admins(
    bot: Bot, slack: SlackApi
) -> None:
    answer = await command(bot, f"route {at(POLICY_NEWS, 'x')}", user=EXTRA)

    assert answer.splitlines()[0] == (
        f"<#{POLICY_NEWS}> now receives every category. I joined the channel."
    )
    assert slack.calls_to("users.info") == []


async def test_rights_that_cannot_be_checked_change_nothing(bot: Bot, slack: SlackApi) -> None:
    slack.fail_next("users.info", FakeResponse.server_error(503), times=3)

    answer = await command(bot, f"route {at(POLICY_NEWS, 'x')} Policy")

    assert answer.startswith("I couldn't check your admin rights just now")
    assert bot.store.routes(team=SINGLE_WORKSPACE) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"route {at(POLICY_NEWS, 'x')} Polcy",
            "There is no category “Polcy”. Did you mean Policy?",
        ),
        (f"route {at(POLICY_NEWS, 'x')} <!channel>", "There is no category “&lt;!channel&gt;”."),
        (
            f"route {at(POLICY_NEWS, 'x')} <@U0MEMBER01|x>",
            "There is no category “&lt;@U0MEMBER01|x&gt;”.",
        ),
        ("route <!channel> Policy", "“&lt;!channel&gt;” is not a channel."),
        ("route policy-news Policy", "“policy-news” is not a channel. Type # and pick"),
        ("route", "“(nothing)” is not a channel."),
        (f"unroute {at(POLICY_NEWS, 'x')}", "That channel has no route"),
    ],
)
async def test_bad_route_commands_get_a_clear_answer_and_save_nothing(
    bot: Bot, text: str, expected: str
) -> None:
    answer = await command(bot, text)

    assert expected in answer
    assert "<!channel>" not in answer
    assert bot.store.routes(team=SINGLE_WORKSPACE) == []


async def test_a_private_channel_is_saved_with_a_request_to_invite_the_bot(
    bot: Bot, slack: SlackApi
) -> None:
    answer = await command(bot, f"route {at(SECRET, 'secret')} Statement, policy")

    assert answer.splitlines()[0] == (
        f"<#{SECRET}> now receives *Statement* and *Policy*. It is private (or I cannot see "
        "it): type `/invite @ISSCR News` in the channel, or the announcements there will fail."
    )
    assert [(r.channel, r.categories) for r in bot.store.routes(team=SINGLE_WORKSPACE)] == [
        (SECRET, ("Statement", "Policy"))
    ]


async def test_a_private_channel_the_bot_is_already_in_needs_no_invitation(
    bot: Bot, slack: SlackApi
) -> None:
    answer = await command(bot, f"route {at(INVITED, 'invited')} Policy")

    assert answer.splitlines()[0] == f"<#{INVITED}> now receives *Policy*."
    [looked] = slack.calls_to("conversations.history")
    assert looked.params["channel"] == INVITED


async def test_routes_add_up_and_unroute_takes_away(bot: Bot) -> None:
    await command(bot, f"route {at(POLICY_NEWS, 'x')} Policy")
    added = await command(bot, f"route {at(POLICY_NEWS, 'x')} statement press release")
    again = await command(bot, f"route {at(POLICY_NEWS, 'x')} Policy")
    table = await command(bot, "routes")
    narrowed = await command(bot, f"unroute {at(POLICY_NEWS, 'x')} Statement")
    removed = await command(bot, f"unroute {at(POLICY_NEWS, 'x')}")
    empty = await command(bot, "routes")

    # Every answer ends with the whole table after the change.
    assert table == (
        f"*Where ISSCR news goes*\n• <#{POLICY_NEWS}> ← *Policy*, *Statement* and *Press Release*"
    )
    assert added == (
        f"<#{POLICY_NEWS}> now receives *Policy*, *Statement* and *Press Release*.\n{table}"
    )
    assert again == (
        f"<#{POLICY_NEWS}> already receives *Policy*, *Statement* and *Press Release*.\n{table}"
    )
    assert narrowed.splitlines()[:3] == [
        f"<#{POLICY_NEWS}> no longer receives *Statement*; it still receives *Policy* and "
        "*Press Release*.",
        "*Where ISSCR news goes*",
        f"• <#{POLICY_NEWS}> ← *Policy* and *Press Release*",
    ]
    assert narrowed.splitlines()[3].startswith("⚠ No channel takes *Statement*: releases only")
    assert removed == (
        f"<#{POLICY_NEWS}> no longer receives ISSCR news.\n*No channel receives ISSCR news "
        "yet.* New releases are stored and searchable, but announced nowhere. Pick a channel on "
        "the app's Home, or type `/isscr-news route #channel` (every category goes there)."
    )
    assert empty == removed.splitlines()[1]
    actions = [c.action for c in reversed(bot.store.recent_changes(team=SINGLE_WORKSPACE))]
    assert actions == ["route", "route", "unroute", "unroute"]


async def test_an_admin_command_meeting_an_error_of_the_database_is_answered_and_logged_once(
    bot: InspectedBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    other_program = sqlite3.connect(bot.settings.database_path, isolation_level=None)
    other_program.execute("DROP TABLE changes")  # the audit log, which a change is written to
    other_program.close()

    answer = await command(bot, f"route {at(POLICY_NEWS, 'x')} Policy")

    assert answer == (
        "That command hit an error in the bot, so it may not have been done; the error is in "
        "the bot's log. `/isscr-news routes` shows where news goes now."
    )
    assert bot.store.routes(team=SINGLE_WORKSPACE) == []  # its transaction rolled back
    [logged] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert logged.exc_info is not None and "no such table: changes" in str(logged.exc_info[1])
    assert "route" in logged.getMessage()


async def test_status_and_poll_now(
    make_settings: Callable[..., Settings], slack: SlackApi, feed: FeedServer
) -> None:
    slack.add_user(ADMIN, is_admin=True)
    async with running(make_settings(POLL_INTERVAL="300")) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        polls = feed_polls(feed)
        status = await command(bot, "status")
        polled = await command(bot, "poll")
        await eventually(lambda: feed_polls(feed) == polls + 1)
        changes = [(c.user_id, c.action) for c in bot.store.recent_changes(team=SINGLE_WORKSPACE)]

    assert changes == [(ADMIN, "poll"), ("ANNOUNCE_CHANNEL", "route")]  # the seed, then the poll
    # Times in each reader's own time zone, with the UTC time for clients that cannot
    assert re.match(
        r"\*Feed\*: last poll <!date\^\d+\^\{date_short_pretty\} at \{time\}\|20", status
    )
    assert "*Releases stored*: 3" in status
    assert polled == "Polling the ISSCR feed now; anything new is announced in a moment."


@pytest.mark.parametrize("space", ["\t", "\n", "\u00a0"], ids=["tab", "newline", "no-break"])
async def test_any_space_after_the_verb_separates_it_and_route_never_removes(
    bot: Bot, space: str
) -> None:
    await command(bot, f"route {at(PRESS_NEWS, 'p')} Press Release")

    twice = await command(bot, f"route{space}{at(POLICY_NEWS, 'x')} {at(PRESS_NEWS, 'p')}")
    added = await command(bot, f"route{space}{at(POLICY_NEWS, 'x')}{space}Policy")

    assert twice == (
        "Name one channel, then its categories, e.g. `/isscr-news route #policy-news Policy`; "
        "to send releases to two channels, route each one on its own."
    )
    assert added.splitlines()[0] == f"<#{POLICY_NEWS}> now receives *Policy*. I joined the channel."
    assert [(r.channel, r.categories) for r in bot.store.routes(team=SINGLE_WORKSPACE)] == [
        (POLICY_NEWS, ("Policy",)),
        (PRESS_NEWS, ("Press Release",)),
    ]


async def test_quoted_and_escaped_category_names_are_read_as_typed(
    bot: Bot, feed: FeedServer
) -> None:
    feed.items.insert(0, make_item(4, categories=["R&D <Europe>"]))
    await eventually(lambda: bot.store.release_count() == 4)
    # As Slack sends them with should_escape: & < > as entities; quotes straight or curly
    answer = await command(
        bot, f'route {at(POLICY_NEWS, "x")} "Press Release" “Policy”, ‘r&amp;d &lt;europe&gt;’'
    )
    unknown = await command(bot, f"route {at(POLICY_NEWS, 'x')} “Fish &amp; Chips”")

    assert answer.splitlines()[0] == (
        f"<#{POLICY_NEWS}> now receives *Press Release*, *Policy* and *R&amp;D &lt;Europe&gt;*. "
        "I joined the channel."
    )
    assert [(r.channel, r.categories) for r in bot.store.routes(team=SINGLE_WORKSPACE)] == [
        (POLICY_NEWS, ("Press Release", "Policy", "R&D <Europe>"))
    ]
    assert unknown.startswith("There is no category “Fish &amp; Chips”.")  # escaped once


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"route {at(POLICY_NEWS, 'x')} all",
            "To send every category to a channel, leave the categories out: "
            "`/isscr-news route #channel`.",
        ),
        (
            f"unroute {at(POLICY_NEWS, 'x')} All categories",
            "To stop sending anything to a channel, leave the categories out: "
            "`/isscr-news unroute #channel`.",
        ),
    ],
)
async def test_naming_all_categories_gets_a_hint_to_leave_them_out(
    bot: Bot, text: str, expected: str
) -> None:
    await command(bot, f"route {at(POLICY_NEWS, 'x')} Policy")

    assert await command(bot, text) == expected
    assert [(r.channel, r.categories) for r in bot.store.routes(team=SINGLE_WORKSPACE)] == [
        (POLICY_NEWS, ("Policy",))
    ]


async def test_releases_without_a_category_are_flagged_when_every_route_names_categories(
    bot: Bot, slack: SlackApi, feed: FeedServer
) -> None:
    feed.items.insert(0, make_item(4, categories=[]))
    await eventually(lambda: bot.store.release_count() == 4)

    some = await command(bot, f"route {at(POLICY_NEWS, 'x')} Policy")
    named = await command(bot, f"route {at(POLICY_NEWS, 'x')} Press Release, Statement")
    table = await command(bot, "routes")
    every = await command(bot, f"route {at(PRESS_NEWS, 'p')}")

    assert some.splitlines()[-1] == (
        "⚠ No channel takes *Press Release* or *Statement*, nor releases without a category: "
        "those are stored and searchable but not announced. Route the categories to a channel, "
        "or give one channel every category."
    )
    warning = (
        "⚠ No channel takes releases without a category: they are stored and searchable but "
        "not announced. Give one channel every category to announce them."
    )
    assert named.splitlines()[-1] == warning and table.splitlines()[-1] == warning
    assert "⚠" not in every


async def test_workspace_owners_may_configure(bot: Bot, slack: SlackApi) -> None:
    owner = "U0OWNER001"
    slack.add_user(owner, is_owner=True)

    answer = await command(bot, f"route {at(POLICY_NEWS, 'x')} Policy", user=owner)

    assert answer.startswith(f"<#{POLICY_NEWS}> now receives *Policy*.")
    assert [(r.channel, r.updated_by) for r in bot.store.routes(team=SINGLE_WORKSPACE)] == [
        (POLICY_NEWS, owner)
    ]


async def test_after_the_last_route_goes_new_releases_are_stored_but_posted_nowhere(
    bot: Bot, slack: SlackApi, feed: FeedServer
) -> None:
    await command(bot, f"route {at(POLICY_NEWS, 'x')} Policy")
    feed.items.insert(0, make_item(4, categories=["Policy"]))
    await eventually(lambda: len(slack.messages[POLICY_NEWS]) == 1)

    await command(bot, f"unroute {at(POLICY_NEWS, 'x')}")
    feed.items.insert(0, make_item(5, categories=["Policy"]))
    await eventually(lambda: bot.store.release_count() == 5)
    await asyncio.sleep(0.3)  # a delivery queued with the release would be posted by now

    assert posted_ids(slack, POLICY_NEWS) == [make_item(4).item_id]
    assert slack.messages[CHANNEL] == []
    assert (
        bot.store.delivery_counts(team=SINGLE_WORKSPACE)["pending"] == 0
    )  # nothing queued for later either
    assert await command(bot, "routes") == (
        "*No channel receives ISSCR news yet.* New releases are stored and searchable, but "
        "announced nowhere. Pick a channel on the app's Home, or type `/isscr-news route "
        "#channel` (every category goes there)."
    )


async def test_status_shows_the_last_feed_error_and_deliveries_per_channel(
    bot: Bot, slack: SlackApi, feed: FeedServer
) -> None:
    archived = "C0ARCHIVE1"
    slack.add_channel(archived, archived=True, name="old-news")
    await command(bot, f"route {at(archived, 'old-news')} Policy")
    await command(bot, f"route {at(PRESS_NEWS, 'press-news')} Statement")
    feed.items.insert(0, make_item(4, categories=["Policy"]))
    await eventually(lambda: bot.store.delivery_counts(team=SINGLE_WORKSPACE)["failed"] == 1)
    # Slack fails every post from now on: the next delivery keeps waiting
    slack.fail_next("chat.postMessage", FakeResponse.server_error(503), times=1000)
    feed.items.insert(0, make_item(5, categories=["Statement"]))
    await eventually(
        lambda: (
            bot.store.delivery_counts_by_channel(team=SINGLE_WORKSPACE)
            .get(PRESS_NEWS, {})
            .get("waiting")
            == 1
        )
    )
    feed.fail_always(Fault.status(503))
    await eventually(lambda: bot.store.feed_status(feed.url).failures >= 1)

    status = (await command(bot, "status")).splitlines()

    [error] = [line for line in status if line.startswith("*Last feed error*")]
    assert re.fullmatch(r"\*Last feed error\* \(<!date\^\d+\^[^>]*>\): .*503.*", error)
    assert f"• <#{archived}>: 0 sent, 0 waiting, 1 failed" in status
    assert f"• <#{PRESS_NEWS}>: 0 sent, 1 waiting, 0 failed" in status
    assert f"⚠ <#{archived}>: is_archived: the channel is archived" in status


async def test_a_members_poll_does_not_poll(
    make_settings: Callable[..., Settings], slack: SlackApi, feed: FeedServer
) -> None:
    slack.add_user(ADMIN, is_admin=True)
    slack.add_user(MEMBER)
    async with running(make_settings(POLL_INTERVAL="300")) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        polls = feed_polls(feed)

        await command(bot, "poll", user=MEMBER)
        status, _ = await send_to_slack_app(
            events_url(bot), home_action_body("admin_poll_now", user=MEMBER)
        )
        assert status == 200
        await asyncio.sleep(0.5)  # a poll started by either would have reached the feed
        after_members = feed_polls(feed)
        await command(bot, "poll")  # an admin's does, at once
        await eventually(lambda: feed_polls(feed) == polls + 1)
        changes = [(c.user_id, c.action) for c in bot.store.recent_changes(team=SINGLE_WORKSPACE)]

    assert after_members == polls
    assert changes == [(ADMIN, "poll"), ("ANNOUNCE_CHANNEL", "route")]  # the seed, then the poll
