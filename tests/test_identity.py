"""A release whose guid changes is still the same release: recognised by its link (or, with
none, its title and date), it keeps its stored id, is updated, and is never announced again."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from bot.database import Database
from bot.ingest.archive import Backfill
from bot.ingest.watcher import Watcher
from bot.settings import Settings
from bot.store import Store
from standins.feed_server import FeedServer, make_item
from standins.slack_api import SlackApi
from tests.conftest import CHANNEL, eventually, make_watcher, newest_first, posted_ids, queued
from tests.test_bot import running


def stored_ids(store: Store) -> list[str]:
    return [row[0] for row in store.db.execute("SELECT id FROM releases ORDER BY id")]


async def test_a_guid_that_changes_on_every_poll_announces_nothing_again(
    watcher: Watcher, store: Store, feed: FeedServer
) -> None:
    feed.fresh_ids_each_response = True
    await watcher.poll_once()  # the baseline, under the first guids
    first_ids = stored_ids(store)

    for _ in range(3):
        await watcher.poll_once()
    feed.items.insert(0, make_item(4))
    news = await watcher.poll_once()
    for _ in range(3):
        await watcher.poll_once()

    assert len(feed.requests) == 8 and all(r.status == 200 for r in feed.requests)
    assert news.plan is not None and [r.title for r in news.plan.new] == ["Release 4"]
    assert [store.release(id_).title for id_ in queued(store)] == ["Release 4"]  # type: ignore[union-attr]
    assert store.release_count() == 4
    assert set(first_ids) <= set(stored_ids(store))  # the first ids are kept


async def test_a_renamed_release_keeps_its_id_and_its_row_is_updated(
    watcher: Watcher, store: Store, feed: FeedServer
) -> None:
    await watcher.poll_once()
    feed.items[0] = make_item(
        3, guid="urn:moved:3", title="Release 3 (corrected)", slug="release-3"
    )

    result = await watcher.poll_once()

    assert result.plan is not None and result.plan.new == []
    assert [r.id for r in result.updated] == [make_item(3).item_id]
    stored = store.release(make_item(3).item_id)
    assert stored is not None and stored.title == "Release 3 (corrected)"
    assert store.release("urn:moved:3") is None
    assert store.release_count() == 3
    assert queued(store) == []


async def test_without_a_link_a_release_is_recognised_by_its_title_and_date(
    watcher: Watcher, store: Store, feed: FeedServer
) -> None:
    feed.items = [make_item(n, raw_rss={"link": ""}) for n in (3, 2, 1)]
    feed.fresh_ids_each_response = True
    await watcher.poll_once()
    await watcher.poll_once()
    feed.items.insert(0, make_item(4, raw_rss={"link": ""}))
    await watcher.poll_once()
    await watcher.poll_once()

    assert store.release_count() == 4
    assert [store.release(id_).title for id_ in queued(store)] == ["Release 4"]  # type: ignore[union-attr]


async def test_one_post_listed_twice_under_two_guids_counts_once(
    watcher: Watcher, store: Store, feed: FeedServer
) -> None:
    await watcher.poll_once()
    feed.items[:0] = [make_item(4), make_item(4, guid="urn:copy:4")]

    result = await watcher.poll_once()

    assert result.plan is not None and [r.id for r in result.plan.new] == [make_item(4).item_id]
    assert queued(store) == [make_item(4).item_id]
    assert store.release_count() == 4


async def test_releases_that_share_one_page_as_their_link_stay_apart(
    watcher: Watcher, store: Store, feed: FeedServer
) -> None:
    # A feed whose items all point to its news page: a link that names no one release.
    page = "https://www.isscr.org/isscr-news"
    feed.items = [make_item(n, link=page) for n in (3, 2, 1)]
    await watcher.poll_once()
    feed.items.insert(0, make_item(5, link=page))
    feed.items.insert(0, make_item(4, link=page))

    await watcher.poll_once()

    assert store.release_count() == 5
    assert queued(store) == [make_item(4).item_id, make_item(5).item_id]


async def test_the_archive_recognises_a_release_the_rss_stored_under_another_id(
    store: Store, db: Database, session: aiohttp.ClientSession
) -> None:
    async with FeedServer(newest_first(*range(1, 31))) as site:
        await make_watcher(db, session, site).poll_once()  # releases 11 to 30
        site.fresh_ids_each_response = True  # the archive's ids differ from the RSS's
        walk = Backfill(db, session, archive_url=site.json_url, pause=0)

        result = await walk.run()

    assert (result.stored, result.already_stored) == (10, 20)
    assert store.release_count() == 30
    assert queued(store) == []


async def test_the_running_bot_posts_each_release_once_when_guids_change_on_every_request(
    make_settings: Callable[..., Settings], feed: FeedServer, slack: SlackApi
) -> None:
    feed.fresh_ids_each_response = True
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        feed.items.insert(0, make_item(4))
        await eventually(lambda: len(slack.messages[CHANNEL]) == 1)
        polls = len(feed.requests)
        await eventually(lambda: len(feed.requests) >= polls + 4)  # more would show by now
        [posted] = posted_ids(slack)
        release = bot.store.release(posted)

    assert len(slack.messages[CHANNEL]) == 1
    assert release is not None and release.title == "Release 4"
