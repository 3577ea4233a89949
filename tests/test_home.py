"""The App Home: admins configure routes with buttons and forms; members see the news."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.models import SINGLE_WORKSPACE
from bot.runtime import Bot
from bot.settings import Settings
from bot.slack.blocks.admin import SETUP_CHANNEL
from standins.feed_server import FeedServer, make_item
from standins.slack_api import FakeResponse, SlackApi
from standins.slack_requests import (
    home_action_body,
    send_to_slack_app,
    sign,
    slash_command_body,
    view_submission_body,
)
from tests.conftest import CHANNEL, eventually, posted_ids
from tests.test_admin import ADMIN, INVITED, MEMBER, POLICY_NEWS, PRESS_NEWS, SECRET, feed_polls
from tests.test_admin import feed as feed  # the feed fixture: one release per category
from tests.test_bot import events_url, running


@pytest.fixture
async def bot(make_settings: Callable[..., Settings], slack: SlackApi) -> AsyncIterator[Bot]:
    slack.add_user(ADMIN, is_admin=True)
    slack.add_user(MEMBER)
    slack.add_channel(POLICY_NEWS, member=False, name="policy-news")
    slack.add_channel(PRESS_NEWS, name="press-news")
    slack.add_channel(SECRET, private=True, member=False, name="secret")
    slack.add_channel(INVITED, private=True, name="invited")
    # Only the tokens: the channels are chosen on the Home (no route yet).
    async with running(make_settings(ANNOUNCE_CHANNEL="")) as started:
        await eventually(lambda: started.store.release_count() == 3)
        yield started


async def post(bot: Bot, body: bytes) -> Any:
    status, answer = await send_to_slack_app(events_url(bot), body)
    assert status == 200
    return answer


async def choose_first_channel(bot: Bot, channel: str, user: str = ADMIN) -> None:
    """Pick the channel in the admin Home's setup card, as Slack sends that choice."""
    await post(bot, home_action_body(SETUP_CHANNEL, user=user, selected_conversation=channel))


async def open_home(bot: Bot, slack: SlackApi, user: str) -> str:
    event = {
        "token": "legacy",
        "team_id": "T0TEAM0001",
        "api_app_id": "A0APP00001",
        "type": "event_callback",
        "event_id": f"Ev{time.monotonic_ns()}",
        "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": user, "channel": "D0DM", "tab": "home"},
    }
    slack.home_views.pop(user, None)
    status, _ = await send_to_slack_app(
        events_url(bot), json.dumps(event).encode(), content_type="application/json"
    )
    assert status == 200
    await eventually(lambda: user in slack.home_views)
    return json.dumps(slack.home_views[user], ensure_ascii=False)


def notice(slack: SlackApi, user: str = ADMIN) -> str | None:
    """The line at the top of `user`'s Home saying what became of their last form."""
    second = slack.home_views[user]["blocks"][1]
    return second["text"]["text"] if second["type"] == "section" else None


def buttons(view: str) -> list[str]:
    return [
        element["text"]["text"]
        for block in json.loads(view)["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["type"] == "button"  # not the setup card's channel menu
    ]


async def test_admins_see_settings_and_members_see_the_news(bot: Bot, slack: SlackApi) -> None:
    await post(
        bot, slash_command_body(f"route <#{PRESS_NEWS}|press-news> Press Release", user=ADMIN)
    )

    admin_view = await open_home(bot, slack, ADMIN)
    member_view = await open_home(bot, slack, MEMBER)

    assert "ISSCR News settings" in admin_view
    assert f"<#{PRESS_NEWS}> ← *Press Release*" in admin_view
    assert buttons(admin_view) == [
        "Edit", "Remove", "Add route", "Poll now", "Send a test announcement"
    ]  # fmt: skip
    assert "*Feed*: last poll" in admin_view and "*Recent changes*" in admin_view
    assert f"<@{ADMIN}> routed Press Release to <#{PRESS_NEWS}> — <!date^" in admin_view
    assert "Release 3" in admin_view  # and what members see, below
    assert "settings" not in member_view and buttons(member_view) == []
    assert "Release 3" in member_view and "/isscr-news embryo model" in member_view


async def test_the_members_home_opens_with_how_to_search_their_alerts_then_the_latest_releases(
    bot: Bot, slack: SlackApi
) -> None:
    await open_home(bot, slack, MEMBER)

    shown = slack.home_views[MEMBER]["blocks"]
    how = shown[0]["text"]["text"]
    assert how.startswith("*Search every ISSCR press release, policy letter and statement*")
    for form in ("embryo model", "category:policy after:2024-01-01", "help"):
        assert f"`/isscr-news {form}`" in how
    assert shown[1]["type"] == "divider"
    assert shown[2]["text"]["text"].startswith("*Your alerts*")
    assert shown[2]["accessory"]["text"]["text"] == "Alert me about…"
    latest = next(index for index, block in enumerate(shown) if block["type"] == "header")
    assert shown[latest - 1]["type"] == "divider"
    assert shown[latest]["text"]["text"] == "Latest ISSCR news"
    titles = [block["text"]["text"] for block in shown[latest:] if block["type"] == "section"]
    assert [title.split("|")[1] for title in titles] == [
        "Release 3>*",
        "Release 2>*",
        "Release 1>*",
    ]


async def test_each_route_has_its_own_edit_and_remove_naming_it(bot: Bot, slack: SlackApi) -> None:
    await post(bot, slash_command_body(f"route <#{PRESS_NEWS}|p> Press Release", user=ADMIN))
    await post(bot, slash_command_body(f"route <#{POLICY_NEWS}|p> Policy, Statement", user=ADMIN))

    shown = json.loads(await open_home(bot, slack, ADMIN))["blocks"]

    rows = {
        block["text"]["text"]: shown[index + 1]
        for index, block in enumerate(shown)
        if block.get("text", {}).get("text", "").startswith("<#")
    }
    assert list(rows) == [
        f"<#{POLICY_NEWS}> ← *Policy* and *Statement*",
        f"<#{PRESS_NEWS}> ← *Press Release*",
    ]
    for number, (channel, takes, receives) in enumerate(
        [
            (POLICY_NEWS, "Policy, Statement", "*Policy* and *Statement*"),
            (PRESS_NEWS, "Press Release", "*Press Release*"),
        ],
        start=1,
    ):
        [row] = [row for text, row in rows.items() if text.startswith(f"<#{channel}>")]
        edit, remove = row["elements"]  # its own buttons, right below it
        assert row["block_id"] == f"route:{channel}"
        assert (edit["text"]["text"], edit["value"]) == ("Edit", channel)
        assert edit["accessibility_label"] == f"Edit route {number}: {takes}"
        assert (remove["text"]["text"], remove["value"]) == ("Remove", channel)
        assert remove["accessibility_label"] == f"Remove route {number}: {takes}"
        assert remove["confirm"] == {
            "title": {"type": "plain_text", "text": "Remove this route?"},
            "text": {
                "type": "mrkdwn",
                "text": f"<#{channel}> will stop receiving ISSCR news (today it receives "
                f"{receives}).",
            },
            "confirm": {"type": "plain_text", "text": "Remove route"},
            "deny": {"type": "plain_text", "text": "Keep it"},
            "style": "danger",
        }


async def test_add_route_form_saves_and_new_releases_go_there(
    bot: Bot, slack: SlackApi, feed: FeedServer
) -> None:
    await post(bot, home_action_body("admin_add_route", user=ADMIN))
    await eventually(lambda: len(slack.modals) == 1)
    form = slack.modals[0]
    options = [o["value"] for o in form["blocks"][1]["element"]["options"]]
    assert options == ["Policy", "Press Release", "Statement"]

    slack.home_views.clear()
    answer = await post(
        bot,
        view_submission_body("route_form", user=ADMIN, channel=POLICY_NEWS, categories=["Policy"]),
    )
    await eventually(lambda: ADMIN in slack.home_views)

    assert answer in ("", None, {})  # the form closes
    assert [(r.channel, r.categories) for r in bot.store.routes(team=SINGLE_WORKSPACE)] == [
        (POLICY_NEWS, ("Policy",))
    ]
    assert [
        (c.user_id, c.action, c.detail) for c in bot.store.recent_changes(team=SINGLE_WORKSPACE)
    ] == [(ADMIN, "route", f"{POLICY_NEWS}: routed Policy to {POLICY_NEWS}")]
    assert f"<#{POLICY_NEWS}> ← *Policy*" in json.dumps(slack.home_views[ADMIN], ensure_ascii=False)
    feed.items.insert(0, make_item(4, categories=["Policy"]))
    await eventually(lambda: posted_ids(slack, POLICY_NEWS) == [make_item(4).item_id])
    assert slack.messages[CHANNEL] == []


async def test_a_form_without_a_channel_shows_the_error_in_the_form(bot: Bot) -> None:
    answer = await post(bot, view_submission_body("route_form", user=ADMIN, categories=["Policy"]))

    assert answer == {
        "response_action": "errors",
        "errors": {"channel": "Choose the channel that should receive these releases."},
    }
    assert bot.store.routes(team=SINGLE_WORKSPACE) == []


async def test_adding_a_route_for_a_channel_that_has_one_says_so_in_the_form(bot: Bot) -> None:
    await post(bot, slash_command_body(f"route <#{PRESS_NEWS}|p> Press Release", user=ADMIN))

    answer = await post(
        bot,
        view_submission_body("route_form", user=ADMIN, channel=PRESS_NEWS, categories=["Policy"]),
    )

    assert answer == {
        "response_action": "errors",
        "errors": {
            "channel": "This channel already has a route (Press Release). Change it with its "
            "Edit button, or choose another channel."
        },
    }
    assert [(r.channel, r.categories) for r in bot.store.routes(team=SINGLE_WORKSPACE)] == [
        (PRESS_NEWS, ("Press Release",))
    ]


async def test_a_private_channel_is_saved_and_the_home_asks_for_an_invitation(
    bot: Bot, slack: SlackApi
) -> None:
    answer = await post(bot, view_submission_body("route_form", user=ADMIN, channel=SECRET))
    await eventually(lambda: ADMIN in slack.home_views)

    assert answer in ("", None, {})  # the form closes; the Home behind it says the rest
    assert notice(slack) == (
        f"Route saved: <#{SECRET}> receives every category. It is private (or I cannot see "
        "it): type `/invite @ISSCR News` in the channel, or the announcements there will fail."
    )
    assert [r.channel for r in bot.store.routes(team=SINGLE_WORKSPACE)] == [SECRET]


async def test_a_private_channel_the_bot_is_in_is_saved_and_the_form_closes(
    bot: Bot, slack: SlackApi
) -> None:
    answer = await post(bot, view_submission_body("route_form", user=ADMIN, channel=INVITED))
    await eventually(lambda: ADMIN in slack.home_views)

    assert answer in ("", None, {})
    assert notice(slack) == f"Route saved: <#{INVITED}> receives every category."
    assert [r.channel for r in bot.store.routes(team=SINGLE_WORKSPACE)] == [INVITED]


async def test_a_member_is_told_no_by_every_button_and_form_and_nothing_changes(
    bot: Bot, slack: SlackApi
) -> None:
    await post(bot, slash_command_body(f"route <#{PRESS_NEWS}|p> Press Release", user=ADMIN))
    routes, changes = (
        bot.store.routes(team=SINGLE_WORKSPACE),
        bot.store.recent_changes(team=SINGLE_WORKSPACE),
    )
    clicks = [
        ("admin_add_route", ""),
        ("admin_edit_route", PRESS_NEWS),
        ("admin_remove_route", PRESS_NEWS),
        ("admin_poll_now", ""),
        ("admin_send_trial", ""),
    ]
    for action, value in clicks:
        await post(bot, home_action_body(action, value, user=MEMBER))
    await eventually(lambda: len(slack.modals) == len(clicks))
    forms = [
        await post(bot, view_submission_body(form, user=MEMBER, channel=PRESS_NEWS))
        for form in ("route_form", "trial_form")
    ]

    for modal in slack.modals:  # one refusal per click, and no form opened
        assert modal["title"]["text"] == "Nothing changed"
        assert modal["blocks"][0]["text"]["text"].startswith("Only workspace admins and owners")
    for answer in forms:
        assert answer["response_action"] == "errors"
        assert answer["errors"]["channel"].startswith("Only workspace admins and owners")
    assert buttons(json.dumps(slack.home_views[MEMBER])) == []  # the members' Home
    assert (
        bot.store.routes(team=SINGLE_WORKSPACE) == routes
        and bot.store.recent_changes(team=SINGLE_WORKSPACE) == changes
    )
    assert slack.messages[PRESS_NEWS] == []  # no test announcement


async def test_edit_moves_a_route_and_remove_deletes_it(bot: Bot, slack: SlackApi) -> None:
    await post(
        bot, slash_command_body(f"route <#{PRESS_NEWS}|p> Press Release, Policy", user=ADMIN)
    )
    await post(bot, home_action_body("admin_edit_route", PRESS_NEWS, user=ADMIN))
    await eventually(lambda: len(slack.modals) == 1)
    form = slack.modals[0]
    [route] = bot.store.routes(team=SINGLE_WORKSPACE)
    assert json.loads(form["private_metadata"]) == {
        "channel": PRESS_NEWS,
        "version": route.updated_at,  # a save after another admin's change is refused
    }
    assert form["blocks"][0]["element"]["initial_conversation"] == PRESS_NEWS
    assert [o["value"] for o in form["blocks"][1]["element"]["initial_options"]] == [
        "Press Release",
        "Policy",
    ]

    await post(
        bot,
        view_submission_body(
            "route_form", user=ADMIN, channel=POLICY_NEWS, categories=["Statement"],
            private_metadata=form["private_metadata"],
        ),
    )  # fmt: skip
    assert [(r.channel, r.categories) for r in bot.store.routes(team=SINGLE_WORKSPACE)] == [
        (POLICY_NEWS, ("Statement",))
    ]

    await post(bot, home_action_body("admin_remove_route", POLICY_NEWS, user=ADMIN))
    await eventually(lambda: bot.store.routes(team=SINGLE_WORKSPACE) == [])
    actions = [
        (c.action, c.detail) for c in reversed(bot.store.recent_changes(team=SINGLE_WORKSPACE))
    ]
    assert actions == [
        ("route", f"{PRESS_NEWS}: routed Press Release, Policy to {PRESS_NEWS}"),
        (
            "unroute",
            f"{PRESS_NEWS} {POLICY_NEWS}: moved the route from {PRESS_NEWS} to {POLICY_NEWS}",
        ),
        ("route", f"{POLICY_NEWS}: routed Statement to {POLICY_NEWS}"),
        ("unroute", f"{POLICY_NEWS}: removed the route to {POLICY_NEWS} (was Statement)"),
    ]


async def test_poll_now_and_a_test_announcement(
    bot: Bot, slack: SlackApi, feed: FeedServer
) -> None:
    polls = feed_polls(feed)
    await post(bot, home_action_body("admin_poll_now", user=ADMIN))
    await eventually(lambda: feed_polls(feed) > polls)

    await post(bot, home_action_body("admin_send_trial", user=ADMIN))
    await eventually(lambda: len(slack.modals) == 1)
    slack.home_views.clear()
    sent = await post(bot, view_submission_body("trial_form", user=ADMIN, channel=PRESS_NEWS))
    await eventually(lambda: ADMIN in slack.home_views)
    posted = notice(slack)
    slack.home_views.clear()
    refused = await post(bot, view_submission_body("trial_form", user=ADMIN, channel=SECRET))
    await eventually(lambda: ADMIN in slack.home_views)

    assert sent in ("", None, {}) and refused in ("", None, {})
    [message] = slack.messages[PRESS_NEWS]
    assert message["text"] == "Test: ISSCR Statement: Release 3"
    # Marked as a test first, where everyone in the channel reads it, not in a grey footer
    assert message["blocks"][0] == {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": f"🧪 *Test announcement* sent by <@{ADMIN}> — not a new release. New ISSCR "
            "releases will appear here like this:",
        },
    }
    assert message["blocks"][-1]["type"] == "actions"  # the announcement's own, unchanged
    assert "metadata" not in message  # never taken for a real announcement
    assert posted == f"Test announcement posted in <#{PRESS_NEWS}>."
    assert notice(slack) == (
        f"The test announcement could not be posted in <#{SECRET}> (channel_not_found: the "
        "channel was deleted, or it is private and the bot is not in it)."
    )
    assert [c.action for c in bot.store.recent_changes(team=SINGLE_WORKSPACE)] == ["test", "poll"]


async def test_a_test_announcement_joins_a_public_channel_first(bot: Bot, slack: SlackApi) -> None:
    sent = await post(bot, view_submission_body("trial_form", user=ADMIN, channel=POLICY_NEWS))
    await eventually(lambda: len(slack.messages[POLICY_NEWS]) == 1)  # posted once the form closed

    assert sent in ("", None, {})
    [message] = slack.messages[POLICY_NEWS]
    assert message["text"] == "Test: ISSCR Statement: Release 3"
    assert [call.params["channel"] for call in slack.calls_to("conversations.join")] == [
        POLICY_NEWS
    ]


async def test_categories_no_route_takes_are_pointed_out(bot: Bot, slack: SlackApi) -> None:
    await post(
        bot, slash_command_body(f"route <#{PRESS_NEWS}|press-news> Press Release", user=ADMIN)
    )

    admin_view = await open_home(bot, slack, ADMIN)

    assert "⚠ No channel takes *Policy* or *Statement*" in admin_view
    await post(bot, slash_command_body(f"route <#{PRESS_NEWS}|press-news>", user=ADMIN))
    assert "No channel takes" not in await open_home(bot, slack, ADMIN)  # it takes all now


async def test_failed_deliveries_can_be_retried_from_the_home(
    bot: Bot, slack: SlackApi, feed: FeedServer
) -> None:
    await choose_first_channel(bot, CHANNEL)
    slack.fail_next("chat.postMessage", FakeResponse.error("is_archived"))
    feed.items.insert(0, make_item(4))
    await eventually(lambda: bot.store.delivery_counts(team=SINGLE_WORKSPACE)["failed"] == 1)
    assert "Retry failed deliveries" not in buttons(await open_home(bot, slack, MEMBER))
    assert "Retry failed deliveries" in buttons(await open_home(bot, slack, ADMIN))

    await post(bot, home_action_body("admin_retry_failed", user=MEMBER))
    assert (
        bot.store.delivery_counts(team=SINGLE_WORKSPACE)["failed"] == 1
    )  # a member's click changes nothing
    await post(bot, home_action_body("admin_retry_failed", user=ADMIN))

    await eventually(lambda: posted_ids(slack, CHANNEL) == [make_item(4).item_id])
    assert bot.store.delivery_counts(team=SINGLE_WORKSPACE)["failed"] == 0
    latest = bot.store.recent_changes(team=SINGLE_WORKSPACE)[0]
    assert (latest.user_id, latest.action, latest.detail) == (
        ADMIN,
        "retry",
        "retried 1 failed delivery",
    )
    assert "Retry failed deliveries" not in buttons(await open_home(bot, slack, ADMIN))


async def test_a_change_refreshes_every_admins_home_and_no_members(
    bot: Bot, slack: SlackApi
) -> None:
    other = "U0ADMIN002"
    slack.add_user(other, is_admin=True)
    await open_home(bot, slack, other)
    await open_home(bot, slack, MEMBER)
    slack.home_views.clear()

    await post(
        bot, slash_command_body(f"route <#{PRESS_NEWS}|press-news> Press Release", user=ADMIN)
    )

    await eventually(lambda: other in slack.home_views)
    assert f"<#{PRESS_NEWS}> ← *Press Release*" in json.dumps(
        slack.home_views[other], ensure_ascii=False
    )
    assert ADMIN in slack.home_views and MEMBER not in slack.home_views
    # One who is no longer an admin gets the members' Home at the next change
    slack.add_user(other)
    slack.home_views.clear()
    await post(bot, home_action_body("admin_poll_now", user=ADMIN))
    await eventually(lambda: other in slack.home_views)
    assert "settings" not in json.dumps(slack.home_views[other], ensure_ascii=False)


async def timed_post(bot: Bot, body: bytes) -> tuple[float, Any]:
    started = time.monotonic()
    answer = await post(bot, body)
    return time.monotonic() - started, answer


SLOW_RIGHTS = (
    "Slack did not answer in time, so I could not check your admin rights and nothing was "
    "saved. Please submit again."
)


@pytest.mark.parametrize(
    ("slow", "answered_by"),
    [(FakeResponse.timeout(3.5), 3.5), (FakeResponse.rate_limited(retry_after=4), 4.0)],
    ids=["timeout", "rate-limited"],
)
async def test_forms_are_answered_in_time_when_slack_is_slow_to_check_rights(
    bot: Bot, slack: SlackApi, slow: FakeResponse, answered_by: float
) -> None:
    slack.fail_next("users.info", slow, times=2)
    forms = [
        view_submission_body(form, user=ADMIN, channel=PRESS_NEWS, categories=["Policy"])
        for form in ("route_form", "trial_form")
    ]

    started = time.monotonic()
    answers = await asyncio.gather(*(timed_post(bot, form) for form in forms))
    # Until Slack would have answered (or the client retried), and a little longer
    await asyncio.sleep(answered_by + 0.5 - (time.monotonic() - started))

    for took, answer in answers:
        assert took < 2.5  # Slack gives up on a form's answer after 3 s
        assert answer == {"response_action": "errors", "errors": {"channel": SLOW_RIGHTS}}
    assert (
        bot.store.routes(team=SINGLE_WORKSPACE) == []
        and bot.store.recent_changes(team=SINGLE_WORKSPACE) == []
    )
    assert slack.messages[PRESS_NEWS] == []
    # Submitted again, with Slack answering at once, they go through
    for form in forms:
        assert await post(bot, form) in ("", None, {})
    await eventually(lambda: len(slack.messages[PRESS_NEWS]) == 1)
    assert [(r.channel, r.categories) for r in bot.store.routes(team=SINGLE_WORKSPACE)] == [
        (PRESS_NEWS, ("Policy",))
    ]


@pytest.mark.parametrize(
    "slow",
    [FakeResponse.timeout(3.5), FakeResponse.rate_limited(retry_after=4)],
    ids=["timeout", "rate-limited"],
)
async def test_a_route_is_saved_and_answered_in_time_when_joining_the_channel_is_slow(
    bot: Bot, slack: SlackApi, slow: FakeResponse
) -> None:
    slack.fail_next("conversations.join", slow)
    slack.home_views.clear()

    took, answer = await timed_post(
        bot,
        view_submission_body("route_form", user=ADMIN, channel=POLICY_NEWS, categories=["Policy"]),
    )
    saved = [(r.channel, r.categories) for r in bot.store.routes(team=SINGLE_WORKSPACE)]
    await eventually(lambda: ADMIN in slack.home_views)

    assert took < 2.5 and answer in ("", None, {})
    assert saved == [(POLICY_NEWS, ("Policy",))]  # saved before the answer, not seconds later
    assert notice(slack) == (
        f"Route saved: <#{POLICY_NEWS}> receives *Policy*. I joined the channel."
    )
    assert slack.channels[POLICY_NEWS].is_member


async def test_a_test_announcement_is_answered_in_time_when_joining_the_channel_is_slow(
    bot: Bot, slack: SlackApi
) -> None:
    slack.fail_next("conversations.join", FakeResponse.timeout(3.5))
    slack.home_views.clear()

    took, answer = await timed_post(
        bot, view_submission_body("trial_form", user=ADMIN, channel=POLICY_NEWS)
    )
    await eventually(lambda: ADMIN in slack.home_views)

    assert took < 2.5 and answer in ("", None, {})
    assert notice(slack) == f"Test announcement posted in <#{POLICY_NEWS}>."
    assert [m["text"] for m in slack.messages[POLICY_NEWS]] == ["Test: ISSCR Statement: Release 3"]


async def test_a_test_announcement_whose_answer_is_lost_is_not_posted_again(
    bot: Bot, slack: SlackApi
) -> None:
    slack.fail_next("chat.postMessage", FakeResponse.disconnect(after_posting=True))
    slack.home_views.clear()

    answer = await post(bot, view_submission_body("trial_form", user=ADMIN, channel=PRESS_NEWS))
    await eventually(lambda: ADMIN in slack.home_views)

    assert answer in ("", None, {})
    assert len(slack.messages[PRESS_NEWS]) == 1  # Slack has it once; the bot did not resend
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert notice(slack) == (
        f"Slack did not answer when I posted the test announcement in <#{PRESS_NEWS}>: it may "
        "be there. Look before sending another."
    )


CONFLICT = (
    "Another admin changed this route since you opened the form: close it and press Edit again."
)


@pytest.mark.parametrize("meanwhile", ["removed", "changed"])
async def test_an_edit_form_saved_after_another_admins_change_changes_nothing(
    bot: Bot, slack: SlackApi, meanwhile: str
) -> None:
    other = "U0ADMIN002"
    slack.add_user(other, is_admin=True)
    await post(bot, slash_command_body(f"route <#{PRESS_NEWS}|p> Press Release", user=ADMIN))
    for user in (ADMIN, other):  # both open Edit for the same route
        await post(bot, home_action_body("admin_edit_route", PRESS_NEWS, user=user))
    await eventually(lambda: len(slack.modals) == 2)
    opened = [form["private_metadata"] for form in slack.modals]
    if meanwhile == "removed":
        await post(bot, home_action_body("admin_remove_route", PRESS_NEWS, user=other))
        await eventually(lambda: bot.store.routes(team=SINGLE_WORKSPACE) == [])
    else:
        saved = await post(
            bot,
            view_submission_body(
                "route_form", user=other, channel=PRESS_NEWS, categories=["Policy"],
                private_metadata=opened[1],
            ),
        )  # fmt: skip
        assert saved in ("", None, {})
    routes, changes = (
        bot.store.routes(team=SINGLE_WORKSPACE),
        bot.store.recent_changes(team=SINGLE_WORKSPACE),
    )

    for channel in (PRESS_NEWS, POLICY_NEWS):  # saved in place, or moved to another channel
        stale = await post(
            bot,
            view_submission_body(
                "route_form", user=ADMIN, channel=channel, categories=["Statement"],
                private_metadata=opened[0],
            ),
        )  # fmt: skip
        assert stale == {"response_action": "errors", "errors": {"channel": CONFLICT}}
    assert (
        bot.store.routes(team=SINGLE_WORKSPACE) == routes
        and bot.store.recent_changes(team=SINGLE_WORKSPACE) == changes
    )


# A change's time, last on its line: in the reader's own time zone, with a UTC fallback.
LOCAL_TIME = re.compile(
    r" — <!date\^(\d+)\^\{date_short_pretty\} at \{time\}\|(\d{1,2} \w{3} \d{4} \d\d:\d\d UTC)>$"
)


def recent_changes(view: str) -> list[str]:
    """The Home's recent changes, each without its bullet and its time (which must be shown
    in each reader's own time zone, never as a number of seconds)."""
    [section] = [
        block["text"]["text"]
        for block in json.loads(view)["blocks"]
        if block.get("text", {}).get("text", "").startswith("*Recent changes*")
    ]
    lines = section.splitlines()[1:]
    for line in lines:
        found = LOCAL_TIME.search(line)
        assert found is not None, line
        assert abs(int(found[1]) - time.time()) < 60
        assert found[2] == time.strftime("%-d %b %Y %H:%M UTC", time.gmtime(int(found[1])))
    return [LOCAL_TIME.sub("", line.removeprefix("• ")) for line in lines]


async def test_recent_changes_read_as_sentences_in_the_readers_time(
    bot: Bot, slack: SlackApi
) -> None:
    for text in (
        f"route <#{PRESS_NEWS}|p> Press Release",
        f"route <#{PRESS_NEWS}|p> Policy, Statement",
        f"unroute <#{PRESS_NEWS}|p> Statement",
        f"unroute <#{PRESS_NEWS}|p>",
        f"route <#{INVITED}|i>",
    ):
        await post(bot, slash_command_body(text, user=ADMIN))
    await post(bot, view_submission_body("route_form", user=ADMIN, channel=POLICY_NEWS))

    await post(bot, home_action_body("admin_poll_now", user=ADMIN))
    await post(bot, view_submission_body("trial_form", user=ADMIN, channel=PRESS_NEWS))
    await eventually(lambda: len(bot.store.recent_changes(team=SINGLE_WORKSPACE)) == 8)

    assert recent_changes(await open_home(bot, slack, ADMIN)) == [
        f"<@{ADMIN}> sent a test announcement to <#{PRESS_NEWS}>",
        f"<@{ADMIN}> asked for a feed poll",
        f"<@{ADMIN}> routed every category to <#{POLICY_NEWS}>",
        f"<@{ADMIN}> routed every category to <#{INVITED}>",
        f"<@{ADMIN}> removed the route to <#{PRESS_NEWS}> (was Press Release, Policy)",
        f"<@{ADMIN}> removed Statement from <#{PRESS_NEWS}> (keeps Press Release, Policy)",
        f"<@{ADMIN}> added Policy, Statement to <#{PRESS_NEWS}> (now Press Release, Policy, "
        "Statement)",
        f"<@{ADMIN}> routed Press Release to <#{PRESS_NEWS}>",
    ]


async def test_long_recent_changes_are_cut_to_slacks_limit_between_mentions(
    bot: Bot, slack: SlackApi, feed: FeedServer
) -> None:
    # Names thick with &, each shown as &amp;: a cut anywhere would likely split one
    names = [f"Category {n} {'&' * 50}" for n in range(8)]
    feed.items.insert(0, make_item(4, categories=names))
    await eventually(lambda: bot.store.release_count() == 4)
    typed = [name.replace("&", "&amp;") for name in names]  # as Slack sends what was typed
    for channel in (PRESS_NEWS, POLICY_NEWS, INVITED):
        await post(bot, slash_command_body(f"route <#{channel}|c> {', '.join(typed)}", user=ADMIN))
        for name in typed[:3]:
            await post(bot, slash_command_body(f"unroute <#{channel}|c> {name}", user=ADMIN))

    view = json.loads(await open_home(bot, slack, ADMIN))

    [section] = [
        block["text"]["text"]
        for block in view["blocks"]
        if block.get("text", {}).get("text", "").startswith("*Recent changes*")
    ]
    assert 2900 < len(section) <= 3000 and section.endswith("…")
    # Every <…> whole, every & an entity: nothing cut in half
    assert re.fullmatch(r"(<(#C|@U|!date\^)[^<>]*>|&(amp|lt|gt);|[^<>&])*…", section, re.DOTALL)
    assert "Category 7 &amp;&amp;" in section


@pytest.mark.parametrize("secret", [None, "not-the-signing-secret"], ids=["unsigned", "forged"])
async def test_clicks_and_forms_not_signed_by_slack_are_refused(
    bot: Bot, slack: SlackApi, secret: str | None
) -> None:
    await post(bot, slash_command_body(f"route <#{PRESS_NEWS}|p> Press Release", user=ADMIN))
    routes, changes = (
        bot.store.routes(team=SINGLE_WORKSPACE),
        bot.store.recent_changes(team=SINGLE_WORKSPACE),
    )
    calls = len(slack.calls)
    forged = [
        home_action_body("admin_remove_route", PRESS_NEWS, user=ADMIN),
        home_action_body("admin_poll_now", user=ADMIN),
        view_submission_body("route_form", user=ADMIN, channel=POLICY_NEWS),
        view_submission_body("trial_form", user=ADMIN, channel=PRESS_NEWS),
    ]

    for body in forged:
        headers = {} if secret is None else sign(body, secret=secret)
        status, _ = await send_to_slack_app(events_url(bot), body, headers=headers)
        assert status == 401
    await asyncio.sleep(0.3)  # anything started by mistake would have called Slack by now

    assert (
        bot.store.routes(team=SINGLE_WORKSPACE) == routes
        and bot.store.recent_changes(team=SINGLE_WORKSPACE) == changes
    )
    assert slack.calls[calls:] == []  # no rights check, no post, no Home refresh


def home_buttons(slack: SlackApi, user: str = ADMIN) -> dict[str, str]:
    """The buttons of `user`'s Home: label -> value (the last one of a label)."""
    return {
        element["text"]["text"]: element.get("value", "")
        for block in slack.home_views[user]["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }


async def test_the_home_pages_through_a_thousand_routes_keeping_its_buttons_and_health(
    bot: Bot, slack: SlackApi
) -> None:
    channels = [f"C{n:09d}" for n in range(1000)]
    with bot.store.transaction():
        for channel in channels:
            bot.store.save_route(
                channel,
                ("Policy",),
                team=SINGLE_WORKSPACE,
                by=ADMIN,
                action="route",
                detail="set up",
                now=time.time(),
            )
    await open_home(bot, slack, ADMIN)

    shown = home_buttons(slack)
    assert list(shown) == [
        "Edit", "Remove", "More routes ▸", "Add route", "Poll now", "Send a test announcement"
    ]  # fmt: skip
    view = json.dumps(slack.home_views[ADMIN], ensure_ascii=False)
    assert "routes 1–10 of 1,000" in view and "*Feed*: last poll" in view
    assert "Release 3" in view  # what members see, below
    assert f"<#{channels[9]}> ← *Policy*" in view and channels[10] not in view

    slack.home_views.clear()
    await post(bot, home_action_body("admin_routes_next", shown["More routes ▸"], user=ADMIN))
    await eventually(lambda: ADMIN in slack.home_views)
    second = json.dumps(slack.home_views[ADMIN], ensure_ascii=False)
    assert "routes 11–20 of 1,000" in second and f"<#{channels[10]}> ← *Policy*" in second
    paged = home_buttons(slack)
    first_edit = next(
        element
        for block in slack.home_views[ADMIN]["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    )
    assert first_edit["accessibility_label"] == "Edit route 11: Policy"  # numbered across pages
    assert list(paged) == [
        "Edit", "Remove", "◂ Previous routes", "More routes ▸", "Add route", "Poll now",
        "Send a test announcement",
    ]  # fmt: skip

    # A change keeps the admin on the page they were on
    slack.home_views.clear()
    await post(bot, home_action_body("admin_remove_route", channels[12], user=ADMIN))
    await eventually(lambda: ADMIN in slack.home_views)
    assert "routes 11–20 of 999" in json.dumps(slack.home_views[ADMIN], ensure_ascii=False)

    slack.home_views.clear()
    back = paged["◂ Previous routes"]
    await post(bot, home_action_body("admin_routes_previous", back, user=ADMIN))
    await eventually(lambda: ADMIN in slack.home_views)
    assert "routes 1–10 of 999" in json.dumps(slack.home_views[ADMIN], ensure_ascii=False)

    # A member's click on a page button shows the members' Home
    await post(bot, home_action_body("admin_routes_next", "2", user=MEMBER))
    await eventually(lambda: MEMBER in slack.home_views)
    assert buttons(json.dumps(slack.home_views[MEMBER])) == []


async def test_edit_opens_a_valid_form_for_categories_beyond_the_first_hundred_and_long_names(
    bot: Bot, slack: SlackApi, feed: FeedServer
) -> None:
    long_name = "Stem cells & <organoids> " * 20  # 500 characters: too long for an option value
    names = [f"Topic {n:03}" for n in range(150)] + [long_name]
    feed.items.insert(0, make_item(4, categories=names))
    await eventually(lambda: bot.store.release_count() == 4)
    await post(bot, slash_command_body(f"route <#{PRESS_NEWS}|p> Topic 149, Topic 120", user=ADMIN))

    await post(bot, home_action_body("admin_edit_route", PRESS_NEWS, user=ADMIN))
    await eventually(lambda: len(slack.modals) == 1)

    select = slack.modals[0]["blocks"][1]["element"]
    assert [o["value"] for o in select["initial_options"]] == ["Topic 149", "Topic 120"]
    assert len(select["options"]) == 100
    assert "more categories than a form can list (100) exist" in json.dumps(slack.modals[0])
    # Saved as it was opened, with a long name added through the Add form's digest value
    await post(bot, home_action_body("admin_add_route", user=ADMIN))
    await eventually(lambda: len(slack.modals) == 2)
    [long_option] = [
        o for o in slack.modals[1]["blocks"][1]["element"]["options"]
        if o["text"]["text"].startswith("Stem cells")
    ]  # fmt: skip
    assert len(long_option["value"]) <= 150 and len(long_option["text"]["text"]) <= 75
    saved = await post(
        bot,
        view_submission_body(
            "route_form", user=ADMIN, channel=POLICY_NEWS, categories=[long_option["value"]]
        ),
    )
    assert saved in ("", None, {})
    assert [(r.channel, r.categories) for r in bot.store.routes(team=SINGLE_WORKSPACE)] == [
        (POLICY_NEWS, (long_name.strip(),)),
        (PRESS_NEWS, ("Topic 149", "Topic 120")),
    ]
