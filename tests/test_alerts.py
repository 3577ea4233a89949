"""Personal alerts over signed HTTP requests into the real Bolt app, against the loopback feed
and Slack stand-ins: subscribing (with a preview of what the query matches), the list and its
Remove buttons, the Home's section and form, the direct message of a matching new release, and
that a member's alerts are theirs alone.

The tests whose names mention a direct message need the outbox's sending of alerts (issue 15's
lead part, merged from main); the others need only this branch.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.models import ALERT, SINGLE_WORKSPACE
from bot.runtime import Bot
from bot.settings import Settings
from bot.slack.blocks.alerts import (
    ALERT_FORM,
    ALERT_PREVIEW,
    CANCEL_ALERT,
    NEW_ALERT,
    QUERY_FIELD,
    REMOVE_ALERT,
    RESUME_ALERTS,
    SAVE_ALERT,
)
from standins.feed_server import FeedServer, make_item
from standins.slack_api import SlackApi
from standins.slack_requests import (
    block_action_body,
    home_action_body,
    modal_submission_body,
    send_to_slack_app,
    slash_command_body,
)
from tests.conftest import CHANNEL, eventually, newest_first
from tests.test_bot import InspectedBot, events_url, running
from tests.test_home import open_home

MEMBER, OTHER, ADMIN = "U0MEMBER01", "U0MEMBER02", "U0ADMIN001"
EMBRYO = make_item(
    1,
    title="ISSCR Statement on Embryo Models",
    categories=["Statement"],
    html="<p>Guidelines for stem cell-based embryo models.</p>",
)
NIH = make_item(
    2,
    title="NIH Funding Letter",
    categories=["Policy"],
    html="<p>The ISSCR joined a coalition letter urging NIH funding.</p>",
)
NEW_EMBRYO = make_item(
    4,
    title="Updated Guidance on Embryo Models",
    categories=["Policy"],
    html="<p>New guidance for research with embryo models.</p>",
)
NEW_NIH = make_item(5, title="NIH Budget", categories=["Policy"], html="<p>A budget letter.</p>")


@pytest.fixture
async def feed() -> AsyncIterator[FeedServer]:
    async with FeedServer([*newest_first(3), NIH, EMBRYO]) as server:
        yield server


@pytest.fixture
async def bot(
    make_settings: Callable[..., Settings], feed: FeedServer, slack: SlackApi
) -> AsyncIterator[InspectedBot]:
    for user in (MEMBER, OTHER):
        slack.add_user(user)
    slack.add_user(ADMIN, is_admin=True)
    async with running(make_settings()) as started:
        await eventually(lambda: started.store.release_count() == 3)
        yield started


async def command(bot: Bot, text: str, user: str = MEMBER) -> dict[str, Any]:
    """`/isscr-news <text>` typed by `user`: the ephemeral answer."""
    status, answer = await send_to_slack_app(events_url(bot), slash_command_body(text, user=user))
    assert status == 200
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    return dict(answer)


async def click(bot: Bot, slack: SlackApi, action: str, value: str, user: str = MEMBER) -> Any:
    """`user` presses a button of an ephemeral answer; what the bot answered through its
    response URL (None if nothing)."""
    before = len(slack.responses)
    url = slack.response_url(user)
    body = block_action_body(action, value, response_url=url, user=user)
    status, _ = await send_to_slack_app(events_url(bot), body)
    assert status == 200
    await eventually(lambda: len(slack.responses) > before)
    return slack.responses[-1]


async def subscribe(bot: Bot, slack: SlackApi, query: str, user: str = MEMBER) -> Any:
    """`subscribe <query>`, then Save on its preview: the answer to Save."""
    preview = await command(bot, f"subscribe {query}", user)
    return await click(bot, slack, SAVE_ALERT, save_value(preview), user)


def save_value(answer: dict[str, Any]) -> str:
    [save] = [button for button in buttons(answer) if button["action_id"] == SAVE_ALERT]
    return str(save["value"])


def buttons(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """Every button of a message or view: in actions blocks and as sections' accessories."""
    found = []
    for block in answer.get("blocks", []):
        if block["type"] == "actions":
            found += [e for e in block["elements"] if e["type"] == "button"]
        elif block.get("accessory", {}).get("type") == "button":
            found.append(block["accessory"])
    return found


def texts(answer: dict[str, Any] | str) -> str:
    """A message's blocks as JSON (nothing for an ack that is plain text)."""
    if not isinstance(answer, dict):
        return ""
    return json.dumps(answer.get("blocks", []), ensure_ascii=False)


def alerts_of(bot: InspectedBot, user: str = MEMBER) -> list[str]:
    return [alert.query for alert in bot.store.alerts_of(team=SINGLE_WORKSPACE, user=user)]


def alert_rows(bot: InspectedBot) -> list[tuple[str, str, str | None]]:
    """Every alert delivery queued: (release, member, the queries it matched)."""
    rows = bot.store.db.execute(
        "SELECT release_id, channel, about FROM deliveries WHERE kind = ? ORDER BY id", [ALERT]
    )
    return [tuple(row) for row in rows]


def form_body(
    callback_id: str, *, user: str, typed: str | None = None, private_metadata: str = ""
) -> bytes:
    """The Home's alert form submitted, as Slack posts it: the query typed in its field."""
    values = {}
    if typed is not None:
        values[QUERY_FIELD] = {QUERY_FIELD: {"type": "plain_text_input", "value": typed}}
    return modal_submission_body(
        callback_id, user=user, values=values, private_metadata=private_metadata
    )


# -- subscribing ---------------------------------------------------------------------------


async def test_subscribing_shows_how_many_past_releases_match_then_save_keeps_the_alert(
    bot: InspectedBot, slack: SlackApi
) -> None:
    preview = await command(bot, "subscribe embryo models")

    shown = texts(preview)
    assert "*Alert me about “embryo models”?*" in shown
    assert "It matches *1 past release*; the newest:" in shown
    assert "ISSCR Statement on Embryo Models" in shown
    assert [b["text"]["text"] for b in buttons(preview)] == ["Save alert", "Cancel"]
    assert alerts_of(bot) == []  # nothing saved before Save

    saved = await click(bot, slack, SAVE_ALERT, save_value(preview))

    assert saved["replace_original"] is True
    assert "Saved: you'll get a direct message for each new release matching" in texts(saved)
    assert alerts_of(bot) == ["embryo models"]
    assert [b["text"]["text"] for b in buttons(saved)] == ["Remove"]


async def test_cancel_saves_nothing(bot: InspectedBot, slack: SlackApi) -> None:
    await command(bot, "subscribe embryo models")

    answer = await click(bot, slack, CANCEL_ALERT, "cancel")

    assert answer["text"] == "Not saved: no alert was made."
    assert alerts_of(bot) == []


async def test_saving_the_same_alert_twice_keeps_one_and_says_so(
    bot: InspectedBot, slack: SlackApi
) -> None:
    await subscribe(bot, slack, "embryo models")
    again = await command(bot, "subscribe Embryo Models")

    assert "You already have this alert." in texts(again)
    assert SAVE_ALERT not in [b["action_id"] for b in buttons(again)]
    # A Save pressed twice (or on an older preview) saves nothing more.
    second = await click(bot, slack, SAVE_ALERT, "embryo models")

    assert "You already had the alert *“embryo models”*; nothing changed." in texts(second)
    assert alerts_of(bot) == ["embryo models"]


async def test_a_query_matching_most_of_the_archive_is_saved_only_after_a_warning(
    make_settings: Callable[..., Settings], slack: SlackApi
) -> None:
    items = [make_item(n, html=f"<p>Stem cell research news {n}.</p>") for n in range(30, 0, -1)]
    async with (
        FeedServer(items, rss_limit=None) as feed,
        running(make_settings(FEED_URL=feed.url)) as bot,
    ):
        await eventually(lambda: bot.store.release_count() == 30)
        preview = await command(bot, "subscribe stem cell")

    assert "It matches *30 past releases*" in texts(preview)
    assert ":warning: That is 30 of the 30 releases (100%): you would get most new releases." in (
        texts(preview)
    )
    assert SAVE_ALERT in [b["action_id"] for b in buttons(preview)]


async def test_a_member_holds_at_most_20_alerts_and_is_told_so_past_them(
    bot: InspectedBot, slack: SlackApi
) -> None:
    for n in range(20):
        await click(bot, slack, SAVE_ALERT, f"embryo topic{n}")
    assert len(alerts_of(bot)) == 20

    preview = await command(bot, "subscribe nih funding")
    forced = await click(bot, slack, SAVE_ALERT, "nih funding")  # an older preview's Save

    assert "You have 20 alerts, the most a member can keep. Remove one first" in texts(preview)
    assert SAVE_ALERT not in [b["action_id"] for b in buttons(preview)]
    assert "Not saved." in texts(forced)
    assert len(alerts_of(bot)) == 20 and "nih funding" not in alerts_of(bot)


async def test_dates_cannot_make_an_alert_and_the_answer_shows_the_query_without_them(
    bot: InspectedBot,
) -> None:
    before = await command(bot, "subscribe embryo before:2025")
    after = await command(bot, "subscribe embryo after:2020-01-01")

    assert "leave out before:" in before["text"] and "Try: `embryo`" in texts(before)
    assert "which are all after today: leave out after:" in after["text"]
    assert buttons(before) == buttons(after) == []
    assert alerts_of(bot) == []


async def test_subscribe_alone_explains_alerts_and_help_lists_them(bot: InspectedBot) -> None:
    usage = texts(await command(bot, "subscribe"))
    helped = texts(await command(bot, "help"))

    for answer in (usage, helped):
        assert "/isscr-news subscribe embryo models" in answer
        assert "/isscr-news alerts" in answer


async def test_a_misspelt_word_is_not_corrected_but_the_preview_suggests_the_archives_word(
    bot: InspectedBot,
) -> None:
    preview = texts(await command(bot, "subscribe embyro models"))

    assert "No past release matches it: you'll get the first new one that does." in preview
    assert "No release has “embyro” yet." in preview
    assert "`/isscr-news subscribe embryo models`" in preview


async def test_words_no_release_holds_are_shown_with_look_alikes_for_formatting_characters(
    bot: InspectedBot,
) -> None:
    preview = texts(await command(bot, "subscribe *zzqx models qqqz* `wwqz`"))

    # The member's own characters, never formatting (bold, code) of the note they are in.
    assert "No release has “∗zzqx”, “qqqz∗”, “ˋwwqzˋ” yet." in preview


async def test_a_search_for_a_word_like_alerts_is_still_a_search(bot: InspectedBot) -> None:
    searched = texts(await command(bot, "alerts embryo"))
    listed = texts(await command(bot, "alerts"))

    assert "Your alerts" not in searched and "You have no alerts" not in searched
    assert "You have no alerts." in listed


# -- the list and Remove ---------------------------------------------------------------------


async def test_the_list_removes_an_alert_and_a_second_press_is_told_it_is_gone(
    bot: InspectedBot, slack: SlackApi
) -> None:
    await subscribe(bot, slack, "embryo models")
    await subscribe(bot, slack, "category:policy")
    listed = await command(bot, "subscriptions")
    alert_id = {b["accessibility_label"]: b["value"] for b in buttons(listed)}

    assert "*Your alerts*  ·  2 of 20" in texts(listed)
    assert list(alert_id) == [
        "Remove the alert embryo models",
        "Remove the alert category:Policy",
    ]

    removed = await click(bot, slack, REMOVE_ALERT, alert_id["Remove the alert embryo models"])
    stale = await click(bot, slack, REMOVE_ALERT, alert_id["Remove the alert embryo models"])

    assert removed["replace_original"] is True
    assert "Removed the alert *“embryo models”*." in texts(removed)
    assert "not among yours (perhaps it was removed already)" in texts(stale)
    assert alerts_of(bot) == ["category:Policy"]


async def test_unsubscribe_with_a_query_removes_that_alert(
    bot: InspectedBot, slack: SlackApi
) -> None:
    await subscribe(bot, slack, "embryo models")

    answer = texts(await command(bot, "unsubscribe EMBRYO models"))

    assert "Removed the alert *“embryo models”*." in answer
    assert alerts_of(bot) == []


async def test_the_list_comes_in_time_while_another_program_holds_the_databases_write_lock(
    bot: InspectedBot, slack: SlackApi
) -> None:
    await subscribe(bot, slack, "embryo models")
    other_program = sqlite3.connect(bot.settings.database_path, isolation_level=None)
    other_program.execute("BEGIN IMMEDIATE")  # what a long write of another process holds
    try:
        started = time.monotonic()
        answers = [
            await send_to_slack_app(events_url(bot), slash_command_body(text, user=MEMBER))
            for text in ("alerts", "subscriptions", "unsubscribe")
        ]
        took = time.monotonic() - started
        home = await open_home(bot, slack, MEMBER)
    finally:
        other_program.rollback()
        other_program.close()

    # Each in Slack's acknowledgement (not "Working on it…" and then "busy"): listing writes
    # nothing, so it waits for no lock.
    for status, answer in answers:
        assert status == 200 and "*Your alerts*  ·  1 of 20" in texts(answer), answer
    assert "Press *Remove* on the alert to stop." in texts(answers[2][1])
    assert took < 2.0
    assert "*“embryo models”*" in home


async def test_an_alert_command_meeting_an_error_of_the_database_is_answered_and_logged_once(
    bot: InspectedBot, slack: SlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    await subscribe(bot, slack, "embryo models")
    caplog.set_level(logging.INFO)
    other_program = sqlite3.connect(bot.settings.database_path, isolation_level=None)
    other_program.execute("DROP TABLE alert_tallies")  # where a removal is counted
    other_program.close()

    answer = await command(bot, "unsubscribe embryo models")

    assert answer["text"] == (
        "That hit an error in the bot, which is logged for its admins, so your alerts may not "
        "have changed. `/isscr-news alerts` shows them."
    )
    assert alerts_of(bot) == ["embryo models"]  # its transaction rolled back
    [logged] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert logged.exc_info is not None
    assert "no such table: alert_tallies" in str(logged.exc_info[1])
    assert "unsubscribe" in logged.getMessage()
    assert "embryo" not in logged.getMessage()  # a member's query is theirs


async def test_unsubscribe_with_the_query_copied_from_the_list_with_its_quotes_removes_it(
    bot: InspectedBot, slack: SlackApi
) -> None:
    for query in ("embryo models", '"stem cell"', "category:policy", "NIH", '"NIH"'):
        await subscribe(bot, slack, query)
    assert alerts_of(bot) == [
        "embryo models",
        '"stem cell"',
        "category:Policy",
        "NIH",
        '"NIH"',
    ]

    # As the list shows them, between typographic quotes; or between straight ones.
    copied = texts(await command(bot, "unsubscribe “embryo models”"))
    phrase = texts(await command(bot, 'unsubscribe “"stem cell"”'))
    straight = texts(await command(bot, 'unsubscribe "category:Policy"'))
    # An alert as typed comes first: the quotes are stripped only when none matches.
    typed = texts(await command(bot, 'unsubscribe "NIH"'))
    missing = texts(await command(bot, "unsubscribe “organoids”"))

    assert "Removed the alert *“embryo models”*." in copied
    assert r"Removed the alert *“\"stem cell\"”*." in phrase
    assert "Removed the alert *“category:Policy”*." in straight
    assert r"Removed the alert *“\"NIH\"”*." in typed
    assert "not among yours" in missing
    assert alerts_of(bot) == ["NIH"]


# -- privacy ---------------------------------------------------------------------------------


async def test_a_members_alerts_are_invisible_to_other_members_and_a_forged_remove_fails(
    bot: InspectedBot, slack: SlackApi
) -> None:
    await subscribe(bot, slack, "coalition letter")
    [mine] = bot.store.alerts_of(team=SINGLE_WORKSPACE, user=MEMBER)

    listed = await command(bot, "alerts", user=OTHER)
    others_home = await open_home(bot, slack, OTHER)
    admins_home = await open_home(bot, slack, ADMIN)
    forged = await click(bot, slack, REMOVE_ALERT, str(mine.id), user=OTHER)
    home_forged = home_action_body(REMOVE_ALERT, str(mine.id), user=OTHER)
    status, _ = await send_to_slack_app(events_url(bot), home_forged)

    assert status == 200
    assert "You have no alerts." in texts(listed)
    for shown in (texts(listed), others_home, admins_home, texts(forged)):
        assert "coalition letter" not in shown
    assert "not among yours" in texts(forged)
    await eventually(lambda: len(slack.modals) == 1)  # the Home's click is told too
    assert "not among yours" in json.dumps(slack.modals[0])
    assert alerts_of(bot) == ["coalition letter"]
    assert alerts_of(bot, OTHER) == []


async def test_the_audit_log_and_status_count_alerts_in_aggregate_never_whose_or_what(
    bot: InspectedBot, slack: SlackApi
) -> None:
    before = bot.store.recent_changes(10, team=SINGLE_WORKSPACE)  # ANNOUNCE_CHANNEL's route
    await subscribe(bot, slack, "embryo models")
    await subscribe(bot, slack, "NIH budget", user=OTHER)
    await command(bot, "unsubscribe embryo models")
    await subscribe(bot, slack, "guidance")

    changes = bot.store.recent_changes(10, team=SINGLE_WORKSPACE)
    status = await command(bot, "status", user=ADMIN)
    home = await open_home(bot, slack, ADMIN)

    # One entry for the day, kept up to date: counts, by "Members".
    assert changes[1:] == before
    assert changes[0].action == "alerts"
    assert changes[0].detail.startswith("saved 3 alerts and removed 1 alert on ")
    shown = texts(status) + home
    assert "Members saved 3 alerts and removed 1 alert" in shown
    assert "*Members' alerts*: 2 alerts of 2 members" in texts(status)
    for private in (MEMBER, OTHER, "embryo models", "NIH budget", "guidance"):
        assert private not in texts(status)
    for private in (MEMBER, OTHER, "“embryo models”", "“NIH budget”", "“guidance”"):
        assert private not in home  # (the latest releases listed there have those words)


# -- the Home --------------------------------------------------------------------------------


async def test_the_homes_form_previews_then_saves_an_alert_shown_on_the_home_with_remove(
    bot: InspectedBot, slack: SlackApi
) -> None:
    home = json.loads(await open_home(bot, slack, MEMBER))
    assert [b["text"]["text"] for b in buttons(home)] == ["Alert me about…"]

    await send_to_slack_app(events_url(bot), home_action_body(NEW_ALERT, "new", user=MEMBER))
    await eventually(lambda: len(slack.modals) == 1)
    assert slack.modals[0]["callback_id"] == ALERT_FORM

    empty = await send_to_slack_app(events_url(bot), form_body(ALERT_FORM, user=MEMBER, typed=" "))
    dated = form_body(ALERT_FORM, user=MEMBER, typed="embryo before:2025")
    refused = await send_to_slack_app(events_url(bot), dated)
    typed = form_body(ALERT_FORM, user=MEMBER, typed="embryo models")
    _, previewed = await send_to_slack_app(events_url(bot), typed)

    assert empty[1]["response_action"] == "errors"
    assert "leave out before:" in refused[1]["errors"][QUERY_FIELD]
    assert previewed["response_action"] == "update"
    view = previewed["view"]
    assert view["callback_id"] == ALERT_PREVIEW and view["submit"]["text"] == "Save alert"
    assert "It matches *1 past release*" in json.dumps(view)

    slack.home_views.pop(MEMBER)
    submitted = form_body(ALERT_PREVIEW, user=MEMBER, private_metadata=view["private_metadata"])
    _, saved = await send_to_slack_app(events_url(bot), submitted)

    assert saved["view"]["title"]["text"] == "Alert saved"
    assert alerts_of(bot) == ["embryo models"]
    await eventually(lambda: MEMBER in slack.home_views)  # the Home shows it at once
    home = slack.home_views[MEMBER]
    [remove] = [b for b in buttons(home) if b["action_id"] == REMOVE_ALERT]
    assert "*“embryo models”*" in json.dumps(home, ensure_ascii=False)

    slack.home_views.pop(MEMBER)
    await send_to_slack_app(
        events_url(bot), home_action_body(REMOVE_ALERT, remove["value"], user=MEMBER)
    )
    await eventually(lambda: MEMBER in slack.home_views)

    assert alerts_of(bot) == []
    assert "embryo models" not in json.dumps(slack.home_views[MEMBER])


# -- delivery --------------------------------------------------------------------------------


async def test_a_matching_new_release_is_queued_for_the_member_once_and_a_non_matching_one_not(
    bot: InspectedBot, slack: SlackApi, feed: FeedServer
) -> None:
    await subscribe(bot, slack, "embryo models")
    await subscribe(bot, slack, "category:policy", user=OTHER)

    feed.items[:0] = [NEW_NIH, NEW_EMBRYO]
    await eventually(lambda: len(slack.messages[CHANNEL]) == 2)
    polls = len(feed.requests)
    await eventually(lambda: len(feed.requests) >= polls + 2)  # polled again: nothing more

    assert alert_rows(bot) == [
        (NEW_EMBRYO.item_id, MEMBER, '["embryo models"]'),
        (NEW_EMBRYO.item_id, OTHER, '["category:Policy"]'),
        (NEW_NIH.item_id, OTHER, '["category:Policy"]'),
    ]


async def test_a_matching_new_release_is_sent_to_the_member_by_direct_message_once(
    bot: InspectedBot, slack: SlackApi, feed: FeedServer
) -> None:
    await subscribe(bot, slack, "embryo models")

    feed.items[:0] = [NEW_NIH, NEW_EMBRYO]
    await eventually(lambda: len(slack.dms(MEMBER)) == 1)
    polls = len(feed.requests)
    await eventually(lambda: len(feed.requests) >= polls + 2)

    [dm] = slack.dms(MEMBER)
    assert dm["metadata"]["event_payload"]["item_id"] == NEW_EMBRYO.item_id
    assert dm["text"].startswith("ISSCR news for your alert “embryo models”: Updated Guidance")
    assert "New release for your alert *“embryo models”*" in texts(dm)
    assert slack.dms(OTHER) == []


async def test_an_alert_waits_for_a_word_no_release_holds_yet_and_is_never_corrected(
    bot: InspectedBot, slack: SlackApi, feed: FeedServer
) -> None:
    await subscribe(bot, slack, "organoids")
    await subscribe(bot, slack, "embyro")  # as typed: never read as "embryo"
    await subscribe(bot, slack, "embr")  # nor as the beginning of a longer word

    organoids = make_item(6, title="Brain Organoid Research", html="<p>Embryo work.</p>")
    feed.items[:0] = [organoids]
    await eventually(lambda: len(slack.messages[CHANNEL]) == 1)

    assert alert_rows(bot) == [(organoids.item_id, MEMBER, '["organoids"]')]


async def test_a_paused_member_gets_nothing_until_they_use_their_alerts_again(
    bot: InspectedBot, slack: SlackApi, feed: FeedServer
) -> None:
    await subscribe(bot, slack, "embryo models")
    why = "messages_tab_disabled: the member cannot receive direct messages from the app"
    bot.store.pause_alerts(team=SINGLE_WORKSPACE, user=MEMBER, why=why, now=time.time())

    home = await open_home(bot, slack, MEMBER)
    feed.items[:0] = [NEW_EMBRYO]
    await eventually(lambda: len(slack.messages[CHANNEL]) == 1)

    assert "*Paused* since" in home and "the app's Messages tab is turned off" in home
    assert "Resume alerts" in home
    assert alert_rows(bot) == []

    listed = texts(await command(bot, "alerts"))

    assert "Your alerts had been paused since" in listed and "they are on again" in listed
    assert bot.store.alerts_of(team=SINGLE_WORKSPACE, user=MEMBER)[0].paused is None
    feed.items[:0] = [make_item(7, title="More on embryo models")]
    await eventually(lambda: len(alert_rows(bot)) == 1)


async def test_resume_on_the_home_sends_alerts_again(bot: InspectedBot, slack: SlackApi) -> None:
    await subscribe(bot, slack, "embryo models")
    bot.store.pause_alerts(team=SINGLE_WORKSPACE, user=MEMBER, why="user_not_found", now=1.0)

    slack.home_views.pop(MEMBER, None)
    await send_to_slack_app(events_url(bot), home_action_body(RESUME_ALERTS, "resume", user=MEMBER))
    await eventually(lambda: MEMBER in slack.home_views)

    assert "Paused" not in json.dumps(slack.home_views[MEMBER])
    assert bot.store.alerts_of(team=SINGLE_WORKSPACE, user=MEMBER)[0].paused is None


async def test_a_member_who_blocks_the_apps_messages_is_paused_and_told_why_when_back(
    bot: InspectedBot, slack: SlackApi, feed: FeedServer
) -> None:
    await subscribe(bot, slack, "embryo models")
    slack.users[MEMBER]["messages_blocked"] = True

    feed.items[:0] = [NEW_EMBRYO]
    await eventually(
        lambda: bot.store.alerts_of(team=SINGLE_WORKSPACE, user=MEMBER)[0].paused is not None
    )
    listed = texts(await command(bot, "alerts"))

    assert slack.dms(MEMBER) == []
    assert "Your alerts had been paused since" in listed
    assert "the app's Messages tab is turned off" in listed
