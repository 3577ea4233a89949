"""Distribution mode as a real process: one bot serving many workspaces is killed with -9 mid
fan-out, shares its database with a second bot, and meets a workspace whose token was revoked
and one whose Slack hangs, while the other workspaces' news goes out on time."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Collection
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from benchmarks.fanout import install
from bot.slack.outbox.loop import IN_FLIGHT
from bot.slack.tokens import TokenCipher, new_key
from standins.feed_server import FeedServer, make_item
from standins.oauth_browser import add_to_slack
from standins.slack_api import SlackApi
from standins.slack_process import populate
from standins.slack_requests import CHANNEL, send_to_slack_app, slash_command_body
from tests.conftest import bot_env, eventually, newest_first
from tests.test_process import BotProcess

NEWS = make_item(4).item_id  # the release that appears once the bots have stored 1 to 3


class HoldingSlack(SlackApi):
    """The Slack stand-in, able to hold every Web API call of some workspaces unanswered (a
    Slack that hangs for them alone) until `let_go`. The stand-in's own `latency` is the same
    for every workspace, so this hooks into its answering (a private method)."""

    def __init__(self) -> None:
        super().__init__()
        self.held_teams: set[str] = set()
        self.held: list[asyncio.Event] = []  # a call each, in the order they came

    def hold(self, *teams: str) -> None:
        self.held_teams.update(teams)

    def let_go(self, *, but: Collection[asyncio.Event] = ()) -> None:
        """Hold nothing more, and answer every call held but those in `but` (answered at the
        next `let_go`)."""
        self.held_teams.clear()
        for call in self.held:
            if call not in but:
                call.set()

    async def _answer_api(
        self, method: str, params: dict[str, Any], request: web.Request
    ) -> web.StreamResponse:
        _, _, token = request.headers.get("Authorization", "").partition(" ")
        if self._team_of(token.strip() or params.get("token")) in self.held_teams:
            call = asyncio.Event()
            self.held.append(call)
            await call.wait()
        return await super()._answer_api(method, params, request)

    def _team_of(self, token: object) -> str | None:
        teams = {workspace.token: team for team, workspace in self.workspaces.items()}
        return teams.get(str(token))


@pytest.fixture
async def slack() -> AsyncIterator[HoldingSlack]:
    async with HoldingSlack() as api:
        api.add_channel(CHANNEL, name="isscr-news")
        yield api
        api.let_go()
    assert api.rejected == [], api.rejected


def distribution_env(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, **overrides: str
) -> dict[str, str]:
    """A deployed bot's environment in distribution mode: the app's client credentials and a
    key for the tokens at rest, and no token or channel of its own."""
    settings: dict[str, str | None] = {
        "LOG_LEVEL": "INFO",
        "SLACK_BOT_TOKEN": None,
        "ANNOUNCE_CHANNEL": None,
        "SLACK_CLIENT_ID": slack.client_id,
        "SLACK_CLIENT_SECRET": slack.client_secret,
        "TOKEN_ENCRYPTION_KEY": new_key(),
    }
    return bot_env(tmp_path, feed, slack, **{**settings, **overrides})


def installed_beforehand(
    env: dict[str, str], slack: SlackApi, workspaces: list[dict[str, Any]]
) -> None:
    """Each workspace installed and routing every category to each of its channels, written
    into the database before the bot starts, its token encrypted as the bot keeps it (as the
    fan-out benchmark does)."""
    cipher = TokenCipher([env["TOKEN_ENCRYPTION_KEY"]])
    tokens = [{**one, "token": slack.workspaces[one["team_id"]].token} for one in workspaces]
    install(Path(env["DATABASE_PATH"]), tokens, cipher)


async def install_and_route(bot: BotProcess, slack: SlackApi, workspace: dict[str, Any]) -> None:
    """An admin adds the app through the OAuth flow, then routes every category to each of
    the workspace's channels with /isscr-news."""
    base = f"http://127.0.0.1:{bot.env['PORT']}"
    status, page = await add_to_slack(base, slack, workspace["team_id"])
    assert status == 200, page
    for channel in workspace["channels"]:
        body = slash_command_body(
            f"route <#{channel}|{channel.lower()}>",
            user=workspace["admin"],
            team=workspace["team_id"],
        )
        status, answer = await send_to_slack_app(f"{base}/slack/events", body)
        assert status == 200, answer


def places(workspaces: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(w["team_id"], channel) for w in workspaces for channel in w["channels"]]


def posted_news(slack: SlackApi, team: str, channel: str) -> list[str]:
    """The release ids of `team`'s bot's posts in `channel`."""
    return [m["metadata"]["event_payload"]["item_id"] for m in slack.posted(team, channel)]


def posts_of_news(slack: SlackApi) -> int:
    return sum(
        m["metadata"]["event_payload"]["item_id"] == NEWS
        for messages in slack.messages.values()
        for m in messages
    )


def tokens_in(output: str, slack: SlackApi) -> list[str]:
    """The workspaces whose bot token is in `output` (a log, which must never hold one)."""
    return [team for team, workspace in slack.workspaces.items() if workspace.token in output]


def delivery_states(env: dict[str, str]) -> dict[tuple[str, str], str]:
    with sqlite3.connect(env["DATABASE_PATH"]) as db:
        rows = db.execute(
            "SELECT team, channel, state FROM deliveries WHERE release_id = ?", [NEWS]
        ).fetchall()
    return {(team, channel): state for team, channel, state in rows}


async def test_kill_9_mid_fan_out_loses_and_doubles_nothing_across_workspaces(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    workspaces = populate(slack, 20, 2)
    env = distribution_env(tmp_path, feed, slack)
    processes.append(await BotProcess(env, tmp_path).start())
    await asyncio.gather(*(install_and_route(processes[0], slack, w) for w in workspaces))
    every = places(workspaces)
    # Slack stores each post, then takes a while to answer: a kill in that window leaves
    # posts in channels that the bot never heard about.
    slack.post_delay = 0.4
    feed.items = newest_first(1, 2, 3, 4)

    killed_at = []
    for at_least in (1, 17):
        await eventually(lambda n=at_least: posts_of_news(slack) >= n, timeout=30, step=0.005)
        await processes[-1].kill()
        killed_at.append(posts_of_news(slack))
        processes.append(await BotProcess(env, tmp_path).start())

    await eventually(lambda: set(delivery_states(env).values()) == {"sent"}, timeout=30)
    await asyncio.sleep(1.5)  # a duplicate would show up here
    assert await processes[-1].terminate() == 0

    # Each kill landed mid fan-out: some posts out, not all.
    assert all(0 < n < len(every) for n in killed_at), killed_at
    assert {place: posted_news(slack, *place) for place in every} == {
        place: [NEWS] for place in every
    }
    assert delivery_states(env) == {place: "sent" for place in every}
    # Each restart found posts of the killed bot in their channels instead of posting again.
    for restarted in processes[1:]:
        assert "already posted" in restarted.output(), restarted.output()
    for bot in processes:
        assert tokens_in(bot.output(), slack) == []


async def test_two_bots_in_distribution_mode_on_one_database_post_each_release_once(
    tmp_path: Path, feed: FeedServer, slack: HoldingSlack, processes: list[BotProcess]
) -> None:
    workspaces = populate(slack, 20, 2)
    env = distribution_env(tmp_path, feed, slack, LOG_LEVEL="DEBUG")
    installed_beforehand(env, slack, workspaces)
    every = places(workspaces)
    processes.extend(
        await asyncio.gather(BotProcess(env, tmp_path).start(), BotProcess(env, tmp_path).start())
    )
    # Slack holds every post unanswered, and unstored: the first bot's first posts, until the
    # other bot has looked at the channels (at its outbox's next tick). Then it answers any
    # call the other made first: had it posted too, its posts would land before the first's.
    slack.hold(*(w["team_id"] for w in workspaces))
    feed.items = newest_first(1, 2, 3, 4)
    await eventually(lambda: len(slack.held) >= IN_FLIGHT, timeout=15)
    first_posts = list(slack.held)

    def the_other_looked() -> bool:
        left_alone = any("being delivered by another process" in p.output() for p in processes)
        return left_alone or len(slack.held) > len(first_posts)

    await eventually(the_other_looked, timeout=15)
    slack.let_go(but=first_posts)
    await asyncio.sleep(0.5)
    slack.let_go()
    await eventually(lambda: set(delivery_states(env).values()) == {"sent"}, timeout=30)
    await asyncio.sleep(1.5)  # a duplicate would show up here

    assert {place: posted_news(slack, *place) for place in every} == {
        place: [NEWS] for place in every
    }
    assert delivery_states(env) == {place: "sent" for place in every}
    for bot in processes:
        assert tokens_in(bot.output(), slack) == []  # not even at DEBUG


async def test_a_revoked_workspace_fails_alone_and_a_hanging_one_delays_no_other(
    tmp_path: Path, feed: FeedServer, slack: HoldingSlack, processes: list[BotProcess]
) -> None:
    workspaces = populate(slack, 10, 2)
    hanging, revoked = workspaces[0], workspaces[1]
    # More channels than posts in flight at once: left to it, the hanging workspace would
    # take every place in flight.
    for n in range(18):
        hanging["channels"].append(f"C{hanging['team_id'][1:]}{n:02d}X")
        slack.add_channel(hanging["channels"][-1], team=hanging["team_id"])
    env = distribution_env(tmp_path, feed, slack)
    installed_beforehand(env, slack, workspaces)
    bot = await BotProcess(env, tmp_path).start()
    processes.append(bot)
    slack.revoke(revoked["team_id"])  # uninstalled without the bot hearing of it
    slack.hold(hanging["team_id"])  # its Slack accepts requests and never answers them
    others = places(workspaces[2:])

    news_appeared = time.monotonic()
    feed.items = newest_first(1, 2, 3, 4)
    await eventually(lambda: all(posted_news(slack, *place) for place in others), timeout=15)
    took = time.monotonic() - news_appeared

    # The feed is polled every second and the others' 16 posts follow at once (a second in
    # all, typically); a hanging Slack holds a request for SLACK_TIMEOUT, 30 s.
    assert took < 5, f"the other workspaces' posts took {took:.1f} s"
    assert {place: posted_news(slack, *place) for place in others} == {
        place: [NEWS] for place in others
    }

    async def failing() -> list[str]:
        _, report = await bot.report()
        return [example["team"] for example in report["workspaces"]["failing_examples"]]

    await eventually(lambda: _is(failing(), [revoked["team_id"]]), timeout=10)
    status, report = await bot.report()
    # One workspace's failing posts are its own admins' to fix: the bot serves the others.
    assert status == 200 and report["ok"] is True
    assert any(f"{revoked['team_id']}/" in notice for notice in report["notices"]), report
    assert report["workspaces"]["installed"] == 10
    assert report["workspaces"]["failing"] == 1
    [example] = report["workspaces"]["failing_examples"]
    assert example["deliveries"] == 2
    assert example["last_error"].startswith("token_revoked"), example
    assert slack.posted(revoked["team_id"], revoked["channels"][0]) == []
    assert slack.posted(hanging["team_id"], hanging["channels"][0]) == []


async def _is(value: Awaitable[object], expected: object) -> bool:
    return await value == expected
