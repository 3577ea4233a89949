"""Start to `/healthz`: the real bot process, `isscr-news-bot run --mode http` (the Procfile's
web process), on a copy of the archive, against the loopback stand-ins of the feed and of
Slack's Web API (standins/, as .ci/smoke.py starts it), timed from the spawn to the first
answer (200 or 503) of `GET /healthz`, polled every 2 ms, and to the first answer of the
running bot itself (the port answers "starting" from the moment it is bound: bot/starting.py).
Each start is stopped with SIGTERM before the next. Warm starts find the copy in the OS page
cache (a restart); cold ones after `page_cache.evict` (a restart after a reboot).

Where the time goes, from fresh processes timed apart (medians): the interpreter's own start
(`python -c pass`), importing what `run` needs to bind the port (`import bot.cli.run`), and
`Store(path)` with `ensure_schema()` as `run` does next; then, while the port answers
"starting", importing the rest of the bot (`import bot.runtime`), building it and listening.

The last warm start is also the bot's own memory: its RSS (/proc/PID/status) a second after it
answered, idle, then after it served the measured searches as signed `/isscr-news` requests.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from memory import read_status
from page_cache import database_files, evict
from slack_stand_in import SIGNING_SECRET, sign, slash_command_body

from standins.feed_server import FeedServer, make_item
from standins.slack_api import SlackApi

PROGRAM = Path(sys.executable).with_name("isscr-news-bot")
CHANNEL = "C0NEWS0001"
STAGE_RUNS = 3  # fresh processes per stage of the split


@dataclass(frozen=True)
class Start:
    seconds: float  # spawn to the first answer of /healthz
    status: int  # that answer's: 200, or 503 while starting or something needs attention
    rss: int  # the bot's VmRSS then, bytes
    running: float = 0.0  # spawn to the first answer of the running bot (not "starting")


@dataclass
class Startup:
    copied_in: float  # seconds to copy the archive
    warm: list[Start] = field(default_factory=list)
    cold: list[Start] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)  # medians, seconds
    idle: dict[str, int] = field(default_factory=dict)  # read_status of the bot, idle
    served: dict[str, int] = field(default_factory=dict)  # ... after serving `searches`
    searches: int = 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure_startup(
    archive: Path, workdir: Path, texts: Sequence[str], *, starts: int, cold_starts: int
) -> Startup:
    """Copy `archive` into `workdir` and start the bot on it `starts` + `cold_starts` times."""
    database = workdir / "bot.db"
    started = time.perf_counter()
    shutil.copyfile(archive, database)
    startup = Startup(copied_in=time.perf_counter() - started)
    asyncio.run(_starts(startup, database, texts, starts, cold_starts))
    startup.stages = _stages(database)
    return startup


async def _starts(
    startup: Startup, database: Path, texts: Sequence[str], starts: int, cold_starts: int
) -> None:
    # Two items whose ids the archive does not hold (its ids count 1, 2, … in hex).
    newest = [make_item(n, item_id=f"{n:x}".rjust(24, "f")) for n in (2, 1)]
    async with FeedServer(newest) as feed, SlackApi() as slack:
        slack.add_channel(CHANNEL, name="isscr-news")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_PATH": str(database),
            "SLACK_BOT_TOKEN": slack.token,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.url,
            "FEED_URL": feed.url,
            "ANNOUNCE_CHANNEL": CHANNEL,
        }
        for cold in [False] * starts + [True] * cold_starts:
            if cold:
                evict(database_files(database))
            bot, start = await _start(env, database.parent)
            try:
                (startup.cold if cold else startup.warm).append(start)
                if not cold and len(startup.warm) == starts:
                    await asyncio.sleep(1)
                    startup.idle = read_status(bot.pid)
                    await _search(bot.port, texts, slack.response_url("benchmark"))
                    startup.served = read_status(bot.pid)
                    startup.searches = len(texts)
            finally:
                await bot.stop()


@dataclass
class _Bot:
    process: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
                sys.exit(f"the bot did not stop on SIGTERM; its log: {self.log}")


async def _start(env: dict[str, str], cwd: Path) -> tuple[_Bot, Start]:
    port = free_port()
    log = cwd / f"bot-{port}.log"
    url = f"http://127.0.0.1:{port}/healthz"
    with log.open("wb") as output:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            PROGRAM, "run", "--mode", "http",
            env={**env, "PORT": str(port)}, cwd=cwd, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    bot = _Bot(process, port, log)
    timeout = aiohttp.ClientTimeout(total=10)
    first: Start | None = None
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            try:
                async with session.get(url) as response:
                    body = await response.json(content_type=None)
                    seconds = time.perf_counter() - started
                    if first is None:
                        rss = read_status(process.pid)["VmRSS"]
                        first = Start(seconds, response.status, rss)
                    if "starting" not in body:
                        return bot, Start(first.seconds, first.status, first.rss, seconds)
                    await asyncio.sleep(0.002)
            except aiohttp.ClientConnectionError:
                if process.returncode is not None:
                    sys.exit(f"the bot exited with {process.returncode}:\n{log.read_text()}")
                if time.perf_counter() - started > 120:
                    await bot.stop()
                    sys.exit(f"the bot did not answer /healthz in 120 s; its log: {log}")
                await asyncio.sleep(0.002)


async def _search(port: int, texts: Sequence[str], response_url: str) -> None:
    """Each text as a signed `/isscr-news`, one at a time, as Slack sends them."""
    url = f"http://127.0.0.1:{port}/slack/events"
    async with aiohttp.ClientSession() as session:
        for text in texts:
            body = slash_command_body(text, response_url=response_url)
            headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"the bot answered {response.status} to {text!r}")


# Each prints the seconds its own part took; the interpreter's start is timed from outside.
# What `run` imports before the port is bound, and everything it imports after.
_IMPORTS = (
    "import time; t = time.perf_counter(); import bot.cli.run; b = time.perf_counter(); "
    "import bot.runtime; print(b - t, time.perf_counter() - b)"
)
_SCHEMA = (
    "import sys, time; from bot.store import Store; t = time.perf_counter(); "
    "s = Store(sys.argv[1]); s.ensure_schema(); s.close(); print(time.perf_counter() - t)"
)


def _stages(database: Path) -> dict[str, float]:
    """Medians of STAGE_RUNS fresh processes per stage (the copy warm in the OS cache)."""
    runs: dict[str, list[float]] = {"interpreter": [], "imports": [], "schema": [], "bot": []}
    for _ in range(STAGE_RUNS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        runs["interpreter"].append(time.perf_counter() - started)
        done = subprocess.run([sys.executable, "-c", _IMPORTS],
                              capture_output=True, text=True, check=True)  # fmt: skip
        before, after = map(float, done.stdout.split())
        runs["imports"].append(before)
        runs["bot"].append(after)
        done = subprocess.run([sys.executable, "-c", _SCHEMA, str(database)],
                              capture_output=True, text=True, check=True)  # fmt: skip
        runs["schema"].append(float(done.stdout))
    return {name: statistics.median(values) for name, values in runs.items()}
