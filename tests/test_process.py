"""The real `isscr-news-bot` process: kill -9, SIGTERM, two processes, start-up errors, CLI,
the archive backfill."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.slack.blocks.alerts import SAVE_ALERT
from standins.feed_server import Fault, FeedServer, make_item
from standins.slack_api import FakeResponse, SlackApi
from standins.slack_requests import block_action_body, send_to_slack_app, slash_command_body
from tests.conftest import CHANNEL, DATA_DIR, bot_env, eventually, newest_first, posted_ids

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_env(env: dict[str, str]) -> dict[str, str]:
    """`env` plus what a child needs to find Python and this checkout."""
    return {**env, "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)}


class BotProcess:
    """`python -m bot run` in a child process, with its output kept for the test report."""

    def __init__(self, env: dict[str, str], cwd: Path, *, inside: tuple[str, ...] = ()) -> None:
        """`inside`: a command line that runs the bot, e.g. `unshare` into namespaces of its
        own; "{bot}" in it stands for the bot's own command line."""
        self.env = {**env, "PORT": str(free_port())}
        self.cwd = cwd
        self.inside = inside
        self.process: asyncio.subprocess.Process | None = None
        self.log = cwd / f"bot-{self.env['PORT']}.log"

    async def start(self, *, wait: bool = True) -> BotProcess:
        command = (sys.executable, "-m", "bot", "run")
        if self.inside:
            bot = " ".join(command)
            command = tuple(part.replace("{bot}", bot) for part in self.inside)
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *command,
                cwd=self.cwd, env=child_env(self.env),
                stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        if wait:
            try:
                # Generous: two cores shared by four test workers and their bots start slowly.
                await eventually(self.healthy, timeout=60)
            except AssertionError:
                exited = self.process.returncode
                raise AssertionError(
                    f"the bot never became healthy (exit code {exited}); its log:\n"
                    + self.output()[-4000:]
                ) from None
        return self

    async def report(self) -> tuple[int, dict[str, Any]]:
        """GET /healthz: the status code and the report."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{self.env['PORT']}/healthz") as response,
        ):
            return response.status, await response.json()

    async def pause(self) -> None:
        """SIGSTOP (a paused VM, a laptop lid, a stalled machine), at a moment it holds no
        write transaction: stopped inside one, it would keep SQLite's write lock, and nobody
        could take anything over until it woke, which is SQLite's rule, not what tests test."""
        assert self.process is not None
        database = self.env["DATABASE_PATH"]
        while True:
            self.process.send_signal(signal.SIGSTOP)
            await asyncio.sleep(0.05)  # stopped by now
            probe = sqlite3.connect(database, timeout=0, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
                return
            except sqlite3.OperationalError:
                pass  # a write lock is held (perhaps by it): let it finish, and try again
            finally:
                probe.close()
            self.process.send_signal(signal.SIGCONT)
            await asyncio.sleep(0.05)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    async def stop_for(self, seconds: float) -> None:
        """`pause`, then `resume` after `seconds`."""
        await self.pause()
        await asyncio.sleep(seconds)
        self.resume()

    async def healthy(self) -> bool:
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{self.env['PORT']}/healthz") as response,
            ):
                report = await response.json()
        except aiohttp.ClientError:
            return False
        # While it starts, the port answers "starting" and nothing else.
        return "starting" not in report and report["feed"]["last_success"] is not None

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no cleanup of any kind
        await self.process.wait()  # reap it, as a supervisor would

    async def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


async def test_kill_9_mid_burst_then_restart_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    # Slack stores each post, then takes a while to answer: a kill in that window leaves a
    # post in the channel that the bot never heard about.
    slack.post_delay = 0.4
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO")
    first = await BotProcess(env, tmp_path).start()
    processes.append(first)
    burst = list(range(4, 14))  # 10: more at once would be held as a flood (watcher.py)
    feed.items = newest_first(1, 2, 3, *burst)

    for killed_after in (3, 8):
        await eventually(lambda n=killed_after: len(slack.messages[CHANNEL]) >= n, timeout=60)
        await processes[-1].kill()
        processes.append(await BotProcess(env, tmp_path).start())

    await eventually(lambda: len(slack.messages[CHANNEL]) >= len(burst), timeout=60)
    await asyncio.sleep(2)  # a duplicate would show up here
    assert await processes[-1].terminate() == 0

    assert posted_ids(slack) == [make_item(n).item_id for n in burst]
    # Each kill landed between "Slack stored it" and "the bot marked it sent", and each restart
    # found that post in the channel's history instead of posting it again.
    for restarted in processes[1:]:
        assert "already posted" in restarted.output(), restarted.output()
    with sqlite3.connect(tmp_path / "bot.db") as db:
        states = db.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall()
    assert states == [("sent", len(burst))]


async def test_sigterm_mid_post_finishes_it_and_exits_0(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    slack.post_delay = 1.5
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO")
    bot = await BotProcess(env, tmp_path).start()
    processes.append(bot)
    feed.items = newest_first(1, 2, 3, 4, 5)
    await eventually(lambda: len(slack.calls_to("chat.postMessage")) == 1)

    assert await bot.terminate() == 0
    assert "stopped" in bot.output()
    assert "Traceback" not in bot.output()
    with sqlite3.connect(tmp_path / "bot.db") as db:
        states = dict(db.execute("SELECT release_id, state FROM deliveries").fetchall())
    # The post in flight was completed and recorded; the next one was never started.
    assert states == {make_item(4).item_id: "sent", make_item(5).item_id: "pending"}

    slack.post_delay = 0
    processes.append(await BotProcess(env, tmp_path).start())
    await eventually(lambda: len(slack.messages[CHANNEL]) == 2)
    assert posted_ids(slack) == [make_item(4).item_id, make_item(5).item_id]
    assert slack.calls_to("conversations.history") == []  # a clean hand-over needs no check


async def test_sigterm_while_the_feed_hangs_exits_0_at_once(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    bot = await BotProcess(bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO"), tmp_path).start()
    processes.append(bot)
    feed.fail_always(Fault.timeout(600))  # accepts the poll, never answers it
    polls = len(feed.requests)
    await eventually(lambda: len(feed.requests) > polls)  # a poll is waiting for it now

    started = time.monotonic()
    assert await bot.terminate() == 0
    assert time.monotonic() - started < 5, bot.output()
    assert "stopped" in bot.output()
    assert "Traceback" not in bot.output()


async def test_two_processes_on_one_database_post_each_release_once(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO")
    processes.extend(
        await asyncio.gather(BotProcess(env, tmp_path).start(), BotProcess(env, tmp_path).start())
    )
    burst = list(range(4, 10))
    feed.items = newest_first(1, 2, 3, *burst)

    await eventually(lambda: len(slack.messages[CHANNEL]) >= len(burst), timeout=60)
    await asyncio.sleep(2)
    assert posted_ids(slack) == [make_item(n).item_id for n in burst]


async def run_cli(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        cwd=cwd, env=child_env(env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), 60)
    except TimeoutError:
        process.kill()  # a command that hangs must not outlive the test
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"SLACK_BOT_TOKEN": None}, "SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token"),
        ({"SLACK_BOT_TOKEN": "xoxp-user-token"}, "SLACK_BOT_TOKEN does not start with xoxb-"),
        ({"SLACK_SIGNING_SECRET": None}, "SLACK_SIGNING_SECRET is not set"),
        ({"ANNOUNCE_CHANNEL": "#news"}, "ANNOUNCE_CHANNEL is '#news', not a channel ID"),
        ({"POLL_INTERVAL": "5m"}, "POLL_INTERVAL is '5m', not a number: set it like"),
        ({"PORT": "http"}, "PORT is 'http', not a whole number"),
        ({"POLL_INTERVAL": "inf"}, "POLL_INTERVAL is 'inf', not a number: set it like"),
        ({"POLL_INTERVAL": "NaN"}, "POLL_INTERVAL is 'NaN', not a number: set it like"),
        ({"POLL_INTERVAL": "0.5"}, "POLL_INTERVAL is 0.5: use a value of at least 1"),
        ({"PORT": "65536"}, "PORT is 65536: use a TCP port number between 1 and 65535"),
        ({"PORT": "-1"}, "PORT is -1: use a TCP port number between 1 and 65535"),
        ({"FEED_URL": "isscr.org/news"}, "FEED_URL is 'isscr.org/news', neither an http(s) URL"),
        ({"DATABASE_PATH": "/nonexistent/dir/bot.db"}, "DATABASE_PATH is in /nonexistent/dir"),
        ({"SLACK_API_URL": "slack.com/api"}, "SLACK_API_URL is 'slack.com/api', not an http(s)"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL is 'loud': use one of DEBUG"),
        ({"ARCHIVE_URL": "isscr.org/news"}, "ARCHIVE_URL is 'isscr.org/news', not an http(s) URL"),
        ({"ADMIN_USER_IDS": "U0AB12CD, @ann"}, "ADMIN_USER_IDS has '@ann', not a user ID: list"),
    ],
)
async def test_a_bad_setting_stops_start_up_with_one_line(
    tmp_path: Path, change: dict[str, str | None], expected: str
) -> None:
    env = bot_env(tmp_path, None, None)
    for key, value in change.items():
        env.pop(key, None)
        if value is not None:
            env[key] = value

    code, out, err = await run_cli("run", env=env, cwd=tmp_path)

    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"isscr-news-bot: {expected}"), err
    assert "xoxb-test-token" not in err and "test-signing-secret" not in err


async def test_settings_come_from_a_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ANNOUNCE_CHANNEL=not-an-id\n")
    env = {k: v for k, v in bot_env(tmp_path, None, None).items() if k != "ANNOUNCE_CHANNEL"}

    code, _, err = await run_cli("run", env=env, cwd=tmp_path)

    assert code == 2
    assert "ANNOUNCE_CHANNEL is 'not-an-id'" in err


async def test_an_unfilled_copy_of_env_example_names_what_is_missing(tmp_path: Path) -> None:
    shutil.copy(REPO / ".env.example", tmp_path / ".env")

    code, _, err = await run_cli("run", env={}, cwd=tmp_path)

    # Both missing values at once, a line each: one round of fixes, not one per run.
    assert (code, err) == (
        2,
        "isscr-news-bot: SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) "
        "from your app's OAuth & Permissions page\n"
        "isscr-news-bot: SLACK_SIGNING_SECRET is not set: copy it from your app's Basic "
        "Information page, or set SLACK_APP_TOKEN to use Socket Mode instead\n",
    )


async def test_poll_dry_run_prints_announcements_and_changes_nothing(tmp_path: Path) -> None:
    env = {
        "FEED_URL": str(DATA_DIR / "sample-feed.rss"),
        "DATABASE_PATH": str(tmp_path / "dry.db"),
    }
    code, out, _ = await run_cli("poll", "--dry-run", env=env, cwd=tmp_path)
    assert code == 0
    assert out.startswith(
        "5 releases in the feed, 5 not yet stored; 0 would be announced (first poll"
    )

    code, out, _ = await run_cli(
        "poll", "--dry-run", env={**env, "ANNOUNCE_EXISTING": "1"}, cwd=tmp_path
    )
    assert code == 0
    assert "1 would be announced" in out
    assert "The ISSCR Holds Second Meeting With UK Regulators" in out
    assert "  Press Release, Policy  |  2025-11-19 15:49 UTC  |  Kym Kilbourne" in out
    assert "Joins Coalition Letter" not in out
    assert not (tmp_path / "dry.db").exists()


@pytest.mark.parametrize("dry_run", [False, True], ids=["poll", "dry run"])
async def test_a_poll_on_another_programs_database_stops_with_one_line(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, dry_run: bool
) -> None:
    database = tmp_path / "bot.db"
    other = sqlite3.connect(database)
    other.execute("CREATE TABLE feed_state (url TEXT PRIMARY KEY, note TEXT)")  # not ours
    other.commit()
    other.close()
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL=None, POLL_INTERVAL=None)

    code, out, err = await run_cli(
        "poll", *(["--dry-run"] if dry_run else []), env=env, cwd=tmp_path
    )

    assert (code, out) == (2, "")
    assert err.count("\n") == 1, err
    # The dry run meets the missing table first, the poll (which adds our tables) the column.
    assert err.startswith(f"isscr-news-bot: DATABASE_PATH {database} cannot be used (no such "), err
    assert err.endswith("): point it to a writable SQLite file on a persistent disk\n"), err
    assert slack.calls_to("chat.postMessage") == []


async def test_one_shot_poll_status_and_retry_failed(
    tmp_path: Path, feed: FeedServer, slack: SlackApi
) -> None:
    env = {**bot_env(tmp_path, feed, slack, LOG_LEVEL="WARNING"), "SLACK_SIGNING_SECRET": ""}

    code, out, _ = await run_cli("poll", env=env, cwd=tmp_path)  # baseline, no signing secret
    assert (code, out) == (0, "Feed updated; deliveries: 0 sent, 0 waiting, 0 failed.\n")

    feed.items = newest_first(1, 2, 3, 4)
    slack.channels.pop(CHANNEL)  # the channel was deleted
    code, out, _ = await run_cli("poll", env=env, cwd=tmp_path)
    assert (code, out) == (0, "Feed updated; deliveries: 0 sent, 0 waiting, 1 failed.\n")

    code, out, _ = await run_cli("status", env=env, cwd=tmp_path)
    report = json.loads(out)
    assert report["ok"] is False
    assert report["deliveries"]["failures"] == [
        {
            "channel": CHANNEL,
            "release": make_item(4).item_id,
            "error": "channel_not_found: the channel was deleted, or it is private and the bot "
            "is not in it",
        }
    ]

    slack.add_channel(CHANNEL)  # restored
    code, out, _ = await run_cli("retry-failed", env=env, cwd=tmp_path)
    assert out.startswith("1 failed deliveries queued again")
    code, out, _ = await run_cli("poll", env=env, cwd=tmp_path)
    assert out == "Feed not modified (304); deliveries: 1 sent, 0 waiting, 0 failed.\n"
    assert posted_ids(slack) == [make_item(4).item_id]


async def test_the_health_port_answers_starting_at_once_and_never_refuses_after(
    tmp_path: Path, feed: FeedServer, slack: SlackApi
) -> None:
    # The port is bound before the rest of the bot is imported (a third of a second) and its
    # schema ensured (a minute for an upgrade of a large archive): it says so meanwhile.
    bot = BotProcess(bot_env(tmp_path, feed, slack), tmp_path)
    answers: list[tuple[int, dict[str, Any]]] = []
    refused_after_first = 0
    await bot.start(wait=False)
    try:
        started = time.monotonic()
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{bot.env['PORT']}/healthz"
            while time.monotonic() - started < 30:
                try:
                    async with session.get(url) as response:
                        answers.append((response.status, await response.json()))
                except aiohttp.ClientConnectionError:
                    refused_after_first += bool(answers)
                if answers and "starting" not in answers[-1][1]:
                    break
                await asyncio.sleep(0.001)
    finally:
        await bot.terminate()

    assert answers, bot.log.read_text()
    starting = [report for _, report in answers if "starting" in report]
    assert starting
    assert {status for status, report in answers if "starting" in report} <= {503}
    assert all(report["problems"] == ["The bot is starting."] for report in starting)
    assert "starting" not in answers[-1][1] and "feed" in answers[-1][1]  # the bot's own
    assert refused_after_first == 0


async def test_a_port_in_use_stops_start_up_with_one_line(
    tmp_path: Path, feed: FeedServer, slack: SlackApi
) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # At the default LOG_LEVEL, as deployed: nothing is logged before the error.
        env = bot_env(tmp_path, feed, slack, PORT=str(port), LOG_LEVEL=None)
        code, out, err = await run_cli("run", env=env, cwd=tmp_path)

    assert (code, out) == (2, "")
    assert err.count("\n") == 1, err
    assert err.startswith(f"isscr-news-bot: PORT {port} cannot be opened ("), err
    assert err.endswith("in use): choose a free port or stop what is using it\n"), err


async def test_an_unusable_database_stops_start_up_with_one_line(
    tmp_path: Path, feed: FeedServer, slack: SlackApi
) -> None:
    database = tmp_path / "bot.db"
    database.write_bytes(b"not a database, " * 512)
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL=None)

    code, out, err = await run_cli("run", env=env, cwd=tmp_path)

    assert (code, out) == (2, "")
    assert err == (
        f"isscr-news-bot: DATABASE_PATH {database} cannot be used (file is not a database): "
        "point it to a writable SQLite file on a persistent disk\n"
    )
    assert feed.requests == []


async def test_kill_9_mid_backfill_then_a_rerun_stores_every_release_once(tmp_path: Path) -> None:
    database = tmp_path / "bot.db"
    async with FeedServer(newest_first(*range(1, 96)), page_size=10) as site:
        env = {"FEED_URL": site.url, "DATABASE_PATH": str(database), "LOG_LEVEL": "WARNING"}
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "backfill", "--pause", "0.3",
            cwd=tmp_path, env=child_env(env),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await eventually(lambda: len(site.json_requests()) >= 4, timeout=30)
        child.kill()  # SIGKILL: no cleanup of any kind
        await child.wait()
        with sqlite3.connect(database) as db:
            state, offset, pages = db.execute(
                "SELECT state, next_offset, pages FROM archive_state"
            ).fetchone()
            [stored] = db.execute("SELECT count(*) FROM releases").fetchone()
        assert state == "running" and offset is not None and 3 <= pages < 10
        assert stored == pages * 10  # each page committed whole, with its offset
        killed_at = len(site.json_requests())

        code, out, err = await run_cli("backfill", "--pause", "0", env=env, cwd=tmp_path)

        assert (code, err) == (0, "")
        assert out == (
            f"Backfill done: {95 - stored} new releases stored from {10 - pages} pages "
            f"(resumed at offset {offset}); 0 already stored.\n"
        )
        assert site.json_requests()[killed_at].query["offset"] == str(offset)
        with sqlite3.connect(database) as db:
            counts = db.execute("SELECT count(*), count(DISTINCT id) FROM releases").fetchone()
            [deliveries] = db.execute("SELECT count(*) FROM deliveries").fetchone()
        assert counts == (95, 95)
        assert deliveries == 0  # backfilled releases are never announced

        code, out, _ = await run_cli("status", env=env, cwd=tmp_path)
    archive = json.loads(out)["archive"]
    assert (archive["state"], archive["pages"], archive["releases_stored"]) == ("done", 10, 95)


async def test_backfill_without_an_archive_to_read_says_so_in_one_line(tmp_path: Path) -> None:
    env = {
        "FEED_URL": str(DATA_DIR / "sample-feed.rss"),
        "DATABASE_PATH": str(tmp_path / "bot.db"),
    }
    code, out, err = await run_cli("backfill", env=env, cwd=tmp_path)
    assert (code, out) == (2, "")
    assert err == (
        "isscr-news-bot: ARCHIVE_URL is not set and FEED_URL is a local file, so there is no "
        "archive to read: set ARCHIVE_URL, e.g. to https://www.isscr.org/isscr-news?format=json\n"
    )
    assert not (tmp_path / "bot.db").exists()

    code, out, err = await run_cli("backfill", env={**env, "ARCHIVE_URL": "ftp://x"}, cwd=tmp_path)
    assert (code, out) == (2, "")
    assert err == (
        "isscr-news-bot: ARCHIVE_URL is 'ftp://x', not an http(s) URL: "
        "use https://www.isscr.org/isscr-news?format=json\n"
    )


async def test_backfill_of_a_page_that_is_not_json_stops_with_the_fix(tmp_path: Path) -> None:
    async with FeedServer(newest_first(1, 2)) as site:
        site.fail_always(Fault.html(), json_only=True)
        env = {"FEED_URL": site.url, "DATABASE_PATH": str(tmp_path / "bot.db")}
        code, out, err = await run_cli("backfill", "--pause", "0", env=env, cwd=tmp_path)
    assert (code, out) == (1, "")
    assert err.startswith("Backfill stopped: got an HTML page instead of JSON"), err
    assert err.endswith("Fix ARCHIVE_URL and run it again.\n"), err
    assert len(site.json_requests()) == 1


def lease_holder(tmp_path: Path, channel: str = CHANNEL) -> int | None:
    """The PID recorded in `channel`'s delivery lease, if anyone holds it."""
    with sqlite3.connect(tmp_path / "bot.db") as db:
        row = db.execute("SELECT pid FROM leases WHERE name = ?", [f"channel:{channel}"]).fetchone()
    return row[0] if row else None


async def test_two_bots_in_pid_namespaces_of_their_own_on_one_host_post_each_release_once(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    # Two containers sharing a volume: one hostname, and each bot's PID (3 and 5 here) means
    # something only inside its own PID namespace; neither can tell from it whether the other
    # is alive.
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO")
    for helpers in (1, 3):
        started_first = " ".join([": &"] * helpers) + " wait;"
        inside = (
            "unshare", "--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL",
            "sh", "-c", f"{started_first} {{bot}}; true",
        )  # fmt: skip
        processes.append(await BotProcess(env, tmp_path, inside=inside).start())
    burst = list(range(4, 14))  # ten: more at once would be held as a flood
    feed.items = newest_first(1, 2, 3, *burst)

    await eventually(lambda: len(slack.messages[CHANNEL]) >= len(burst), timeout=60)
    await asyncio.sleep(6)  # a second look by the other bot's outbox (every 5 s) would post again

    assert posted_ids(slack) == [make_item(n).item_id for n in burst]
    with sqlite3.connect(tmp_path / "bot.db") as db:
        namespaces = {row[0] for row in db.execute("SELECT pid_ns FROM leases")}
    assert None not in namespaces


async def test_a_bot_stopped_longer_than_its_lease_posts_nothing_the_other_took_over(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO", DELIVERY_LEASE_SECONDS="2")
    processes.extend(
        await asyncio.gather(BotProcess(env, tmp_path).start(), BotProcess(env, tmp_path).start())
    )
    burst = list(range(4, 14))
    feed.items = newest_first(1, 2, 3, *burst)
    await eventually(lambda: len(slack.messages[CHANNEL]) >= 2, timeout=30)
    holder = lease_holder(tmp_path)
    [stalled] = [bot for bot in processes if bot.process and bot.process.pid == holder]

    # Stopped mid-burst, with its next release in hand, for longer than its lease: the other
    # bot takes the channel over meanwhile.
    stop = asyncio.create_task(stalled.stop_for(8))
    await eventually(lambda: lease_holder(tmp_path) not in (holder, None), timeout=20)
    await stop

    await eventually(lambda: len(slack.messages[CHANNEL]) >= len(burst), timeout=60)
    await asyncio.sleep(3)  # the woken bot's duplicate would show up here
    assert posted_ids(slack) == [make_item(n).item_id for n in burst]
    assert "another process" in stalled.output(), stalled.output()


async def test_a_full_disk_is_reported_and_nothing_is_lost_once_there_is_room_again(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    # The database's volume: a small tmpfs, mounted in a mount namespace of its own that the
    # bots (and the filling and emptying) enter.
    volume_dir = tmp_path / "volume"
    volume_dir.mkdir()
    volume = await asyncio.create_subprocess_exec(
        "unshare", "--mount", "sh", "-c",
        f"mount -t tmpfs -o size=32m tmpfs {volume_dir} && touch {volume_dir}/ready "
        "&& exec sleep 600",
    )  # fmt: skip

    async def on_volume(*command: str) -> int:
        entered = await asyncio.create_subprocess_exec(
            "nsenter", f"--target={volume.pid}", "--mount", *command,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        return await entered.wait()

    try:
        await eventually(lambda: _is_zero(on_volume("test", "-e", f"{volume_dir}/ready")))
        env = bot_env(
            tmp_path, feed, slack, LOG_LEVEL="INFO", DATABASE_PATH=str(volume_dir / "bot.db")
        )
        inside = ("nsenter", f"--target={volume.pid}", "--mount", "sh", "-c", "exec {bot}")
        bot = await BotProcess(env, tmp_path, inside=inside).start()
        processes.append(bot)

        await on_volume("sh", "-c", f"cat /dev/zero > {volume_dir}/filler")  # the disk is full
        big = "<p>" + "A long paragraph of the release. " * 1000 + "</p>"
        burst = list(range(4, 12))
        feed.items = newest_first(1, 2, 3, *burst, html=big)

        async def disk_full_reported() -> bool:
            try:
                status, report = await bot.report()
            except aiohttp.ClientError:  # not listening yet
                assert bot.process and bot.process.returncode is None, bot.output()
                return False
            return status == 503 and any("disk is full" in line for line in report["problems"])

        await eventually(disk_full_reported, timeout=30)
        assert slack.messages[CHANNEL] == []

        # Restarted while the disk is still full: it says so, without a traceback.
        await bot.kill()
        bot = await BotProcess(env, tmp_path, inside=inside).start(wait=False)
        processes.append(bot)
        await eventually(disk_full_reported, timeout=30)

        await on_volume("rm", f"{volume_dir}/filler")  # room again
        await eventually(lambda: len(slack.messages[CHANNEL]) >= len(burst), timeout=60)
        await eventually(lambda: _status_is(bot, 200), timeout=30)
        await asyncio.sleep(2)
    finally:
        volume.kill()
        await volume.wait()

    assert posted_ids(slack) == [make_item(n).item_id for n in burst]
    for started in processes:
        assert "Traceback" not in started.output(), started.output()


async def _is_zero(code: Awaitable[int]) -> bool:
    return await code == 0


async def _status_is(bot: BotProcess, expected: int) -> bool:
    status, _ = await bot.report()
    return status == expected


async def test_a_stalled_try_cannot_undo_the_newer_try_of_the_bot_that_took_over(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO", DELIVERY_LEASE_SECONDS="2")
    processes.extend(
        await asyncio.gather(BotProcess(env, tmp_path).start(), BotProcess(env, tmp_path).start())
    )
    # The first try is refused (429) after 2.5 s; the bot that made it is stopped meanwhile.
    slack.fail_next(
        "chat.postMessage",
        FakeResponse(
            status=429,
            body={"ok": False, "error": "ratelimited"},
            headers=(("Retry-After", "100"),),
            delay=2.5,
        ),
    )
    # The other bot takes the channel over; Slack stores its post but fails to answer.
    slack.fail_next("chat.postMessage", FakeResponse.server_error(500, after_posting=True))
    feed.items = newest_first(1, 2, 3, 4)
    await eventually(lambda: len(slack.calls_to("chat.postMessage")) == 1, timeout=20, step=0.005)
    holder = lease_holder(tmp_path)
    [stalled] = [bot for bot in processes if bot.process and bot.process.pid == holder]

    # On waking it reads the 429: a refusal of its own try, which must not turn the other
    # bot's "sending" (posted, answer lost) back into "pending", to be posted blind.
    await stalled.pause()
    try:
        await eventually(lambda: len(slack.calls_to("chat.postMessage")) == 2, timeout=30)
        await asyncio.sleep(0.5)  # the other bot records its unknown outcome
    finally:
        stalled.resume()
    await eventually(lambda: _delivery_state(tmp_path, make_item(4).item_id) == "sent", timeout=40)
    await asyncio.sleep(3)
    assert posted_ids(slack) == [make_item(4).item_id]
    assert slack.calls_to("conversations.history")  # the other bot looked before posting again


def _delivery_state(tmp_path: Path, release_id: str) -> str | None:
    with sqlite3.connect(tmp_path / "bot.db") as db:
        row = db.execute("SELECT state FROM deliveries WHERE release_id = ?", [release_id])
        found = row.fetchone()
    return found[0] if found else None


async def test_a_post_whose_answer_was_lost_is_found_behind_2100_messages_after_a_restart(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO")
    bot = await BotProcess(env, tmp_path).start()
    processes.append(bot)
    # Slack stores the post, then fails to answer; the bot is killed before it looks.
    slack.fail_next("chat.postMessage", FakeResponse.server_error(502, after_posting=True))
    feed.items = newest_first(1, 2, 3, 4)
    await eventually(lambda: len(slack.messages[CHANNEL]) == 1)
    await bot.kill()
    for n in range(2100):  # a busy channel: far more than a few pages of history since
        slack.add_message(CHANNEL, f"busy channel, message {n}")

    restarted = await BotProcess(env, tmp_path).start()
    processes.append(restarted)
    await eventually(lambda: _delivery_state(tmp_path, make_item(4).item_id) == "sent")
    await asyncio.sleep(2)

    assert posted_ids(slack) == [make_item(4).item_id]
    assert "already posted" in restarted.output()
    assert len(slack.calls_to("conversations.history")) == 11  # every page of the window


async def test_kill_9_between_queueing_and_sending_an_alert_neither_loses_nor_doubles_the_dm(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    member = "U0MEMBER01"
    slack.add_user(member)
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO")
    first = await BotProcess(env, tmp_path).start()
    processes.append(first)
    # The member saves an alert, by the slash command and the preview's Save button.
    events = f"http://127.0.0.1:{first.env['PORT']}/slack/events"
    status, preview = await send_to_slack_app(
        events, slash_command_body("subscribe embryo models", user=member)
    )
    assert status == 200
    [save] = [
        block["accessory"]
        for block in preview["blocks"]
        if block.get("accessory", {}).get("action_id") == SAVE_ALERT
    ] or [
        element
        for block in preview["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("action_id") == SAVE_ALERT
    ]
    body = block_action_body(
        SAVE_ALERT, save["value"], response_url=slack.response_url(member), user=member
    )
    assert (await send_to_slack_app(events, body))[0] == 200
    with sqlite3.connect(tmp_path / "bot.db") as db:
        await eventually(lambda: db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 1)

    # Slack stores each DM, then takes a while to answer: a kill in that window leaves a DM
    # the bot never heard about. Three matching releases and one that does not match.
    slack.post_delay = 0.5
    matching = [make_item(n, title=f"Embryo models, note {n}") for n in (4, 5, 6)]
    feed.items = [
        make_item(7, title="A budget letter"),
        *reversed(matching),
        *newest_first(1, 2, 3),
    ]
    await eventually(lambda: len(slack.dms(member)) >= 1, timeout=60)
    await first.kill()
    processes.append(await BotProcess(env, tmp_path).start())

    await eventually(lambda: len(slack.dms(member)) >= len(matching), timeout=60)
    await asyncio.sleep(2)  # a duplicate would show up here
    assert await processes[-1].terminate() == 0

    sent = [dm["metadata"]["event_payload"]["item_id"] for dm in slack.dms(member)]
    assert sorted(sent) == sorted(item.item_id for item in matching)
    assert "already posted" in processes[-1].output(), processes[-1].output()
    with sqlite3.connect(tmp_path / "bot.db") as db:
        alerts = db.execute(
            "SELECT state, count(*) FROM deliveries WHERE kind = 'alert' GROUP BY state"
        ).fetchall()
    assert alerts == [("sent", len(matching))]
