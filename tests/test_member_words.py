"""What members read: every answer, Home and refusal they can reach, over signed requests into
the real Bolt app. Members never read a setting's name; only admins see the admin commands."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.runtime import Bot
from bot.settings import Settings
from standins.feed_server import FeedServer, make_item
from standins.slack_api import FakeResponse, SlackApi
from standins.slack_requests import (
    block_action_body,
    home_action_body,
    send_to_slack_app,
    slash_command_body,
    view_submission_body,
)
from tests.conftest import CHANNEL, bot_env, eventually
from tests.test_bot import events_url, running
from tests.test_home import open_home

ADMIN, MEMBER, EXTRA = "U0ADMIN001", "U0MEMBER01", "U0EXTRA001"
ELSEWHERE = "C0ELSEWHR1"
RELEASE = make_item(2).item_id
# A setting's name: words in capitals joined by underscores (SLACK_BOT_TOKEN, FEED_URL, …),
# or one of the settings named by a single word.
SETTING = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b|\bPORT\b")
ADMIN_COMMANDS = ("route", "unroute", "routes", "status", "poll")


@pytest.fixture
async def bot(
    make_settings: Callable[..., Settings], slack: SlackApi, feed: FeedServer
) -> AsyncIterator[Bot]:
    slack.add_user(ADMIN, is_admin=True)
    slack.add_user(MEMBER)
    slack.add_user(EXTRA)  # an admin of the bot by its settings only
    slack.add_channel(ELSEWHERE, name="elsewhere")
    async with running(make_settings(ADMIN_USER_IDS=EXTRA)) as started:
        await eventually(lambda: started.store.release_count() == 3)
        await eventually(lambda: not started.store.channels_with_work())
        yield started


def strings(value: Any) -> list[str]:
    """Every string in a payload: texts, labels, titles, errors alike."""
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return [value] if isinstance(value, str) else []


async def ask(bot: Bot, text: str, user: str = MEMBER, response_url: str | None = None) -> Any:
    body = slash_command_body(
        text, user=user, **({"response_url": response_url} if response_url else {})
    )
    status, answer = await send_to_slack_app(events_url(bot), body)
    assert status == 200
    return answer


async def press(bot: Bot, body: bytes) -> Any:
    status, answer = await send_to_slack_app(events_url(bot), body)
    assert status == 200
    return answer


async def test_nothing_a_member_reads_names_a_setting(
    bot: Bot, slack: SlackApi, tmp_path: Any
) -> None:
    read: list[Any] = []
    # The slash command: help, the latest, a miss, queries it cannot run, each admin command
    typed = ["help", "", "zebrafish", "category:nope", "after:2025-02-30", 'author:"', "routes"]
    typed += [f"route <#{ELSEWHERE}|elsewhere> Policy", "unroute", "status", "poll", "route x"]
    for text in typed:
        read.append(await ask(bot, text))
    # Their Home, and each admin button and form they might reach
    read.append(await open_home(bot, slack, MEMBER))
    for action in ("admin_add_route", "admin_poll_now", "admin_send_trial"):
        read.append(await press(bot, home_action_body(action, user=MEMBER)))
    for form in ("route_form", "trial_form"):
        submitted = view_submission_body(form, user=MEMBER, channel=ELSEWHERE)
        read.append(await press(bot, submitted))
    # Share, when Slack refuses the post for each reason it may give, or gives no answer
    errors = ["invalid_auth", "token_revoked", "missing_scope", "is_archived", "not_a_code"]
    refusals = [FakeResponse.error(error) for error in errors] + [FakeResponse.disconnect()]
    for answered, refusal in enumerate(refusals, start=1):
        slack.fail_next("chat.postMessage", refusal)
        url = slack.response_url(f"share-{answered}")
        await press(bot, block_action_body("share_release", RELEASE, response_url=url))
        await eventually(lambda answered=answered: len(slack.responses) == answered)
    await press(bot, block_action_body("share_release", "gone", response_url=url))
    await eventually(lambda: len(slack.responses) == len(refusals) + 1)
    # When Slack cannot say whether they are an admin
    slack.fail_next("users.info", FakeResponse.error("fatal_error"))
    read.append(await ask(bot, "routes"))
    await eventually(lambda: len(slack.modals) == 3)

    everything = [read, slack.responses, slack.modals, slack.home_views[MEMBER]]
    shown = "\n".join(strings(everything))
    assert "Only workspace admins and owners" in shown  # the refusals were read
    assert "couldn't check your admin rights" in shown and "Sharing failed" in shown
    assert SETTING.findall(shown) == []
    for setting in bot_env(tmp_path, None, None):
        assert setting not in shown


async def test_a_member_is_told_how_to_become_an_admin_in_words_of_slack(bot: Bot) -> None:
    answer = await ask(bot, "routes")

    assert answer["blocks"][0]["text"]["text"] == (
        "Only workspace admins and owners can see where ISSCR news goes and how the bot is "
        "doing. Ask one of them, or ask whoever runs the bot to make you an admin of ISSCR "
        'News. To search for the word, put it in quotes: `/isscr-news "routes"`.'
    )


def commands_in(answer: dict[str, Any]) -> set[str]:
    """The admin commands a help answer shows, as `/isscr-news route…` examples."""
    text = json.dumps(answer.get("blocks", []), ensure_ascii=False)
    return {verb for verb in ADMIN_COMMANDS if f"`/isscr-news {verb}" in text}


def test_the_usage_hint_slack_shows_as_members_type_gives_only_the_search_forms() -> None:
    manifest = Path(__file__).resolve().parent.parent / "manifest.json"
    [command] = json.loads(manifest.read_text())["features"]["slash_commands"]
    shown = f"{command['description']} {command['usage_hint']}"

    for form in ("[words]", "category:", "after:", "author:", "help"):
        assert form in command["usage_hint"]
    assert [verb for verb in ADMIN_COMMANDS if re.search(rf"\b{verb}\b", shown)] == []


async def test_help_shows_members_the_search_forms_and_admins_their_commands_too(
    bot: Bot,
) -> None:
    member, admin, extra = [await ask(bot, "help", user=user) for user in (MEMBER, ADMIN, EXTRA)]

    for answer in (member, admin, extra):
        text = json.dumps(answer["blocks"], ensure_ascii=False)
        for form in ("embryo model", "category:policy", "after:2024-01-01", "author:kilbourne"):
            assert f"`/isscr-news {form}" in text
    assert commands_in(member) == set()
    assert "Admins" not in json.dumps(member) and "Home tab" not in json.dumps(member)
    assert commands_in(admin) == commands_in(extra) == set(ADMIN_COMMANDS)


async def test_help_does_not_keep_a_member_waiting_for_slack_to_say_who_is_an_admin(
    bot: Bot, slack: SlackApi
) -> None:
    for user in (MEMBER, ADMIN):
        slack.fail_next("users.info", FakeResponse.timeout(2.5))
        started = time.monotonic()
        answer = await ask(bot, "help", user=user, response_url=slack.response_url(user))
        took = time.monotonic() - started

        assert took < 1.5  # in the ack, long before Slack's 3 s
        assert "`/isscr-news embryo model`" in json.dumps(answer["blocks"])
        assert commands_in(answer) == set()
    # The admin's commands follow once Slack has answered; the member gets nothing more
    await eventually(lambda: len(slack.responses) == 1)
    [more] = slack.responses
    assert more["replace_original"] is False
    assert commands_in(more) == set(ADMIN_COMMANDS)
    assert "Admins" in more["blocks"][0]["text"]["text"]


async def test_a_notification_never_repeats_the_category_its_title_starts_with(
    bot: Bot, slack: SlackApi, feed: FeedServer
) -> None:
    titled = [
        ("ISSCR Statement on Embryo Models", ["Statement"]),
        ("Press Releases: The Annual Meeting", ["Press Release"]),
        ("The ISSCR’s policy on funding", ["Policy"]),
        ("Statement of support", ["Policy", "Statement"]),
        ("A new report", ["Policy", "Statement"]),
        ("Statementary", ["Statement"]),  # a word that only starts like a category
        ("Nothing to file it under", []),
    ]
    items = [
        make_item(10 + n, title=title, categories=names) for n, (title, names) in enumerate(titled)
    ]
    feed.items[:0] = reversed(items)
    await eventually(lambda: len(slack.messages[CHANNEL]) == len(items))

    assert [message["text"] for message in slack.messages[CHANNEL]] == [
        "ISSCR Statement on Embryo Models",
        "ISSCR: Press Releases: The Annual Meeting",
        "The ISSCR’s policy on funding",
        "ISSCR: Statement of support",
        "ISSCR Policy, Statement: A new report",
        "ISSCR Statement: Statementary",
        "ISSCR News: Nothing to file it under",
    ]
    # A shared release's notification reads the same
    url = slack.response_url("share")
    await press(bot, block_action_body("share_release", items[0].item_id, response_url=url))
    await eventually(lambda: len(slack.messages[CHANNEL]) == len(items) + 1)
    assert slack.messages[CHANNEL][-1]["text"] == "ISSCR Statement on Embryo Models"


async def test_feed_text_looks_the_same_in_an_announcement_and_in_a_search_result(
    bot: Bot, slack: SlackApi, feed: FeedServer
) -> None:
    every = "*bold* _italic_ ~struck~ `code` > quoted & <b>tag</b> <!channel> <@U0ADMIN001>"
    html = f"<p>Organoids: {every.replace('&', '&amp;').replace('<', '&lt;')}</p>"
    item = make_item(10, title=f"Organoids {every}", html=html)
    feed.items.insert(0, item)
    await eventually(lambda: len(slack.messages[CHANNEL]) == 1)

    announced = slack.messages[CHANNEL][0]["blocks"][0]["text"]["text"]
    answer = await ask(bot, "organoids")
    [found] = [
        block["text"]["text"]
        for block in answer["blocks"]
        if block.get("accessory", {}).get("value") == item.item_id
    ]

    assert "*Organoids*:" in found  # the match, in bold
    assert found.replace("*", "") == announced.replace("*", "")
    shown = (
        "∗bold∗ _italic_ ~struck~ ˋcodeˋ &gt; quoted &amp; &lt;b&gt;tag&lt;/b&gt; "
        "&lt;!channel&gt; &lt;@U0ADMIN001&gt;"
    )
    assert announced.endswith(f">*\nOrganoids: {shown}")
    assert announced.count("<") == 1  # our link to the release, and no mention
