"""A poll that finds far more new releases than a feed ever has announces the newest few and
holds the rest for an admin, who announces or discards them from the App Home."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from bot.database import Database
from bot.health import health
from bot.ingest.watcher import Watcher
from bot.models import SINGLE_WORKSPACE
from bot.routes import SEED_BY
from bot.runtime import Bot
from bot.settings import Settings
from bot.store import Store
from standins.feed_server import FeedServer, make_item
from standins.slack_api import SlackApi
from standins.slack_requests import home_action_body
from tests.conftest import CHANNEL, bot_env, eventually, make_watcher, newest_first, posted_ids
from tests.test_admin import ADMIN, MEMBER, command
from tests.test_bot import running
from tests.test_home import buttons, open_home, post
from tests.test_process import run_cli


def states(store: Store) -> dict[str, list[str]]:
    """Release ids by delivery state, in queue order."""
    found: dict[str, list[str]] = {}
    for row in store.delivery_log():
        found.setdefault(row["state"], []).append(row["release_id"])
    return found


def ids(*numbers: int) -> list[str]:
    return [make_item(n).item_id for n in numbers]


async def test_a_flood_announces_the_newest_three_and_holds_the_rest(
    watcher: Watcher, store: Store, feed: FeedServer
) -> None:
    await watcher.poll_once()  # the baseline: releases 1 to 3
    feed.items = newest_first(*range(1, 24))  # the RSS shows the 20 newest: 4 to 23, all new

    result = await watcher.poll_once()

    assert result.plan is not None
    assert [r.id for r in result.plan.to_announce] == ids(21, 22, 23)
    assert [r.id for r in result.plan.held] == ids(*range(4, 21))
    assert states(store) == {"held": ids(*range(4, 21)), "pending": ids(21, 22, 23)}
    assert store.release_count() == 23  # stored and searchable all the same
    report = health(store, feed.url)
    assert report["ok"] is False
    held = report["deliveries"]["held"]
    assert (held["releases"], held["posts"]) == (17, 17)
    assert held["reason"].startswith("the poll of 20")
    assert held["reason"].endswith(
        "found 20 new releases at once, more than the 10 a feed ever has new between two "
        "polls (did the site change the items' guids and links, or FEED_URL its feed?): only "
        "the newest 3 were announced"
    )


async def test_ten_new_releases_at_once_are_all_announced(
    watcher: Watcher, store: Store, feed: FeedServer
) -> None:
    await watcher.poll_once()
    feed.items = newest_first(*range(1, 14))

    await watcher.poll_once()

    assert states(store) == {"pending": ids(*range(4, 14))}
    assert health(store, feed.url)["deliveries"]["held"]["posts"] == 0


async def test_the_first_poll_keeps_its_baseline_however_big_the_feed(
    store: Store, db: Database, session: aiohttp.ClientSession
) -> None:
    async with FeedServer(newest_first(*range(1, 501)), rss_limit=None) as big:
        await make_watcher(db, session, big, announce_existing=12).poll_once()

    assert states(store) == {"pending": ids(*range(489, 501))}


async def test_poll_and_status_commands_show_what_is_held(
    tmp_path: Path, feed: FeedServer, slack: SlackApi
) -> None:
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL="WARNING")
    await run_cli("poll", env=env, cwd=tmp_path)  # the baseline
    feed.items = newest_first(*range(1, 18))

    code, out, err = await run_cli("poll", env=env, cwd=tmp_path)
    _, status, _ = await run_cli("status", env=env, cwd=tmp_path)

    assert code == 0, err
    assert out == (
        "Feed updated; deliveries: 3 sent, 0 waiting, 0 failed, 11 held for an admin "
        "(see status).\n"
    )
    assert "14 new releases at once: announcing the newest 3, holding 11 for an admin" in err
    assert posted_ids(slack) == ids(15, 16, 17)
    report = json.loads(status)
    assert report["ok"] is False
    assert report["deliveries"]["held"]["releases"] == 11


# -- the admin decides, from the App Home ---------------------------------------------------


@pytest.fixture
async def flooded(
    make_settings: Callable[..., Settings], slack: SlackApi, feed: FeedServer
) -> AsyncIterator[Bot]:
    """A running bot that just held releases 4 to 14 and announced 15 to 17."""
    slack.add_user(ADMIN, is_admin=True)
    slack.add_user(MEMBER)
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        feed.items = newest_first(*range(1, 18))
        await eventually(lambda: len(slack.messages[CHANNEL]) == 3)
        yield bot


async def test_the_admin_is_asked_and_a_member_cannot_answer(flooded: Bot, slack: SlackApi) -> None:
    status = await command(flooded, "status")
    home = await open_home(flooded, slack, ADMIN)
    member_home = await open_home(flooded, slack, MEMBER)
    await post(flooded, home_action_body("admin_announce_held", user=MEMBER))
    await post(flooded, home_action_body("admin_discard_held", user=MEMBER))

    assert posted_ids(slack) == ids(15, 16, 17)
    assert (
        "⚠ *Held*: 11 new releases not announced, waiting for an admin (*Announce them* or "
        "*Discard them* in the App Home)" in status
    )
    assert "⚠ *11 new releases held*, not announced: the poll of 20" in home
    assert "found 14 new releases at once" in home
    assert buttons(home)[:2] == ["Announce them", "Discard them"]
    assert "held" not in member_home and "Announce them" not in buttons(member_home)
    await eventually(lambda: len(slack.modals) == 2)  # each refusal says why, after its ack
    assert flooded.store.held(team=SINGLE_WORKSPACE).posts == 11
    # Only ANNOUNCE_CHANNEL's first route: the refused clicks changed nothing.
    assert [change.user_id for change in flooded.store.recent_changes(team=SINGLE_WORKSPACE)] == [
        SEED_BY
    ]


async def test_announce_them_posts_the_held_releases_and_is_audited(
    flooded: Bot, slack: SlackApi
) -> None:
    await open_home(flooded, slack, ADMIN)
    slack.home_views.clear()

    await post(flooded, home_action_body("admin_announce_held", user=ADMIN))

    await eventually(lambda: len(slack.messages[CHANNEL]) == 14)
    await eventually(lambda: ADMIN in slack.home_views)
    assert posted_ids(slack) == ids(15, 16, 17, *range(4, 15))
    change = flooded.store.recent_changes(team=SINGLE_WORKSPACE)[0]
    assert (change.user_id, change.action, change.detail) == (
        ADMIN,
        "announce",
        "queued 11 held releases for announcement",
    )
    refreshed = json.dumps(slack.home_views[ADMIN], ensure_ascii=False)
    assert "Announce them" not in buttons(refreshed)
    assert f"<@{ADMIN}> queued 11 held releases for announcement — <!date^" in refreshed
    await eventually(lambda: not flooded.store.channels_with_work())
    assert health(flooded.store, flooded.settings.feed_url)["ok"] is True


async def test_discard_them_keeps_the_releases_but_never_posts_them(
    flooded: Bot, slack: SlackApi, feed: FeedServer
) -> None:
    await post(flooded, home_action_body("admin_discard_held", user=ADMIN))
    await eventually(lambda: ADMIN in slack.home_views)
    polls = len(feed.requests)
    await eventually(lambda: len(feed.requests) >= polls + 3)  # a post would show by now

    assert posted_ids(slack) == ids(15, 16, 17)
    assert flooded.store.held(team=SINGLE_WORKSPACE).posts == 0
    assert flooded.store.release(make_item(4).item_id) is not None
    change = flooded.store.recent_changes(team=SINGLE_WORKSPACE)[0]
    assert (change.action, change.detail) == (
        "discard",
        "discarded 11 held releases (stored, never announced)",
    )
    assert "Discard them" not in buttons(json.dumps(slack.home_views[ADMIN]))
    assert health(flooded.store, flooded.settings.feed_url)["ok"] is True
