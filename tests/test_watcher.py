"""The feed watcher against the loopback Squarespace stand-in: what is new, what is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.database import Database
from bot.ingest.feed import MAX_BODY_BYTES, open_session
from bot.ingest.watcher import Outcome, Watcher
from bot.store import Store
from standins.feed_server import Fault, FeedServer, make_item
from tests.conftest import make_watcher, newest_first, queued


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    # Short timeouts so the timeout fault is quick to test; the production ones are longer.
    async with open_session(aiohttp.ClientTimeout(total=5, sock_read=0.5)) as opened:
        yield opened


async def test_first_poll_stores_everything_and_announces_nothing(
    watcher: Watcher, store: Store
) -> None:
    result = await watcher.poll_once()

    assert result.outcome is Outcome.UPDATED
    assert result.plan is not None and result.plan.first_poll
    assert store.release_count() == 3
    assert queued(store) == []


@pytest.mark.parametrize("nothing", ["an empty feed", "a 304 to a request without validators"])
async def test_a_first_poll_that_stores_nothing_is_not_the_baseline(
    store: Store, db: Database, session: aiohttp.ClientSession, feed: FeedServer, nothing: str
) -> None:
    watcher = make_watcher(db, session, feed, announce_existing=1)
    if nothing == "an empty feed":
        feed.items = []
    else:
        feed.fail_next(Fault.status(304, body=b""))
    empty = await watcher.poll_once()
    assert empty.outcome is not Outcome.FAILED
    assert store.release_count() == 0

    feed.items = newest_first(*range(1, 21))
    baseline = await watcher.poll_once()

    # The rule of a first poll: everything stored, only the newest ANNOUNCE_EXISTING queued.
    assert baseline.plan is not None
    assert baseline.plan.first_poll
    assert store.release_count() == 20
    assert queued(store) == [make_item(20).item_id]

    feed.items.insert(0, make_item(21))
    await watcher.poll_once()
    assert queued(store) == [make_item(20).item_id, make_item(21).item_id]


async def test_announce_existing_queues_the_newest_n_oldest_first(
    store: Store, db: Database, session: aiohttp.ClientSession, feed: FeedServer
) -> None:
    watcher = make_watcher(db, session, feed, announce_existing=2)
    await watcher.poll_once()

    assert queued(store) == [make_item(2).item_id, make_item(3).item_id]


async def test_a_new_release_is_queued_once_even_when_seen_again(
    watcher: Watcher, store: Store, feed: FeedServer
) -> None:
    await watcher.poll_once()
    feed.items = newest_first(1, 2, 3, 4, 5)

    result = await watcher.poll_once()
    await watcher.poll_once()  # 304 now
    feed.etag = feed.last_modified = False
    feed.items = newest_first(2, 3, 4, 5)  # release 1 drops off the feed: nothing happens
    await watcher.poll_once()

    assert result.plan is not None
    assert [r.id for r in result.plan.to_announce] == [make_item(4).item_id, make_item(5).item_id]
    assert queued(store) == [make_item(4).item_id, make_item(5).item_id]
    assert store.release_count() == 5


async def test_an_edited_release_updates_its_row_and_is_not_announced_again(
    watcher: Watcher, store: Store, feed: FeedServer
) -> None:
    await watcher.poll_once()
    feed.items = [make_item(3, title="Release 3 (corrected)", html="<p>New text.</p>")]
    feed.items += newest_first(1, 2)

    result = await watcher.poll_once()

    assert [r.id for r in result.updated] == [make_item(3).item_id]
    stored = store.release(make_item(3).item_id)
    assert stored is not None
    assert (stored.title, stored.excerpt) == ("Release 3 (corrected)", "New text.")
    assert queued(store) == []


async def test_conditional_get_sends_validators_and_skips_on_304(
    watcher: Watcher, feed: FeedServer
) -> None:
    await watcher.poll_once()
    result = await watcher.poll_once()

    first, second = feed.requests
    assert "If-None-Match" not in first.headers
    assert second.headers["If-None-Match"].startswith('"')
    assert "If-Modified-Since" in second.headers
    assert second.status == 304
    assert result.outcome is Outcome.NOT_MODIFIED
    assert "isscr-news-bot/" in second.headers["User-Agent"]
    assert "+https://" in second.headers["User-Agent"]


async def test_validators_survive_a_restart(
    store: Store, db: Database, session: aiohttp.ClientSession, feed: FeedServer, tmp_path: Path
) -> None:
    await make_watcher(db, session, feed).poll_once()
    reopened = Database(tmp_path / "bot.db")
    try:
        result = await make_watcher(reopened, session, feed).poll_once()
    finally:
        reopened.close()

    assert result.outcome is Outcome.NOT_MODIFIED
    assert feed.requests[-1].status == 304


async def test_an_identical_body_without_validators_is_not_parsed(
    store: Store, db: Database, session: aiohttp.ClientSession
) -> None:
    # Squarespace may send no ETag, and stamps the time into a comment on every response.
    async with FeedServer(
        newest_first(1, 2), etag=False, last_modified=False, stamp_each_response=True
    ) as feed:
        watcher = make_watcher(db, session, feed)
        await watcher.poll_once()
        result = await watcher.poll_once()

    assert result.outcome is Outcome.UNCHANGED
    assert feed.requests[1].status == 200


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.status(500), "HTTP 500"),
        (Fault.status(404), "HTTP 404"),
        (Fault.status(503, retry_after=120), "HTTP 503"),
        (Fault.status(429, retry_after=30), "HTTP 429"),
        (Fault.timeout(3), "timed out"),
        (Fault.html(), "got an HTML page instead of a feed"),
        (Fault.malformed(), "malformed feed XML"),
        (Fault.garbage(), "response is not an RSS or Atom feed"),
        (Fault.empty(), "empty response body"),
        (Fault.huge(MAX_BODY_BYTES + 1), "body is over the"),
        (Fault.huge(MAX_BODY_BYTES * 4, declare_length=True), "body of"),
        (Fault.redirect_loop(), "more than 5 redirects"),
        (Fault.drop(), "network error"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_each_feed_fault_is_recorded_then_recovered_from(
    watcher: Watcher, store: Store, feed: FeedServer, fault: Fault, reason: str
) -> None:
    await watcher.poll_once()
    feed.items = newest_first(1, 2, 3, 4)
    # aiohttp silently retries an idempotent GET once on a dropped connection.
    feed.fail_next(fault, times=2 if fault.kind == "drop" else 1)

    failed = await watcher.poll_once()

    assert failed.outcome is Outcome.FAILED
    assert failed.failure is not None and failed.failure.reason.startswith(reason)
    status = store.feed_status(feed.url)
    assert status.failures == 1 and status.last_error == failed.failure.reason
    assert queued(store) == []  # nothing half-stored

    recovered = await watcher.poll_once()

    assert recovered.outcome is Outcome.UPDATED
    assert queued(store) == [make_item(4).item_id]
    assert store.feed_status(feed.url).failures == 0


async def test_failures_back_off_and_honour_retry_after(watcher: Watcher, feed: FeedServer) -> None:
    feed.fail_always(Fault.status(503, retry_after=900))
    result = await watcher.poll_once()
    assert result.failure is not None and result.failure.retry_after == 900

    assert watcher.retry_delay(1, 900) == 900
    delays = [watcher.retry_delay(n, None) for n in (1, 2, 3, 10)]
    assert 150 <= delays[0] <= 300
    assert 300 <= delays[1] <= 600
    assert 600 <= delays[2] <= 1200
    assert 1800 <= delays[3] <= 3600  # capped at an hour


async def test_a_redirect_is_followed(
    store: Store, db: Database, session: aiohttp.ClientSession, feed: FeedServer
) -> None:
    feed.fail_always(Fault.redirect("/news-moved?format=rss"))
    result = await make_watcher(db, session, feed).poll_once()

    assert result.outcome is Outcome.UPDATED
    assert store.release_count() == 3
