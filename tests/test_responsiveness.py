"""Slack is answered within its 3 seconds whatever the database or the feed is doing: the real
bot process, while another process holds the database's write lock, and while a 10,000-item
feed is polled."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from standins.feed_server import BASE_DATE, FeedServer, make_item
from standins.slack_api import SlackApi
from standins.slack_requests import send_to_slack_app, slash_command_body, view_submission_body
from tests.conftest import CHANNEL, bot_env, eventually, posted_ids
from tests.test_process import BotProcess

ADMIN, MEMBER = "U0ADMIN001", "U0MEMBER01"
# Slack shows "operation timed out" for an acknowledgement later than this.
SLACK_DEADLINE = 3.0


async def timed(request: Any) -> tuple[float, Any]:
    started = time.monotonic()
    answer = await request
    return time.monotonic() - started, answer


async def slash(bot: BotProcess, slack: SlackApi, text: str, user: str) -> tuple[float, Any]:
    """`/isscr-news <text>` as Slack sends it: how long the acknowledgement took, and it."""
    url = f"http://127.0.0.1:{bot.env['PORT']}/slack/events"
    body = slash_command_body(text, user=user, response_url=slack.response_url(text))
    took, (status, answer) = await timed(send_to_slack_app(url, body))
    assert status == 200, answer
    return took, answer


async def healthz(bot: BotProcess) -> float:
    url = f"http://127.0.0.1:{bot.env['PORT']}/healthz"
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        async with session.get(url) as response:
            await response.read()
        return time.monotonic() - started


async def test_slack_is_answered_in_time_while_another_process_holds_the_write_lock(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO", ADMIN_USER_IDS=ADMIN)
    bot = await BotProcess(env, tmp_path).start()
    processes.append(bot)
    other_process = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")  # and keeps it for 8 seconds
    try:
        await asyncio.sleep(1)  # the bot's next poll is now waiting for the lock
        acks = []
        deadline = time.monotonic() + 7
        while time.monotonic() < deadline:
            for text, user in (("release", MEMBER), ("status", ADMIN), ("poll", ADMIN)):
                acks.append(await slash(bot, slack, text, user))
            acks.append((await healthz(bot), None))
        # Nothing can be written meanwhile: /healthz says so.
        status, report = await bot.report()
    finally:
        other_process.execute("COMMIT")
        other_process.close()

    assert status == 503
    assert any("another program holds it" in line for line in report["problems"]), report

    slowest = max(took for took, _ in acks)
    assert slowest < SLACK_DEADLINE, [took for took, _ in acks]
    # A search reads beside the lock; a change that cannot be made in time says so, later.
    searched = [answer for took, answer in acks if answer and "Release" in str(answer)]
    assert searched, acks
    await eventually(lambda: any("busy" in str(r.get("text")) for r in slack.responses))
    assert "Traceback" not in bot.output()


async def test_slack_is_answered_in_time_while_a_ten_thousand_item_feed_is_stored(
    tmp_path: Path, slack: SlackApi, processes: list[BotProcess]
) -> None:
    def items(*numbers: int) -> list[Any]:  # newest first, all in the past
        return [
            make_item(
                n,
                published=BASE_DATE - timedelta(minutes=10_001 - n),
                html=f"<p>Release {n} on stem cells, embryo models and policy ({n * 7919}).</p>",
            )
            for n in sorted(numbers, reverse=True)
        ]

    async with FeedServer(items(1, 2, 3), rss_limit=None) as feed:
        env = bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO", ARCHIVE_URL="http://127.0.0.1:9/")
        bot = await BotProcess(env, tmp_path).start()
        processes.append(bot)
        feed.items = items(*range(1, 10_001))
        polled = len(feed.requests)
        acks = []
        # Until the poll has stored them all (the baseline's three and 9,997 new ones).
        while "feed polled: 10000 releases" not in bot.output():
            if len(feed.requests) > polled:
                acks.append(await slash(bot, slack, "release", MEMBER))
                acks.append((await healthz(bot), None))
            else:
                await asyncio.sleep(0.05)
            assert len(acks) < 2000, "the poll never finished"

    slowest = max(took for took, _ in acks)
    # Storing it took the bot seconds; none of them on the event loop. (Stored on the loop,
    # as before, one request waited 2.3 s here: within Slack's 3 s on this machine, not on a
    # slower one; so the test holds the bot to the target, a second.)
    assert len(acks) >= 4 and slowest < 1.0, [round(took, 2) for took, _ in acks]
    # A flood: the newest three are announced, the rest held for an admin.
    await eventually(lambda: len(slack.messages[CHANNEL]) == 3, timeout=30)
    assert posted_ids(slack) == [make_item(n).item_id for n in (9998, 9999, 10_000)]


async def test_a_form_is_answered_in_time_while_another_process_holds_the_write_lock(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    # No ANNOUNCE_CHANNEL: its first route would be the route this form asks for.
    env = bot_env(
        tmp_path, feed, slack, LOG_LEVEL="INFO", ADMIN_USER_IDS=ADMIN, ANNOUNCE_CHANNEL=""
    )
    bot = await BotProcess(env, tmp_path).start()
    processes.append(bot)
    url = f"http://127.0.0.1:{bot.env['PORT']}/slack/events"
    other_process = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")
    answers = []
    try:
        await asyncio.sleep(1.5)  # the bot's next poll is waiting for the lock, ahead of forms
        for _ in range(3):
            body = view_submission_body("route_form", user=ADMIN, channel=CHANNEL, categories=[])
            answers.append(await timed(send_to_slack_app(url, body)))
    finally:
        other_process.execute("COMMIT")
        other_process.close()

    for took, (status, answer) in answers:
        assert status == 200 and took < SLACK_DEADLINE, answers
        assert answer["response_action"] == "errors", answer
        assert "busy" in answer["errors"]["channel"], answer
    with sqlite3.connect(tmp_path / "bot.db") as db:
        assert db.execute("SELECT count(*) FROM routes").fetchone() == (0,)
