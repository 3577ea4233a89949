"""The whole bot in-process (HTTP mode), driven over real sockets like Slack and the site do."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from bot.models import SINGLE_WORKSPACE
from bot.routes import SEED_BY
from bot.runtime import Bot
from bot.settings import Settings
from bot.store import Store
from standins.feed_server import Fault, FeedServer, make_item
from standins.slack_api import FakeResponse, SlackApi
from standins.slack_requests import send_to_slack_app, sign, slash_command_body
from tests.conftest import CHANNEL, eventually, posted_ids


class InspectedBot(Bot):
    """The real bot, and a database connection of the test's own to look into it with."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        # As `isscr-news-bot run` does before starting the bot: the schema, ensured.
        self.store = Store(settings.database_path)
        self.store.ensure_schema()
        super().__init__(settings, **options)

    async def stop(self) -> None:
        await super().stop()
        self.store.close()


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[InspectedBot]:
    bot = InspectedBot(settings, host="127.0.0.1")
    bot.outbox.spacing = 0.05
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


def events_url(bot: Bot) -> str:
    return f"http://127.0.0.1:{bot.port}/slack/events"


async def test_first_run_announces_nothing_then_each_new_release_exactly_once(
    make_settings: Callable[..., Settings], feed: FeedServer, slack: SlackApi
) -> None:
    settings = make_settings()
    async with running(settings) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        feed.items.insert(0, make_item(4, title="Release 4 & <!channel>"))
        await eventually(lambda: len(slack.messages[CHANNEL]) == 1)
        await eventually(lambda: len(feed.requests) >= 4)  # a few more polls: still one post

    assert posted_ids(slack) == [make_item(4).item_id]
    message = slack.messages[CHANNEL][0]
    assert "<!channel>" not in message["text"]
    assert message["text"] == "ISSCR Press Release: Release 4 &amp; &lt;!channel&gt;"

    # Restart on the same database: nothing is posted again.
    async with running(settings) as bot:
        feed.items.insert(0, make_item(5))
        await eventually(lambda: len(slack.messages[CHANNEL]) == 2)
    assert posted_ids(slack) == [make_item(4).item_id, make_item(5).item_id]


async def test_a_signed_slash_command_lists_the_latest_releases(
    make_settings: Callable[..., Settings], slack: SlackApi
) -> None:
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        status, answer = await send_to_slack_app(events_url(bot), slash_command_body(""))

    assert status == 200
    text = json.dumps(answer["blocks"])
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    assert text.index("Release 3") < text.index("Release 2") < text.index("Release 1")


async def test_help_gets_usage(make_settings: Callable[..., Settings], slack: SlackApi) -> None:
    async with running(make_settings()) as bot:
        _, helped = await send_to_slack_app(events_url(bot), slash_command_body("help"))

    assert "the 5 latest releases" in json.dumps(helped["blocks"])


@pytest.mark.parametrize(
    "headers",
    [
        {},  # unsigned
        {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64},
        sign(slash_command_body(""), secret="someone-elses-secret"),
        sign(slash_command_body(""), timestamp=int(time.time()) - 6 * 60),  # replayed
    ],
    ids=["unsigned", "bad signature", "wrong secret", "stale timestamp"],
)
async def test_a_request_without_a_valid_fresh_signature_gets_401(
    make_settings: Callable[..., Settings], slack: SlackApi, headers: dict[str, str]
) -> None:
    async with running(make_settings()) as bot:
        status, _ = await send_to_slack_app(
            events_url(bot), slash_command_body(""), headers=headers
        )
    assert status == 401


async def test_opening_the_app_home_publishes_the_latest_releases(
    make_settings: Callable[..., Settings], slack: SlackApi
) -> None:
    body = json.dumps(
        {
            "token": "legacy",
            "team_id": "T0TEAM0001",
            "api_app_id": "A0APP00001",
            "type": "event_callback",
            "event_id": "Ev0001",
            "event_time": int(time.time()),
            "event": {
                "type": "app_home_opened",
                "user": "U0MEMBER01",
                "channel": "D0DM",
                "tab": "home",
            },
        }
    ).encode()
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        status, _ = await send_to_slack_app(events_url(bot), body, content_type="application/json")
        await eventually(lambda: "U0MEMBER01" in slack.home_views)

    assert status == 200
    assert "Release 3" in json.dumps(slack.home_views["U0MEMBER01"])


async def test_healthz_reports_polls_and_deliveries(
    make_settings: Callable[..., Settings], feed: FeedServer, slack: SlackApi
) -> None:
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        feed.items.insert(0, make_item(4))
        # Posted, and its answer recorded (a moment after Slack stored it).
        await eventually(lambda: bot.store.delivery_counts(team=SINGLE_WORKSPACE)["sent"] == 1)
        url = f"http://127.0.0.1:{bot.port}/healthz"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            status, report = response.status, await response.json()

    assert len(slack.messages[CHANNEL]) == 1
    assert status == 200
    assert report["ok"] is True
    assert report["releases"] == 4
    assert report["feed"]["last_success"] is not None
    assert report["feed"]["last_error"] is None
    assert report["deliveries"] == {
        "pending": 0,
        "sent": 1,
        "failed": 0,
        "retrying": [],
        "failures": [],
        "held": {"releases": 0, "posts": 0, "reason": None},
        "corrections_held": {"releases": 0, "posts": 0, "reason": None},
    }


async def test_healthz_answers_503_naming_the_cause_until_the_first_poll_succeeds(
    make_settings: Callable[..., Settings], feed: FeedServer, slack: SlackApi
) -> None:
    feed.fail_always(Fault.status(502))
    async with running(make_settings()) as bot:
        url = f"http://127.0.0.1:{bot.port}/healthz"
        await eventually(lambda: len(feed.requests) >= 1)
        await eventually(lambda: bot.store.feed_status(feed.url).failures >= 1)
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            failing = response.status, await response.json()
        feed.fail_always(None)
        bot.controls.poll_now()
        await eventually(lambda: bot.store.release_count() == 3)
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            fine = response.status, await response.json()

    assert failing[0] == 503
    assert failing[1]["ok"] is False
    assert failing[1]["problems"] == [
        "The feed has not been polled successfully yet: HTTP 502 Bad Gateway"
    ]
    assert fine[0] == 200
    assert (fine[1]["ok"], fine[1]["problems"]) == (True, [])


async def test_start_up_does_not_wait_for_a_slack_that_never_answers(
    make_settings: Callable[..., Settings], slack: SlackApi
) -> None:
    slack.fail_next("auth.test", FakeResponse.timeout(120), times=5)
    began = time.monotonic()
    async with running(make_settings()) as bot:
        url = f"http://127.0.0.1:{bot.port}/healthz"
        await eventually(lambda: bot.store.release_count() == 3)  # the feed is watched
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            status = response.status
        assert slack.calls_to("auth.test")  # still waiting for its answer
        started = time.monotonic() - began
    stopped = time.monotonic() - began - started

    assert status == 200  # a token not checked yet is no problem
    assert started < 5 and stopped < 5, (started, stopped)


async def test_a_rejected_token_is_logged_and_the_feed_still_watched(
    make_settings: Callable[..., Settings], slack: SlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(make_settings(SLACK_BOT_TOKEN="xoxb-revoked")) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        await eventually(lambda: "Slack rejected SLACK_BOT_TOKEN" in caplog.text)

    assert "Slack rejected SLACK_BOT_TOKEN (invalid_auth: the bot's token is wrong" in caplog.text
    assert "xoxb-revoked" not in caplog.text


async def test_start_up_logs_no_warning_about_the_token_in_the_environment(
    make_settings: Callable[..., Settings],
    slack: SlackApi,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)  # as on every deployment
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_socket_mode_answers_the_slash_command_over_the_websocket(
    make_settings: Callable[..., Settings], slack: SlackApi
) -> None:
    settings = make_settings(SLACK_APP_TOKEN=slack.app_token, SLACK_SIGNING_SECRET="", PORT="")
    assert settings.socket_mode
    settings.require_slack()  # no signing secret needed in Socket Mode
    async with running(settings) as bot:
        await eventually(lambda: slack.socket_connected and bot.store.release_count() == 3)
        command = {
            "command": "/isscr-news",
            "text": "",
            "user_id": "U0MEMBER01",
            "channel_id": CHANNEL,
            "team_id": "T0TEAM0001",
            "response_url": slack.response_url("r1"),
            "trigger_id": "1.2.3",
        }
        ack = await slack.send_envelope("slash_commands", command)

    assert bot.port is None  # no HTTP server unless PORT is set explicitly
    [opened] = slack.calls_to("apps.connections.open")
    assert opened.headers["Authorization"] == f"Bearer {slack.app_token}"
    assert "Release 3" in json.dumps(ack["payload"]["blocks"])


@pytest.mark.parametrize(
    "headers",
    [{}, sign(slash_command_body("route <#C0POLICY01|policy> Policy", user="U0ADMIN001"))],
    ids=["unsigned", "signed"],
)
async def test_socket_mode_with_a_port_serves_only_healthz_over_http(
    make_settings: Callable[..., Settings], slack: SlackApi, headers: dict[str, str]
) -> None:
    # Bolt checks no signatures in Socket Mode (its requests come over the app-token socket),
    # so an HTTP /slack/events beside it would take forged requests from anyone.
    slack.add_user("U0ADMIN001", is_admin=True)
    slack.add_channel("C0POLICY01", name="policy")
    settings = make_settings(
        SLACK_APP_TOKEN=slack.app_token, SLACK_SIGNING_SECRET="", ADMIN_USER_IDS="U0ADMIN001"
    )
    assert settings.socket_mode and settings.port_is_explicit
    async with running(settings) as bot:
        await eventually(lambda: slack.socket_connected and bot.store.release_count() == 3)
        forged = slash_command_body("route <#C0POLICY01|policy> Policy", user="U0ADMIN001")
        status, _ = await send_to_slack_app(events_url(bot), forged, headers=headers)
        url = f"http://127.0.0.1:{bot.port}/healthz"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            health_status, report = response.status, await response.json()
        routes, changes = (
            bot.store.routes(team=SINGLE_WORKSPACE),
            bot.store.recent_changes(team=SINGLE_WORKSPACE),
        )

    assert status == 404
    # Only ANNOUNCE_CHANNEL's first route: the forged request changed nothing.
    assert [route.channel for route in routes] == [CHANNEL]
    assert [change.user_id for change in changes] == [SEED_BY]
    assert slack.calls_to("users.info") == []
    assert (health_status, report["releases"]) == (200, 3)
