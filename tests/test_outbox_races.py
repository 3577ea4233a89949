"""The outbox against races an independent audit of its rework for issue 14 found (each of
these failed before its fix): a stalled process that cannot decrypt a token, a release queued
while finished channels give back their leases, and a token no key decrypts retried too
often."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient

from bot.database import Database
from bot.models import SINGLE_WORKSPACE
from bot.slack.outbox import Outbox
from bot.slack.tokens import WrongKey
from bot.store import Store
from standins.slack_api import FakeResponse, SlackApi
from tests.conftest import CHANNEL, eventually, posted_ids
from tests.test_outbox import client_for, queue, release


def _state(store: Store) -> tuple[str, int, float | None]:
    [row] = store.db.execute("SELECT state, attempts, sending_since FROM deliveries").fetchall()
    return row[0], row[1], row[2]


async def test_a_stalled_process_that_cannot_decrypt_the_token_never_undoes_the_other_processes_try(
    store: Store, db: Database, slack: SlackApi, tmp_path: Path
) -> None:
    # Process A took the channel and read the delivery (pending), then stalled (SIGSTOP, a
    # paused VM) before asking for the workspace's client; when it wakes, its key cannot
    # decrypt the token (rotate-key ran meanwhile with a key A lacks).
    queue(store, release(1))
    asked, wake = asyncio.Event(), asyncio.Event()

    async def stalled_then_wrong_key(team: str) -> AsyncWebClient | None:
        asked.set()
        await wake.wait()
        raise WrongKey("the token was encrypted with another key")

    stalled = Outbox(db, stalled_then_wrong_key, spacing=0.05, retry_base=0.05, retry_cap=0.1)
    other_db = Database(tmp_path / "bot.db")
    # B: Slack stores its post but the answer is lost (a timeout): "sending", checked later.
    slack.fail_next("chat.postMessage", FakeResponse.timeout(3, after_posting=True))
    other = Outbox(
        other_db, client_for(slack, tmp_path, timeout=1), spacing=0.05, retry_base=1.0,
        retry_cap=1.0,
    )  # fmt: skip
    stop = asyncio.Event()
    running = [asyncio.create_task(stalled.run(stop))]
    try:
        await eventually(asked.is_set)
        # A stays stopped longer than its lease: to every other process, the lease lapsed.
        with sqlite3.connect(tmp_path / "bot.db") as raw:
            raw.execute("UPDATE leases SET expires_at = 0")
        running.append(asyncio.create_task(other.run(stop)))
        await eventually(lambda: len(slack.messages[CHANNEL]) == 1)
        await eventually(lambda: store.delivery_log()[0]["last_error"] is not None)
        # A wakes: its try never began (no "sending" mark of its own), yet what it makes of
        # the delivery must not turn B's "sending" (posted, answer lost) into "pending".
        wake.set()
        await eventually(lambda: _state(store)[0] == "sent", timeout=15)
        await asyncio.sleep(0.5)
    finally:
        wake.set()
        stop.set()
        await asyncio.gather(*running)
        other_db.close()

    # B looked in history before posting again, and found its post: one announcement.
    assert posted_ids(slack) == [release(1).id]


async def test_a_release_queued_while_finished_channels_give_back_their_leases_goes_out_at_once(
    store: Store, db: Database, slack: SlackApi, tmp_path: Path
) -> None:
    outbox = Outbox(db, client_for(slack, tmp_path), spacing=0.05, retry_base=0.05, retry_cap=0.2)
    # The next release comes while the first is still fanning out, just as channels that
    # finished it are giving their leases back (one commit, behind the others' marks).
    channels = [f"C0LATE{n:04d}" for n in range(60)]
    for channel in channels:
        slack.add_channel(channel)
    slack.latency = 0.02
    stop = asyncio.Event()
    running = asyncio.create_task(outbox.run(stop))
    try:
        for channel in channels:
            queue(store, release(1), channel=channel)
        outbox.wake()
        await eventually(lambda: bool(outbox._to_release), step=0.0005)
        for channel in channels:
            queue(store, release(2), channel=channel)
        outbox.wake()
        queued = time.monotonic()
        await eventually(lambda: all(len(slack.messages[c]) == 2 for c in channels), timeout=15)
        took = time.monotonic() - queued
    finally:
        stop.set()
        await running
    # About 100 posts, 16 in flight, 20 ms each: well under a second; not the 5 s tick.
    assert took < 2.5, took


async def test_a_workspace_whose_token_cannot_be_decrypted_is_not_asked_for_it_every_second(
    store: Store, db: Database
) -> None:
    # Its token stays unreadable until the bot is restarted with the key (which makes every
    # delivery due at once): meanwhile each channel's head delivery is retried, each retry a
    # read of the installation, a decryption with every key and a write. With many channels
    # (a key rotated by another process leaves every workspace so), that is the writer's time.
    queue(store, release(1))
    asked: list[float] = []

    async def wrong_key(team: str) -> AsyncWebClient | None:
        asked.append(time.monotonic())
        raise WrongKey("the token was encrypted with another key")

    outbox = Outbox(db, wrong_key, spacing=0.01, retry_base=0.1, retry_cap=60)
    stop = asyncio.Event()
    running = asyncio.create_task(outbox.run(stop))
    try:
        await asyncio.sleep(3)
    finally:
        stop.set()
        await running
    # Backing off (0.1, 0.2, 0.4, 0.8, 1.6 s...) asks about 5 times in 3 s; never giving up
    # must not mean retrying at the first retry's pace forever.
    assert len(asked) <= 8, len(asked)
    assert store.delivery_counts(team=SINGLE_WORKSPACE)["pending"] == 1
