"""`/isscr-news` over loopback HTTP: the real Bolt app and a bare ack-only app served in a
process of their own, and the signed requests timed against both."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_stand_in import CHANNEL, SIGNING_SECRET, SlackStandIn, sign, slash_command_body

from bot.database import Database
from bot.search.service import SearchService
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.clients import app_client
from bot.slack.controls import Controls
from bot.slack.markup import COMMAND


def serve(conn: Connection, database: str) -> None:
    """Child process: the real Bolt app and a bare ack-only app, each on its own aiohttp
    runner as `bot.serve` serves it; their URLs go back over `conn`, None stops them."""

    async def main() -> None:
        async with SlackStandIn() as slack:
            settings = Settings.from_env(
                {
                    "SLACK_BOT_TOKEN": slack.token,
                    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                    "SLACK_API_URL": slack.url,
                    "DATABASE_PATH": database,
                    "ANNOUNCE_CHANNEL": CHANNEL,
                    "PORT": "0",
                }
            )
            db = Database(settings.database_path)
            search = SearchService(settings.database_path)
            controls = Controls(poll_now=lambda: None, deliver_now=lambda: None, live_problems=list)
            real = build_app(settings, db, app_client(settings), search, controls)
            bare = AsyncApp(client=app_client(settings), signing_secret=SIGNING_SECRET)

            @bare.command(COMMAND)
            async def ack_only(ack: AsyncAck) -> None:
                await ack()

            runners, urls = [], {}
            for name, app in (("real", real), ("bare", bare)):
                runner = web.AppRunner(
                    app.web_app(path="/slack/events"), access_log=None, shutdown_timeout=5
                )
                await runner.setup()
                await web.TCPSite(runner, "127.0.0.1", 0).start()
                runners.append(runner)
                urls[name] = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
            urls["response_url"] = slack.response_url("benchmark")
            conn.send(urls)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, conn.recv)
            for runner in runners:
                await runner.cleanup()
            await asyncio.to_thread(search.close)
            await asyncio.to_thread(db.close)

    asyncio.run(main())


class Servers:
    """The parent's handle on the server process."""

    def __init__(self, database: Path) -> None:
        context = get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, str(database)), daemon=True)
        self.process.start()
        # The child sends its URLs once serving; if it dies first, say so instead of waiting.
        while not self.conn.poll(1):
            if not self.process.is_alive():
                sys.exit(f"the server process failed (exit code {self.process.exitcode})")
        self.urls: dict[str, str] = self.conn.recv()

    def close(self) -> None:
        self.conn.send(None)
        self.process.join(timeout=10)


@dataclass
class RoundTrips:
    real: list[float]
    bare: list[float]
    deferred: int  # real answers that only said "Searching…" (the search took > 1.5 s)


async def time_round_trips(urls: dict[str, str], texts: Sequence[str], warmup: int) -> RoundTrips:
    """POST each text, signed, to both apps in ABBA order; the first `warmup` pairs unrecorded."""
    trips = RoundTrips([], [], 0)
    async with aiohttp.ClientSession() as session:
        for index, text in enumerate(texts):
            body = slash_command_body(text, response_url=urls["response_url"])
            order = ("real", "bare") if index % 2 == 0 else ("bare", "real")
            for app in order:
                headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
                started = time.perf_counter()
                async with session.post(urls[app], data=body, headers=headers) as response:
                    answer = await response.read()
                seconds = time.perf_counter() - started
                if response.status != 200:
                    raise RuntimeError(f"{app} app answered {response.status} to {text!r}")
                if app == "real" and b"Searching the ISSCR archive" in answer:
                    trips.deferred += 1
                if index >= warmup:
                    (trips.real if app == "real" else trips.bare).append(seconds)
    return trips
