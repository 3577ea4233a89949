"""What Slack sends to the bot: signed HTTP requests for a slash command, a button click, a Home
action and a modal's Save, as Slack posts them to the Request URL."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp

from standins.block_kit import ack_problems

CHANNEL = "C0NEWS0001"
SIGNING_SECRET = "test-signing-secret"


def sign(
    body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """The headers Slack adds to a request: X-Slack-Request-Timestamp and X-Slack-Signature."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


async def send_to_slack_app(
    url: str,
    body: bytes,
    *,
    content_type: str = "application/x-www-form-urlencoded",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """POST `body` to the bot as Slack would: signed, unless `headers` are given. An answer
    Slack would refuse as malformed (blocks over a limit, say) fails the test."""
    sent = {"Content-Type": content_type, **(headers if headers is not None else sign(body))}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=sent) as response,
    ):
        text = await response.text()
        try:
            answer = await response.json(content_type=None)
        except ValueError:
            return response.status, text
    if response.status == 200:
        assert ack_problems(answer) == [], ack_problems(answer)
    return response.status, answer


def slash_command_body(
    text: str,
    *,
    command: str = "/isscr-news",
    user: str = "U0MEMBER01",
    response_url: str = "http://127.0.0.1:9/response/x",
) -> bytes:
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": "T0TEAM0001",
            "team_domain": "isscr",
            "channel_id": CHANNEL,
            "channel_name": "isscr-news",
            "user_id": user,
            "user_name": "member",
            "command": command,
            "text": text,
            "api_app_id": "A0APP00001",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    ).encode()


def block_action_body(
    action_id: str,
    value: str,
    *,
    response_url: str,
    user: str = "U0MEMBER01",
    channel: str = CHANNEL,
) -> bytes:
    """A button click on an ephemeral message, as Slack posts it to the Request URL."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "member", "name": "member", "team_id": "T0TEAM0001"},
        "api_app_id": "A0APP00001",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": "1700000000.000100",
            "channel_id": channel,
            "is_ephemeral": True,
        },
        "trigger_id": "1.2.3",
        "team": {"id": "T0TEAM0001", "domain": "isscr"},
        "channel": {"id": channel, "name": "isscr-news"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "b1",
                "text": {"type": "plain_text", "text": "button"},
                "value": value,
                "type": "button",
                "action_ts": str(time.time()),
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def home_action_body(
    action_id: str, value: str = "", *, user: str, selected_conversation: str | None = None
) -> bytes:
    """A button click in the App Home, as Slack posts it (no channel, no response_url); with
    `selected_conversation`, a channel chosen in a conversations_select menu instead."""
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": "home",
        "text": {"type": "plain_text", "text": "button"},
        "type": "button",
        "action_ts": str(time.time()),
    }
    if value:
        action["value"] = value
    if selected_conversation is not None:
        del action["text"]
        action.update(type="conversations_select", selected_conversation=selected_conversation)
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": "T0TEAM0001"},
        "api_app_id": "A0APP00001",
        "token": "legacy-verification-token",
        "container": {"type": "view", "view_id": "V0HOME0001"},
        "trigger_id": "1.2.home",
        "team": {"id": "T0TEAM0001", "domain": "isscr"},
        "view": {"id": "V0HOME0001", "type": "home", "blocks": [], "state": {"values": {}}},
        "actions": [action],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def view_submission_body(
    callback_id: str,
    *,
    user: str,
    channel: str | None = None,
    categories: list[str] | None = None,
    private_metadata: str = "",
) -> bytes:
    """A modal's Save, as Slack posts it: the form's values by block and action ID."""
    values: dict[str, Any] = {
        "channel": {"channel": {"type": "conversations_select", "selected_conversation": channel}}
    }
    if categories is not None:
        values["categories"] = {
            "categories": {
                "type": "multi_static_select",
                "selected_options": [
                    {"text": {"type": "plain_text", "text": name}, "value": name}
                    for name in categories
                ],
            }
        }
    payload = {
        "type": "view_submission",
        "team": {"id": "T0TEAM0001", "domain": "isscr"},
        "user": {"id": user, "username": "someone", "team_id": "T0TEAM0001"},
        "api_app_id": "A0APP00001",
        "token": "legacy-verification-token",
        "trigger_id": "1.2.view",
        "view": {
            "id": "V0MODAL001",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": values},
            "blocks": [],
        },
        "response_urls": [],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()
