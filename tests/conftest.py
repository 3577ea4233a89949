"""Shared fixtures: the loopback feed site, the Slack stand-in, settings and a running bot."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.database import Database
from bot.ingest.feed import open_session
from bot.ingest.watcher import Watcher
from bot.models import SINGLE_WORKSPACE, Place
from bot.settings import Settings
from bot.store import Store
from standins.feed_server import FeedItem, FeedServer, make_item
from standins.slack_api import SlackApi
from standins.slack_requests import CHANNEL, SIGNING_SECRET


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """Once a test and its event loop are gone, collect what it left: a task it left pending
    (aiohttp's handler of a dropped connection, say) is reported now, and never in the log
    of the next test on this worker, which may assert that nothing was logged."""
    yield
    gc.collect()


# Real-shaped samples of the feed and the JSON archive, kept in the repository (see its README).
DATA_DIR = Path(__file__).resolve().parent / "data"


def newest_first(*numbers: int, **overrides: Any) -> list[FeedItem]:
    """Deterministic feed items, newest first as the real feed lists them."""
    return [make_item(n, **overrides) for n in sorted(numbers, reverse=True)]


@pytest.fixture
async def feed() -> AsyncIterator[FeedServer]:
    async with FeedServer(newest_first(1, 2, 3)) as server:
        yield server


@pytest.fixture
async def slack() -> AsyncIterator[SlackApi]:
    async with SlackApi() as api:
        api.add_channel(CHANNEL, name="isscr-news")
        yield api
    # Whatever the test was about, nothing the bot sent may be what Slack refuses as malformed
    # (a test that means to send such a thing empties `rejected` itself).
    assert api.rejected == [], api.rejected


@pytest.fixture
async def processes() -> AsyncIterator[list[Any]]:
    """The bot processes a test starts (tests/test_process.py's BotProcess), killed at its end
    if still running."""
    started: list[Any] = []
    yield started
    for bot in started:
        if bot.process is not None and bot.process.returncode is None:
            await bot.kill()


def bot_env(
    tmp_path: Path, feed: FeedServer | None, slack: SlackApi | None, **overrides: str
) -> dict[str, str]:
    """The environment a deployed bot would have, pointed at the stand-ins."""
    env = {
        "SLACK_BOT_TOKEN": slack.token if slack else "xoxb-test-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url if slack else "http://127.0.0.1:9/api/",
        "FEED_URL": feed.url if feed else str(DATA_DIR / "sample-feed.rss"),
        "DATABASE_PATH": str(tmp_path / "bot.db"),
        "POLL_INTERVAL": "1",
        "ANNOUNCE_CHANNEL": CHANNEL,
        "PORT": "0",
        "LOG_LEVEL": "DEBUG",
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


@pytest.fixture
def make_settings(tmp_path: Path, feed: FeedServer, slack: SlackApi) -> Callable[..., Settings]:
    def build(**overrides: str) -> Settings:
        return Settings.from_env(bot_env(tmp_path, feed, slack, **overrides))

    return build


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A connection of the test's own to the bot's database, schema ensured."""
    opened = Store(tmp_path / "bot.db")
    opened.ensure_schema()
    yield opened
    opened.close()


@pytest.fixture
def db(store: Store, tmp_path: Path) -> Iterator[Database]:
    """The same database as the bot's parts use it: off the event loop."""
    opened = Database(tmp_path / "bot.db")
    yield opened
    opened.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The watcher's HTTP session, with timeouts short enough for the fault tests."""
    async with open_session(aiohttp.ClientTimeout(total=5, sock_read=1)) as opened:
        yield opened


def make_watcher(
    db: Database, session: aiohttp.ClientSession, feed: FeedServer, **options: object
) -> Watcher:
    """A watcher of `feed` that queues each release for CHANNEL."""
    return Watcher(
        db,
        session,
        feed_url=feed.url,
        channels_for=lambda store, release: [Place(SINGLE_WORKSPACE, CHANNEL)],
        poll_interval=300,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def watcher(db: Database, session: aiohttp.ClientSession, feed: FeedServer) -> Watcher:
    return make_watcher(db, session, feed)


def queued(store: Store) -> list[str]:
    """The release ids queued for announcement, in queue order."""
    return [row["release_id"] for row in store.delivery_log()]


def posted_ids(slack: SlackApi, channel: str = CHANNEL) -> list[str]:
    """The release ids of the bot's posts in `channel`, in posting order (from their metadata)."""
    return [m["metadata"]["event_payload"]["item_id"] for m in slack.messages[channel]]


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]], *, timeout: float = 10.0, step: float = 0.02
) -> None:
    """Wait until `condition()` holds; fail the test with a clear message if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition still false after {timeout} s")
        await asyncio.sleep(step)


def mrkdwn_texts(value: object) -> list[str]:
    """Every string Slack parses as mrkdwn in a payload (plain_text and alt_text are not)."""
    if isinstance(value, list):
        return [text for item in value for text in mrkdwn_texts(item)]
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            return [value["text"]]
        return [text for item in value.values() for text in mrkdwn_texts(item)]
    return []
