"""One bad item never stops the others: a feed item or archive item with a date Python cannot
hold, before the web or far ahead, or fields of the wrong type, is stored undated or skipped,
counted and shown to the admin, and the rest of the poll or page goes on; a next-page offset
that cannot be followed ends the walk with a reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.database import Database
from bot.health import health
from bot.ingest.archive import Backfill
from bot.ingest.watcher import Outcome, Watcher
from bot.settings import Settings
from bot.store import Store
from standins.feed_server import Fault, FeedServer, make_item, render_archive_page
from standins.slack_api import SlackApi
from tests.conftest import bot_env, eventually, make_watcher, newest_first, queued
from tests.test_admin import ADMIN, command
from tests.test_bot import running
from tests.test_home import open_home
from tests.test_process import run_cli

# -- the feed -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "problem"),
    [
        ("0000-00-00 00:00:00", "is not a date"),
        ("9999-12-31T23:59:59-01:00", "is not a date"),  # year 10000 in UTC
        ("Sat, 01 Jan 1800 00:00:00 +0000", "is before the web existed"),
        ("Fri, 01 Jan 2100 00:00:00 +0000", "is in the future"),
    ],
)
async def test_a_feed_item_with_an_impossible_date_is_stored_undated_and_the_rest_announced(
    watcher: Watcher, store: Store, feed: FeedServer, date: str, problem: str
) -> None:
    await watcher.poll_once()  # the baseline: releases 1 to 3
    feed.items[:0] = [make_item(5), make_item(4, raw_rss={"pubDate": date})]

    result = await watcher.poll_once()

    assert result.outcome is Outcome.UPDATED
    assert queued(store) == [make_item(4).item_id, make_item(5).item_id]  # undated: oldest
    stored = store.release(make_item(4).item_id)
    assert stored is not None and stored.published is None
    reason = f"item 2 (“Release 4”): date “{date}” {problem}: stored undated"
    assert result.problems == [reason]
    assert health(store, feed.url)["feed"]["bad_items"] == {"count": 1, "examples": [reason]}
    # Nor does it move the feed's window, which tells the archive backfill what is recent.
    assert store.feed_window_start() == make_item(1).published.timestamp()

    feed.items[1] = make_item(4)  # the site fixes it
    await watcher.poll_once()
    assert health(store, feed.url)["feed"]["bad_items"] == {"count": 0, "examples": []}
    stored = store.release(make_item(4).item_id)
    assert stored is not None and stored.published == make_item(4).published
    assert len(queued(store)) == 2


async def test_a_character_xml_forbids_costs_that_character_not_the_poll(
    watcher: Watcher, store: Store, feed: FeedServer
) -> None:
    await watcher.poll_once()
    # A lone surrogate and a code point past Unicode's last: feedparser crashed on either.
    feed.items.insert(0, make_item(4, raw_rss={"title": "Release &#xD800; 4 &#1114112;"}))

    result = await watcher.poll_once()

    assert result.outcome is Outcome.UPDATED
    stored = store.release(make_item(4).item_id)
    assert stored is not None and stored.title == "Release \ufffd 4 \ufffd"
    assert queued(store) == [make_item(4).item_id]


async def test_an_item_without_title_or_link_is_skipped_and_counted(
    watcher: Watcher, store: Store, feed: FeedServer
) -> None:
    await watcher.poll_once()
    feed.items[:0] = [make_item(5), make_item(4, raw_rss={"title": "", "link": ""})]

    result = await watcher.poll_once()

    assert result.problems == ["item 2: skipped, it has neither a title nor a link"]
    assert queued(store) == [make_item(5).item_id]
    assert store.feed_status(feed.url).bad_items == 1


async def test_the_poll_command_reports_a_bad_item_and_does_not_end_in_a_traceback(
    tmp_path: Path, feed: FeedServer, slack: SlackApi
) -> None:
    feed.items.insert(0, make_item(4, raw_rss={"pubDate": "0000-00-00 00:00:00"}))
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL="WARNING")

    code, out, err = await run_cli("poll", env=env, cwd=tmp_path)
    status_code, status, _ = await run_cli("status", env=env, cwd=tmp_path)

    assert "Traceback" not in err, err
    assert code == 0, err
    assert out.startswith("Feed updated; deliveries: 0 sent, 0 waiting, 0 failed.")
    reason = "item 1 (“Release 4”): date “0000-00-00 00:00:00” is not a date: stored undated"
    assert f"Malformed feed item: {reason}" in err
    assert status_code == 0
    report = json.loads(status)
    assert report["releases"] == 4
    assert report["feed"]["bad_items"] == {"count": 1, "examples": [reason]}


# -- the archive ----------------------------------------------------------------------------


def archive_page(*entries: dict[str, Any], pagination: dict[str, Any] | None = None) -> bytes:
    """A page of releases 1 to 3 whose entries are changed as given (by position)."""
    document = json.loads(render_archive_page(newest_first(1, 2, 3)))
    for entry, changes in zip(document["items"], entries, strict=False):
        entry.update(changes)
    if pagination is not None:
        document["pagination"] = pagination
    return json.dumps(document).encode()


def walker(db: Database, session: aiohttp.ClientSession, site: FeedServer) -> Backfill:
    return Backfill(db, session, archive_url=site.json_url, pause=0, retry_base=0.01)


async def test_hostile_archive_items_are_stored_with_what_is_sound_or_skipped(
    store: Store, db: Database, session: aiohttp.ClientSession, feed: FeedServer
) -> None:
    page = json.loads(archive_page())
    page["items"] = [
        {**page["items"][0], "publishOn": 1e20, "addedOn": -(10**30)},
        {**page["items"][1], "title": 42, "categories": "Policy", "author": ["x"]},
        {**page["items"][2], "publishOn": "2025-01-04", "addedOn": 1e300},
        "not an item",
        {"id": "ffffffffffffffffffffffff", "title": None, "fullUrl": None},
        {"id": "eeeeeeeeeeeeeeeeeeeeeeee", "title": "Fine", "fullUrl": "/isscr-news/fine"},
    ]
    feed.fail_always(Fault.json(json.dumps(page).encode()), json_only=True)

    result = await walker(db, session, feed).run()

    assert (result.finished, result.stored, result.bad_items) == (True, 4, 5)
    first = store.release(make_item(3).item_id)
    assert first is not None and first.published is None and first.title == "Release 3"
    second = store.release(make_item(2).item_id)
    assert second is not None
    assert (second.title, second.categories, second.author, second.published) == (
        "(untitled)",
        (),
        None,
        make_item(2).published,
    )
    third = store.release(make_item(1).item_id)
    assert third is not None and third.published is None
    status = store.archive_status(feed.json_url)
    assert status.bad_items == 5
    assert status.bad_item_examples == (
        "first page, item 1 (“Release 3”): publishOn 1e+20 is not a date; addedOn "
        "-1000000000000000000000000000000 is not a date: stored undated",
        "first page, item 2 (“(untitled)”): title 42 is not text: left out; categories "
        '"Policy" is not a list of names: left out; author ["x"] is not an author: left out',
        'first page, item 3 (“Release 1”): publishOn "2025-01-04" is not a date; addedOn '
        "1e+300 is not a date: stored undated",
        'first page, item 4: skipped, "not an item" is not an item',
        "first page, item 5: skipped, it has neither a title nor a link",
    )
    assert result.summary() == (
        "4 new releases stored from 1 pages; 0 already stored; 5 malformed items skipped or "
        "stored undated (see status)."
    )


@pytest.mark.parametrize(
    ("offset", "problem"),
    [
        (1e20, "next-page offset 100000000000000000000 is not a time between 1991 and now"),
        (2**70, f"next-page offset {2**70} is not a time between 1991 and now"),
        (-5, "next-page offset -5 is not a time between 1991 and now"),
        (1735689600000.5, "next-page offset 1735689600000.5 is not a whole number"),
        ("abc", 'next-page offset "abc" is not a whole number'),
        (float("inf"), "next-page offset Infinity is not a whole number"),
        ({"at": 1}, 'next-page offset {"at": 1} is not a whole number'),
        (None, "a next page without an offset"),
    ],
    ids=["1e20", "2**70", "negative", "fraction", "text", "infinity", "object", "missing"],
)
async def test_a_next_page_offset_that_cannot_be_followed_ends_the_walk_with_a_reason(
    store: Store,
    db: Database,
    session: aiohttp.ClientSession,
    feed: FeedServer,
    offset: Any,
    problem: str,
) -> None:
    pagination = {"nextPage": True, "nextPageOffset": offset}
    feed.fail_next(Fault.json(archive_page(pagination=pagination)), json_only=True)

    result = await walker(db, session, feed).run()

    reason = f"the next page cannot be asked for: {problem}"
    assert (result.finished, result.stored, result.stop_reason) == (True, 3, reason)
    assert result.summary().endswith(f"; stopped early: {reason}.")
    assert len(feed.json_requests()) == 1
    status = store.archive_status(feed.json_url)
    assert (status.state, status.stop_reason, status.next_offset) == ("done", reason, None)
    assert health(store, feed.url, feed.json_url)["archive"]["stop_reason"] == reason


async def test_a_next_page_offset_that_goes_forward_in_time_ends_the_walk(
    store: Store, db: Database, session: aiohttp.ClientSession
) -> None:
    async with FeedServer(newest_first(*range(1, 41))) as site:
        second = int(make_item(21).published.timestamp() * 1000)
        later = int(make_item(30).published.timestamp() * 1000)
        site.fail_next(Fault.json(render_archive_page(site.items)), json_only=True)
        forward = {"nextPage": True, "nextPageOffset": later}
        site.fail_next(Fault.json(archive_page(pagination=forward)), json_only=True)

        result = await walker(db, session, site).run()

    assert result.stop_reason == f"next-page offset {later} is not older than this page's {second}"
    assert result.pages == 2


async def test_an_undated_archive_release_among_the_recent_ones_is_left_to_the_watcher(
    store: Store, db: Database, session: aiohttp.ClientSession
) -> None:
    async with FeedServer(newest_first(*range(1, 46)), page_size=10) as site:
        await make_watcher(db, session, site).poll_once()  # the RSS: releases 26 to 45
        now = datetime.now(UTC)
        broken = {"publishOn": 1e20, "addedOn": None}
        fresh = make_item(46, published=now - timedelta(hours=1), raw_json=broken)
        site.items.insert(0, fresh)  # not polled yet, its archive date broken
        old = site.items.index(make_item(5))
        site.items[old] = make_item(5, raw_json=broken)

        result = await walker(db, session, site).run()
        assert (result.stored, result.left_to_watcher, result.bad_items) == (25, 1, 2)
        undated = store.release(make_item(5).item_id)
        assert undated is not None and undated.published is None  # old: stored undated
        assert store.release(fresh.item_id) is None  # recent: the watcher's to announce

        await make_watcher(db, session, site).poll_once()
    assert queued(store) == [fresh.item_id]


# -- shown to the admin ----------------------------------------------------------------------


async def test_the_admin_sees_malformed_items_in_status_and_on_the_home(
    make_settings: Callable[..., Settings], slack: SlackApi, feed: FeedServer
) -> None:
    slack.add_user(ADMIN, is_admin=True)
    feed.items.insert(0, make_item(4, raw_rss={"pubDate": "0000-00-00 00:00:00"}))
    broken = {"publishOn": 1e20, "addedOn": None}
    hostile = archive_page(broken, pagination={"nextPage": True, "nextPageOffset": 1})
    feed.fail_next(Fault.json(hostile), json_only=True)
    async with running(make_settings()) as bot:
        archive_url = bot.settings.archive_url or ""
        await eventually(lambda: bot.store.archive_status(archive_url).state == "done")
        status = await command(bot, "status")
        home = await open_home(bot, slack, ADMIN)

    feed_line = (
        "*Malformed items in the feed*: 1, skipped or stored undated\n"
        "• item 1 (“Release 4”): date “0000-00-00 00:00:00” is not a date: stored undated"
    )
    archive_lines = (
        "*Archive import*: done, stopped early: the next page cannot be asked for: next-page "
        "offset 1 is not a time between 1991 and now\n"
        "*Malformed items in the archive*: 1, skipped or stored undated\n"
        "• first page, item 1 (“Release 3”): publishOn 1e+20 is not a date: stored undated"
    )
    assert feed_line in status and archive_lines in status
    assert json.dumps(feed_line, ensure_ascii=False)[1:-1] in home
    assert json.dumps(archive_lines, ensure_ascii=False)[1:-1] in home
