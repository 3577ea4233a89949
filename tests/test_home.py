"""The App Home: admins configure routes with buttons and forms; members see the news."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.runtime import Bot
from bot.settings import Settings
from tests.conftest import (
    CHANNEL,
    eventually,
    home_action_body,
    posted_ids,
    send_to_slack_app,
    slash_command_body,
    view_submission_body,
)
from tests.fakes.feed_server import FeedServer, make_item
from tests.fakes.slack_api import FakeResponse, SlackApi
from tests.test_admin import ADMIN, INVITED, MEMBER, POLICY_NEWS, PRESS_NEWS, SECRET
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
    async with running(make_settings()) as started:
        await eventually(lambda: started.store.release_count() == 3)
        yield started


async def post(bot: Bot, body: bytes) -> Any:
    status, answer = await send_to_slack_app(events_url(bot), body)
    assert status == 200
    return answer


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


def buttons(view: str) -> list[str]:
    return [
        element["text"]["text"]
        for block in json.loads(view)["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
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
    assert f"<@{ADMIN}> route: <#{PRESS_NEWS}>: Press Release" in admin_view
    assert "Release 3" in admin_view  # and what members see, below
    assert "settings" not in member_view and buttons(member_view) == []
    assert "Release 3" in member_view and "/isscr-news embryo model" in member_view


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
    assert [(r.channel, r.categories) for r in bot.store.routes()] == [(POLICY_NEWS, ("Policy",))]
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
    assert bot.store.routes() == []


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
    assert [(r.channel, r.categories) for r in bot.store.routes()] == [
        (PRESS_NEWS, ("Press Release",))
    ]


async def test_a_private_channel_is_saved_and_the_form_asks_for_an_invitation(bot: Bot) -> None:
    answer = await post(bot, view_submission_body("route_form", user=ADMIN, channel=SECRET))

    assert answer["response_action"] == "update"
    assert "/invite @ISSCR News" in json.dumps(answer["view"])
    assert [r.channel for r in bot.store.routes()] == [SECRET]


async def test_a_private_channel_the_bot_is_in_is_saved_and_the_form_closes(bot: Bot) -> None:
    answer = await post(bot, view_submission_body("route_form", user=ADMIN, channel=INVITED))

    assert answer in ("", None, {})
    assert [r.channel for r in bot.store.routes()] == [INVITED]


async def test_a_member_is_told_no_by_every_button_and_form_and_nothing_changes(
    bot: Bot, slack: SlackApi
) -> None:
    await post(bot, slash_command_body(f"route <#{PRESS_NEWS}|p> Press Release", user=ADMIN))
    routes, changes = bot.store.routes(), bot.store.recent_changes()
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
    assert bot.store.routes() == routes and bot.store.recent_changes() == changes
    assert slack.messages[PRESS_NEWS] == []  # no test announcement


async def test_edit_moves_a_route_and_remove_deletes_it(bot: Bot, slack: SlackApi) -> None:
    await post(
        bot, slash_command_body(f"route <#{PRESS_NEWS}|p> Press Release, Policy", user=ADMIN)
    )
    await post(bot, home_action_body("admin_edit_route", PRESS_NEWS, user=ADMIN))
    await eventually(lambda: len(slack.modals) == 1)
    form = slack.modals[0]
    assert form["private_metadata"] == PRESS_NEWS
    assert form["blocks"][0]["element"]["initial_conversation"] == PRESS_NEWS
    assert [o["value"] for o in form["blocks"][1]["element"]["initial_options"]] == [
        "Press Release",
        "Policy",
    ]

    await post(
        bot,
        view_submission_body(
            "route_form", user=ADMIN, channel=POLICY_NEWS, categories=["Statement"],
            private_metadata=PRESS_NEWS,
        ),
    )  # fmt: skip
    assert [(r.channel, r.categories) for r in bot.store.routes()] == [
        (POLICY_NEWS, ("Statement",))
    ]

    await post(bot, home_action_body("admin_remove_route", POLICY_NEWS, user=ADMIN))
    await eventually(lambda: bot.store.routes() == [])
    actions = [(c.action, c.detail) for c in reversed(bot.store.recent_changes())]
    assert actions == [
        ("route", f"{PRESS_NEWS}: Press Release, Policy"),
        ("unroute", f"{PRESS_NEWS}: route moved to {POLICY_NEWS}"),
        ("route", f"{POLICY_NEWS}: Statement"),
        ("unroute", f"{POLICY_NEWS}: route removed"),
    ]


async def test_poll_now_and_a_test_announcement(
    bot: Bot, slack: SlackApi, feed: FeedServer
) -> None:
    polls = len(feed.requests)
    await post(bot, home_action_body("admin_poll_now", user=ADMIN))
    await eventually(lambda: len(feed.requests) > polls)

    await post(bot, home_action_body("admin_send_trial", user=ADMIN))
    await eventually(lambda: len(slack.modals) == 1)
    sent = await post(bot, view_submission_body("trial_form", user=ADMIN, channel=PRESS_NEWS))
    refused = await post(bot, view_submission_body("trial_form", user=ADMIN, channel=SECRET))

    assert sent in ("", None, {})
    [message] = slack.messages[PRESS_NEWS]
    assert message["blocks"][-1]["elements"][0]["text"] == f"Test announcement sent by <@{ADMIN}>"
    assert "metadata" not in message  # never taken for a real announcement
    assert refused["response_action"] == "errors"
    assert "channel_not_found" in refused["errors"]["channel"]
    assert [c.action for c in bot.store.recent_changes()] == ["test", "poll"]


async def test_a_test_announcement_joins_a_public_channel_first(bot: Bot, slack: SlackApi) -> None:
    sent = await post(bot, view_submission_body("trial_form", user=ADMIN, channel=POLICY_NEWS))

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
    slack.fail_next("chat.postMessage", FakeResponse.error("is_archived"))
    feed.items.insert(0, make_item(4))
    await eventually(lambda: bot.store.delivery_counts()["failed"] == 1)
    assert "Retry failed deliveries" not in buttons(await open_home(bot, slack, MEMBER))
    assert "Retry failed deliveries" in buttons(await open_home(bot, slack, ADMIN))

    await post(bot, home_action_body("admin_retry_failed", user=MEMBER))
    assert bot.store.delivery_counts()["failed"] == 1  # a member's click changes nothing
    await post(bot, home_action_body("admin_retry_failed", user=ADMIN))

    await eventually(lambda: posted_ids(slack, CHANNEL) == [make_item(4).item_id])
    assert bot.store.delivery_counts()["failed"] == 0
    latest = bot.store.recent_changes()[0]
    assert (latest.user_id, latest.action, latest.detail) == (
        ADMIN,
        "retry",
        "1 failed delivery queued again",
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
