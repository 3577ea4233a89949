"""The archive backfill: Squarespace JSON pages, parsed, walked, stored once, never announced."""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.database import Database
from bot.health import health
from bot.ingest.archive import Backfill, BackfillResult
from bot.ingest.archive_page import ArchiveError, ArchivePage, archive_page_url, parse_archive_page
from bot.ingest.feed import open_session
from bot.ingest.rss import parse_feed
from bot.settings import Settings, SettingsError
from bot.store import Store
from standins.feed_server import (
    SQUARESPACE_HTML,
    Fault,
    FeedServer,
    make_item,
    render_archive_page,
    render_rss,
)
from standins.slack_api import SlackApi
from tests.conftest import (
    CHANNEL,
    DATA_DIR,
    bot_env,
    eventually,
    make_watcher,
    newest_first,
    posted_ids,
    queued,
)
from tests.test_bot import InspectedBot

SAMPLE_PAGE = DATA_DIR / "sample-archive-page.json"
PAGE_URL = "https://www.isscr.org/isscr-news?format=json"


@pytest.fixture
async def site() -> AsyncIterator[FeedServer]:
    """95 releases: 5 archive pages of 20, and an RSS of the 20 newest."""
    async with FeedServer(newest_first(*range(1, 96))) as server:
        yield server


def walker(
    db: Database, session: aiohttp.ClientSession, site: FeedServer, **options: Any
) -> Backfill:
    values: dict[str, Any] = {"pause": 0, "retry_base": 0.01, **options}
    return Backfill(db, session, archive_url=site.json_url, **values)


def rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT * FROM releases ORDER BY id").fetchall()


def offsets(requests: list[Any]) -> list[str | None]:
    return [request.query.get("offset") for request in requests]


def ms(n: int) -> str:
    """The offset of the page after the one ending with release n."""
    return str(int(make_item(n).published.timestamp() * 1000))


# -- parsing ------------------------------------------------------------------------------


def test_the_sample_page_gives_the_same_releases_as_the_rss() -> None:
    page = parse_archive_page(SAMPLE_PAGE.read_bytes(), PAGE_URL, "application/json")
    from_rss = {
        r.id: r for r in parse_feed((DATA_DIR / "sample-feed.rss").read_bytes(), "x").releases
    }

    assert page.next_offset == 1756908000000
    assert [r.id for r in page.releases] == [
        "6579e5d57770b4da614e3254",
        "73ac2f3315978deabf87e15f",
        "815193b04a59ddc65b35bd9f",
    ]
    for release in page.releases:
        rss = from_rss[release.id]  # the same identity as the RSS guid's item part
        assert (release.title, release.link, release.published, release.categories) == (
            rss.title,
            rss.link,
            rss.published,
            rss.categories,
        )
        assert release.author == rss.author == "Kym Kilbourne"
        assert release.excerpt == rss.excerpt
    first = page.releases[0]
    assert first.link == (
        "https://www.isscr.org/isscr-news/"
        "the-isscr-holds-second-meeting-with-uk-regulators-on-the-use-of-ai"
    )
    assert first.published == datetime(2025, 11, 19, 15, 49, 21, tzinfo=UTC)
    assert first.categories == ("Press Release", "Policy")
    assert "United Kingdom’s Medicines" in first.excerpt  # &#8217; decoded
    assert first.image_url is None  # assetUrl is ""
    assert page.releases[2].body.endswith("“Improving Oversight of Federal Grantmaking.”")


def test_entities_are_decoded_once_and_urls_made_absolute() -> None:
    document = json.loads(SAMPLE_PAGE.read_bytes())
    entry = document["items"][0]
    entry.update(
        id="6579E5D57770B4DA614E3254",
        title="Stem Cells &amp; the EMA&#39;s &amp;amp; Rules",
        categories=["Press Release", "Policy &amp; Law", "press release"],
        author={"displayName": "O&#39;Brien"},
        assetUrl="/s/cover.jpg",
        publishOn=1763567361789,
        body="<p>First &lt;b&gt; paragraph.</p><p>Second.</p>",
    )
    document["pagination"] = {"nextPage": True, "nextPageUrl": "/isscr-news?offset=1700000000000"}

    page = parse_archive_page(
        json.dumps(document).encode(), "https://mirror.example/news?format=json"
    )

    release = page.releases[0]
    assert release.id == "6579e5d57770b4da614e3254"
    assert release.title == "Stem Cells & the EMA's &amp; Rules"
    assert release.categories == ("Press Release", "Policy & Law")
    assert release.author == "O'Brien"
    assert release.link.startswith("https://mirror.example/isscr-news/the-isscr-holds")
    assert release.image_url == "https://mirror.example/s/cover.jpg"
    assert release.published == datetime(2025, 11, 19, 15, 49, 21, tzinfo=UTC)  # whole seconds
    assert (release.excerpt, release.body) == (
        "First <b> paragraph.",
        "First <b> paragraph.\n\nSecond.",
    )
    assert page.next_offset == 1700000000000  # from nextPageUrl when no nextPageOffset

    document["website"] = {"baseUrl": "https://www.isscr.org"}
    document["pagination"] = {"nextPage": False}
    page = parse_archive_page(json.dumps(document).encode(), "http://127.0.0.1:1/news?format=json")
    assert page.releases[0].link.startswith("https://www.isscr.org/isscr-news/the-isscr-holds")
    assert page.next_offset is None


def test_the_fake_sites_pages_match_its_rss() -> None:
    item = make_item(7, title="Policy & “Quotes” it's <here>", image_url="https://cdn.example/i")
    [from_json] = parse_archive_page(render_archive_page([item]), PAGE_URL).releases
    [from_rss] = parse_feed(render_rss([item]), "https://www.isscr.org/isscr-news").releases
    assert from_json == from_rss


@pytest.mark.parametrize(
    ("body", "content_type", "problem", "permanent"),
    [
        (SQUARESPACE_HTML, "text/html; charset=utf-8", "got an HTML page instead of JSON", True),
        (b'{"website": {}}', "application/json", "JSON without an items list", True),
        (b'{"items": [', "application/json", "response is not valid JSON", False),
        (b"  ", "application/json", "empty response body", False),
    ],
)
def test_what_is_not_an_archive_page_is_an_error_with_a_reason(
    body: bytes, content_type: str, problem: str, permanent: bool
) -> None:
    with pytest.raises(ArchiveError) as raised:
        parse_archive_page(body, PAGE_URL, content_type)
    assert raised.value.reason.startswith(problem)
    assert raised.value.permanent is permanent


def test_page_urls_keep_the_other_parameters() -> None:
    url = "https://www.isscr.org/isscr-news?category=Policy&format=json&offset=5"
    assert (
        archive_page_url(url, None)
        == "https://www.isscr.org/isscr-news?category=Policy&format=json"
    )
    assert archive_page_url(url, 17) == (
        "https://www.isscr.org/isscr-news?category=Policy&format=json&offset=17"
    )


# -- walking ------------------------------------------------------------------------------


async def test_a_backfill_stores_every_page_and_announces_nothing(
    store: Store, db: Database, session: aiohttp.ClientSession, site: FeedServer
) -> None:
    seen: list[BackfillResult] = []
    result = await walker(db, session, site, on_page=seen.append).run()

    assert store.release_count() == 95
    assert queued(store) == []
    assert offsets(site.json_requests()) == [None, ms(76), ms(56), ms(36), ms(16)]
    assert all("isscr-news-bot/" in r.headers["User-Agent"] for r in site.requests)
    assert (result.pages, result.stored, result.already_stored, result.left_to_watcher) == (
        5,
        95,
        0,
        0,
    )
    assert (result.finished, result.stop_reason) == (True, "last page")
    assert result.reached == make_item(1).published
    assert [progress.stored for progress in seen] == [20, 40, 60, 80, 95]
    stored = store.release(make_item(95).item_id)
    assert stored is not None
    assert stored.link == "https://www.isscr.org/isscr-news/release-95"
    assert stored.excerpt == "The ISSCR’s release number 95."
    status = store.archive_status(site.json_url)
    assert (status.state, status.pages, status.stored, status.next_offset) == ("done", 5, 95, None)
    # Written page by page, then merged: the search index is one piece (FTS5 segment).
    segments = "SELECT count(DISTINCT segid) FROM releases_fts_idx"
    assert store.db.execute(segments).fetchone()[0] == 1


async def test_running_it_again_changes_nothing(
    store: Store, db: Database, session: aiohttp.ClientSession, site: FeedServer, tmp_path: Path
) -> None:
    await walker(db, session, site).run()
    before = rows(tmp_path / "bot.db")

    again = await walker(db, session, site).run()

    assert rows(tmp_path / "bot.db") == before
    assert (again.stored, again.already_stored, again.resumed_from) == (0, 95, None)
    assert offsets(site.json_requests())[5:] == [None, ms(76), ms(56), ms(36), ms(16)]


async def test_an_rss_poll_after_a_backfill_stores_nothing_twice_and_announces_only_news(
    store: Store, db: Database, session: aiohttp.ClientSession, site: FeedServer, tmp_path: Path
) -> None:
    await walker(db, session, site).run()
    before = rows(tmp_path / "bot.db")

    baseline = await make_watcher(db, session, site).poll_once()
    site.items.insert(0, make_item(96))
    later = await make_watcher(db, session, site).poll_once()

    assert baseline.plan is not None and baseline.plan.first_poll
    assert (baseline.plan.new, baseline.plan.to_announce, baseline.updated) == ([], [], [])
    assert rows(tmp_path / "bot.db")[:95] == before  # the RSS gives identical rows
    assert later.plan is not None
    assert [r.id for r in later.plan.new] == [make_item(96).item_id]
    assert queued(store) == [make_item(96).item_id]
    assert store.release_count() == 96


async def test_announce_existing_still_announces_the_newest_after_a_backfill(
    store: Store, db: Database, session: aiohttp.ClientSession, site: FeedServer
) -> None:
    await walker(db, session, site).run()  # no poll yet: stores all of them

    await make_watcher(db, session, site, announce_existing=2).poll_once()

    assert queued(store) == [make_item(94).item_id, make_item(95).item_id]


async def test_releases_newer_than_a_day_before_the_last_poll_are_left_to_the_watcher(
    store: Store, db: Database, session: aiohttp.ClientSession, site: FeedServer
) -> None:
    await make_watcher(db, session, site).poll_once()  # baseline: the 20 newest, 76..95
    now = datetime.now(UTC)
    fresh = [make_item(97, published=now - timedelta(hours=1))]
    fresh.append(make_item(96, published=now - timedelta(hours=3)))
    site.items[:0] = fresh  # on the site, not yet polled

    result = await walker(db, session, site).run()

    assert (result.stored, result.already_stored, result.left_to_watcher) == (75, 20, 2)
    assert result.summary() == (
        "75 new releases stored from 5 pages; 20 already stored; "
        "2 recent releases left to the feed watcher."
    )
    assert store.release(make_item(97).item_id) is None
    await make_watcher(db, session, site).poll_once()
    assert queued(store) == [make_item(96).item_id, make_item(97).item_id]  # announced


async def test_a_backdated_release_new_to_the_feed_is_left_to_the_watcher(
    store: Store, db: Database, session: aiohttp.ClientSession, site: FeedServer
) -> None:
    await make_watcher(db, session, site).poll_once()  # baseline: the 20 newest, 76..95
    # Published after the poll, dated among the feed's releases (long before "a day ago").
    backdated = make_item(200, published=make_item(80).published + timedelta(hours=1))
    site.items.insert(0, backdated)

    result = await walker(db, session, site).run()

    assert (result.stored, result.already_stored, result.left_to_watcher) == (75, 20, 1)
    await make_watcher(db, session, site).poll_once()
    assert queued(store) == [backdated.item_id]


REPEATED = int(ms(1))  # an offset of 2025, as Squarespace's are


@pytest.mark.parametrize(
    ("pagination", "stop_reason", "requests"),
    [
        ({"nextPage": False}, "last page", 1),
        ({}, "last page", 1),
        # The server names the offset it was just asked for: it would loop forever.
        ({"nextPage": True, "nextPageOffset": REPEATED, "nextPageUrl": "/n"}, None, 2),
    ],
    ids=["nextPage false", "no pagination", "repeated offset"],
)
async def test_the_walk_ends_on_the_last_page_or_a_repeated_offset(
    store: Store,
    db: Database,
    session: aiohttp.ClientSession,
    site: FeedServer,
    pagination: dict[str, Any],
    stop_reason: str | None,
    requests: int,
) -> None:
    document = json.loads(render_archive_page(newest_first(1, 2, 3)))
    document["pagination"] = pagination
    site.fail_always(Fault.json(json.dumps(document).encode()), json_only=True)

    result = await walker(db, session, site).run()

    assert result.stop_reason == (stop_reason or f"repeated offset {REPEATED}")
    assert len(site.json_requests()) == requests
    assert store.release_count() == 3
    assert store.archive_status(site.json_url).state == "done"


async def test_an_empty_page_ends_the_walk(
    store: Store, db: Database, session: aiohttp.ClientSession, site: FeedServer
) -> None:
    empty = {"items": [], "pagination": {"nextPage": True, "nextPageOffset": 5}}
    site.fail_next(Fault.json(json.dumps(empty).encode()), json_only=True)

    result = await walker(db, session, site).run()

    assert (result.pages, result.stored, result.stop_reason) == (1, 0, "empty page")
    assert len(site.json_requests()) == 1


async def test_pages_are_asked_for_no_faster_than_one_a_pause(
    store: Store, db: Database, session: aiohttp.ClientSession, site: FeedServer
) -> None:
    await walker(db, session, site, pause=0.2).run()

    pages = site.json_requests()
    assert len(pages) == 5
    assert all(later.at - earlier.at >= 0.19 for earlier, later in itertools.pairwise(pages))


@pytest.mark.parametrize("code", [429, 503])
async def test_a_busy_server_is_retried_no_sooner_than_its_retry_after(
    store: Store, db: Database, session: aiohttp.ClientSession, site: FeedServer, code: int
) -> None:
    site.fail_next(Fault.status(code, retry_after=1), json_only=True)

    result = await walker(db, session, site).run()

    first, second, *_ = site.json_requests()
    assert (first.status, second.status) == (code, 200)
    assert offsets([first, second]) == [None, None]
    assert second.at - first.at >= 0.95
    assert result.stored == 95


async def test_a_failed_walk_keeps_its_progress_and_the_next_run_resumes_there(
    store: Store, db: Database, session: aiohttp.ClientSession, site: FeedServer
) -> None:
    def break_after_two_pages(progress: BackfillResult) -> None:
        if progress.pages == 2:
            site.fail_always(Fault.status(500), json_only=True)

    with pytest.raises(ArchiveError) as raised:
        await walker(db, session, site, attempts=3, on_page=break_after_two_pages).run()

    assert not raised.value.permanent
    assert raised.value.reason == (
        f"HTTP 500 Internal Server Error (page {site.json_url}&offset={ms(56)}, after 3 attempts)"
    )
    status = store.archive_status(site.json_url)
    assert (status.state, status.pages, status.stored, status.next_offset) == (
        "failed",
        2,
        40,
        int(ms(56)),
    )
    assert status.last_error == raised.value.reason
    assert store.release_count() == 40

    site.fail_always(None, json_only=True)
    requests_before = len(site.json_requests())
    result = await walker(db, session, site).run()

    resumed = site.json_requests()[requests_before:]
    assert offsets(resumed) == [ms(56), ms(36), ms(16)]
    assert (result.resumed_from, result.pages, result.stored) == (int(ms(56)), 3, 55)
    assert result.summary().startswith(
        f"55 new releases stored from 3 pages (resumed at offset {ms(56)})"
    )
    assert store.release_count() == 95
    status = store.archive_status(site.json_url)
    assert (status.state, status.pages, status.stored, status.failures) == ("done", 5, 95, 0)


async def test_a_permanent_problem_is_not_retried(
    store: Store, db: Database, session: aiohttp.ClientSession, site: FeedServer
) -> None:
    site.fail_always(Fault.status(404), json_only=True)

    with pytest.raises(ArchiveError) as raised:
        await walker(db, session, site).run()

    assert raised.value.permanent
    assert raised.value.reason == f"HTTP 404 Not Found (page {site.json_url}, not retried)"
    assert len(site.json_requests()) == 1


async def test_health_shows_the_archive(
    store: Store, db: Database, session: aiohttp.ClientSession, site: FeedServer
) -> None:
    assert health(store, site.url, site.json_url)["archive"] == {
        "state": "not started",
        "pages": 0,
        "releases_stored": 0,
        "left_to_watcher": 0,
        "finished": None,
        "stop_reason": None,
        "bad_items": {"count": 0, "examples": []},
        "last_error": None,
    }
    assert health(store, site.url)["archive"]["state"] == "unavailable"

    site.fail_always(Fault.html(), json_only=True)
    with pytest.raises(ArchiveError):
        await walker(db, session, site).run()
    failed = health(store, site.url, site.json_url)
    assert failed["ok"] is False
    assert failed["archive"]["state"] == "failed"
    assert failed["archive"]["last_error"]["reason"].startswith(
        "got an HTML page instead of JSON (check ARCHIVE_URL"
    )

    site.fail_always(None, json_only=True)
    await walker(db, session, site).run()
    done = health(store, site.url, site.json_url)
    # Only the feed, never polled here, keeps the report from being ok.
    assert done["problems"] == ["The feed has not been polled successfully yet."]
    assert {k: done["archive"][k] for k in ("state", "pages", "releases_stored")} == {
        "state": "done",
        "pages": 5,
        "releases_stored": 95,
    }


# -- in the running bot -------------------------------------------------------------------


@asynccontextmanager
async def running(settings: Settings, *, rerun_base: float = 60.0) -> AsyncIterator[InspectedBot]:
    bot = InspectedBot(settings, host="127.0.0.1")
    bot.outbox.spacing = 0.05
    bot.archive.pause = 0
    bot.archive.retry_base = 0.01
    bot.archive.rerun_base = rerun_base
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


@pytest.fixture
async def archive_site() -> AsyncIterator[FeedServer]:
    """45 releases: an RSS of the 20 newest, 5 archive pages of 10."""
    async with FeedServer(newest_first(*range(1, 46)), page_size=10) as server:
        yield server


@pytest.fixture
def site_settings(
    tmp_path: Path, archive_site: FeedServer, slack: SlackApi
) -> Callable[..., Settings]:
    def build(**overrides: str) -> Settings:
        return Settings.from_env(bot_env(tmp_path, archive_site, slack, **overrides))

    return build


def archive_state(bot: InspectedBot) -> str:
    assert bot.settings.archive_url is not None
    return bot.store.archive_status(bot.settings.archive_url).state


async def test_a_first_start_backfills_after_the_first_poll_and_announces_none_of_it(
    site_settings: Callable[..., Settings], archive_site: FeedServer, slack: SlackApi
) -> None:
    async with running(site_settings()) as bot:
        await eventually(lambda: archive_state(bot) == "done")
        assert bot.store.release_count() == 45
        first_json = archive_site.requests.index(archive_site.json_requests()[0])
        assert archive_site.requests[0].query["format"] == "rss"  # the poll came first
        assert first_json > 0
        url = f"http://127.0.0.1:{bot.port}/healthz"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            report = await response.json()
        archive_site.items.insert(0, make_item(46))
        await eventually(lambda: len(slack.messages[CHANNEL]) == 1)

    assert posted_ids(slack) == [make_item(46).item_id]
    assert report["archive"]["state"] == "done"
    assert report["archive"]["pages"] == 5
    assert report["archive"]["releases_stored"] == 25  # the 20 newest came with the first poll


async def test_a_release_published_while_the_backfill_runs_is_still_announced(
    site_settings: Callable[..., Settings], archive_site: FeedServer, slack: SlackApi
) -> None:
    archive_site.fail_next(Fault.timeout(0.5), json_only=True)  # the first page comes late
    async with running(site_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 20)  # the first poll
        archive_site.items.insert(0, make_item(46))  # on the first archive page, not yet in RSS
        await eventually(lambda: archive_state(bot) == "done")
        await eventually(lambda: len(slack.messages[CHANNEL]) == 1)
        assert bot.store.archive_status(bot.settings.archive_url or "").recent == 1

    assert posted_ids(slack) == [make_item(46).item_id]


async def test_a_database_with_releases_is_not_backfilled_at_start(
    site_settings: Callable[..., Settings], archive_site: FeedServer, tmp_path: Path
) -> None:
    settings = site_settings()
    store = Store(settings.database_path)
    store.ensure_schema()
    store.close()
    db = Database(settings.database_path)
    async with open_session() as http:
        await make_watcher(db, http, archive_site).poll_once()
    db.close()

    async with running(settings) as bot:
        await eventually(lambda: len(archive_site.requests) >= 3)
        assert archive_state(bot) == "not started"
    assert archive_site.json_requests() == []


async def test_a_failed_backfill_resumes_later_and_after_a_restart(
    site_settings: Callable[..., Settings], archive_site: FeedServer
) -> None:
    settings = site_settings()
    archive_site.fail_next(
        Fault.json(render_archive_page(newest_first(*range(1, 46)), 0, 10)), json_only=True
    )
    archive_site.fail_always(Fault.status(503), json_only=True)  # after the first page
    async with running(settings) as bot:
        await eventually(lambda: archive_state(bot) == "failed")
        assert bot.store.archive_status(settings.archive_url or "").pages == 1

    archive_site.fail_always(None, json_only=True)
    requests_before = len(archive_site.json_requests())
    async with running(settings) as bot:
        await eventually(lambda: archive_state(bot) == "done")
        assert bot.store.release_count() == 45
    assert offsets(archive_site.json_requests()[requests_before:]) == [
        ms(36),
        ms(26),
        ms(16),
        ms(6),
    ]

    # Within one run too: a failed walk is resumed after a (capped) backoff.
    archive_site.fail_next(Fault.status(500), times=4, json_only=True)  # one page's 4 attempts
    settings = site_settings(DATABASE_PATH=str(Path(settings.database_path).with_name("b.db")))
    async with running(settings, rerun_base=0.1) as bot:
        await eventually(lambda: archive_state(bot) == "done")
        status = bot.store.archive_status(settings.archive_url or "")
        assert status.last_error is not None and status.last_error.startswith("HTTP 500")
        assert bot.store.release_count() == 45


async def test_a_permanent_problem_is_logged_once_and_not_hammered(
    site_settings: Callable[..., Settings],
    archive_site: FeedServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    archive_site.fail_always(Fault.html(), json_only=True)
    async with running(site_settings(), rerun_base=0.05) as bot:
        await eventually(lambda: archive_state(bot) == "failed")
        polls = len(archive_site.requests)
        await eventually(lambda: len(archive_site.requests) >= polls + 2)  # the bot goes on

    assert len(archive_site.json_requests()) == 1
    stopped = [
        r.getMessage() for r in caplog.records if "archive backfill stopped" in r.getMessage()
    ]
    assert len(stopped) == 1
    assert "Fix ARCHIVE_URL" in stopped[0]


async def test_a_local_feed_file_without_archive_url_skips_the_backfill(
    tmp_path: Path, slack: SlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    settings = Settings.from_env(bot_env(tmp_path, None, slack))
    assert settings.archive_url is None
    async with running(settings) as bot:
        await eventually(lambda: bot.store.release_count() == 5)
    assert any("no archive backfill" in r.getMessage() for r in caplog.records)


def test_archive_url_defaults_to_the_feed_as_json_and_is_validated(tmp_path: Path) -> None:
    env = {"DATABASE_PATH": str(tmp_path / "x.db")}
    feed = "https://www.isscr.org/isscr-news?category=Policy&format=rss"
    assert Settings.from_env({**env, "FEED_URL": feed}).archive_url == (
        "https://www.isscr.org/isscr-news?category=Policy&format=json"
    )
    assert Settings.from_env(env).archive_url == "https://www.isscr.org/isscr-news?format=json"
    mirror = "http://mirror.example/news?format=json"
    assert Settings.from_env({**env, "ARCHIVE_URL": mirror}).archive_url == mirror
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**env, "ARCHIVE_URL": "www.isscr.org/isscr-news"})
    assert str(raised.value) == (
        "ARCHIVE_URL is 'www.isscr.org/isscr-news', not an http(s) URL: "
        "use https://www.isscr.org/isscr-news?format=json"
    )


def test_an_empty_archive_is_one_empty_last_page() -> None:
    page = parse_archive_page(render_archive_page([]), PAGE_URL)
    assert page == ArchivePage(releases=[], next_offset=None, site="https://www.isscr.org")
