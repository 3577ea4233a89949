"""A newcomer's first hour: only the tokens set, the channel picked on the Home, routes that
only add, ANNOUNCE_CHANNEL as a one-time seed, every settings problem in one run, and a first
start that says what it did."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from bot.models import SINGLE_WORKSPACE, Release
from bot.onboarding import first_success
from bot.routes import SEED_BY
from bot.settings import Settings, SettingsError
from bot.slack.blocks.admin import SEND_TRIAL, first_post_blocks
from bot.slack.blocks.announcement import announcement_blocks
from bot.store import Route
from standins.feed_server import FeedServer, make_item
from standins.slack_api import SlackApi
from tests.conftest import (
    CHANNEL,
    bot_env,
    eventually,
    posted_ids,
)
from tests.test_admin import ADMIN, MEMBER, POLICY_NEWS, PRESS_NEWS, at, command
from tests.test_admin import feed as feed  # the feed fixture: one release per category
from tests.test_bot import running
from tests.test_home import buttons, choose_first_channel, notice, open_home
from tests.test_process import BotProcess, run_cli

SETUP = "Set up: pick the channel that receives ISSCR news."


def only_tokens(make_settings: Callable[..., Settings], **more: str) -> Settings:
    return make_settings(ANNOUNCE_CHANNEL="", **more)


def noticed(slack: SlackApi, start: str) -> bool:
    """Whether the admin's Home was published with a notice starting with `start`."""
    return ADMIN in slack.home_views and (notice(slack) or "").startswith(start)


def setup_menu(home: str) -> list[dict[str, object]]:
    return [
        element
        for block in json.loads(home)["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["type"] == "conversations_select"
    ]


async def test_with_only_the_tokens_an_admin_picks_the_channel_on_the_home(
    make_settings: Callable[..., Settings], slack: SlackApi, feed: FeedServer
) -> None:
    slack.add_user(ADMIN, is_admin=True)
    slack.add_channel(POLICY_NEWS, member=False, name="policy-news")
    async with running(only_tokens(make_settings)) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        before = await open_home(bot, slack, ADMIN)

        await choose_first_channel(bot, POLICY_NEWS)
        await eventually(lambda: noticed(slack, "Set up: new ISSCR"))
        after = slack.home_views[ADMIN]
        feed.items.insert(0, make_item(4, categories=["Statement"]))
        feed.items.insert(0, make_item(5, categories=[]))
        await eventually(lambda: len(slack.messages[POLICY_NEWS]) == 2)
        routes = bot.store.routes(team=SINGLE_WORKSPACE)

    assert SETUP in before and len(setup_menu(before)) == 1
    assert "Where ISSCR news goes" not in before
    assert notice(slack) == (
        f"Set up: new ISSCR releases will be announced in <#{POLICY_NEWS}>. Send a test "
        "announcement to see one now. I joined the channel."
    )
    assert SETUP not in json.dumps(after) and not setup_menu(json.dumps(after))
    assert [(route.channel, route.categories) for route in routes] == [(POLICY_NEWS, ())]
    # Every category, and releases without one.
    assert posted_ids(slack, POLICY_NEWS) == [make_item(4).item_id, make_item(5).item_id]


async def test_the_setup_choice_is_refused_to_members_forgeries_and_a_stale_home(
    make_settings: Callable[..., Settings], slack: SlackApi, feed: FeedServer
) -> None:
    slack.add_user(ADMIN, is_admin=True)
    slack.add_user(MEMBER)
    async with running(only_tokens(make_settings)) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        await choose_first_channel(bot, POLICY_NEWS, user=MEMBER)
        for forged in ("#policy-news", "<!channel>", "C0POLICY01 ", ""):
            await choose_first_channel(bot, forged)
        await eventually(lambda: len(slack.modals) == 5)  # each refusal says why, after its ack
        nothing_yet = bot.store.routes(team=SINGLE_WORKSPACE)
        modals = [json.dumps(modal) for modal in slack.modals]

        await choose_first_channel(bot, POLICY_NEWS)
        await eventually(lambda: noticed(slack, "Set up: new ISSCR"))
        slack.home_views.clear()
        await choose_first_channel(bot, PRESS_NEWS)  # from a Home opened before that choice
        await eventually(lambda: ADMIN in slack.home_views)
        routes = bot.store.routes(team=SINGLE_WORKSPACE)

    assert nothing_yet == []
    assert "admin" in modals[0] and "not one this app made" in modals[1]
    assert [route.channel for route in routes] == [POLICY_NEWS]
    assert notice(slack) == (
        "Another admin has already chosen where ISSCR news goes: see the routes below, and use "
        "Add route to add this channel too."
    )


async def test_routes_only_add_to_the_every_category_channel(
    make_settings: Callable[..., Settings], slack: SlackApi, feed: FeedServer
) -> None:
    slack.add_user(ADMIN, is_admin=True)
    slack.add_channel(POLICY_NEWS, member=False, name="policy-news")
    async with running(make_settings()) as bot:  # ANNOUNCE_CHANNEL seeds the first route
        await eventually(lambda: bot.store.release_count() == 3)
        answer = await command(bot, f"route {at(POLICY_NEWS, 'policy-news')} Policy")
        feed.items[:0] = [
            make_item(5, categories=["Statement"]),
            make_item(4, categories=["Policy"]),
        ]
        await eventually(lambda: len(slack.messages[CHANNEL]) == 2)
        await eventually(lambda: len(slack.messages[POLICY_NEWS]) == 1)

    assert answer == (
        f"<#{POLICY_NEWS}> now receives *Policy*. I joined the channel.\n"
        "*Where ISSCR news goes*\n"
        f"• <#{CHANNEL}> ← every category\n"
        f"• <#{POLICY_NEWS}> ← *Policy*"
    )
    assert posted_ids(slack, CHANNEL) == [make_item(4).item_id, make_item(5).item_id]
    assert posted_ids(slack, POLICY_NEWS) == [make_item(4).item_id]


async def test_a_route_without_categories_takes_every_category(
    make_settings: Callable[..., Settings], slack: SlackApi, feed: FeedServer
) -> None:
    slack.add_user(ADMIN, is_admin=True)
    slack.add_channel(PRESS_NEWS, member=False, name="press-news")
    async with running(only_tokens(make_settings)) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        answer = await command(bot, f"route {at(PRESS_NEWS, 'press-news')}")

    assert answer == (
        f"<#{PRESS_NEWS}> now receives every category. I joined the channel.\n"
        "*Where ISSCR news goes*\n"
        f"• <#{PRESS_NEWS}> ← every category"
    )


async def test_announce_channel_seeds_its_route_once_and_the_admins_changes_stay(
    make_settings: Callable[..., Settings], slack: SlackApi, feed: FeedServer
) -> None:
    slack.add_user(ADMIN, is_admin=True)
    settings = make_settings()
    async with running(settings) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        seeded = [
            (r.channel, r.categories, r.updated_by) for r in bot.store.routes(team=SINGLE_WORKSPACE)
        ]
        await command(bot, f"unroute {at(CHANNEL, 'news')}")
    async with running(settings) as bot:  # restarted: the removal is respected
        await asyncio.sleep(0.2)
        after_removal = bot.store.routes(team=SINGLE_WORKSPACE)
        await command(bot, f"route {at(CHANNEL, 'news')} Policy")
    async with running(settings) as bot:  # and so is a narrowed route
        feed.items[:0] = [
            make_item(5, categories=["Statement"]),
            make_item(4, categories=["Policy"]),
        ]
        await eventually(lambda: bot.store.release_count() == 5)
        await eventually(lambda: not bot.store.channels_with_work())
        narrowed = [(r.channel, r.categories) for r in bot.store.routes(team=SINGLE_WORKSPACE)]
        changes = [
            (c.user_id, c.detail) for c in reversed(bot.store.recent_changes(team=SINGLE_WORKSPACE))
        ]

    assert seeded == [(CHANNEL, (), SEED_BY)]
    assert after_removal == []
    assert narrowed == [(CHANNEL, ("Policy",))]
    assert posted_ids(slack) == [make_item(4).item_id]  # Policy only
    assert changes[0] == (
        SEED_BY,
        f"{CHANNEL}: routed every category to {CHANNEL} (as ANNOUNCE_CHANNEL asked)",
    )
    assert [user for user, _ in changes[1:]] == [ADMIN, ADMIN]


@pytest.mark.parametrize("had_routes", [False, True], ids=["no routes", "routes"])
async def test_an_upgraded_database_keeps_exactly_its_deliveries(
    make_settings: Callable[..., Settings],
    slack: SlackApi,
    feed: FeedServer,
    tmp_path: Path,
    had_routes: bool,
) -> None:
    """A database of the version before: ANNOUNCE_CHANNEL received everything while there
    were no routes, and nothing once there were."""
    slack.add_channel(POLICY_NEWS, name="policy-news")
    settings = make_settings()
    async with running(make_settings(ANNOUNCE_CHANNEL="")) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
    with sqlite3.connect(tmp_path / "bot.db") as old:  # as the version before left it
        old.execute("DROP TABLE seeds")
        old.execute("PRAGMA user_version = 3")  # seeds came with version 4 (bot.store.schema)
        if had_routes:
            old.execute(
                "INSERT INTO routes (channel, categories, updated_at, updated_by) "
                "VALUES (?, '[\"Policy\"]', 1.0, ?)",
                [POLICY_NEWS, ADMIN],
            )
    old.close()
    async with running(settings) as bot:
        feed.items.insert(0, make_item(4, categories=["Policy"]))
        await eventually(lambda: bot.store.release_count() == 4)
        await eventually(lambda: not bot.store.channels_with_work())
        routes = [(r.channel, r.categories) for r in bot.store.routes(team=SINGLE_WORKSPACE)]

    if had_routes:
        assert routes == [(POLICY_NEWS, ("Policy",))]
        assert slack.messages[CHANNEL] == []
        assert posted_ids(slack, POLICY_NEWS) == [make_item(4).item_id]
    else:
        assert routes == [(CHANNEL, ())]
        assert posted_ids(slack) == [make_item(4).item_id]


async def test_until_something_is_posted_the_admin_home_says_why_and_offers_a_test(
    make_settings: Callable[..., Settings], slack: SlackApi, feed: FeedServer
) -> None:
    slack.add_user(ADMIN, is_admin=True)
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        quiet = await open_home(bot, slack, ADMIN)
        feed.items.insert(0, make_item(4))
        await eventually(lambda: bot.store.delivery_counts(team=SINGLE_WORKSPACE)["sent"] == 1)
        posted = await open_home(bot, slack, ADMIN)
        health = await (await _get(f"http://127.0.0.1:{bot.port}/healthz")).json()

    assert "Nothing posted yet, as expected" in quiet
    assert "the releases already published were stored as the starting point" in quiet
    assert "admin_send_trial" in quiet
    assert f"The bot routed every category to <#{CHANNEL}> (as ANNOUNCE_CHANNEL asked)" in quiet
    assert "Nothing posted yet" not in posted
    assert buttons(posted)[-1] == "Send a test announcement"  # still among the actions
    assert health["routes"] == 1 and health["ok"] is True


async def test_without_a_route_the_bot_is_healthy_and_says_nothing_is_announced(
    make_settings: Callable[..., Settings], slack: SlackApi, feed: FeedServer
) -> None:
    async with running(only_tokens(make_settings)) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        response = await _get(f"http://127.0.0.1:{bot.port}/healthz")
        status, report = response.status, await response.json()

    assert status == 200 and report["ok"] is True and report["routes"] == 0
    assert report["notices"] == [
        "No channel receives ISSCR news yet: new releases are stored and searchable but "
        "announced nowhere. An admin picks a channel on the app's Home, or types "
        "/isscr-news route #channel"
    ]


async def _get(url: str) -> aiohttp.ClientResponse:
    async with aiohttp.ClientSession() as session:
        response = await session.get(url)
        await response.read()
        return response


@pytest.mark.parametrize("announce", [CHANNEL, ""], ids=["announce channel", "only tokens"])
async def test_the_first_poll_says_in_one_log_line_what_happened_and_what_comes_next(
    tmp_path: Path,
    feed: FeedServer,
    slack: SlackApi,
    processes: list[BotProcess],
    announce: str,
) -> None:
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO", ANNOUNCE_CHANNEL=announce)
    bot = await BotProcess(env, tmp_path).start()
    processes.append(bot)
    await eventually(lambda: "stored 3 releases" in bot.output(), timeout=20)

    [line] = [line for line in bot.output().splitlines() if "stored 3 releases" in line]
    next_one = (
        f"the next new release will go to {CHANNEL}"
        if announce
        else "no channel receives news yet: an admin picks one on the app's Home in Slack "
        "(or set ANNOUNCE_CHANNEL)"
    )
    assert line.endswith(
        "stored 3 releases; the archive import is running (older releases, not announced); "
        + next_one
    )


def test_every_settings_problem_is_named_in_one_error() -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxp-user-token",
        "ANNOUNCE_CHANNEL": "#general",
        "POLL_INTERVAL": "soon",
        "PORT": "70000",
        "LOG_LEVEL": "chatty",
        "ADMIN_USER_IDS": "@alice",
        "FEED_URL": "no-such-file.rss",
    }

    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env, require_slack=True, serve=True)

    assert raised.value.variables == (
        "SLACK_BOT_TOKEN",
        "FEED_URL",
        "POLL_INTERVAL",
        "ANNOUNCE_CHANNEL",
        "PORT",
        "LOG_LEVEL",
        "ADMIN_USER_IDS",
        "SLACK_SIGNING_SECRET",
    )
    lines = str(raised.value).splitlines()
    assert len(lines) == 8 and all(": " in line for line in lines)
    assert "xoxp-user-token" not in str(raised.value)  # a secret is never echoed
    # A wrong token is reported once, not also as missing.
    assert sum("SLACK_BOT_TOKEN" in line for line in lines) == 1


async def test_every_settings_problem_is_a_line_of_its_own_and_the_exit_code_is_2(
    tmp_path: Path,
) -> None:
    env = {"SLACK_BOT_TOKEN": "nope", "ANNOUNCE_CHANNEL": "general", "POLL_INTERVAL": "-1"}

    code, out, err = await run_cli("run", env=env, cwd=tmp_path)

    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "isscr-news-bot: SLACK_BOT_TOKEN does not start with xoxb-: copy the token from your "
        "app's OAuth & Permissions page",
        "isscr-news-bot: POLL_INTERVAL is -1: use a value of at least 1",
        "isscr-news-bot: ANNOUNCE_CHANNEL is 'general', not a channel ID: use the ID (like "
        "C0123456789) from channel details → About, not the #name; or leave it unset and pick "
        "the channel on the app's Home in Slack",
        "isscr-news-bot: SLACK_SIGNING_SECRET is not set: copy it from your app's Basic "
        "Information page, or set SLACK_APP_TOKEN to use Socket Mode instead",
    ]


async def test_store_only_needs_no_slack_and_makes_the_sample_searchable(
    tmp_path: Path,
) -> None:
    sample = Path(__file__).parent / "data" / "sample-feed.rss"
    env = {"FEED_URL": str(sample), "DATABASE_PATH": str(tmp_path / "try.db")}

    stored = await run_cli("poll", "--store-only", env=env, cwd=tmp_path)
    found = await run_cli("search", "nih", env=env, cwd=tmp_path)
    both = await run_cli("poll", "--store-only", "--dry-run", env=env, cwd=tmp_path)

    assert stored == (0, "Feed updated; 5 releases stored, nothing posted.\n", "")
    assert found[0] == 0 and found[1].startswith("2 releases match “nih”.")
    assert both[0] == 2 and "choose one of them" in both[2]


def report_of(**deliveries: object) -> dict[str, object]:
    counts = {"sent": 0, "pending": 0, "failed": 0, "held": {"posts": 0}}
    return {
        "feed": {"last_success": "2026-11-30T12:00:00+00:00"},
        "deliveries": counts | deliveries,
    }


def card(report: dict[str, object], latest: Release | None = None) -> str:
    [section] = first_post_blocks(report, latest)
    assert section["accessory"]["action_id"] == SEND_TRIAL
    return section["text"]["text"]


def test_the_nothing_posted_card_says_the_true_reason() -> None:
    never_polled = report_of() | {"feed": {"last_success": None}}

    assert card(report_of(failed=2)).startswith(
        "*Nothing posted yet:* 2 announcements failed (the health below says why"
    )
    assert "*Retry failed deliveries*" in card(report_of(failed=2))
    assert card(report_of(held={"posts": 12})).startswith(
        "*Nothing posted yet:* 12 announcements held back after a flood: *Announce them*"
    )
    assert card(report_of(pending=1)).startswith("*Nothing posted yet:* 1 announcement on the way")
    assert card(never_polled).startswith("*Nothing posted yet:* the first check of the ISSCR feed")
    assert card(report_of()).startswith("*Nothing posted yet, as expected:*")
    assert first_post_blocks(report_of(sent=1), None) == []


def test_the_nothing_posted_card_shows_the_latest_title_as_announcements_do() -> None:
    latest = Release(
        id="r1",
        title="The *ISSCR* & `code` <!channel>",
        link="https://www.isscr.org/isscr-news/r1",
        published=datetime(2025, 11, 19, 15, 49, tzinfo=UTC),
        categories=("Policy",),
    )
    shown = card(report_of(), latest)
    [announced] = [
        block["text"]["text"]
        for block in announcement_blocks(latest)
        if block.get("text", {}).get("type") == "mrkdwn" and "ISSCR" in block["text"]["text"]
    ]

    title = shown.split("“", 1)[1].rsplit("”", 1)[0]
    assert title in announced  # the same characters, not bold or code in one of them
    assert "*ISSCR*" not in shown and "<!channel>" not in shown and "&amp;" in shown


def test_the_first_poll_line_says_where_each_route_sends_news() -> None:
    def route(channel: str, *categories: str) -> Route:
        return Route(channel, categories, 1.0, ADMIN)

    only_policy = first_success(
        3, [route("C0POLICY01", "Policy")], importing=False, suggest_setting=False
    )
    several = first_success(
        3,
        [route(f"C0CHANNEL{n}", "Policy") for n in range(6)] + [route("C0NEWS0001")],
        importing=False,
        suggest_setting=False,
    )
    none = first_success(3, [], importing=False, suggest_setting=False)

    assert only_policy == "stored 3 releases; new releases will go to C0POLICY01 (Policy)"
    assert several.endswith("C0CHANNEL4 (Policy) and 2 more routes")
    assert none.endswith("an admin picks one on the app's Home in Slack")  # no setting hint


async def test_announce_channel_is_applied_once_per_value_and_the_log_says_when_it_is_unused(
    make_settings: Callable[..., Settings],
    slack: SlackApi,
    feed: FeedServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slack.add_user(ADMIN, is_admin=True)
    slack.add_channel(POLICY_NEWS, name="policy-news")
    caplog.set_level(logging.INFO, logger="bot")
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        await command(bot, f"unroute {at(CHANNEL, 'news')}")
    caplog.clear()
    async with running(make_settings()) as bot:  # the same value: the removal stays
        await eventually(lambda: "stored 3 releases" in caplog.text)
        removed = bot.store.routes(team=SINGLE_WORKSPACE)
    said_removed = caplog.text
    caplog.clear()
    async with running(make_settings(ANNOUNCE_CHANNEL=POLICY_NEWS)) as bot:  # a new value
        await eventually(lambda: "stored 3 releases" in caplog.text)
        applied = [(r.channel, r.categories) for r in bot.store.routes(team=SINGLE_WORKSPACE)]
    caplog.clear()
    async with running(make_settings()) as bot:  # back to the first: routes exist now
        await eventually(lambda: "stored 3 releases" in caplog.text)
        kept = [(r.channel, r.categories) for r in bot.store.routes(team=SINGLE_WORKSPACE)]
    said_kept = caplog.text

    assert removed == []
    assert (
        f"ANNOUNCE_CHANNEL={CHANNEL} is not used any more: it only sets up the first route, and "
        "an admin has removed that route since." in said_removed
    )
    assert "(or set ANNOUNCE_CHANNEL)" not in said_removed  # it is set
    assert applied == [(POLICY_NEWS, ())]
    assert kept == [(POLICY_NEWS, ())]
    assert f"the next new release will go to {POLICY_NEWS}" in said_kept
    assert f"ANNOUNCE_CHANNEL={CHANNEL} is not used any more" in said_kept


async def test_backfill_names_the_missing_archive_with_the_other_problems(
    tmp_path: Path,
) -> None:
    sample = Path(__file__).parent / "data" / "sample-feed.rss"
    env = {"FEED_URL": str(sample), "LOG_LEVEL": "chatty", "DATABASE_PATH": "x.db"}

    code, out, err = await run_cli("backfill", env=env, cwd=tmp_path)

    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "isscr-news-bot: LOG_LEVEL is 'chatty': use one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        "isscr-news-bot: ARCHIVE_URL is not set and FEED_URL is a local file, so there is no "
        "archive to read: set ARCHIVE_URL, e.g. to https://www.isscr.org/isscr-news?format=json",
    ]
