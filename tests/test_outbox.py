"""The outbox against the Slack Web API stand-in: exactly once, in order, through faults."""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.database import Database
from bot.health import health
from bot.models import SINGLE_WORKSPACE, Place, Release
from bot.settings import Settings
from bot.slack.clients import posting_client
from bot.slack.outbox import Outbox
from bot.store import Store
from standins.slack_api import FakeResponse, SlackApi
from tests.conftest import CHANNEL, bot_env, eventually, posted_ids

OTHER = "C0OTHER001"


def release(n: int, **fields: object) -> Release:
    values: dict[str, object] = {
        "id": f"{n:024x}",
        "title": f"Release {n}",
        "link": f"https://www.isscr.org/isscr-news/release-{n}",
        "categories": ("Press Release",),
        "excerpt": f"Excerpt {n}.",
    }
    values.update(fields)
    return Release(**values)  # type: ignore[arg-type]


def queue(store: Store, *releases: Release, channel: str = CHANNEL) -> None:
    with store.transaction():
        for item in releases:
            store.save_release(item, source="rss", now=time.time())
            store.add_delivery(item.id, Place(SINGLE_WORKSPACE, channel), now=time.time())


def mark_sending(tmp_path: Path, delivery_id: int) -> None:
    """What a process that died mid-post left behind: the delivery marked "sending"."""
    with sqlite3.connect(tmp_path / "bot.db") as other_process:
        other_process.execute(
            "UPDATE deliveries SET state = 'sending', attempts = 1, sending_since = ?, "
            "last_attempt_at = ? WHERE id = ?",
            [time.time(), time.time(), delivery_id],
        )


def client_for(slack: SlackApi, tmp_path: Path, *, timeout: int = 30) -> AsyncWebClient:
    client = posting_client(Settings.from_env(bot_env(tmp_path, None, slack)))
    client.timeout = timeout
    return client


@pytest.fixture
def outbox(db: Database, slack: SlackApi, tmp_path: Path) -> Outbox:
    return Outbox(db, client_for(slack, tmp_path), spacing=0.05, retry_base=0.05, retry_cap=0.2)


async def deliver_everything(outbox: Outbox, store: Store, *, timeout: float = 10) -> None:
    """Run the outbox until nothing is pending or sending, then stop it."""
    stop = asyncio.Event()
    running = asyncio.create_task(outbox.run(stop))

    def idle() -> bool:
        counts = store.delivery_counts(team=SINGLE_WORKSPACE)
        return counts["pending"] == 0 and counts["sending"] == 0

    try:
        await eventually(idle, timeout=timeout)
    finally:
        stop.set()
        await running


async def test_an_announcement_is_posted_with_every_field(
    outbox: Outbox, store: Store, slack: SlackApi
) -> None:
    queue(store, release(1, image_url="https://images.squarespace-cdn.com/x/cover"))
    await deliver_everything(outbox, store)

    [call] = slack.calls_to("chat.postMessage")
    params = call.params
    assert params["channel"] == CHANNEL
    assert params["text"] == "ISSCR Press Release: Release 1"
    assert params["unfurl_links"] is False and params["unfurl_media"] is False
    assert params["metadata"] == {
        "event_type": "isscr_news_item",
        "event_payload": {"item_id": release(1).id},
    }
    assert params["blocks"][0]["accessory"]["image_url"].endswith("/x/cover")
    assert params["blocks"][2]["elements"][0]["text"]["text"] == "Read on isscr.org"
    [row] = store.delivery_log()
    assert row["state"] == "sent" and row["ts"] == slack.messages[CHANNEL][0]["ts"]


async def test_a_release_edited_after_one_channel_got_it_goes_to_the_next_as_edited(
    store: Store, db: Database, slack: SlackApi, tmp_path: Path
) -> None:
    # The outbox builds a release's message once for all its channels: never a stale one.
    slack.add_channel(OTHER)
    queue(store, release(1))
    await deliver_everything(Outbox(db, client_for(slack, tmp_path)), store)
    queue(store, release(1, title="Release 1, corrected"), channel=OTHER)
    await deliver_everything(Outbox(db, client_for(slack, tmp_path)), store)

    texts = {
        call.params["channel"]: call.params["text"] for call in slack.calls_to("chat.postMessage")
    }
    assert texts == {
        CHANNEL: "ISSCR Press Release: Release 1",
        OTHER: "ISSCR Press Release: Release 1, corrected",
    }


async def test_posts_go_out_oldest_first_and_spaced_per_channel(
    store: Store, db: Database, slack: SlackApi, tmp_path: Path
) -> None:
    slack.add_channel(OTHER)
    queue(store, release(1), release(2), release(3))
    queue(store, release(4), release(5), channel=OTHER)
    outbox = Outbox(db, client_for(slack, tmp_path), spacing=0.3)
    await deliver_everything(outbox, store)

    assert posted_ids(slack) == [release(n).id for n in (1, 2, 3)]
    assert posted_ids(slack, OTHER) == [release(n).id for n in (4, 5)]
    for channel in (CHANNEL, OTHER):
        times = [c.at for c in slack.calls_to("chat.postMessage") if c.params["channel"] == channel]
        assert all(later - earlier >= 0.29 for earlier, later in itertools.pairwise(times))


@pytest.mark.parametrize("refusals", [1, 6])
async def test_rate_limits_are_waited_out_without_loss_or_duplicate(
    outbox: Outbox, store: Store, slack: SlackApi, refusals: int
) -> None:
    # One 429 is retried inside slack-sdk; six outlast its retries and reach the outbox.
    slack.fail_next("chat.postMessage", FakeResponse.rate_limited(retry_after=1), times=refusals)
    queue(store, release(1), release(2))
    await deliver_everything(outbox, store, timeout=20)

    assert posted_ids(slack) == [release(1).id, release(2).id]
    assert len(slack.calls_to("chat.postMessage")) == refusals + 2
    # Each refusal's Retry-After (1 s) passes before the next try.
    times = [call.at for call in slack.calls_to("chat.postMessage")][: refusals + 1]
    assert all(later - earlier >= 0.95 for earlier, later in itertools.pairwise(times))


@pytest.mark.parametrize("after_posting", [True, False])
async def test_a_5xx_is_checked_against_history_before_posting_again(
    outbox: Outbox, store: Store, slack: SlackApi, after_posting: bool
) -> None:
    slack.fail_next("chat.postMessage", FakeResponse.server_error(500, after_posting=after_posting))
    queue(store, release(1))
    await deliver_everything(outbox, store)

    assert posted_ids(slack) == [release(1).id]
    [history] = slack.calls_to("conversations.history")
    assert history.params["include_all_metadata"] in (True, "1", "true")
    assert len(slack.calls_to("chat.postMessage")) == (1 if after_posting else 2)
    assert store.delivery_log()[0]["state"] == "sent"


async def test_a_timed_out_post_that_slack_stored_is_not_posted_twice(
    store: Store, db: Database, slack: SlackApi, tmp_path: Path
) -> None:
    slack.fail_next("chat.postMessage", FakeResponse.timeout(2, after_posting=True))
    queue(store, release(1))
    outbox = Outbox(db, client_for(slack, tmp_path, timeout=1), retry_base=0.05, retry_cap=0.1)
    await deliver_everything(outbox, store)

    assert posted_ids(slack) == [release(1).id]


async def test_a_missing_channel_fails_with_a_reason_others_still_deliver(
    outbox: Outbox, store: Store, slack: SlackApi
) -> None:
    queue(store, release(1), channel="C0GONE0001")
    queue(store, release(2))
    await deliver_everything(outbox, store)

    assert posted_ids(slack) == [release(2).id]
    failed = [row for row in store.delivery_log() if row["state"] == "failed"]
    assert [row["channel"] for row in failed] == ["C0GONE0001"]
    assert failed[0]["last_error"].startswith("channel_not_found: ")
    status = health(store, "http://feed.invalid/")
    assert status["ok"] is False
    assert status["deliveries"]["failed"] == 1
    assert status["deliveries"]["failures"][0]["error"].startswith("channel_not_found")


async def test_not_in_a_public_channel_joins_it_then_posts(
    outbox: Outbox, store: Store, slack: SlackApi
) -> None:
    slack.add_channel(OTHER, member=False)
    queue(store, release(1), channel=OTHER)
    await deliver_everything(outbox, store)

    assert posted_ids(slack, OTHER) == [release(1).id]
    assert [c.params["channel"] for c in slack.calls_to("conversations.join")] == [OTHER]


async def test_a_revoked_token_keeps_deliveries_waiting_and_reports_it(
    store: Store, db: Database, slack: SlackApi, tmp_path: Path
) -> None:
    queue(store, release(1))
    client = client_for(slack, tmp_path)
    client.token = "xoxb-revoked"
    outbox = Outbox(db, client, retry_base=0.05, retry_cap=0.1)
    stop = asyncio.Event()
    running = asyncio.create_task(outbox.run(stop))
    await eventually(lambda: len(slack.calls_to("chat.postMessage")) >= 3)
    stop.set()
    await running

    [row] = store.delivery_log()
    assert row["state"] == "pending"
    assert row["last_error"].startswith("invalid_auth: the bot's token is wrong")
    assert health(store, "x")["deliveries"]["retrying"][0]["error"].startswith("invalid_auth")
    assert slack.messages[CHANNEL] == []

    # Fixed token, restart: delivered at once, not after the backoff.
    client.token = slack.token
    await deliver_everything(Outbox(db, client), store)
    assert posted_ids(slack) == [release(1).id]


async def test_an_image_slack_cannot_fetch_is_dropped_not_the_announcement(
    outbox: Outbox, store: Store, slack: SlackApi
) -> None:
    slack.fail_next("chat.postMessage", FakeResponse.error("invalid_blocks"))
    queue(store, release(1, image_url="https://images.example/broken"))
    await deliver_everything(outbox, store)

    first, second = slack.calls_to("chat.postMessage")
    assert "accessory" in first.params["blocks"][0]
    assert "accessory" not in second.params["blocks"][0]
    assert posted_ids(slack) == [release(1).id]


async def test_a_delivery_left_sending_by_a_crash_is_found_in_history(
    outbox: Outbox, store: Store, slack: SlackApi, tmp_path: Path
) -> None:
    # The previous process marked it sending, Slack stored the post, then the process died.
    queue(store, release(1), release(2))
    [first, _] = store.delivery_log()
    mark_sending(tmp_path, first["id"])
    await client_for(slack, tmp_path).chat_postMessage(
        channel=CHANNEL,
        text="Release 1",
        metadata={"event_type": "isscr_news_item", "event_payload": {"item_id": release(1).id}},
    )
    slack.add_message(CHANNEL, "someone else talking")

    await deliver_everything(outbox, store)

    assert posted_ids(slack) == [release(1).id, release(2).id]


async def test_two_outboxes_on_one_database_never_post_the_same_delivery(
    store: Store, db: Database, slack: SlackApi, tmp_path: Path
) -> None:
    slack.add_channel(OTHER)
    queue(store, *(release(n) for n in range(1, 7)))
    queue(store, *(release(n) for n in range(7, 11)), channel=OTHER)
    second_db = Database(tmp_path / "bot.db")
    first = Outbox(db, client_for(slack, tmp_path), spacing=0.05)
    second = Outbox(second_db, client_for(slack, tmp_path), spacing=0.05)
    stop = asyncio.Event()
    running = [asyncio.create_task(first.run(stop)), asyncio.create_task(second.run(stop))]
    try:
        await eventually(lambda: sum(len(m) for m in slack.messages.values()) >= 10)
        await asyncio.sleep(0.3)  # room for a duplicate to show up
    finally:
        stop.set()
        await asyncio.gather(*running)
        second_db.close()

    assert posted_ids(slack) == [release(n).id for n in range(1, 7)]
    assert posted_ids(slack, OTHER) == [release(n).id for n in range(7, 11)]


async def test_a_locked_database_delays_deliveries_and_stops_nothing(
    store: Store, slack: SlackApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue(store, release(1))
    # The bot waits 30 s for another process's lock; a test cannot.
    db = Database(tmp_path / "bot.db", busy_timeout=0.1)
    store.db.execute("PRAGMA busy_timeout = 100")
    other_process = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")  # writing for longer than the busy timeout
    outbox = Outbox(db, client_for(slack, tmp_path), retry_base=0.05, retry_cap=0.2)
    stop = asyncio.Event()
    running = asyncio.create_task(outbox.run(stop))
    try:
        # Locked at start: the outbox cannot even bring waiting deliveries forward.
        await eventually(lambda: "outbox scheduling failed" in caplog.text)
        await asyncio.sleep(0.3)
        assert not running.done()
        assert slack.calls_to("chat.postMessage") == []
        other_process.execute("COMMIT")
        await eventually(lambda: store.delivery_counts(team=SINGLE_WORKSPACE)["sent"] == 1)

        # Locked while a post is in flight: its answer cannot be recorded.
        slack.post_delay = 0.5
        queue(store, release(2))
        outbox.wake()
        await eventually(lambda: len(slack.calls_to("chat.postMessage")) == 2)
        other_process.execute("BEGIN IMMEDIATE")
        await eventually(lambda: f"delivering to {CHANNEL} stopped" in caplog.text)
        await asyncio.sleep(0.3)
        assert not running.done()
        other_process.execute("COMMIT")
        await eventually(lambda: store.delivery_counts(team=SINGLE_WORKSPACE)["sent"] == 2)
    finally:
        other_process.close()
        stop.set()
        await running
        db.close()

    # The post whose answer went unrecorded was found in history, not posted again.
    assert posted_ids(slack) == [release(1).id, release(2).id]
    assert len(slack.calls_to("conversations.history")) == 1
    assert "database is locked" in caplog.text
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(
    ("answer", "history_checks", "posts"),
    [
        # Slack stored the post, then failed: the retry finds it instead of posting again.
        (FakeResponse.server_error(500, after_posting=True), 1, 1),
        # Slack refused it: nothing to look for, the retry posts.
        (FakeResponse.error("is_archived"), 0, 2),
    ],
    ids=["outcome unknown", "refused"],
)
async def test_a_failed_delivery_queued_again_is_posted_once(
    store: Store,
    db: Database,
    slack: SlackApi,
    tmp_path: Path,
    answer: FakeResponse,
    history_checks: int,
    posts: int,
) -> None:
    slack.fail_next("chat.postMessage", answer)
    queue(store, release(1))
    await deliver_everything(
        Outbox(db, client_for(slack, tmp_path), retry_base=0.05, max_attempts=1), store
    )
    [row] = store.delivery_log()
    assert row["state"] == "failed"

    assert (
        store.retry_failed(team=SINGLE_WORKSPACE, now=time.time()) == 1
    )  # an admin's "Retry failed deliveries"
    await deliver_everything(Outbox(db, client_for(slack, tmp_path), retry_base=0.05), store)

    assert posted_ids(slack) == [release(1).id]
    [row] = store.delivery_log()
    assert (row["state"], row["ts"]) == ("sent", slack.messages[CHANNEL][0]["ts"])
    assert len(slack.calls_to("conversations.history")) == history_checks
    assert len(slack.calls_to("chat.postMessage")) == posts


async def test_a_busy_channel_is_searched_to_the_end_of_the_window_before_posting_again(
    store: Store, db: Database, slack: SlackApi, tmp_path: Path
) -> None:
    # The answer to the post was lost; 2,100 messages followed it before the bot looked.
    slack.fail_next("chat.postMessage", FakeResponse.server_error(502, after_posting=True))
    queue(store, release(1))
    outbox = Outbox(db, client_for(slack, tmp_path), retry_base=5, retry_cap=5)
    stop = asyncio.Event()
    running = asyncio.create_task(outbox.run(stop))
    await eventually(lambda: store.delivery_log()[0]["last_error"] is not None)
    stop.set()
    await running
    for n in range(2100):
        slack.add_message(CHANNEL, f"busy channel, message {n}")

    await deliver_everything(Outbox(db, client_for(slack, tmp_path)), store)

    assert posted_ids(slack) == [release(1).id]
    assert len(slack.calls_to("conversations.history")) == 11  # 2,101 messages, 200 a page
    [row] = store.delivery_log()
    assert (row["state"], row["ts"]) == ("sent", slack.messages[CHANNEL][0]["ts"])


async def test_a_bot_removed_from_the_channel_waits_and_says_so_instead_of_posting_blind(
    store: Store, db: Database, slack: SlackApi, tmp_path: Path
) -> None:
    slack.add_channel(OTHER)
    slack.fail_next("chat.postMessage", FakeResponse.server_error(500, after_posting=True))
    queue(store, release(1), channel=OTHER)
    outbox = Outbox(db, client_for(slack, tmp_path), retry_base=0.05, retry_cap=0.1)
    stop = asyncio.Event()
    running = asyncio.create_task(outbox.run(stop))
    try:
        await eventually(lambda: len(slack.calls_to("chat.postMessage")) == 1)
        slack.channels[OTHER].is_member = False  # an admin removed the bot meanwhile
        await eventually(lambda: len(slack.calls_to("conversations.history")) >= 3)
        [row] = store.delivery_log()
        assert row["state"] == "sending"
        assert row["last_error"].startswith(
            "cannot read the channel's history to check whether the post already went out "
            "(not_in_channel): invite the bot back"
        )
        assert len(slack.calls_to("chat.postMessage")) == 1  # never posted blind
        assert slack.calls_to("conversations.join") == []  # nor pushed its way back in
        problems = health(store, "http://feed.invalid/")["problems"]
        assert any("cannot read the channel's history" in line for line in problems), problems

        slack.channels[OTHER].is_member = True  # invited back
        await eventually(lambda: store.delivery_log()[0]["state"] == "sent")
    finally:
        stop.set()
        await running

    assert posted_ids(slack, OTHER) == [release(1).id]
    assert len(slack.calls_to("chat.postMessage")) == 1


@pytest.mark.parametrize(
    "retry_after",
    [lambda: "3600", lambda: email.utils.formatdate(time.time() + 3600, usegmt=True)],
    ids=["an hour", "an HTTP date an hour away"],
)
async def test_a_long_retry_after_is_capped_and_shown_while_waiting(
    store: Store, db: Database, slack: SlackApi, tmp_path: Path, retry_after: Callable[[], str]
) -> None:
    refusal = FakeResponse(
        status=429,
        body={"ok": False, "error": "ratelimited"},
        headers=(("Retry-After", retry_after()),),
    )
    slack.fail_next("chat.postMessage", refusal)
    queue(store, release(1))
    outbox = Outbox(db, client_for(slack, tmp_path), max_retry_after=2)
    stop = asyncio.Event()
    running = asyncio.create_task(outbox.run(stop))
    try:
        await eventually(lambda: bool(store.delivery_log()[0]["last_error"]), timeout=5)
        [row] = store.delivery_log()
        assert row["last_error"].startswith(
            "ratelimited: Slack asked the bot to slow down; trying again at "
        )
        assert re.search(r"\(Slack asked for 3[56]\d\d s\)$", row["last_error"]), row
        assert row["state"] == "pending"  # refused: nothing to look for in history
        report = health(store, "http://feed.invalid/")
        assert report["ok"] is False
        assert any(line.startswith("Slack is rate-limiting posts") for line in report["problems"])
        # Not an hour: the capped wait, then the post.
        await eventually(
            lambda: store.delivery_counts(team=SINGLE_WORKSPACE)["sent"] == 1, timeout=10
        )
    finally:
        stop.set()
        await running

    assert posted_ids(slack) == [release(1).id]
    assert len(slack.calls_to("chat.postMessage")) == 2  # one refusal, one post


async def test_an_announcement_slack_still_rejects_goes_out_as_a_minimal_message(
    outbox: Outbox, store: Store, slack: SlackApi
) -> None:
    slack.fail_next("chat.postMessage", FakeResponse.error("invalid_blocks"), times=2)
    queue(store, release(1, title="Release 1 <odd>", image_url="https://images.example/x"))
    await deliver_everything(outbox, store)

    with_image, without_image, minimal = slack.calls_to("chat.postMessage")
    assert "accessory" in with_image.params["blocks"][0]
    assert "accessory" not in without_image.params["blocks"][0]
    assert "blocks" not in minimal.params
    assert minimal.params["text"] == (
        "*<https://www.isscr.org/isscr-news/release-1|Release 1 &lt;odd&gt;>*"
    )
    assert posted_ids(slack) == [release(1).id]  # its metadata is there for history checks
    with sqlite3.connect(store.db.conn.execute("PRAGMA database_list").fetchone()[2]) as raw:
        [(state, note)] = raw.execute("SELECT state, note FROM deliveries").fetchall()
    assert state == "sent"
    assert note == "sent as a minimal message: Slack rejected the announcement (invalid_blocks)"


async def test_a_post_slack_asks_to_retry_is_never_resent_after_its_lease_lapsed(
    store: Store, db: Database, slack: SlackApi, tmp_path: Path
) -> None:
    # The one-shot `poll` holds the channel with a 2 s lease; Slack answers its post with a
    # 429 asking for 3 s. Waiting that out inside the request and sending again would post
    # after another process, finding the lease lapsed, took the channel and posted.
    queue(store, release(1))
    slack.fail_next("chat.postMessage", FakeResponse.rate_limited(3))
    one_shot = Outbox(db, client_for(slack, tmp_path), lease_ttl=2.0, spacing=0.05)
    other_db = Database(tmp_path / "bot.db")
    running = Outbox(other_db, client_for(slack, tmp_path), lease_ttl=2.0, spacing=0.05)
    stop = asyncio.Event()
    drain = asyncio.create_task(one_shot.drain())
    await eventually(lambda: len(slack.calls_to("chat.postMessage")) == 1)
    run = asyncio.create_task(running.run(stop))
    try:
        await drain
        await eventually(
            lambda: store.delivery_counts(team=SINGLE_WORKSPACE)["sent"] == 1, timeout=15
        )
        await asyncio.sleep(1)  # a second post would show up here
    finally:
        stop.set()
        await run
        other_db.close()

    assert posted_ids(slack) == [release(1).id]


def test_a_delivery_waiting_out_a_rate_limit_stays_in_the_report_behind_newer_ones(
    store: Store,
) -> None:
    queue(store, release(1))
    [first] = store.delivery_log()
    store.reschedule(
        first["id"],
        attempt=0,
        due_at=time.time() + 300,
        error="ratelimited: Slack asked the bot to slow down; trying again at 10:05:00 UTC",
        outcome_known=True,
    )
    queue(store, *(release(n) for n in range(2, 13)))  # queued behind it, no error of theirs

    report = health(store, "http://feed.invalid/")

    assert report["problems"][1:] == [
        "Slack is rate-limiting posts (1 delivery waiting; C0NEWS0001: ratelimited: Slack asked "
        "the bot to slow down; trying again at 10:05:00 UTC)"
    ]
    assert report["deliveries"]["retrying"][0]["channel"] == CHANNEL


async def test_channels_that_finish_together_take_their_next_releases_too(
    outbox: Outbox, store: Store, slack: SlackApi
) -> None:
    """A finished channel's lease is given back with others finishing about then (one
    commit); a channel finishing while that commit is under way is given back after it, and
    so is worked again when its next release comes."""
    channels = [f"C0TOGETHR{n}" for n in range(8)]
    for channel in channels:
        slack.add_channel(channel)
    slack.latency = 0.05
    stop = asyncio.Event()
    running = asyncio.create_task(outbox.run(stop))
    try:
        for n in (1, 2):
            for channel in channels:
                queue(store, release(n), channel=channel)
            outbox.wake()
            await eventually(
                lambda n=n: all(len(slack.messages[c]) == n for c in channels), timeout=10
            )
    finally:
        stop.set()
        await running
