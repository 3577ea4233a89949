"""Signed requests Slack itself would never send (a forged form, a button value no button of
ours carries, a payload missing what every payload has) change nothing, get a clear answer,
and never a traceback: signed requests into the running Bolt app."""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest

from bot.models import SINGLE_WORKSPACE
from bot.runtime import Bot
from bot.slack.blocks.alerts import CANCEL_ALERT, SAVE_ALERT
from standins.slack_api import SlackApi
from standins.slack_requests import (
    block_action_body,
    home_action_body,
    send_to_slack_app,
    view_submission_body,
)
from tests.conftest import CHANNEL, eventually
from tests.test_admin import ADMIN, MEMBER, POLICY_NEWS, PRESS_NEWS
from tests.test_admin import feed as feed  # the feed fixture: one release per category
from tests.test_bot import events_url
from tests.test_home import bot as bot  # an admin, a member, channels, three releases
from tests.test_home import buttons, open_home, post

NOT_A_CHANNEL = "That is not a channel: choose one from the list."
DAMAGED = "This form is damaged or from an older version: close it, and open it again."
NOT_OURS = (
    "That button is not one this app made (or it is from an older version), so nothing was "
    "changed. Open the Home tab again and use its buttons."
)


def payload_body(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def submission(channel: Any, *, categories: Any = None, metadata: Any = "") -> bytes:
    """A route form's Save with any values in its fields, as a forger could send it."""
    values: dict[str, Any] = {
        "channel": {"channel": {"type": "conversations_select", "selected_conversation": channel}}
    }
    if categories is not None:
        values["categories"] = {
            "categories": {"type": "multi_static_select", "selected_options": categories}
        }
    return payload_body(
        {
            "type": "view_submission",
            "team": {"id": "T0TEAM0001"},
            "user": {"id": ADMIN},
            "api_app_id": "A0APP00001",
            "trigger_id": "1.2.view",
            "view": {
                "id": "V0MODAL001",
                "type": "modal",
                "callback_id": "route_form",
                "private_metadata": metadata,
                "state": {"values": values},
            },
        }
    )


def option(value: Any) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": "x"}, "value": value}


async def route_press_news(bot: Bot, slack: SlackApi) -> None:
    """A route for PRESS_NEWS, saved from the form; returns once the Home shows it."""
    slack.home_views.clear()
    await post(bot, view_submission_body("route_form", user=ADMIN, channel=PRESS_NEWS))
    await eventually(lambda: ADMIN in slack.home_views)
    assert len(bot.store.routes(team=SINGLE_WORKSPACE)) == 1


@pytest.mark.parametrize(
    ("channel", "categories", "metadata", "field", "error"),
    [
        ("not a channel", None, "", "channel", NOT_A_CHANNEL),
        ("<!channel>", None, "", "channel", NOT_A_CHANNEL),
        (f"{POLICY_NEWS}\n", None, "", "channel", NOT_A_CHANNEL),
        (12345, None, "", "channel", NOT_A_CHANNEL),
        (["C0POLICY01"], None, "", "channel", NOT_A_CHANNEL),
        (POLICY_NEWS, [option("No Such Category")], "", "categories", None),
        (POLICY_NEWS, [option("policy")], "", "categories", None),  # not an option's value
        (POLICY_NEWS, [option(7)], "", "categories", None),
        (POLICY_NEWS, "Policy", "", "categories", None),
        (POLICY_NEWS, [option("sha256:" + "0" * 40)], "", "categories", None),
        (POLICY_NEWS, None, "{", "channel", DAMAGED),
        (POLICY_NEWS, None, '{"channel": "<!channel>", "version": 1}', "channel", DAMAGED),
        (POLICY_NEWS, None, '{"channel": "C0PRESS001", "version": "x"}', "channel", DAMAGED),
    ],
)
async def test_a_forged_route_form_is_answered_in_the_form_and_saves_nothing(
    bot: Bot,
    slack: SlackApi,
    channel: Any,
    categories: Any,
    metadata: str,
    field: str,
    error: str | None,
) -> None:
    await route_press_news(bot, slack)
    routes, changes, calls = (
        bot.store.routes(team=SINGLE_WORKSPACE),
        bot.store.recent_changes(team=SINGLE_WORKSPACE),
        len(slack.calls),
    )

    answer = await post(bot, submission(channel, categories=categories, metadata=metadata))

    assert answer["response_action"] == "errors" and list(answer["errors"]) == [field]
    if error is None:
        assert answer["errors"][field].endswith(
            "is not a category this form offered: close it, and open it again."
        )
    else:
        assert answer["errors"][field] == error
    assert (
        bot.store.routes(team=SINGLE_WORKSPACE) == routes
        and bot.store.recent_changes(team=SINGLE_WORKSPACE) == changes
    )
    assert slack.calls[calls:] == []  # not even a rights check: nothing to save


async def test_a_forged_test_announcement_form_posts_nothing(bot: Bot, slack: SlackApi) -> None:
    for channel in ("<!channel>", f"{PRESS_NEWS}\n", "D0DIRECT01"):
        answer = await post(bot, view_submission_body("trial_form", user=ADMIN, channel=channel))
        assert answer == {"response_action": "errors", "errors": {"channel": NOT_A_CHANNEL}}

    assert not [call for call in slack.calls if call.method == "chat.postMessage"]
    assert bot.store.recent_changes(team=SINGLE_WORKSPACE) == []


@pytest.mark.parametrize(
    ("action", "value"),
    [
        ("admin_edit_route", "<!channel>"),
        ("admin_edit_route", f"{PRESS_NEWS} "),
        ("admin_remove_route", "not a channel"),
        ("admin_remove_route", ""),
        ("admin_routes_next", "0"),
        ("admin_routes_next", "two"),
        ("admin_routes_previous", "9" * 50),
    ],
)
async def test_a_home_button_with_a_value_no_button_carries_changes_nothing(
    bot: Bot, slack: SlackApi, action: str, value: str
) -> None:
    await route_press_news(bot, slack)
    routes, changes = (
        bot.store.routes(team=SINGLE_WORKSPACE),
        bot.store.recent_changes(team=SINGLE_WORKSPACE),
    )
    slack.home_views.clear()

    await post(bot, home_action_body(action, value, user=ADMIN))
    await eventually(lambda: len(slack.modals) == 1)

    [modal] = slack.modals
    assert modal["title"]["text"] == "Nothing changed"
    assert modal["blocks"][0]["text"]["text"] == NOT_OURS
    assert (
        bot.store.routes(team=SINGLE_WORKSPACE) == routes
        and bot.store.recent_changes(team=SINGLE_WORKSPACE) == changes
    )
    assert slack.home_views == {}


async def test_a_route_an_older_version_saved_with_no_channel_id_can_be_removed(
    bot: Bot, slack: SlackApi
) -> None:
    forged = "<!channel> not a channel"
    bot.store.save_route(
        forged,
        (),
        team=SINGLE_WORKSPACE,
        by=ADMIN,
        action="route",
        detail="forged",
        now=time.time(),
    )

    home = await open_home(bot, slack, ADMIN)
    assert "“&lt;!channel&gt; not a channel” (not a channel ID) ← every category" in home
    assert buttons(home)[:2] == ["Remove", "Add route"]  # no Edit: only removing makes sense
    await post(bot, home_action_body("admin_remove_route", forged, user=ADMIN))
    await eventually(lambda: bot.store.routes(team=SINGLE_WORKSPACE) == [])

    assert slack.modals == []


async def test_share_and_paging_values_no_button_carries_get_a_clear_answer(
    bot: Bot, slack: SlackApi
) -> None:
    clicks = [
        ("share_release", "x" * 3000, CHANNEL),
        ("share_release", "no-such-release", CHANNEL),
        ("share_release", "", CHANNEL),
        ("search_page_next", json.dumps({"q": "release", "p": 0}), CHANNEL),
        ("search_page_next", json.dumps({"q": "release", "p": 41}), CHANNEL),
        ("search_page_next", json.dumps({"q": "release", "p": 10**12}), CHANNEL),
        ("search_page_next", json.dumps({"q": "r" * 301, "p": 2}), CHANNEL),
        ("search_page_next", "not json", CHANNEL),
    ]
    for action, value, channel in clicks:
        body = block_action_body(
            action, value, response_url=slack.response_url("r"), channel=channel
        )
        status, _ = await send_to_slack_app(events_url(bot), body)
        assert status == 200
    await eventually(lambda: len(slack.responses) == len(clicks))

    assert [response["text"] for response in slack.responses] == [
        "That release can no longer be shared."
    ] * 3 + ["That button is from an older version of this app: run the search again."] * 5
    assert all(response["replace_original"] is False for response in slack.responses)
    assert slack.messages[CHANNEL] == []


@pytest.mark.parametrize(
    ("action", "value"),
    [
        (SAVE_ALERT, "embryo"),
        (CANCEL_ALERT, "cancel"),
        ("share_release", "release"),
        ("search_page_next", json.dumps({"q": "release", "p": 2})),
        ("search_page_previous", json.dumps({"q": "release", "p": 1})),
    ],
)
async def test_a_messages_button_clicked_where_there_is_no_message_is_answered_in_a_modal(
    bot: Bot, slack: SlackApi, caplog: pytest.LogCaptureFixture, action: str, value: str
) -> None:
    caplog.set_level(logging.INFO)
    if value == "release":
        value = bot.store.latest_releases(1)[0].id
    # As from the Home (a view, no response_url), naming a channel the bot can post in.
    payload = payload_of(home_action_body(action, value, user=MEMBER))
    payload["channel"] = {"id": PRESS_NEWS, "name": "press-news"}

    status, _ = await send_to_slack_app(events_url(bot), payload_body(payload))
    await eventually(lambda: len(slack.modals) == 1)

    assert status == 200
    [modal] = slack.modals
    assert modal["title"]["text"] == "Nothing changed"
    assert modal["blocks"][0]["text"]["text"] == NOT_OURS
    assert [
        r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR
    ] == []
    assert bot.store.alerts_of(team=SINGLE_WORKSPACE, user=MEMBER) == []
    assert slack.messages[PRESS_NEWS] == [] and slack.responses == []


def payload_of(body: bytes) -> dict[str, Any]:
    """The payload of a request body built by a conftest helper."""
    return json.loads(parse_qs(body.decode())["payload"][0])


def without(payload: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in payload.items() if name != key}


CLICK = payload_of(home_action_body("admin_poll_now", user=ADMIN))
MESSAGE_CLICK = payload_of(
    block_action_body("search_page_next", "{}", response_url="http://127.0.0.1:9/response/x")
)
FORM = payload_of(view_submission_body("route_form", user=ADMIN, channel=POLICY_NEWS))
HOME_OPENED = {
    "type": "event_callback",
    "team_id": "T0TEAM0001",
    "api_app_id": "A0APP00001",
    "event_id": "Ev1",
    "event_time": 1,
    "event": {"type": "app_home_opened", "channel": "D0DM", "tab": "home"},
}


@pytest.mark.parametrize(
    "payload",
    [
        without(CLICK, "user"),
        {**CLICK, "user": "U0ADMIN001"},
        {**CLICK, "user": {"name": "someone"}},
        without(CLICK, "actions"),
        {**CLICK, "actions": "admin_poll_now"},
        {**CLICK, "actions": []},
        {**CLICK, "actions": [{}]},
        {**CLICK, "actions": [{"action_id": "admin_edit_route", "value": 5}]},
        without(CLICK, "trigger_id"),
        {**CLICK, "container": "home"},
        without(MESSAGE_CLICK, "response_url"),
        without(FORM, "user"),
        without(FORM, "view"),
        {**FORM, "view": {**FORM["view"], "state": "x"}},
        {**FORM, "view": {**FORM["view"], "state": {"values": []}}},
        {**FORM, "view": {**FORM["view"], "state": {"values": {"channel": "x"}}}},
        {**FORM, "view": {**FORM["view"], "private_metadata": 5}},
        without(HOME_OPENED, "event"),
    ],
    ids=[
        "click without user",
        "click with user as text",
        "click with user without id",
        "click without actions",
        "click with actions as text",
        "click with no action",
        "click with an action without action_id",
        "click with a value that is no text",
        "click without trigger_id",
        "click with container as text",
        "click on a message without response_url",
        "form without user",
        "form without view",
        "form with state as text",
        "form with values as a list",
        "form with a field as text",
        "form with private_metadata as a number",
        "event without event",
    ],
)
async def test_a_payload_slack_never_sends_gets_a_400_without_a_traceback(
    bot: Bot, slack: SlackApi, payload: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    routes, changes, calls = (
        bot.store.routes(team=SINGLE_WORKSPACE),
        bot.store.recent_changes(team=SINGLE_WORKSPACE),
        len(slack.calls),
    )
    if payload.get("type") == "event_callback":
        body, kind = json.dumps(payload).encode(), "application/json"
    else:
        body, kind = payload_body(payload), "application/x-www-form-urlencoded"

    status, answer = await send_to_slack_app(events_url(bot), body, content_type=kind)

    # Refused by the check in front of Bolt (bot.slack.verify: what Bolt itself reads) or by the
    # one in front of the listeners (bot.slack.listeners.payloads: what they read), in one line.
    assert status == 400, answer
    assert not [record for record in caplog.records if record.exc_info]
    [warning] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "malformed" in warning and "refused" in warning, warning
    assert (
        bot.store.routes(team=SINGLE_WORKSPACE) == routes
        and bot.store.recent_changes(team=SINGLE_WORKSPACE) == changes
    )
    assert slack.calls[calls:] == []
