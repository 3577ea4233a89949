"""The outbox's side of members' alerts: a DM to the member through the app's Messages tab,
and a member who can no longer be messaged stopping quietly. The real bot against the Slack
stand-in."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.alerts import MemberAlerts
from bot.models import ALERT, SINGLE_WORKSPACE, Place
from bot.settings import Settings
from bot.store import Store
from standins.feed_server import FeedServer, make_item
from standins.slack_api import TEAM_ID, FakeResponse, SlackApi
from tests.conftest import bot_env, eventually, newest_first
from tests.test_bot import InspectedBot, running
from tests.test_process import BotProcess

MEMBER = "U0MEMBER01"


def queue_alert(bot: InspectedBot, *numbers: int) -> None:
    """Queue, as a poll would, the alerts of releases `numbers` for MEMBER (their query
    "release"), and wake the outbox."""
    with bot.store.transaction():
        for n in numbers:
            bot.store.add_delivery(
                make_item(n).item_id, Place(SINGLE_WORKSPACE, MEMBER), now=1.0, kind=ALERT,
                about=json.dumps(["release"]),
            )  # fmt: skip
    bot.outbox.wake()


@pytest.mark.parametrize("gone", ["deleted", "messages_blocked"])
async def test_a_member_who_cannot_be_messaged_stops_receiving_without_errors_piling_up(
    gone: str,
    make_settings: Callable[..., Settings],
    feed: FeedServer,
    slack: SlackApi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slack.add_user(MEMBER)
    slack.workspaces[TEAM_ID].users[MEMBER][gone] = True  # left the workspace, or no DMs
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        bot.store.db.execute(
            "INSERT INTO alerts (team, user_id, query, created_at) VALUES (?, ?, ?, ?)",
            [SINGLE_WORKSPACE, MEMBER, "release", 1.0],
        )
        caplog.clear()
        queue_alert(bot, 1, 2, 3)
        await eventually(lambda: all(d["state"] == "failed" for d in bot.store.delivery_log()))
        paused = bot.store.db.execute("SELECT paused FROM alerts").fetchone()[0]
        report = await bot.report()

    assert paused is not None and "cannot receive direct messages" in paused
    # One refusal from Slack, not one per release; nothing posted; no error in the log.
    assert len(slack.calls_to("conversations.open")) == 1
    assert not slack.calls_to("chat.postMessage")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    # Nothing for an admin to fix: the report stays ok.
    assert report["ok"], report


async def test_alerts_the_app_cannot_send_are_a_problem_for_admins_without_naming_members(
    make_settings: Callable[..., Settings], feed: FeedServer, slack: SlackApi
) -> None:
    # An app installed before alerts existed lacks the scope to open a DM.
    slack.add_user(MEMBER)
    slack.fail_next("conversations.open", FakeResponse.error("missing_scope"), times=100)
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        queue_alert(bot, 3)
        await eventually(lambda: bot.store.delivery_log()[0]["last_error"] is not None)
        report = await bot.report()
        state = bot.store.delivery_log()[0]["state"]

    assert state == "pending"  # kept, not given up on
    assert not report["ok"]
    problem = next(p for p in report["problems"] if "alert" in p)
    assert "1 alert to a member waiting to be retried" in problem
    assert "missing_scope" in problem and "reinstall" in problem
    assert MEMBER not in json.dumps(report)


async def test_an_alert_slack_rate_limits_opening_the_dm_for_waits_as_asked_and_is_never_lost(
    make_settings: Callable[..., Settings], feed: FeedServer, slack: SlackApi
) -> None:
    # Thousands of members matching one release open thousands of DMs: Slack answers 429s.
    slack.add_user(MEMBER)
    slack.fail_next("conversations.open", FakeResponse.rate_limited(retry_after=1), times=3)
    async with running(make_settings()) as bot:
        bot.outbox.max_attempts = 2  # a 429 is not a failed try: it never counts towards this
        await eventually(lambda: bot.store.release_count() == 3)
        queue_alert(bot, 3)
        await eventually(lambda: len(slack.dms(MEMBER)) == 1, timeout=15)
        await eventually(lambda: bot.store.delivery_log()[0]["state"] == "sent")

    opened = [call.at for call in slack.calls_to("conversations.open")]
    assert len(opened) == 4
    # Each try waited as long as Slack asked.
    assert all(later - earlier >= 0.95 for earlier, later in itertools.pairwise(opened))
    assert len(slack.dms(MEMBER)) == 1


async def test_an_alert_whose_answer_was_lost_is_still_looked_for_after_a_rate_limited_dm(
    make_settings: Callable[..., Settings], feed: FeedServer, slack: SlackApi
) -> None:
    slack.add_user(MEMBER)
    # Slack stores the DM but its answer is lost: whether it went out is unknown.
    slack.fail_next("chat.postMessage", FakeResponse.server_error(502, after_posting=True))
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        queue_alert(bot, 3)
        await eventually(lambda: bot.store.delivery_log()[0]["last_error"] is not None)
        assert bot.store.delivery_log()[0]["state"] == "sending"
        slack.fail_next("conversations.open", FakeResponse.rate_limited(retry_after=1))
        await eventually(lambda: bot.store.delivery_log()[0]["state"] == "sent", timeout=15)

    assert len(slack.calls_to("conversations.open")) == 3
    assert len(slack.dms(MEMBER)) == 1  # found in the DM's history, not sent again


async def test_kill_9_between_queueing_and_sending_alerts_neither_loses_nor_doubles_a_dm(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    # Slack stores each DM, then takes a while to answer: a kill in that window leaves a DM
    # the bot never heard about.
    slack.add_user(MEMBER)
    slack.post_delay = 0.4
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO", ANNOUNCE_CHANNEL="")
    first = await BotProcess(env, tmp_path).start()
    processes.append(first)
    store = Store(tmp_path / "bot.db")
    MemberAlerts(store, team=SINGLE_WORKSPACE, user=MEMBER).save("release")
    store.close()
    burst = list(range(4, 14))  # 10: more at once would be held as a flood
    feed.items = newest_first(1, 2, 3, *burst)

    for killed_after in (3, 8):
        await eventually(lambda n=killed_after: len(slack.dms(MEMBER)) >= n, timeout=60)
        await processes[-1].kill()
        processes.append(await BotProcess(env, tmp_path).start())

    await eventually(lambda: len(slack.dms(MEMBER)) >= len(burst), timeout=60)
    await asyncio.sleep(2)  # a duplicate would show up here
    assert await processes[-1].terminate() == 0

    sent = [dm["metadata"]["event_payload"]["item_id"] for dm in slack.dms(MEMBER)]
    assert sorted(sent) == sorted(make_item(n).item_id for n in burst)
    for restarted in processes[1:]:
        assert "already posted" in restarted.output(), restarted.output()
    with sqlite3.connect(tmp_path / "bot.db") as db:
        states = db.execute("SELECT kind, state, count(*) FROM deliveries GROUP BY 1, 2")
        assert states.fetchall() == [("alert", "sent", len(burst))]
