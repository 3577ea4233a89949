"""Slack's acknowledgements while the bot is busy, and the first post of a wide fan-out.

Runs the real bot (`python -m bot run`, HTTP mode) as a child process against the loopback
stand-ins of standins/ (the Slack Web API) and a static feed server, and measures from outside,
over HTTP, as Slack would:

1. the round trip of a signed `/isscr-news` (a search, `status` and `poll`, in turn) and of
   `GET /healthz`, one after another:
   - idle;
   - while a 10,000-item feed is polled (parsed, and 10,000 releases stored);
   - while another process holds the database's write lock for 10 seconds;
2. with 300 channels routed, the time from the commit of the poll that queued a new release
   (its deliveries' `created_at`, stamped inside that transaction, so a little before the
   commit: the figure errs long) to the first of its 300 posts reaching Slack, and to the last.

Targets (issue 10): acknowledgement p99 under 1 s while busy, measured beside the idle p99;
first post within 100 ms of the commit. Run from the repo root:

    python benchmarks/responsiveness.py
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.models import SINGLE_WORKSPACE
from bot.store import Store
from standins.feed_server import BASE_DATE, FeedItem, make_item, render_rss
from standins.slack_api import SlackApi
from standins.slack_requests import CHANNEL, SIGNING_SECRET, send_to_slack_app, slash_command_body

# The bot runs as `python -m bot` from a temporary directory: this checkout's bot, installed or not.
REPO = Path(__file__).resolve().parents[1]
ADMIN, MEMBER = "U0ADMIN001", "U0MEMBER01"
ACK_TARGET = 1.0
FAN_OUT_TARGET = 0.100
FAN_OUT_CHANNELS = 300
LOCK_SECONDS = 10.0


def items(*numbers: int) -> list[FeedItem]:
    """Feed items, newest first, every one in the past (one a minute)."""
    return [
        make_item(
            n,
            published=BASE_DATE - timedelta(minutes=20_000 - n),
            html=f"<p>Release {n} on stem cells, embryo models and policy ({n * 7919}).</p>",
        )
        for n in sorted(numbers, reverse=True)
    ]


class StaticFeed:
    """The RSS, rendered once per change (the fake site renders per request, in this process,
    which would slow the measurements down)."""

    def __init__(self) -> None:
        self.body = render_rss(items(1, 2, 3))
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    def show(self, shown: list[FeedItem]) -> None:
        self.body = render_rss(shown)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/isscr-news", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/isscr-news?format=rss"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.Response(body=self.body, content_type="application/rss+xml")


class Bot:
    """`python -m bot run` in a child process."""

    def __init__(self, directory: Path, feed: StaticFeed, slack: SlackApi) -> None:
        self.database = directory / "bot.db"
        self.log = directory / "bot.log"
        self.port = _free_port()
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(REPO),
            "SLACK_BOT_TOKEN": slack.token,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.url,
            "FEED_URL": feed.url,
            "ARCHIVE_URL": "http://127.0.0.1:9/",  # no backfill: it would only add noise
            "DATABASE_PATH": str(self.database),
            "POLL_INTERVAL": "1",
            "ANNOUNCE_CHANNEL": CHANNEL,
            "ADMIN_USER_IDS": ADMIN,
            "PORT": str(self.port),
            "LOG_LEVEL": "INFO",
        }
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=self.log.parent, env=self.env,
                stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        await _until(self._polled, 30)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def _polled(self) -> bool:
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{self.port}/healthz") as response,
            ):
                return (await response.json())["feed"]["last_success"] is not None
        except (aiohttp.ClientError, KeyError):
            return False

    async def slash(self, text: str, user: str, slack: SlackApi) -> float:
        url = f"http://127.0.0.1:{self.port}/slack/events"
        body = slash_command_body(text, user=user, response_url=slack.response_url("bench"))
        started = time.perf_counter()
        status, _ = await send_to_slack_app(url, body)
        took = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"/isscr-news {text} answered {status}")
        return took

    async def healthz(self) -> float:
        started = time.perf_counter()
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{self.port}/healthz") as response,
        ):
            await response.read()
        return time.perf_counter() - started


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _until(condition: Callable[[], Awaitable[bool]], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        await asyncio.sleep(0.05)


async def requests_while(bot: Bot, slack: SlackApi, busy: Callable[[], bool]) -> list[float]:
    """Round trips of Slack's requests, one after another, while `busy()` holds."""
    mix = (("stem cell", MEMBER), ("status", ADMIN), ("poll", ADMIN))
    took: list[float] = []
    while busy():
        for text, user in mix:
            took.append(await bot.slash(text, user, slack))
        took.append(await bot.healthz())
    return took


async def acknowledgements(directory: Path) -> dict[str, list[float]]:
    feed = StaticFeed()
    await feed.start()
    async with SlackApi() as slack:
        slack.add_channel(CHANNEL)
        bot = Bot(directory, feed, slack)
        await bot.start()
        try:
            results: dict[str, list[float]] = {}
            until = time.monotonic() + 10
            results["idle"] = await requests_while(bot, slack, lambda: time.monotonic() < until)

            feed.show(items(*range(1, 10_001)))
            asked = feed.requests

            def polling() -> bool:
                return "feed polled: 10000 releases" not in bot.output()

            await _until(lambda: _true(feed.requests > asked), 10)
            results["10,000-item poll"] = await requests_while(bot, slack, polling)

            locked = await asyncio.create_subprocess_exec(
                sys.executable, "-c",
                "import sqlite3, sys, time\n"
                f"db = sqlite3.connect({str(bot.database)!r}, isolation_level=None)\n"
                "db.execute('BEGIN IMMEDIATE')\nprint('locked', flush=True)\n"
                f"time.sleep({LOCK_SECONDS})\ndb.execute('COMMIT')\n",
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            assert locked.stdout is not None
            await locked.stdout.readline()
            results["write lock held elsewhere"] = await requests_while(
                bot, slack, lambda: locked.returncode is None
            )
            await locked.wait()
        finally:
            await bot.stop()
            await feed.stop()
    return results


async def _true(value: bool) -> bool:
    return value


async def fan_out(directory: Path, rounds: int = 5) -> list[tuple[float, float]]:
    """(commit → first post, commit → last post) for `rounds` new releases."""
    feed = StaticFeed()
    await feed.start()
    async with SlackApi() as slack:
        channels = [f"C0FAN{n:05d}" for n in range(FAN_OUT_CHANNELS)]
        for channel in channels:
            slack.add_channel(channel)
        slack.add_channel(CHANNEL)
        store = Store(directory / "bot.db")
        store.ensure_schema()
        for channel in channels:
            store.save_route(
                channel,
                [],
                team=SINGLE_WORKSPACE,
                by=ADMIN,
                action="route",
                detail="",
                now=time.time(),
            )
        store.close()
        bot = Bot(directory, feed, slack)
        await bot.start()
        figures = []
        try:
            for n in range(4, 4 + rounds):
                feed.show(items(*range(1, n + 1)))
                release = make_item(n).item_id
                await _until(
                    lambda release=release: _true(_posts(slack, release) == FAN_OUT_CHANNELS), 60
                )
                with sqlite3.connect(bot.database) as db:
                    [committed] = db.execute(
                        "SELECT min(created_at) FROM deliveries WHERE release_id = ?", [release]
                    ).fetchone()
                arrivals = [
                    call.wall
                    for call in slack.calls_to("chat.postMessage")
                    if call.params["metadata"]["event_payload"]["item_id"] == release
                ]
                figures.append((min(arrivals) - committed, max(arrivals) - committed))
                await asyncio.sleep(1.5)  # the per-channel pace, before the next release
        finally:
            await bot.stop()
            await feed.stop()
    return figures


def _posts(slack: SlackApi, release: str) -> int:
    return sum(
        1
        for messages in slack.messages.values()
        for message in messages
        if message.get("metadata", {}).get("event_payload", {}).get("item_id") == release
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        acks = asyncio.run(acknowledgements(Path(first)))
        fans = asyncio.run(fan_out(Path(second)))

    idle_p99 = percentile(acks["idle"], 0.99)
    print("Slack's requests to the bot (/isscr-news search, status, poll; /healthz), round trip")
    print(f"{'while':<28} {'n':>5} {'p50':>9} {'p99':>9} {'max':>9} {'p99 ÷ idle':>11}")
    passed = True
    for name, took in acks.items():
        p99 = percentile(took, 0.99)
        print(
            f"{name:<28} {len(took):>5} {statistics.median(took) * 1000:>7.1f}ms "
            f"{p99 * 1000:>7.1f}ms {max(took) * 1000:>7.1f}ms {p99 / idle_p99:>10.1f}×"
        )
        if name != "idle":
            passed &= p99 < ACK_TARGET
    print(f"target: p99 under {ACK_TARGET:g} s while busy: {'PASS' if passed else 'FAIL'}")

    first = [f for f, _ in fans]
    last = [f for _, f in fans]
    print(f"\nA new release routed to {FAN_OUT_CHANNELS} channels ({len(fans)} releases)")
    print(
        f"poll's commit → first post: median {statistics.median(first) * 1000:.1f} ms, "
        f"max {max(first) * 1000:.1f} ms"
    )
    print(
        f"poll's commit → last post:  median {statistics.median(last) * 1000:.1f} ms, "
        f"max {max(last) * 1000:.1f} ms"
    )
    fast = max(first) <= FAN_OUT_TARGET
    print(f"target: first post within {FAN_OUT_TARGET * 1000:.0f} ms: {'PASS' if fast else 'FAIL'}")


if __name__ == "__main__":
    main()
