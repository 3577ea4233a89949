"""The real `isscr-news-bot run` in Socket Mode (the default path) when Slack cannot be reached,
refuses the app token or drops the connection: it stops on SIGTERM/SIGINT in every state, says
a refused token in one line, retries with backoff without tracebacks, and /healthz tells."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from standins.feed_server import FeedServer
from standins.slack_api import FakeResponse, SlackApi
from tests.conftest import CHANNEL, bot_env, eventually
from tests.test_process import child_env, free_port, run_cli

ATTEMPT = re.compile(r"Socket Mode: no connection to Slack \((.+)\); attempt (\d+) failed, next in")


class SocketModeBot:
    """`python -m bot run` in Socket Mode, with /healthz on a port of its own."""

    def __init__(self, tmp_path: Path, feed: FeedServer, slack: SlackApi, **env: str) -> None:
        self.port = free_port()
        self.env = bot_env(
            tmp_path,
            feed,
            slack,
            SLACK_APP_TOKEN=slack.app_token,
            SLACK_SIGNING_SECRET=None,
            PORT=str(self.port),
            LOG_LEVEL="INFO",
            **env,
        )
        self.cwd = tmp_path
        self.log = tmp_path / f"bot-{self.port}.log"
        self.command = [sys.executable, "-m", "bot", "run"]
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> SocketModeBot:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.command,
                cwd=self.cwd, env=child_env(self.env),
                stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        return self

    async def health(self) -> dict[str, Any] | None:
        """The running bot's report; None until it answers (while the Socket Mode connection
        opens, its port answers "starting")."""
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{self.port}/healthz") as response,
            ):
                report: dict[str, Any] = await response.json()
        except aiohttp.ClientError:
            return None
        return None if "starting" in report else report

    async def stop(self, signum: int = signal.SIGTERM) -> tuple[int, float]:
        """Send `signum`; the exit code and how long the exit took (at most 15 s waited)."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            code = await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            raise AssertionError(f"still running 15 s after {signum!r}:\n{self.output()}") from None
        return code, time.monotonic() - started

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def attempts(self) -> list[str]:
        """The reasons of the failed connection attempts logged so far, in order."""
        return [match[1] for match in ATTEMPT.finditer(self.output())]


@pytest.fixture
async def bots() -> AsyncIterator[list[SocketModeBot]]:
    started: list[SocketModeBot] = []
    yield started
    for bot in started:
        if bot.process is not None and bot.process.returncode is None:
            bot.process.kill()
            await bot.process.wait()


async def health_with(
    bot: SocketModeBot, *, ok: bool | None = None, **slack: object
) -> dict[str, Any]:
    """Wait until /healthz's "slack" section has these values (and the report is `ok`, when
    given: the first poll may still be under way); return the report."""
    seen: dict[str, Any] = {}

    async def matches() -> bool:
        report = await bot.health()
        seen["report"] = report
        return (
            report is not None
            and (ok is None or report["ok"] is ok)
            and all(report["slack"].get(k) == v for k, v in slack.items())
        )

    try:
        await eventually(matches, timeout=20)
    except AssertionError:
        raise AssertionError(f"{seen.get('report')}\n{bot.output()}") from None
    return seen["report"]


async def put_in_state(state: str, bot: SocketModeBot, slack: SlackApi) -> None:
    """Bring `bot` (not started yet) into `state`."""
    if state == "connecting":
        # Slack takes the request and never answers: the first attempt is still under way.
        slack.fail_next("apps.connections.open", FakeResponse.timeout(600), times=100)
        await bot.start()
        await eventually(lambda: slack.calls_to("apps.connections.open") != [], timeout=20)
    elif state in ("retrying", "DNS failing"):
        await bot.start()
        await eventually(lambda: len(bot.attempts()) >= 1, timeout=20)
    elif state == "connected":
        await bot.start()
        await health_with(bot, connected=True)
    elif state == "dropped":
        await bot.start()
        await health_with(bot, connected=True)
        slack.fail_next("apps.connections.open", FakeResponse.disconnect(), times=100)
        slack.drop_sockets()
        await health_with(bot, connected=False)
    else:
        raise ValueError(state)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("state", ["connecting", "retrying", "DNS failing", "connected", "dropped"])
async def test_sigterm_or_sigint_stops_a_socket_mode_bot_in_every_state_within_10_s(
    tmp_path: Path,
    feed: FeedServer,
    slack: SlackApi,
    bots: list[SocketModeBot],
    state: str,
    signum: int,
) -> None:
    env = {}
    if state == "retrying":
        env["SLACK_API_URL"] = f"http://127.0.0.1:{free_port()}/api/"  # nothing listens there
    elif state == "DNS failing":
        env["SLACK_API_URL"] = "http://slack.invalid/api/"  # a name that never resolves
    bot = SocketModeBot(tmp_path, feed, slack, **env)
    bots.append(bot)
    await put_in_state(state, bot, slack)

    code, took = await bot.stop(signum)

    assert code == 0, bot.output()
    assert took < 10, bot.output()
    assert "Traceback" not in bot.output()


@pytest.mark.parametrize(
    ("token", "answer", "fix"),
    [
        ("xapp-1-wrong", None, "create an app-level token with the connections:write scope"),
        (None, "token_revoked", "the token was revoked: create an app-level token"),
        (None, "account_inactive", "the app was uninstalled or its workspace deleted"),
        (None, "not_allowed_token_type", "it is not an app-level token (xapp-…)"),
        (None, "missing_scope", "the token lacks connections:write"),
    ],
    ids=["invalid_auth", "token_revoked", "account_inactive", "not_allowed_token_type", "scope"],
)
async def test_a_refused_app_token_stops_start_up_with_one_line(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, token: str | None, answer: str, fix: str
) -> None:
    if answer is not None:
        slack.fail_next("apps.connections.open", FakeResponse.error(answer), times=10)
    env = bot_env(
        tmp_path,
        feed,
        slack,
        SLACK_APP_TOKEN=token or slack.app_token,
        SLACK_SIGNING_SECRET=None,
        LOG_LEVEL=None,  # as deployed: INFO
        POLL_INTERVAL=None,
        PORT=None,
    )

    code, out, err = await run_cli("run", env=env, cwd=tmp_path)

    assert (code, out) == (2, "")
    assert err.count("\n") == 1, err
    assert err.startswith(
        f"isscr-news-bot: SLACK_APP_TOKEN was refused by Slack ({answer or 'invalid_auth'}): {fix}"
    ), err
    assert "xapp-" not in err.replace("(xapp-…)", "")  # the token itself is never shown
    assert len(slack.calls_to("apps.connections.open")) == 1
    assert feed.requests == []


async def test_an_unreachable_slack_is_retried_with_growing_waits_one_line_each(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, bots: list[SocketModeBot]
) -> None:
    slack.fail_next("apps.connections.open", FakeResponse.disconnect(), times=3)
    bot = SocketModeBot(tmp_path, feed, slack)
    bots.append(bot)
    await bot.start()

    down = await health_with(
        bot, connected=False, last_error="ServerDisconnectedError: Server disconnected"
    )
    assert down["ok"] is False
    up = await health_with(bot, ok=True, connected=True)  # the fourth attempt
    code, _ = await bot.stop()

    assert code == 0
    calls = [call.at for call in slack.calls_to("apps.connections.open")]
    waits = [later - earlier for earlier, later in itertools.pairwise(calls)]
    assert len(waits) == 3, waits
    # Doubling from 2 s, each wait half fixed and half random: 1-2 s, 2-4 s, 4-8 s.
    for wait, (shortest, longest) in zip(waits, [(1, 2), (2, 4), (4, 8)], strict=True):
        assert shortest - 0.1 <= wait <= longest + 1, waits
    assert bot.attempts() == ["ServerDisconnectedError: Server disconnected"] * 3
    output = bot.output()
    assert "Traceback" not in output
    # One line per attempt, and one when connected: nothing else about the socket.
    socket_lines = [line for line in output.splitlines() if " bot.slack.socket_mode" in line]
    assert len(socket_lines) == 3 + 1, output
    assert "slack_sdk" not in output
    assert up["ok"] is True
    assert up["slack"]["last_error"] == "ServerDisconnectedError: Server disconnected"


@pytest.mark.parametrize("how", ["closed by Slack", "cut off"])
async def test_a_dropped_connection_is_reported_and_opened_again(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, bots: list[SocketModeBot], how: str
) -> None:
    bot = SocketModeBot(tmp_path, feed, slack)
    bots.append(bot)
    await bot.start()
    await health_with(bot, connected=True)
    # Slack will not take the next attempt: the bot is seen disconnected for a while.
    slack.fail_next("apps.connections.open", FakeResponse.server_error(503), times=1)
    if how == "closed by Slack":
        await slack.close_sockets(code=1001)
    else:
        slack.drop_sockets()

    down = await health_with(bot, connected=False, last_error="Slack answered HTTP 503")
    up = await health_with(bot, ok=True, connected=True)
    ack = await slack.send_envelope("slash_commands", slash_command(slack))  # the new socket works
    code, _ = await bot.stop()

    assert code == 0
    assert down["ok"] is False and up["ok"] is True
    assert down["slack"]["since"] <= up["slack"]["since"]
    assert "Latest ISSCR news" in json.dumps(ack["payload"])
    output = bot.output()
    assert "Traceback" not in output
    # (aiohttp tells the close code Slack gave or the one it answered, by version)
    assert "Socket Mode connection lost (connection closed" in output
    assert bot.attempts() == ["Slack answered HTTP 503"]


async def test_slack_asking_for_a_new_connection_gets_one_at_once(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, bots: list[SocketModeBot]
) -> None:
    bot = SocketModeBot(tmp_path, feed, slack)
    bots.append(bot)
    await bot.start()
    await health_with(bot, connected=True)

    await slack.ask_to_reconnect()
    await eventually(lambda: len(slack.calls_to("apps.connections.open")) == 2, timeout=3)
    await eventually(lambda: slack.socket_connected)
    ack = await slack.send_envelope("slash_commands", slash_command(slack))
    report = await bot.health()
    code, _ = await bot.stop()

    assert code == 0
    assert "Latest ISSCR news" in json.dumps(ack["payload"])
    assert report is not None and report["slack"]["connected"] is True
    assert report["slack"]["last_error"] is None
    assert "Traceback" not in bot.output()


def slash_command(slack: SlackApi) -> dict[str, str]:
    return {
        "command": "/isscr-news",
        "text": "",
        "user_id": "U0MEMBER01",
        "channel_id": CHANNEL,
        "team_id": "T0TEAM0001",
        "response_url": slack.response_url("r1"),
        "trigger_id": "1.2.3",
    }


async def test_sigterm_while_a_dns_look_up_hangs_exits_within_10_s(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, bots: list[SocketModeBot]
) -> None:
    # A resolver that never answers: asyncio looks names up in a worker thread, which nothing
    # can cancel, for as long as the resolver's timeout (here 30 s).
    nameserver = "127.0.0.77"
    (tmp_path / "resolv.conf").write_text(
        f"nameserver {nameserver}\noptions timeout:30 attempts:1\n"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        try:
            silent.bind((nameserver, 53))
        except OSError as error:
            pytest.skip(f"cannot stand in for a DNS server here ({error})")
        bot = SocketModeBot(tmp_path, feed, slack, SLACK_API_URL="http://slack.example/api/")
        # The bot alone sees the silent resolver: a mount namespace of its own (needs root).
        bot.command = [
            "unshare", "--mount", "sh", "-c",
            f'mount --bind "{tmp_path}/resolv.conf" /etc/resolv.conf && exec "$0" "$@"',
            *bot.command,
        ]  # fmt: skip
        bots.append(bot)
        await bot.start()
        try:
            await health_with(bot, connected=False)  # start-up went on without Slack
        except AssertionError:
            if "unshare" in bot.output() or "mount" in bot.output():
                pytest.skip(f"no mount namespace here: {bot.output()[:200]}")
            raise

        code, took = await bot.stop()

    assert code == 0, bot.output()
    assert took < 10, bot.output()
