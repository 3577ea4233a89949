"""/isscr-news over signed HTTP requests into the real Bolt app, against the loopback stand-ins."""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.runtime import Bot
from bot.settings import Settings
from standins.feed_server import FeedServer, make_item
from standins.slack_api import FakeResponse, SlackApi
from standins.slack_requests import block_action_body, send_to_slack_app, slash_command_body
from tests.conftest import CHANNEL, bot_env, eventually, mrkdwn_texts, newest_first
from tests.test_bot import events_url, running

EMBRYO = make_item(
    1,
    title="ISSCR Statement on Embryo Models",
    categories=["Statement"],
    html="<p>Guidelines for stem cell-based embryo models.</p>",
    author="Keith Alm",
)
NIH = make_item(
    2,
    title="NIH Funding Letter",
    categories=["Policy", "Press Release"],
    html="<p>The ISSCR joined a coalition letter urging NIH funding.</p>",
)
TOURISM = make_item(
    3,
    title="Stem cell tourism & <!channel> warning",
    categories=["Statement"],
    html="<p>Unproven clinics harm patients.</p>",
)
MEETINGS = [
    make_item(n, title=f"Annual meeting report {n}", html=f"<p>Organoids at meeting {n}.</p>")
    for n in range(10, 22)
]


@pytest.fixture
async def feed() -> AsyncIterator[FeedServer]:
    items = [*newest_first(*range(10, 22)), TOURISM, NIH, EMBRYO]
    items[:12] = sorted(MEETINGS, key=lambda item: item.published, reverse=True)
    async with FeedServer(items, rss_limit=None) as server:
        yield server


@pytest.fixture
async def bot(make_settings: Callable[..., Settings], feed: FeedServer) -> AsyncIterator[Bot]:
    async with running(make_settings()) as started:
        await eventually(lambda: started.store.release_count() == 15)
        yield started


async def ask(bot: Bot, text: str) -> dict[str, Any]:
    status, answer = await send_to_slack_app(events_url(bot), slash_command_body(text))
    assert status == 200
    return answer


async def click(bot: Bot, slack: SlackApi, action_id: str, value: str, **where: str) -> None:
    body = block_action_body(action_id, value, response_url=slack.response_url("r1"), **where)
    status, _ = await send_to_slack_app(events_url(bot), body)
    assert status == 200


def result_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [
        block["accessory"]["value"]
        for block in blocks
        if block.get("accessory", {}).get("action_id") == "share_release"
    ]


def buttons(blocks: list[dict[str, Any]]) -> dict[str, str]:
    """Paging buttons by label, with the value each one carries."""
    return {
        element["text"]["text"]: element["value"]
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
    }


def texts(answer: dict[str, Any]) -> str:
    return json.dumps(answer["blocks"], ensure_ascii=False)


async def test_a_search_answers_in_the_ack_with_the_matched_words_in_bold(bot: Bot) -> None:
    answer = await ask(bot, "embryo")

    assert answer.get("response_type", "ephemeral") == "ephemeral"
    assert answer["blocks"][0]["text"]["text"] == "*1 release matches “embryo”*"
    section = answer["blocks"][2]
    assert section["text"]["text"] == (
        f"*<{EMBRYO.url()}|ISSCR Statement on Embryo Models>*\n"
        "Guidelines for stem cell-based *embryo* models."
    )
    assert section["accessory"]["text"]["text"] == "Share"
    assert result_ids(answer["blocks"]) == [EMBRYO.item_id]
    assert "Statement" in json.dumps(answer["blocks"][3])  # date · categories · author


async def test_a_miss_says_so_and_what_to_loosen(bot: Bot) -> None:
    answer = await ask(bot, "zebrafish")

    assert answer["blocks"][0]["text"]["text"] == "*0 releases match “zebrafish”*"
    assert "No release mentions “zebrafish”" in answer["blocks"][1]["text"]["text"]
    assert result_ids(answer["blocks"]) == []


async def test_a_word_no_release_has_with_the_rest_is_left_out_and_said_so(bot: Bot) -> None:
    answer = await ask(bot, "zebrafish embryo")

    assert answer["blocks"][0]["text"]["text"] == "*1 release matches “zebrafish embryo”*"
    assert answer["blocks"][1]["elements"][0]["text"] == (
        "No release has every word of your search: showing those without “zebrafish”."
    )
    assert result_ids(answer["blocks"]) == [EMBRYO.item_id]


async def test_a_typo_is_corrected_and_the_words_as_typed_are_one_click_away(
    bot: Bot, slack: SlackApi
) -> None:
    answer = await ask(bot, "embryo modles")

    assert answer["blocks"][0]["text"]["text"] == "*1 release matches “embryo modles”*"
    assert answer["blocks"][1]["elements"][0]["text"] == (
        'Showing results for `embryo models`. Search instead for `embryo "modles"`'
    )
    [instead] = answer["blocks"][2]["elements"]
    assert instead["text"]["text"] == 'Search for embryo "modles"'
    assert result_ids(answer["blocks"]) == [EMBRYO.item_id]

    # The button searches the words as typed: a quoted word is never corrected.
    await click(bot, slack, instead["action_id"], instead["value"])
    await eventually(lambda: len(slack.responses) == 1)
    as_typed = slack.responses[-1]
    assert as_typed["replace_original"] is True
    assert as_typed["blocks"][0]["text"]["text"] == '*1 release matches “embryo "modles"”*'
    assert as_typed["blocks"][1]["elements"][0]["text"] == (
        "No release has every word of your search: showing those without “modles”."
    )
    assert "Showing results for" not in texts(as_typed)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("category:policy", [NIH]),
        ("CATEGORY:statement", [TOURISM, EMBRYO]),
        ('category:"press release" funding', [NIH]),
        ("author:alm", [EMBRYO]),
        ("author:KILBOURNE stem", [TOURISM]),
        ("after:2025-01-03 before:2025-01-04", [NIH]),
        ("stem after:2025-01-03", [TOURISM]),
        ('"embryo models" category:statement', [EMBRYO]),
    ],
)
async def test_each_filter_narrows_the_results(bot: Bot, typed: str, expected: list[Any]) -> None:
    answer = await ask(bot, typed)
    assert result_ids(answer["blocks"]) == [item.item_id for item in expected]


async def test_prev_and_next_replace_the_message_page_by_page(bot: Bot, slack: SlackApi) -> None:
    first = await ask(bot, "organoids")
    assert first["blocks"][0]["text"]["text"] == "*12 releases match “organoids”*  ·  page 1 of 3"
    assert list(buttons(first["blocks"])) == ["Next ▸"]

    await click(bot, slack, "search_page_next", buttons(first["blocks"])["Next ▸"])
    await eventually(lambda: len(slack.responses) == 1)
    second = slack.responses[-1]
    assert second["replace_original"] is True
    assert "page 2 of 3" in second["blocks"][0]["text"]["text"]
    for block in second["blocks"]:  # Share still names the channel it would post in
        if block.get("accessory", {}).get("action_id") == "share_release":
            assert f"in <#{CHANNEL}>, where" in block["accessory"]["confirm"]["text"]["text"]
    assert list(buttons(second["blocks"])) == ["◂ Prev", "Next ▸"]

    await click(bot, slack, "search_page_next", buttons(second["blocks"])["Next ▸"])
    await eventually(lambda: len(slack.responses) == 2)
    third = slack.responses[-1]
    assert list(buttons(third["blocks"])) == ["◂ Prev"]

    await click(bot, slack, "search_page_previous", buttons(third["blocks"])["◂ Prev"])
    await eventually(lambda: len(slack.responses) == 3)
    assert result_ids(slack.responses[-1]["blocks"]) == result_ids(second["blocks"])

    pages = [result_ids(page["blocks"]) for page in (first, second, third)]
    assert [len(ids) for ids in pages] == [5, 5, 2]
    assert sorted(id for ids in pages for id in ids) == sorted(item.item_id for item in MEETINGS)
    # Newest first among equally relevant releases.
    assert pages[0][0] == make_item(21).item_id


async def test_share_posts_the_announcement_naming_who_shared_it_once(
    bot: Bot, slack: SlackApi
) -> None:
    await click(bot, slack, "share_release", NIH.item_id)
    await click(bot, slack, "share_release", NIH.item_id)  # a double click
    await eventually(lambda: len(slack.messages[CHANNEL]) == 1)
    await eventually(lambda: len(slack.calls_to("chat.postMessage")) >= 1)

    [message] = slack.messages[CHANNEL]
    assert message["text"] == "ISSCR Policy, Press Release: NIH Funding Letter"
    assert message["blocks"][-1]["elements"][0]["text"] == "Shared by <@U0MEMBER01>"
    assert NIH.url() in message["blocks"][0]["text"]["text"]
    assert "metadata" not in message  # never mistaken for an announcement the outbox sent
    assert slack.responses == []


async def test_share_joins_a_public_channel_and_explains_a_private_one(
    bot: Bot, slack: SlackApi
) -> None:
    slack.add_channel("C0PUBLIC01", member=False)
    slack.add_channel("C0PRIVAT01", private=True, member=False)

    await click(bot, slack, "share_release", EMBRYO.item_id, channel="C0PUBLIC01")
    await eventually(lambda: len(slack.messages["C0PUBLIC01"]) == 1)
    await click(bot, slack, "share_release", EMBRYO.item_id, channel="C0PRIVAT01")
    await eventually(lambda: len(slack.responses) == 1)

    assert len(slack.calls_to("conversations.join")) >= 1
    assert slack.responses[0]["replace_original"] is False
    assert "/invite @ISSCR News" in slack.responses[0]["text"]
    assert slack.messages["C0PRIVAT01"] == []


async def test_help_empty_query_and_bad_filters_get_clear_answers(bot: Bot) -> None:
    helped = await ask(bot, "help")
    assert "`/isscr-news category:policy`" in texts(helped)

    latest = await ask(bot, "")
    assert latest["blocks"][0]["text"]["text"] == (
        "*Latest ISSCR news (15 releases stored)*  ·  page 1 of 3"
    )
    assert result_ids(latest["blocks"]) == [make_item(n).item_id for n in (21, 20, 19, 18, 17)]

    unknown = await ask(bot, "category:nope embryo")
    assert "There is no category “nope”" in texts(unknown)
    assert '`category:\\"Press Release\\"`' in texts(unknown)
    assert "Try:" in texts(await ask(bot, "after:2025-02-30"))
    # Slack sends what was typed as "<!channel>" escaped, and a real @channel as markup.
    echoed = await ask(bot, "&lt;!channel&gt; embryo <!here>")
    assert "“&lt;!channel&gt; embryo here”" in echoed["blocks"][0]["text"]["text"]
    shown = " ".join(mrkdwn_texts(echoed["blocks"]))
    assert "<!channel>" not in shown and "<!here>" not in shown


async def test_a_slow_answer_follows_the_ack_through_response_url(
    bot: Bot, slack: SlackApi
) -> None:
    bot.controls.answer_in_ack_within = 0  # every search counts as slow
    body = slash_command_body("embryo", response_url=slack.response_url("slow"))
    status, acked = await send_to_slack_app(events_url(bot), body)
    await eventually(lambda: len(slack.responses) == 1)

    assert status == 200
    assert acked == ":mag: Searching the ISSCR archive…"  # a plain-text ack: ephemeral
    assert slack.responses[0]["replace_original"] is False  # which Slack would not do
    assert result_ids(slack.responses[0]["blocks"]) == [EMBRYO.item_id]


@pytest.mark.parametrize(
    "fault", [FakeResponse.timeout(8), FakeResponse.server_error()], ids=["slow", "failing"]
)
async def test_a_search_does_not_wait_for_slack_to_say_who_the_bot_is(
    make_settings: Callable[..., Settings],
    feed: FeedServer,
    slack: SlackApi,
    fault: FakeResponse,
) -> None:
    # Bolt would ask auth.test before the first request's listener, and on every request
    # until Slack answered: a slow Slack broke the 3-second ack, a failing one answered
    # "please reinstall this app".
    slack.fail_next("auth.test", fault, times=20)
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 15)
        for _ in range(2):
            started = time.monotonic()
            answer = await ask(bot, "embryo")
            assert time.monotonic() - started < 2
            assert result_ids(answer["blocks"]) == [EMBRYO.item_id]
        assert len(slack.calls_to("auth.test")) <= 3  # our own start-up check, retried


def hostile_queries() -> list[str]:
    fixed = [
        '"',
        '""',
        '"""',
        "'",
        "*",
        "**",
        "NEAR(",
        "NEAR(stem cell, 2)",
        "stem NEAR cell",
        "AND",
        "OR",
        "NOT",
        "stem AND",
        "OR cell",
        "NOT stem",
        "stem -cell",
        "+stem",
        "^stem",
        "title:stem",
        "{title body}: stem",
        "body:stem",
        "stem*",
        "*stem",
        "st*em",
        "(stem",
        "stem)",
        "()",
        "[stem]",
        "category:",
        'category:"',
        'category:""',
        "category:nope",
        "category:policy category:",
        "author:",
        "author:%",
        "author:_",
        "after:",
        "after:2024-13-01",
        "after:2024-02-30",
        "before:yesterday",
        "before:0000-00-00",
        "after:99999",
        "after:2025 before:2024",
        "after:2024 after:2023",
        "catgory:policy",
        "authr:x",
        ":",
        "::",
        "a:",
        ":b",
        "%",
        "_",
        "\\",
        "'; DROP TABLE releases; --",
        "\x00",
        "stem\x00cell",
        "\x1b[31mred",
        "\u202estem",
        "\u200b",
        "🧬 stem",
        "胚 幹細胞",
        "ｓｔｅｍ",
        "stem " * 50,
        "x" * 5000,
        "embryo " * 13,
        "<!channel>",
        "<@U123|admin>",
        "&amp;lt;",
        "&",
        "<",
        ">",
        "<https://evil.example|isscr>",
        # What Slack sends for "<!channel>" typed as text, in a filter that is quoted back
        "after:&lt;!channel&gt;",
        "category:&lt;https://evil.example|isscr.org&gt;",
        "author:&lt;@U123&gt; embryo",
        "%s%s%s",
        "{0}",
        "${jndi:x}",
        "\n\n\n",
        "\t",
        "stem\ncell",
        "category:\x00",
        'category:"press release',
        "before:2025-01-01T00:00",
        "after:-1",
        "help me",
    ]
    rng = random.Random(20261125)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 \"*():-^{}[]+&<>%_\\/'\x00\x07é🧬"
    generated = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))) for _ in range(60)
    ]
    return fixed + generated


async def test_a_hundred_hostile_queries_each_get_a_helpful_answer_within_3_s(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    queries = hostile_queries()
    assert len(queries) >= 100
    for typed in queries:
        started = time.monotonic()
        status, answer = await send_to_slack_app(events_url(bot), slash_command_body(typed))
        elapsed = time.monotonic() - started

        assert status == 200, typed
        assert elapsed < 3, typed
        shown = "\n".join([answer["text"], *mrkdwn_texts(answer["blocks"])])
        assert answer["blocks"] and answer["text"], typed
        first = answer["blocks"][0]["text"]["text"]
        # Results (perhaps none, with hints), or a problem with an example and the help.
        assert first.startswith(("*", ":mag:")), (typed, first)
        if first.startswith(":mag:"):
            assert "Try:" in first or "try again" in first, (typed, first)
        for dangerous in ("<!channel", "<!here", "<@U123", "<https://evil"):
            assert dangerous not in shown, typed
        assert "something went wrong" not in shown.casefold()
        assert "hit an error in the bot" not in shown, typed  # the catch-all for a bug
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert bot.store.release_count() == 15
    assert result_ids((await ask(bot, "embryo"))["blocks"]) == [EMBRYO.item_id]


async def test_the_cli_searches_with_the_same_grammar_and_results(
    tmp_path: Any, feed: FeedServer, slack: SlackApi, bot: Bot
) -> None:
    in_slack = result_ids((await ask(bot, "organoids after:2025-01-15"))["blocks"])
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL="WARNING")
    runner = CliRunner()

    found = runner.invoke(main, ["search", "organoids", "after:2025-01-15"], env=env)
    missed = runner.invoke(main, ["search", "zebrafish"], env=env)
    wrong = runner.invoke(main, ["search", "category:nope"], env=env)

    assert found.exit_code == 0, found.output
    assert found.output.startswith("8 releases match “organoids after:2025-01-15”.")
    titles = re.findall(r"^\d+\. (.+)$", found.output, re.MULTILINE)
    expected = {item.item_id: item.title for item in MEETINGS}
    assert titles == [expected[release_id] for release_id in in_slack] + titles[len(in_slack) :]
    assert len(titles) == 8
    assert missed.exit_code == 1
    assert "No release mentions “zebrafish”" in missed.output
    assert wrong.exit_code == 2
    assert wrong.output.count("\n") == 1
    assert "There is no category “nope”" in wrong.output
