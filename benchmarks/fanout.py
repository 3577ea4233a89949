"""One new release fanned out to many workspaces (issue 14's target), against the floor that
the outbox's bounds and Slack's latency allow.

    python benchmarks/fanout.py [--workspaces 1000] [--channels 2] [--latency 0.02]
                                [--per-channel-interval 1] [--per-workspace-per-minute 300]
                                [--settle 2] [--no-bare] [--check] [--target 1.2]
                                [--keep DIR] [--profile FILE]

About 10 s at the default size (the bot's part about 5 s). `--check` exits 1 when a target
is missed; `--keep DIR` runs in DIR and leaves the bot's log and database there; `--profile
FILE` records the bot with py-spy during the fan-out (raw format, for flame graphs).

What runs, each in a process of its own but the feed:
- the Slack stand-in (`standins/slack_process.py`): workspace n is T<n:08d> with channels
  C<n:08d>A, B, ...; it answers every Web API call after `--latency` seconds and refuses with
  a 429 a post sooner than `--per-channel-interval` after the last in its channel, or beyond
  `--per-workspace-per-minute` in its workspace (one release is `--channels` posts a
  workspace: the cap is not reached);
- the real bot, `python -m bot run`, in distribution mode (SLACK_CLIENT_ID and
  SLACK_CLIENT_SECRET set, no SLACK_BOT_TOKEN), its log in the temporary directory;
- the loopback feed (`standins/feed_server.py`), in this process.

Before the bot starts, its database is given, through the real `Store`, one installation per
workspace (the stand-in's token, encrypted with the TOKEN_ENCRYPTION_KEY the bot is given) and
an every-category route for each of its channels, all in one transaction. The bot's first poll
stores the feed's three releases as its baseline (announcing none) and the archive import
finishes; then the feed lists a fourth release.

Measured, in one run:
- the time from the feed's answer listing the new release (the arrival of that request, so
  the figure errs long) to the stand-in's last accepted post of it (both wall clocks of this
  machine), against the FLOOR: the outbox keeps at most IN_FLIGHT posts in flight, at most
  IN_FLIGHT_PER_WORKSPACE of one workspace's, and a channel's posts a spacing apart, and each
  post takes `--latency`; so no schedule ends sooner than the largest of
  ceil(posts / IN_FLIGHT) x latency, ceil(a workspace's posts / IN_FLIGHT_PER_WORKSPACE) x
  latency, and (a channel's posts - 1) x the spacing + latency. For one release the first
  binds: 2,000 posts / 16 x 20 ms = 2.5 s. The bounds are read from `bot.slack.outbox.loop`,
  the code the bot runs. The target is at most 1.2x the floor;
- that every (workspace, channel) got exactly one post, how many 429s were answered, and the
  most requests the stand-in answered at once;
- the bot's peak RSS (VmHWM of /proc/<pid>/status) once the fan-out is done;
- the database's growth per workspace: its size (page_count x page_size, which counts what is
  still in the WAL) with the installations and routes against without, divided by the
  workspaces; then what the fan-out added (its deliveries, and the one release), and the
  deliveries table and its indexes alone (SQLite's dbstat);
- the CPU the bot and the stand-in used meanwhile, and the load average: on a machine shared
  with other work the figures move by 10% or more;
- then, the bot stopped, the same posts again to the same stand-in by a bare slack_sdk client
  with the bot's bounds and message and nothing else (`--no-bare`: not): what loopback HTTP,
  slack_sdk and the stand-in take by themselves, beside what the bot took.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: `python benchmarks/fanout.py`
    sys.path.insert(0, str(REPO))

from bot.models import Installation  # noqa: E402
from bot.slack.blocks.announcement import announcement  # noqa: E402
from bot.slack.installations import BOT_SCOPES  # noqa: E402
from bot.slack.outbox.loop import IN_FLIGHT, IN_FLIGHT_PER_WORKSPACE  # noqa: E402
from bot.slack.tokens import TokenCipher, new_key  # noqa: E402
from bot.store import Store  # noqa: E402
from standins.feed_server import BASE_DATE, FeedServer, make_item  # noqa: E402
from standins.slack_api import APP_ID, CLIENT_ID, CLIENT_SECRET  # noqa: E402
from standins.slack_process import SlackApiProcess  # noqa: E402

TARGET = 1.2  # the time to the last post, at most this many times the floor
SIGNING_SECRET = "fanout-benchmark-signing-secret"
BASELINE = (1, 2, 3)  # the feed's releases before the new one
NEW = 4
# Slack: "several hundred messages per minute" per workspace beyond 1 a second per channel
# (https://api.slack.com/methods/chat.postMessage#rate_limiting).
PER_WORKSPACE_PER_MINUTE = 300
MB = 1e6


@dataclass(frozen=True)
class Options:
    workspaces: int = 1000
    channels: int = 2
    latency: float = 0.02
    per_channel_interval: float = 1.0
    per_workspace_per_minute: int = PER_WORKSPACE_PER_MINUTE
    settle: float = 2.0  # seconds to wait after the last post for one that should not come
    target: float = TARGET
    # After the bot: the same posts by a bare client (see `bare_client`).
    calibrate: bool = True
    # py-spy's recording of the bot during the fan-out goes here (raw, for flame graphs).
    profile: Path | None = None


@dataclass(frozen=True)
class Floor:
    """The least time the posts can take, by each bound, and which binds."""

    by_in_flight: float
    by_workspace: float
    by_channel: float

    @property
    def seconds(self) -> float:
        return max(self.by_in_flight, self.by_workspace, self.by_channel)


# Sequential requests timed for a lone request's response time (see Bare.response).
LONE_REQUESTS = 50


def floor(
    posts_per_channel: dict[tuple[str, str], int],
    *,
    latency: float,
    in_flight: int,
    in_flight_per_workspace: int,
    spacing: float,
) -> Floor:
    """The floor of the module docstring, for `posts_per_channel` posts to each (team,
    channel)."""
    per_team: dict[str, int] = {}
    for (team, _), posts in posts_per_channel.items():
        per_team[team] = per_team.get(team, 0) + posts
    total = sum(posts_per_channel.values())
    busiest_team = max(per_team.values(), default=0)
    busiest_channel = max(posts_per_channel.values(), default=0)
    return Floor(
        by_in_flight=math.ceil(total / in_flight) * latency,
        by_workspace=math.ceil(busiest_team / in_flight_per_workspace) * latency,
        by_channel=(busiest_channel - 1) * spacing + latency if busiest_channel else 0.0,
    )


@dataclass(frozen=True)
class Sizes:
    """The database's size (bytes) at each step, and the deliveries' b-trees (dbstat)."""

    empty: int  # the schema alone
    installed: int  # with the installations and routes
    before: int  # the bot's baseline stored, just before the new release
    after: int  # the fan-out done, the bot stopped
    deliveries_before: int | None  # the deliveries table and its indexes; None: no dbstat
    deliveries_after: int | None


@dataclass(frozen=True)
class Result:
    options: Options
    floor: Floor
    posts_expected: int
    posts: int
    missing: list[tuple[str, str]]  # (team, channel) that got no post
    doubled: list[tuple[str, str]]  # ... and those that got more than one
    rate_limited: int  # 429s the stand-in answered
    in_flight_peak: int  # most requests the stand-in answered at once
    served_at: float  # wall clock: the feed's answer listing the new release
    committed_at: float  # the poll's transaction that queued the deliveries
    first_post: float
    last_post: float
    deliveries: dict[str, int]  # by state, in the bot's database after the run
    rss_idle: int  # bytes, just before the new release
    rss_peak: int  # VmHWM once the fan-out is done
    sizes: Sizes
    setup_seconds: float
    bare: Bare | None  # the same posts by a bare client, to compare with
    load: tuple[float, float]  # the 1-minute load average before the run and after the fan-out
    cpu: tuple[Cpu, Cpu]  # what the bot and the stand-in used, the release out to its last post

    @property
    def measured(self) -> float:
        return self.last_post - self.served_at

    @property
    def ratio(self) -> float:
        return self.measured / self.floor.seconds

    @property
    def exactly_once(self) -> bool:
        return not self.missing and not self.doubled and self.posts == self.posts_expected

    @property
    def met(self) -> bool:
        return self.exactly_once and self.rate_limited == 0 and self.ratio <= self.options.target


# -- the processes ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class BotProcess:
    """`python -m bot run` in distribution mode, its output in a log file."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.log = directory / "bot.log"
        self.port = _free_port()
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(REPO),
            **env,
            "PORT": str(self.port),
        }
        self.cwd = directory
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=self.cwd, env=self.env,
                stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip

    async def report(self) -> dict[str, Any] | None:
        """GET /healthz's report; None while it does not answer."""
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{self.port}/healthz") as response,
            ):
                report: dict[str, Any] = await response.json()
                return report
        except (aiohttp.ClientError, json.JSONDecodeError):
            return None

    def status(self) -> dict[str, int]:
        """The Vm* and Rss* lines of /proc/<pid>/status, in bytes."""
        assert self.process is not None
        found = {}
        text = Path(f"/proc/{self.process.pid}/status").read_text()
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if value.strip().endswith(" kB"):
                found[name] = int(value.split()[0]) * 1024
        return found

    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def stop(self) -> int | None:
        if not self.alive():
            return self.process.returncode if self.process else None
        assert self.process is not None
        self.process.terminate()
        try:
            return await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()

    def output(self, lines: int = 40) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class Cpu:
    """The CPU seconds a process used: in user and in system mode; and of them, its main
    thread's (the bot's event loop; its other threads are the database's and feedparser's)."""

    user: float
    system: float
    main: float

    @property
    def total(self) -> float:
        return self.user + self.system

    def __sub__(self, earlier: Cpu) -> Cpu:
        return Cpu(self.user - earlier.user, self.system - earlier.system, self.main - earlier.main)


def cpu(process: asyncio.subprocess.Process | None) -> Cpu:
    """What `process` has used so far (/proc/<pid>/stat and its main thread's)."""
    assert process is not None
    tick = os.sysconf("SC_CLK_TCK")

    def times(stat: Path) -> tuple[float, float]:
        fields = stat.read_text().rpartition(")")[2].split()
        return int(fields[11]) / tick, int(fields[12]) / tick

    user, system = times(Path(f"/proc/{process.pid}/stat"))
    main = sum(times(Path(f"/proc/{process.pid}/task/{process.pid}/stat")))
    return Cpu(user, system, main)


async def _until(
    condition: Callable[[], Awaitable[bool]], seconds: float, what: str, bot: BotProcess
) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if not bot.alive():
            raise RuntimeError(f"the bot exited while waiting for {what}:\n{bot.output()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {seconds:.0f} s waiting for {what}")
        await asyncio.sleep(0.02)


async def _profile(bot: BotProcess, path: Path) -> asyncio.subprocess.Process:
    """py-spy recording `bot` (all its threads, idle ones left out) until SIGINT."""
    assert bot.process is not None
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    process = await asyncio.create_subprocess_exec(
        spy, "record", "--pid", str(bot.process.pid), "--format", "raw", "--rate", "250",
        "--output", str(path), "--threads", "--nonblocking",
    )  # fmt: skip
    await asyncio.sleep(1.0)  # attached by now
    return process


# -- the database ----------------------------------------------------------------------------


def install(path: Path, workspaces: list[dict[str, Any]], cipher: TokenCipher) -> None:
    """Each workspace's installation and an every-category route per channel, through the
    real Store, as installs and admins' routes would leave them (audit rows included), in
    one transaction."""
    store = Store(path)
    try:
        store.ensure_schema()
        now = time.time()
        with store.transaction():
            for workspace in workspaces:
                team = workspace["team_id"]
                store.save_installation(
                    Installation(
                        team=team,
                        enterprise_id=None,
                        team_name=workspace["name"],
                        app_id=APP_ID,
                        bot_user_id=workspace["bot_user_id"],
                        bot_id=workspace["bot_id"],
                        bot_scopes=",".join(BOT_SCOPES),
                        encrypted_token=cipher.encrypt(workspace["token"]),
                        installer=workspace["admin"],
                        installed_at=now,
                    ),
                    now=now,
                )
                for channel in workspace["channels"]:
                    store.save_route(
                        channel,
                        [],
                        team=team,
                        by=workspace["admin"],
                        action="route",
                        detail=f"set <#{channel}> to receive every category",
                        now=now,
                    )
    finally:
        store.close()


def database_size(path: Path) -> int:
    """page_count x page_size: the database as SQLite sees it, WAL included."""
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    return int(pages * size)


def deliveries_bytes(path: Path) -> int | None:
    """The bytes of the deliveries table and its indexes (dbstat); None without dbstat."""
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = db.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name = 'deliveries' OR name IN "
            "(SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deliveries')"
        ).fetchone()
    except sqlite3.OperationalError:  # SQLite built without dbstat
        return None
    finally:
        db.close()
    return int(row[0] or 0)


def delivery_states(path: Path) -> dict[str, int]:
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT state, count(*) FROM deliveries GROUP BY state"))
    finally:
        db.close()


def queued_at(path: Path, release_id: str) -> float:
    """When the poll's transaction queued the release's deliveries (stamped inside it)."""
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = db.execute(
            "SELECT min(created_at) FROM deliveries WHERE release_id = ?", [release_id]
        ).fetchone()
    finally:
        db.close()
    return float(row[0])


# -- the run ---------------------------------------------------------------------------------


def _items(*numbers: int) -> list[Any]:
    """Feed items, newest first, all in the past (the watcher leaves future ones be)."""
    return [
        make_item(n, published=BASE_DATE - timedelta(days=100 - n))
        for n in sorted(numbers, reverse=True)
    ]


async def run(options: Options, directory: Path) -> Result:
    """Set up, fan one release out, and measure (see the module docstring)."""
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    database = directory / "bot.db"
    key = new_key()
    async with (
        SlackApiProcess(
            workspaces=options.workspaces,
            channels=options.channels,
            latency=options.latency,
            per_channel_interval=options.per_channel_interval,
            per_workspace_per_minute=options.per_workspace_per_minute,
        ) as slack,
        FeedServer(_items(*BASELINE)) as feed,
    ):
        store = Store(database)
        store.ensure_schema()
        store.close()
        empty = database_size(database)
        install(database, slack.workspaces, TokenCipher([key]))
        installed = database_size(database)

        bot = BotProcess(
            directory,
            {
                "SLACK_CLIENT_ID": CLIENT_ID,
                "SLACK_CLIENT_SECRET": CLIENT_SECRET,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "TOKEN_ENCRYPTION_KEY": key,
                "SLACK_API_URL": slack.url,
                "FEED_URL": feed.url,  # and, beside it, the archive's JSON pages
                "DATABASE_PATH": str(database),
                "POLL_INTERVAL": "1",
            },
        )
        await bot.start()
        try:

            async def ready() -> bool:
                report = await bot.report()
                return (
                    report is not None
                    and "starting" not in report
                    and report["feed"]["last_success"] is not None
                    and report["archive"].get("state") in ("done", "unavailable")
                )

            await _until(ready, 60, "the first poll and the archive import", bot)
            before = database_size(database)
            deliveries_before = deliveries_bytes(database)
            rss_idle = bot.status()["VmRSS"]
            setup_seconds = time.monotonic() - started

            spy = await _profile(bot, options.profile) if options.profile else None
            cpu_before = cpu(bot.process), cpu(slack.process)
            # The new release: from the next request on, the feed lists it.
            wall_offset = time.time() - time.monotonic()
            asked_before = len(feed.requests)
            feed.items = _items(*BASELINE, NEW)
            expected = {
                (workspace["team_id"], channel)
                for workspace in slack.workspaces
                for channel in workspace["channels"]
            }
            floor_ = floor(
                dict.fromkeys(expected, 1),
                latency=options.latency,
                in_flight=IN_FLIGHT,
                in_flight_per_workspace=IN_FLIGHT_PER_WORKSPACE,
                spacing=options.per_channel_interval,
            )
            stats: dict[str, Any] = {}

            async def all_posted() -> bool:
                nonlocal stats
                await asyncio.sleep(0.2)  # the stand-in's stats cost it a little each
                stats = await slack.stats()
                return int(stats["posts_total"]) >= len(expected)

            await _until(all_posted, max(120.0, 50 * floor_.seconds), "every post", bot)
            rss_peak = bot.status()["VmHWM"]
            load = load_before, os.getloadavg()[0]
            used = cpu(bot.process) - cpu_before[0], cpu(slack.process) - cpu_before[1]
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes what it recorded, and exits
                await spy.wait()
            await asyncio.sleep(options.settle)  # a post twice would show up here
            stats = await slack.stats()
            served = [
                request
                for request in feed.requests[asked_before:]
                if request.status == 200 and request.query.get("format") == "rss"
            ]
            served_at = served[0].at + wall_offset
        finally:
            code = await bot.stop()
        if code != 0:
            raise RuntimeError(f"the bot exited with {code}:\n{bot.output()}")
        # The bot stopped, every channel free to post to again (the settle outlasts the spacing).
        bare = await bare_client(slack, database, options) if options.calibrate else None

    counts = {
        (team, channel): int(posted["count"])
        for team, channels in stats["posts"].items()
        for channel, posted in channels.items()
    }
    return Result(
        options=options,
        floor=floor_,
        posts_expected=len(expected),
        posts=int(stats["posts_total"]),
        missing=sorted(place for place in expected if counts.get(place, 0) == 0),
        doubled=sorted(place for place, count in counts.items() if count > 1),
        rate_limited=int(stats["rate_limited"]),
        in_flight_peak=int(stats["in_flight_peak"]),
        served_at=served_at,
        committed_at=queued_at(database, make_item(NEW).item_id),
        first_post=float(stats["first_post"]),
        last_post=float(stats["last_post"]),
        deliveries=delivery_states(database),
        rss_idle=rss_idle,
        rss_peak=rss_peak,
        sizes=Sizes(
            empty=empty,
            installed=installed,
            before=before,
            after=database_size(database),
            deliveries_before=deliveries_before,
            deliveries_after=deliveries_bytes(database),
        ),
        setup_seconds=setup_seconds,
        bare=bare,
        load=load,
        cpu=used,
    )


@dataclass(frozen=True)
class Bare:
    """The bare client's run: from its first request to the stand-in's last post."""

    seconds: float
    posts: int
    rate_limited: int
    # A lone request's response time as this machine gives it (median of LONE_REQUESTS
    # sequential auth.test calls, the stand-in's latency included): the latency the floor's
    # arithmetic assumes, measured rather than configured.
    response: float


async def bare_client(slack: SlackApiProcess, database: Path, options: Options) -> Bare:
    """The same posts again, to the same stand-in, with the bot's bounds (IN_FLIGHT at once,
    IN_FLIGHT_PER_WORKSPACE of a workspace's) and message, by slack_sdk's AsyncWebClient on
    one aiohttp session, and nothing else: no database, no leases, no marks. What the stand-in,
    loopback HTTP and slack_sdk allow on this machine now, beside what the bot took."""
    store = Store(database, read_only=True)
    release = store.release(make_item(NEW).item_id)
    store.close()
    assert release is not None
    message = announcement(release, with_image=bool(release.image_url))
    before = await slack.stats()
    # Each channel's spacing since the bot's post, waited out.
    await asyncio.sleep(max(0.0, before["last_post"] + options.per_channel_interval - time.time()))
    in_flight = asyncio.Semaphore(IN_FLIGHT)
    failed: list[str] = []
    async with aiohttp.ClientSession() as session:
        clients = {
            workspace["team_id"]: AsyncWebClient(
                token=workspace["token"], base_url=slack.url, session=session, retry_handlers=[]
            )
            for workspace in slack.workspaces
        }
        lone = next(iter(clients.values()))
        times = []
        for _ in range(LONE_REQUESTS):
            asked = time.perf_counter()
            await lone.auth_test()
            times.append(time.perf_counter() - asked)
        response = statistics.median(times)
        per_workspace = {team: asyncio.Semaphore(IN_FLIGHT_PER_WORKSPACE) for team in clients}

        async def post(team: str, channel: str) -> None:
            async with per_workspace[team], in_flight:
                try:
                    await clients[team].chat_postMessage(
                        channel=channel,
                        text=message["text"],
                        blocks=message.get("blocks"),
                        metadata=dict(message["metadata"]),
                        unfurl_links=False,
                        unfurl_media=False,
                    )
                except SlackApiError as error:  # counted by the stand-in (a 429) or here
                    failed.append(str(error.response.get("error")))

        started = time.time()
        await asyncio.gather(
            *(
                post(workspace["team_id"], channel)
                for workspace in slack.workspaces
                for channel in workspace["channels"]
            )
        )
    after = await slack.stats()
    if failed and set(failed) != {"ratelimited"}:
        raise RuntimeError(f"the bare client's posts failed: {sorted(set(failed))}")
    return Bare(
        seconds=float(after["last_post"]) - started,
        posts=int(after["posts_total"]) - int(before["posts_total"]),
        rate_limited=int(after["rate_limited"]) - int(before["rate_limited"]),
        response=response,
    )


# -- the report ------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 1 else f"{seconds * 1000:,.1f} ms"


def _bytes(size: float) -> str:
    return f"{size / MB:,.2f} MB" if abs(size) >= MB else f"{size / 1000:,.1f} KB"


def report(result: Result) -> None:
    o, f, s = result.options, result.floor, result.sizes
    bot, standin = result.cpu
    n = o.workspaces
    print(
        f"one new release to {n:,} workspaces x {o.channels} channels "
        f"({result.posts_expected:,} posts); the Slack stand-in answers in {_ms(o.latency)}, "
        f"1 post per {o.per_channel_interval:g} s per channel, {o.per_workspace_per_minute} "
        f"per minute per workspace\n(setup, the bot's first poll and archive import: "
        f"{result.setup_seconds:.1f} s; the load average, 1 minute, {result.load[0]:.2f} before "
        f"the run, {result.load[1]:.2f} after the fan-out, on {os.cpu_count()} CPUs)\n"
    )
    print(
        f"floor: the outbox's bounds, IN_FLIGHT = {IN_FLIGHT} posts at once, "
        f"IN_FLIGHT_PER_WORKSPACE = {IN_FLIGHT_PER_WORKSPACE}, each post {_ms(o.latency)}:\n"
        f"  ceil({result.posts_expected:,} posts / {IN_FLIGHT}) x {_ms(o.latency)} = "
        f"{_ms(f.by_in_flight)}; a workspace's {o.channels} / {IN_FLIGHT_PER_WORKSPACE}: "
        f"{_ms(f.by_workspace)}; one post per channel, so the spacing does not bind: "
        f"{_ms(f.by_channel)}\n  floor = {_ms(f.seconds)}"
    )
    print(
        "\nthe new release, wall clock from the feed's answer listing it:\n"
        f"  the poll's transaction began to queue them  {_ms(result.committed_at - result.served_at):>10}\n"  # noqa: E501
        f"  first post accepted by Slack                {_ms(result.first_post - result.served_at):>10}\n"  # noqa: E501
        f"  last post accepted by Slack                 {_ms(result.measured):>10}\n"
        f"  most requests Slack answered at once        {result.in_flight_peak:>10}\n"
        f"  CPU used meanwhile: the bot {bot.total:.2f} s (user {bot.user:.2f}, system "
        f"{bot.system:.2f}; its event loop {bot.main:.2f}, its other threads "
        f"{bot.total - bot.main:.2f}), the Slack stand-in {standin.total:.2f} s"
    )
    if result.bare is not None:
        bare = result.bare
        print(
            f"  the same {bare.posts:,} posts by a bare slack_sdk client, the same bounds, "
            f"nothing else  {_ms(bare.seconds):>10}  ({bare.seconds / f.seconds:.2f}x the floor; "
            f"{bare.rate_limited} 429s); the bot took {result.measured / bare.seconds:.2f}x as "
            "long"
        )
    states = ", ".join(f"{state} {count:,}" for state, count in sorted(result.deliveries.items()))
    print(
        f"\nposts: {result.posts:,} of {result.posts_expected:,}; channels with none: "
        f"{len(result.missing)}, with more than one: {len(result.doubled)}; 429s answered: "
        f"{result.rate_limited}; deliveries in the database: {states}"
    )
    for label, places in (("no post", result.missing), ("doubled", result.doubled)):
        if places:
            print(f"  {label}: " + ", ".join(f"{t}/{c}" for t, c in places[:10]))
    print(
        f"\nthe bot's memory: VmRSS {_bytes(result.rss_idle)} idle before the release, "
        f"peak (VmHWM) {_bytes(result.rss_peak)}"
    )
    per_install = (s.installed - s.empty) / n
    per_fanout = (s.after - s.before) / n
    print(
        f"\ndatabase (page_count x page_size): schema alone {_bytes(s.empty)}, with {n:,} "
        f"installations and their {n * o.channels:,} routes {_bytes(s.installed)}, "
        f"baseline stored {_bytes(s.before)}, after the fan-out {_bytes(s.after)}\n"
        f"  installations + routes (+ their audit rows): {per_install:,.0f} B per workspace\n"
        f"  the fan-out (deliveries, lease rows freed, and the one new release): "
        f"{per_fanout:,.0f} B per workspace"
    )
    if s.deliveries_before is not None and s.deliveries_after is not None:
        grown = (s.deliveries_after - s.deliveries_before) / n
        print(
            "  of which the deliveries table and its indexes (dbstat): "
            f"{grown:,.0f} B per workspace"
        )

    print(f"\nsummary (issue 14's targets, and figures without one), {n:,} workspaces")
    rows = [
        (
            f"time to the last post ≤ {o.target:g}x the floor",
            "met" if result.ratio <= o.target else "MISSED",
            f"{result.ratio:.2f}x ({_ms(result.measured)} ÷ {_ms(f.seconds)})",
        ),
        (
            "every channel exactly one post, no 429",
            "met" if result.exactly_once and result.rate_limited == 0 else "MISSED",
            f"{result.posts:,} posts, {len(result.missing)} missing, {len(result.doubled)} "
            f"doubled, {result.rate_limited} 429s",
        ),
        ("peak RSS of the bot", "", f"{_bytes(result.rss_peak)} (VmHWM)"),
        (
            "database growth per workspace",
            "",
            f"{per_install:,.0f} B for its installation and {o.channels} routes; "
            f"{per_fanout:,.0f} B more after the fan-out",
        ),
    ]
    if result.bare is not None:
        seen = math.ceil(result.posts_expected / IN_FLIGHT) * result.bare.response
        rows.insert(
            1,
            (
                f"  ... with a lone request's response time ({_ms(result.bare.response)})",
                "met" if result.measured <= o.target * seen else "MISSED",
                f"{result.measured / seen:.2f}x ({_ms(result.measured)} ÷ {_ms(seen)})",
            ),
        )
        rows.append(
            (
                "a bare client, the same bounds",
                "",
                f"{_ms(result.bare.seconds)} ({result.bare.seconds / f.seconds:.2f}x the floor); "
                f"the bot took {result.measured / result.bare.seconds:.2f}x as long",
            )
        )
    width = max(len(target) for target, _, _ in rows)
    for target, verdict, measured in rows:
        print(f"  {target:<{width}}  {verdict:<6}  {measured}")


def parse(argv: Sequence[str] | None) -> tuple[Options, bool, Path | None]:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/fanout.py", description=__doc__.split("\n\n")[0]
    )
    defaults = Options()
    parser.add_argument("--workspaces", type=int, default=defaults.workspaces)
    parser.add_argument("--channels", type=int, default=defaults.channels)
    parser.add_argument("--latency", type=float, default=defaults.latency, help="seconds")
    parser.add_argument("--per-channel-interval", type=float, default=defaults.per_channel_interval)
    parser.add_argument(
        "--per-workspace-per-minute", type=int, default=defaults.per_workspace_per_minute
    )
    parser.add_argument("--settle", type=float, default=defaults.settle, help="seconds")
    parser.add_argument("--target", type=float, default=defaults.target)
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    parser.add_argument(
        "--no-bare", action="store_true", help="skip the bare client's run after the bot's"
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="run in this empty directory and keep it"
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="record the bot with py-spy into this file"
    )
    arguments = parser.parse_args(argv)
    options = Options(
        workspaces=arguments.workspaces,
        channels=arguments.channels,
        latency=arguments.latency,
        per_channel_interval=arguments.per_channel_interval,
        per_workspace_per_minute=arguments.per_workspace_per_minute,
        settle=arguments.settle,
        target=arguments.target,
        profile=arguments.profile,
        calibrate=not arguments.no_bare,
    )
    return options, arguments.check, arguments.keep


def main(argv: Sequence[str] | None = None) -> int:
    options, check, keep = parse(argv)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        if any(keep.iterdir()):
            print(f"--keep {keep}: not empty", file=sys.stderr)
            return 2
        result = asyncio.run(run(options, keep))
    else:
        with tempfile.TemporaryDirectory(prefix="fanout-") as directory:
            result = asyncio.run(run(options, Path(directory)))
    report(result)
    return 1 if check and not result.met else 0


if __name__ == "__main__":
    sys.exit(main())
