"""POST /slack/events from anyone: every request is checked before Bolt sees it, a refused one
gets 400/401/413 and one short log line without its body, and a flood leaves a few lines."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import pytest

from bot.settings import Settings
from bot.slack.verify import Refusals
from standins.feed_server import FeedServer
from standins.slack_api import SlackApi
from standins.slack_requests import send_to_slack_app, sign, slash_command_body
from tests.conftest import bot_env
from tests.test_bot import events_url, running
from tests.test_process import BotProcess

COMMAND = slash_command_body("embryo")
NOT_JSON = urlencode({"payload": "{not json"}).encode()


def stale() -> dict[str, str]:
    return sign(COMMAND, timestamp=int(time.time()) - 6 * 60)


def bad_signature(body: bytes) -> dict[str, str]:
    return {**sign(body), "X-Slack-Signature": "v0=" + "0" * 64}


@pytest.mark.parametrize(
    ("body", "headers", "content_type", "status"),
    [
        (COMMAND, {}, None, 401),
        (COMMAND, {"X-Slack-Signature": sign(COMMAND)["X-Slack-Signature"]}, None, 401),
        (COMMAND, {**sign(COMMAND), "X-Slack-Request-Timestamp": "soon"}, None, 401),
        (COMMAND, {**sign(COMMAND), "X-Slack-Request-Timestamp": " 1e9"}, None, 401),
        (COMMAND, {"X-Slack-Request-Timestamp": str(int(time.time()))}, None, 401),
        (COMMAND, "stale", None, 401),
        (COMMAND, "bad signature", None, 401),
        (NOT_JSON, {}, None, 401),
        (b'{"type": ', {}, "application/json", 401),
        (b"payload=\xff\xfe", "signed", None, 401),  # not UTF-8: Slack cannot have signed it
        (NOT_JSON, "signed", None, 400),
        (b'{"type": ', "signed", "application/json", 400),
        (b"[1, 2]", "signed", "application/json", 400),
        (urlencode({"payload": "[]"}).encode(), "signed", None, 400),
        (b'{"type": "event_callback", "event": "x"}', "signed", "application/json", 400),
        (
            urlencode({"payload": '{"type": "block_actions", "actions": [5]}'}).encode(),
            "signed",
            None,
            400,
        ),
        (COMMAND + b"&pad=" + b"x" * (1024**2), "signed", None, 413),
    ],
    ids=[
        "unsigned",
        "no timestamp",
        "timestamp not a number",
        "timestamp with a space",
        "no signature",
        "stale timestamp",
        "bad signature",
        "unsigned malformed payload",
        "unsigned malformed JSON",
        "not UTF-8",
        "signed malformed payload",
        "signed malformed JSON",
        "signed JSON list",
        "signed payload list",
        "signed event not an object",
        "signed actions not objects",
        "oversized",
    ],
)
async def test_each_request_gets_its_status_and_no_traceback(
    make_settings: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    headers: dict[str, str] | str,
    content_type: str | None,
    status: int,
) -> None:
    if headers == "signed":
        headers = sign(body)
    elif headers == "stale":
        headers = stale()
    elif headers == "bad signature":
        headers = bad_signature(body)
    assert isinstance(headers, dict)
    caplog.set_level(logging.INFO)
    async with running(make_settings()) as bot:
        answered, answer = await send_to_slack_app(
            events_url(bot),
            body,
            headers=headers,
            content_type=content_type or "application/x-www-form-urlencoded",
        )

    assert answered == status, answer
    logged = [r for r in caplog.records if r.name.startswith("bot.slack")]
    [line] = [r.getMessage() for r in logged]
    assert line.startswith("refused POST /slack/events from 127.0.0.1: "), line
    assert line.endswith(f" ({status})")
    assert len(line) < 120
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_thirty_forged_megabyte_requests_leave_a_few_short_lines_in_the_log(
    tmp_path: Path, feed: FeedServer, slack: SlackApi
) -> None:
    bot = BotProcess(bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO"), tmp_path)
    await bot.start()
    try:
        url = f"http://127.0.0.1:{bot.env['PORT']}/slack/events"
        await asyncio.sleep(1)  # the start-up lines are written
        before = bot.log.stat().st_size
        # Slack's fields, with a padding that makes each body about 1 MB.
        body = slash_command_body("x" * 1_000_000, user="U0VICTIM01")
        statuses = [
            (await send_to_slack_app(url, body, headers=forged))[0]
            for forged in [bad_signature(body)] * 15 + [{}] * 10 + [stale()] * 5
        ]
        await asyncio.sleep(0.5)
        written = bot.log.read_text()[before:]
    finally:
        assert await bot.terminate() == 0

    assert statuses == [401] * 30
    assert len(written) < 1_000, written[:1_000]
    refusals = [line for line in written.splitlines() if "refused POST /slack/events" in line]
    assert 1 <= len(refusals) <= 5, written[:1_000]
    for secret in ("legacy-verification-token", "U0VICTIM01", "response_url", "xxxxxxxx"):
        assert secret not in written


async def test_a_flood_is_logged_as_a_few_lines_then_one_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refusals = Refusals(per_window=3, window=0.5)
    caplog.set_level(logging.WARNING, logger="bot.slack.verify")

    for number in range(10):
        refusals.refused(f"refused request {number}")
    await asyncio.sleep(0.7)  # no more requests: the count comes anyway
    refusals.refused("refused request 10")  # a new window

    assert [r.getMessage() for r in caplog.records] == [
        "refused request 0",
        "refused request 1",
        "refused request 2",
        "7 more requests refused in 0.5 s, not logged one by one",
        "refused request 10",
    ]
