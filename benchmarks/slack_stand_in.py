"""Slack, as far as timing `/isscr-news` needs it: the signed request Slack sends, and a
loopback Web API answering the one method Bolt calls (`auth.test`) and the response_url of
answers that come too late for the acknowledgement. Smaller than standins/slack_api.py, which
checks every payload as Slack would: here only the bot's own time is measured."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from bot.slack.markup import COMMAND

CHANNEL = "C0NEWS0001"
SIGNING_SECRET = "benchmark-signing-secret"
TEAM = "T0TEAM0001"
MEMBER = "U0MEMBER01"


def sign(body: bytes) -> dict[str, str]:
    """The headers Slack adds to a request: X-Slack-Request-Timestamp and X-Slack-Signature."""
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=body)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": str(signature)}


def slash_command_body(text: str, *, response_url: str) -> bytes:
    """The form Slack posts for `/isscr-news <text>`, typed by a member in CHANNEL."""
    form = {
        "command": COMMAND,
        "text": text,
        "team_id": TEAM,
        "channel_id": CHANNEL,
        "user_id": MEMBER,
        "api_app_id": "A0APP00001",
        "response_url": response_url,
        "trigger_id": "1.2.3",
    }
    return urlencode(form).encode()


class SlackStandIn:
    """Slack's Web API on 127.0.0.1: `auth.test`, and response_url at /response/<id>."""

    token = "xoxb-benchmark-token"

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.base_url}/response/{name}"

    async def __aenter__(self) -> SlackStandIn:
        app = web.Application()
        app.router.add_post("/api/auth.test", self._auth_test)
        app.router.add_post("/response/{name}", self._ok)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _auth_test(self, request: web.Request) -> web.Response:
        identity: dict[str, Any] = {
            "ok": True,
            "url": "https://isscr.slack.com/",
            "team": "ISSCR",
            "user": "isscr_news_bot",
            "team_id": TEAM,
            "user_id": "U0BOT00001",
            "bot_id": "B0BOT00001",
            "is_enterprise_install": False,
        }
        return web.json_response(identity)

    async def _ok(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})
