"""What Slack sends to the bot: signed HTTP requests for a slash command, a button click, a Home
action, a modal's Save and Events API events, as Slack posts them to the Request URL.

Each comes from a workspace (`team`, and `enterprise_id` for an Enterprise Grid org), in the
fields Bolt reads to find the installation: team_id / enterprise_id of a slash command,
team.id / user.team_id / enterprise.id of an interaction, team_id and authorizations of an event.
Events are JSON: send them with `content_type="application/json"`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp

from standins.block_kit import ack_problems

CHANNEL = "C0NEWS0001"
SIGNING_SECRET = "test-signing-secret"
TEAM = "T0TEAM0001"
API_APP_ID = "A0APP00001"
BOT_USER = "U0BOTUSER1"  # the default workspace's bot user in slack_api.py

_event_numbers = itertools.count(1)


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
    channel: str = CHANNEL,
    team: str = TEAM,
    enterprise_id: str | None = None,
) -> bytes:
    form = {
        "token": "legacy-verification-token",
        "team_id": team,
        "team_domain": _domain(team),
        "channel_id": channel,
        "channel_name": "isscr-news",
        "user_id": user,
        "user_name": "member",
        "command": command,
        "text": text,
        "api_app_id": API_APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": "1.2.3",
    }
    if enterprise_id is not None:
        form.update(enterprise_id=enterprise_id, enterprise_name=_org_name(enterprise_id))
    return urlencode(form).encode()


def block_action_body(
    action_id: str,
    value: str,
    *,
    response_url: str,
    user: str = "U0MEMBER01",
    channel: str = CHANNEL,
    team: str = TEAM,
    enterprise_id: str | None = None,
) -> bytes:
    """A button click on an ephemeral message, as Slack posts it to the Request URL."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "member", "name": "member", "team_id": team},
        "api_app_id": API_APP_ID,
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": "1700000000.000100",
            "channel_id": channel,
            "is_ephemeral": True,
        },
        "trigger_id": "1.2.3",
        **_workspace_fields(team, enterprise_id),
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
    action_id: str,
    value: str = "",
    *,
    user: str,
    selected_conversation: str | None = None,
    team: str = TEAM,
    enterprise_id: str | None = None,
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
        "user": {"id": user, "username": "someone", "team_id": team},
        "api_app_id": API_APP_ID,
        "token": "legacy-verification-token",
        "container": {"type": "view", "view_id": "V0HOME0001"},
        "trigger_id": "1.2.home",
        **_workspace_fields(team, enterprise_id),
        "view": {
            "id": "V0HOME0001",
            "type": "home",
            "team_id": team,
            "app_installed_team_id": team,
            "blocks": [],
            "state": {"values": {}},
        },
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
    team: str = TEAM,
    enterprise_id: str | None = None,
    selected: dict[str, Any] | None = None,
) -> bytes:
    """A modal's Save, as Slack posts it: the form's values by block and action ID.
    `selected`: the value chosen in each static menu (block and action ID) named; None for
    one left empty."""
    values: dict[str, Any] = {
        "channel": {"channel": {"type": "conversations_select", "selected_conversation": channel}}
    }
    for name, value in (selected or {}).items():
        option = None if value is None else {"text": {"type": "plain_text", "text": "x"}}
        if option is not None:
            option["value"] = value
        values[name] = {name: {"type": "static_select", "selected_option": option}}
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
    return modal_submission_body(
        callback_id,
        user=user,
        values=values,
        private_metadata=private_metadata,
        team=team,
        enterprise_id=enterprise_id,
    )


def modal_submission_body(
    callback_id: str,
    *,
    user: str,
    values: dict[str, Any],
    private_metadata: str = "",
    team: str = TEAM,
    enterprise_id: str | None = None,
) -> bytes:
    """Any modal's submission, as Slack posts it: `values` by block and action ID."""
    payload = {
        "type": "view_submission",
        **_workspace_fields(team, enterprise_id),
        "user": {"id": user, "username": "someone", "team_id": team},
        "api_app_id": API_APP_ID,
        "token": "legacy-verification-token",
        "trigger_id": "1.2.view",
        "view": {
            "id": "V0MODAL001",
            "team_id": team,
            "app_installed_team_id": team,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": values},
            "blocks": [],
        },
        "response_urls": [],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def event_body(
    event: dict[str, Any],
    *,
    team: str = TEAM,
    enterprise_id: str | None = None,
    event_id: str | None = None,
    api_app_id: str = API_APP_ID,
    bot_user: str | None = BOT_USER,
) -> bytes:
    """An Events API event_callback, as Slack posts it (JSON): the workspace in team_id and in
    `authorizations` (the installation the event is for: its bot user, `bot_user`), which
    Bolt prefers. `bot_user=None` leaves authorizations out, as the documented examples of
    app_uninstalled and tokens_revoked do. A fresh event_id each call unless given."""
    body: dict[str, Any] = {
        "token": "legacy-verification-token",
        "team_id": team,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_event_numbers):010d}",
        "event_time": int(time.time()),
        "is_ext_shared_channel": False,
        "event_context": f"4-stand-in-{team}",
    }
    if enterprise_id is not None:
        body["enterprise_id"] = enterprise_id
    if bot_user is not None:
        body["authorizations"] = [
            {
                "enterprise_id": enterprise_id,
                "team_id": team,
                "user_id": bot_user,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ]
    return json.dumps(body).encode()


def app_uninstalled_body(team: str, *, enterprise_id: str | None = None) -> bytes:
    """https://api.slack.com/events/app_uninstalled: the app was removed from `team`."""
    event = {"type": "app_uninstalled"}
    return event_body(event, team=team, enterprise_id=enterprise_id, bot_user=None)


def tokens_revoked_body(
    team: str,
    bot_user_ids: list[str],
    *,
    user_ids: list[str] | None = None,
    enterprise_id: str | None = None,
) -> bytes:
    """https://api.slack.com/events/tokens_revoked: the tokens of these bot users (and users,
    for user tokens) in `team` were revoked; the event names user IDs, never tokens."""
    tokens = {"oauth": list(user_ids or []), "bot": list(bot_user_ids)}
    event = {"type": "tokens_revoked", "tokens": tokens}
    return event_body(event, team=team, enterprise_id=enterprise_id, bot_user=None)


def home_opened_body(
    team: str,
    user: str,
    *,
    bot_user: str = BOT_USER,
    channel: str = "D0HOME0001",
    enterprise_id: str | None = None,
) -> bytes:
    """https://api.slack.com/events/app_home_opened: `user` opened the app's Home tab (for the
    first time: no `view` yet)."""
    event = {
        "type": "app_home_opened",
        "user": user,
        "channel": channel,
        "tab": "home",
        "event_ts": f"{time.time():.6f}",
    }
    return event_body(event, team=team, enterprise_id=enterprise_id, bot_user=bot_user)


def _workspace_fields(team: str, enterprise_id: str | None) -> dict[str, Any]:
    """An interaction payload's team, enterprise and is_enterprise_install (Slack sends
    `"enterprise": null` from a workspace outside Enterprise Grid)."""
    fields: dict[str, Any] = {"team": {"id": team, "domain": _domain(team)}, "enterprise": None}
    if enterprise_id is not None:
        name = _org_name(enterprise_id)
        fields["team"].update(enterprise_id=enterprise_id, enterprise_name=name)
        fields["enterprise"] = {"id": enterprise_id, "name": name}
    return {**fields, "is_enterprise_install": False}


def _domain(team: str) -> str:
    return "isscr" if team == TEAM else team.lower()


def _org_name(enterprise_id: str) -> str:
    return f"Org {enterprise_id}"
