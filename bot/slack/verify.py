"""Checks every HTTP request to `POST /slack/events` before Bolt sees it.

Left to itself, Bolt parses a body before checking its signature (an unsigned malformed payload
or a non-numeric timestamp is a 500 with a traceback), and it logs every refused body whole at
INFO: user IDs, `response_url`, the verification token, and 30 one-megabyte requests from
anyone grew the log by 31.5 MB. Here a request is refused before it is parsed, with a short
answer and one short log line without its body, and those lines are rate-limited. Bolt's own
check stays on behind this one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import Clock, SignatureVerifier

log = logging.getLogger(__name__)

# Slack's payloads are far smaller; this is aiohttp's own default, stated so it is ours.
MAX_BODY = 1024**2
# Slack's rule: a request whose timestamp is further than this from now may be a replay.
MAX_AGE = 5 * 60
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # int() would also take " 1", "+1" and "1_0"


class Refusals:
    """Logs refused requests, at most `per_window` lines a `window`; the rest are counted and
    the count is logged in one line when the window ends, so a flood cannot fill the disk."""

    def __init__(
        self,
        *,
        per_window: int = 5,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_window = per_window
        self.window = window
        self.clock = clock
        self._window_start = -float("inf")
        self._logged = 0
        self._suppressed = 0

    def refused(self, line: str) -> None:
        now = self.clock()
        if now - self._window_start >= self.window:
            self._flush()
            self._window_start, self._logged = now, 0
        if self._logged < self.per_window:
            self._logged += 1
            log.warning("%s", line)
            return
        if not self._suppressed:
            # The count is due at the end of the window even if no other request comes.
            delay = self._window_start + self.window - now
            asyncio.get_running_loop().call_later(max(delay, 0.0), self._flush)
        self._suppressed += 1

    def _flush(self) -> None:
        if self._suppressed:
            log.warning(
                "%d more requests refused in %g s, not logged one by one",
                self._suppressed,
                self.window,
            )
            self._suppressed = 0


class SlackRequests:
    """The handler of `POST /slack/events`: checks a request, then hands it to Bolt."""

    def __init__(
        self,
        app: AsyncApp,
        signing_secret: str,
        *,
        refusals: Refusals | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.app = app
        self.clock = clock or Clock()
        self.verifier = SignatureVerifier(signing_secret, clock=self.clock)
        self.refusals = refusals or Refusals()

    async def handle(self, request: web.Request) -> web.Response:
        # Headers first: a request that cannot be from Slack is refused unread.
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not timestamp:
            return self._refuse(request, 401, "no X-Slack-Request-Timestamp")
        if not _TIMESTAMP.fullmatch(timestamp):
            return self._refuse(request, 401, "X-Slack-Request-Timestamp is not a number")
        if abs(self.clock.now() - int(timestamp)) > MAX_AGE:
            return self._refuse(request, 401, "X-Slack-Request-Timestamp is not within 5 minutes")
        if not signature:
            return self._refuse(request, 401, "no X-Slack-Signature")
        if (request.content_length or 0) > MAX_BODY:
            return self._refuse(request, 413, f"body over {MAX_BODY} bytes")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:  # no Content-Length, or a false one
            return self._refuse(request, 413, f"body over {MAX_BODY} bytes")
        try:
            text = body.decode()
        except UnicodeDecodeError:
            # Slack signs UTF-8 text: a body that is not cannot carry its signature.
            return self._refuse(request, 401, "body is not UTF-8")
        if not self.verifier.is_valid(text, timestamp, signature):
            return self._refuse(request, 401, "bad signature")
        problem = malformed(text, request.content_type)
        if problem is not None:
            return self._refuse(request, 400, problem)
        bolt_request = await to_bolt_request(request)  # the body read above, not read again
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

    def _refuse(self, request: web.Request, status: int, reason: str) -> web.Response:
        self.refusals.refused(
            f"refused {request.method} {request.path} from {request.remote}: {reason} ({status})"
        )
        return web.json_response({"ok": False, "error": reason}, status=status)


# Fields Bolt reads while routing a request, with the JSON types it takes for granted: a signed
# body with another type makes it raise (a 500 and a traceback) before any listener runs. Slack
# sends null for some (`"enterprise": null` outside Enterprise Grid), which Bolt reads as absent.
_SHAPES: dict[str, tuple[type, ...]] = {
    "team": (str, dict, type(None)),
    "user": (str, dict, type(None)),
    "enterprise": (str, dict, type(None)),
    "channel": (str, dict, type(None)),
    "event": (dict,),
    "view": (dict,),
    "container": (dict,),
    "message": (dict,),
    "authorizations": (list,),
    "actions": (list,),
}


def malformed(body: str, content_type: str) -> str | None:
    """Why Bolt could not read a signed `body`, or None. Follows Bolt's own reading: JSON when
    it says so or starts with "{", otherwise a form whose `payload` field, if any, is JSON."""
    if content_type == "application/json" or body.startswith("{"):
        return _not_a_payload(body, "the body")
    if "payload" in body:
        payload = dict(parse_qsl(body, keep_blank_values=True)).get("payload")
        if payload is not None:
            return _not_a_payload(payload, "payload")
    return None


def _not_a_payload(text: str, what: str) -> str | None:
    try:
        value = json.loads(text)
    except ValueError:
        return f"{what} is not JSON"
    if not isinstance(value, dict):
        return f"{what} is not a JSON object"
    for name, types in _SHAPES.items():
        if name in value and not isinstance(value[name], types):
            return f"{what} has a malformed {name!r}"
    for name in ("authorizations", "actions"):
        if not all(isinstance(item, dict) for item in value.get(name, [])):
            return f"{what} has a malformed {name!r}"
    actions = value.get("actions")
    if actions is not None and not (
        actions and all(isinstance(action.get("action_id"), str) for action in actions)
    ):
        return f"{what} has a malformed 'actions'"
    return None
