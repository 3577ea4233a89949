"""A loopback stand-in for Slack's Web API, enough for slack_sdk's AsyncWebClient and Bolt.

Point a client at it with `AsyncWebClient(base_url=api.url, token=api.token)`. Behaviour follows
https://api.slack.com/methods for the methods the bot uses; anything else is `unknown_method`.

One app, many workspaces (OAuth distribution): each workspace has its own bot token(s), bot
user, channels and users; a call acts as the workspace its token belongs to and sees nothing of
another's (`channel_not_found`, `user_not_found`), except a Slack Connect channel added to both.
`grant` + `oauth.v2.access` install the app into a workspace, `revoke` uninstalls it. The
default workspace (TEAM_ID, `api.token`) is the single-workspace bot's.

slack_sdk sends three request shapes, all parsed here into one params dict:
- JSON bodies (chat.postMessage, chat.postEphemeral, views.publish: `json=`),
- GET with a query string (conversations.history, users.info),
- POST with the params in the *query string* and an empty body (auth.test, conversations.join,
  apps.connections.open use `params=`), or form/multipart bodies (`data=`), where booleans
  arrive as "1"/"0" and blocks/metadata as JSON strings.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import json
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from standins.block_kit import message_error, view_problems
from standins.loopback import LoopbackServer
from standins.slack_pacing import Pacing

TEAM_ID = "T0ISSCR01"
TEAM_NAME = "ISSCR Test"
BOT_USER_ID = "U0BOTUSER1"
BOT_ID = "B0ISSCRBOT"
APP_ID = "A0ISSCRAPP"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "test-client-secret"
# manifest.json's bot scopes, as oauth.v2.access lists what was granted.
SCOPES = (
    "chat:write,commands,channels:join,channels:history,groups:history,users:read,im:write,"
    "im:history"
)
INSTALLER = "U0INSTALL1"

# Fields of a chat.postMessage request that Slack does not echo back in a message object.
_REQUEST_ONLY = frozenset({"channel", "unfurl_links", "unfurl_media", "mrkdwn", "parse"})
_JSON_FIELDS = ("blocks", "attachments", "metadata", "view")
# What message_error judges in a message.
_CONTENT = ("text", "blocks", "attachments", "metadata")


@dataclass
class ChannelInfo:
    is_private: bool = False
    is_member: bool = True
    is_archived: bool = False
    name: str = ""


@dataclass
class Workspace:
    """One workspace the app is installed in: its bot's identity, token, channels and users."""

    team_id: str
    name: str
    token: str = field(repr=False)  # the newest bot token; older ones stay valid until revoked
    bot_user_id: str
    bot_id: str
    revoked: bool = False  # its newest token is revoked (uninstalled, or auth.revoke)
    enterprise_id: str | None = None
    is_enterprise_install: bool = False
    channels: dict[str, ChannelInfo] = field(default_factory=dict, repr=False)
    users: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def domain(self) -> str:
        return "-".join("".join(c if c.isalnum() else " " for c in self.name.lower()).split())


@dataclass(frozen=True)
class _Grant:
    """A one-time code Slack gave a browser for an install, waiting for oauth.v2.access."""

    team_id: str
    installer: str
    enterprise_id: str | None
    is_enterprise_install: bool
    scope: str
    redirect_uri: str | None


@dataclass
class Call:
    """One Web API request as the fake received it."""

    method: str  # e.g. "chat.postMessage"
    params: dict[str, Any]  # query, form and JSON body merged
    headers: CIMultiDict[str]
    at: float  # time.monotonic()
    http_method: str = "POST"
    wall: float = field(default_factory=time.time)  # when it arrived, to compare across processes
    team: str | None = None  # the workspace of its token (None: no token, or an unknown one)


@dataclass(frozen=True)
class FakeResponse:
    """A canned answer for fail_next(); build with the class methods."""

    status: int = 200
    body: dict[str, Any] | str | None = None  # None: the method's normal answer
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    # True: perform the call first (the message IS stored), then answer with this failure,
    # as when Slack did the work but its answer was lost.
    after_posting: bool = False
    drop_connection: bool = False

    @classmethod
    def rate_limited(cls, retry_after: int = 1) -> FakeResponse:
        return cls(
            status=429,
            body={"ok": False, "error": "ratelimited"},
            headers=(("Retry-After", str(retry_after)),),
        )

    @classmethod
    def server_error(
        cls, status: int = 500, *, after_posting: bool = False, json_body: bool = False
    ) -> FakeResponse:
        """5xx; an HTML page from the edge by default, or Slack's JSON internal_error."""
        body: dict[str, Any] | str = (
            {"ok": False, "error": "internal_error"}
            if json_body
            else f"<html><body><h1>{status} Server Error</h1></body></html>"
        )
        return cls(status=status, body=body, after_posting=after_posting)

    @classmethod
    def error(cls, error: str) -> FakeResponse:
        """HTTP 200 with {"ok": false, "error": error}, like every Slack API-level error."""
        return cls(body={"ok": False, "error": error})

    @classmethod
    def timeout(cls, seconds: float, *, after_posting: bool = False) -> FakeResponse:
        """Sleep before answering normally; without after_posting nothing happens if the
        client has hung up by then."""
        return cls(delay=seconds, after_posting=after_posting)

    @classmethod
    def disconnect(cls, *, after_posting: bool = False) -> FakeResponse:
        """Close the connection without an answer.

        slack_sdk's default AsyncConnectionErrorRetryHandler retries once on a disconnect, so a
        chat.postMessage dropped after_posting is posted twice unless the bot guards against it.
        """
        return cls(drop_connection=True, after_posting=after_posting)


@dataclass(frozen=True)
class Rejection:
    """A message or view Slack refused as malformed, and why (tests assert there are none)."""

    method: str  # e.g. "chat.postMessage", or "response_url"
    error: str  # what Slack answered: invalid_blocks, invalid_arguments, msg_too_long, …
    problems: tuple[str, ...]


class _Throttled(Exception):
    """A post refused by the rate limits: answered 429 with Retry-After, like Slack."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class SlackError(Exception):
    """Raised inside a method handler to answer {"ok": false, "error": …}; `messages` go to
    `response_metadata.messages`, as Slack explains a malformed payload."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []


class SlackApi(LoopbackServer):
    """Slack's Web API on 127.0.0.1 at /api/<method>, plus response_url at /response/<id>."""

    def __init__(self, token: str = "xoxb-test-token", app_token: str = "xapp-test-token") -> None:
        super().__init__()
        self.app_token = app_token  # apps.connections.open (Socket Mode) wants this one
        self.client_id = CLIENT_ID  # oauth.v2.access checks these
        self.client_secret = CLIENT_SECRET
        self.workspaces: dict[str, Workspace] = {}
        self._token_teams: dict[str, str] = {}  # every bot token ever issued -> its workspace
        self._revoked_tokens: set[str] = set()
        self._grants: dict[str, _Grant] = {}  # unused OAuth codes
        self._issued = 0
        self.add_workspace(
            TEAM_ID, name=TEAM_NAME, token=token, bot_user_id=BOT_USER_ID, bot_id=BOT_ID
        )
        self.calls: list[Call] = []
        self.record_calls = True  # False: big runs keep only `call_counts`
        self.call_counts: Counter[str] = Counter()  # method -> calls, recorded or not
        self.latency = 0.0  # seconds every Web API call waits before it is answered
        # Rate limits of chat.postMessage (slack_pacing.py); None: off.
        self.per_channel_interval: float | None = None
        self.per_workspace_per_minute: int | None = None
        self.pacing = Pacing()
        self.in_flight_peak = 0  # most Web API requests being answered at once
        self._in_flight = 0
        # Every workspace's posts, by channel; each message's "team" says whose bot posted it.
        self.messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.ephemerals: list[dict[str, Any]] = []
        self.home_views: dict[str, dict[str, Any]] = {}  # user id -> last published view
        self._homes: dict[tuple[str, str], dict[str, Any]] = {}  # (team, user) -> the same
        self.modals: list[dict[str, Any]] = []  # views opened with views.open, in order
        self.responses: list[dict[str, Any]] = []  # bodies posted to response_url
        # Messages and views refused as malformed (block_kit.py says what Slack checks).
        self.rejected: list[Rejection] = []
        self.post_delay = 0.0
        # History also holds what others wrote (and join notices), kept apart from `messages`
        # so tests can count the bot's posts directly.
        self._others: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._canned: dict[str, deque[FakeResponse]] = defaultdict(deque)
        self._last_ts = 0
        # Socket Mode: the open WebSocket connections and the acks waited for, by envelope id.
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_requests: dict[web.WebSocketResponse, web.Request] = {}
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}

    # lifecycle

    async def start(self, *, port: int = 0) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{id}", self._handle_response_url)
        app.router.add_get("/socket-mode", self._handle_socket)
        # For a stand-in in another process (slack_process.py): counts, installs, uninstalls.
        app.router.add_get("/_stand_in/stats", self._handle_stats)
        app.router.add_post("/_stand_in/grant", self._handle_grant)
        app.router.add_post("/_stand_in/revoke", self._handle_revoke)
        await self._listen(app, "127.0.0.1", port=port)

    async def stop(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        await super().stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, response_id: str) -> str:
        return f"{self.base_url}/response/{response_id}"

    # test set-up and inspection

    @property
    def token(self) -> str:
        """The default workspace's bot token (single-workspace mode's SLACK_BOT_TOKEN)."""
        return self.workspaces[TEAM_ID].token

    @property
    def channels(self) -> dict[str, ChannelInfo]:
        """The default workspace's channels (`channels_of` for another's)."""
        return self.workspaces[TEAM_ID].channels

    @property
    def users(self) -> dict[str, dict[str, Any]]:
        """The default workspace's users."""
        return self.workspaces[TEAM_ID].users

    def channels_of(self, team: str) -> dict[str, ChannelInfo]:
        return self._workspace(team).channels

    def add_workspace(
        self,
        team_id: str,
        *,
        name: str | None = None,
        token: str | None = None,
        bot_user_id: str | None = None,
        bot_id: str | None = None,
    ) -> Workspace:
        """A workspace the app is installed in, with a valid bot token (made up if not given)."""
        if team_id in self.workspaces:
            raise ValueError(f"workspace {team_id} is already added")
        token = token or self._new_token(team_id)
        if token in self._token_teams:
            raise ValueError(f"that token belongs to workspace {self._token_teams[token]}")
        workspace = Workspace(
            team_id,
            name or f"Workspace {team_id}",
            token,
            bot_user_id or f"UB{team_id[1:]}",
            bot_id or f"BB{team_id[1:]}",
        )
        self.workspaces[team_id] = workspace
        self._token_teams[token] = team_id
        return workspace

    def grant(
        self,
        code: str,
        team_id: str,
        *,
        installer: str = INSTALLER,
        enterprise_id: str | None = None,
        is_enterprise_install: bool = False,
        scope: str = SCOPES,
        redirect_uri: str | None = None,
    ) -> None:
        """What Slack does when someone approves the install in their browser: `code` may be
        exchanged once by oauth.v2.access for a new bot token of `team_id` (created if new).
        With `redirect_uri`, the exchange must name the same one (else bad_redirect_uri)."""
        if team_id not in self.workspaces:
            self.add_workspace(team_id)
        self._grants[code] = _Grant(
            team_id, installer, enterprise_id, is_enterprise_install, scope, redirect_uri
        )

    def revoke(self, team_id: str) -> None:
        """Uninstall from a workspace: every token it ever had answers `token_revoked`, and its
        bot leaves its channels (as Slack does when a bot token is revoked)."""
        workspace = self._workspace(team_id)
        self._revoked_tokens.update(t for t, team in self._token_teams.items() if team == team_id)
        self._bot_leaves(workspace)

    def posted(self, team: str, channel: str) -> list[dict[str, Any]]:
        """What `team`'s bot posted in `channel`, oldest first."""
        return [message for message in self.messages[channel] if message["team"] == team]

    def home_of(self, team: str, user: str) -> dict[str, Any] | None:
        """The Home view `team`'s bot last published for `user`."""
        return self._homes.get((team, user))

    def stats(self) -> dict[str, Any]:
        """Counts for a benchmark: accepted posts per workspace and channel (count, first and
        last time.time()), 429s answered, calls per method, the most requests at once."""
        posts: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
        for (team, channel), counted in self.pacing.posts.items():
            posts[team][channel] = {
                "count": counted.count,
                "first": counted.first,
                "last": counted.last,
            }
        counted_posts = self.pacing.posts.values()
        return {
            "posts": posts,
            "posts_total": sum(counted.count for counted in counted_posts),
            "first_post": min((counted.first for counted in counted_posts), default=None),
            "last_post": max((counted.last for counted in counted_posts), default=None),
            "rate_limited": sum(self.pacing.refused.values()),
            "rate_limited_by_team": dict(self.pacing.refused),
            "calls": dict(self.call_counts),
            "in_flight_peak": self.in_flight_peak,
        }

    def add_channel(
        self,
        channel_id: str,
        *,
        private: bool = False,
        member: bool = True,
        archived: bool = False,
        name: str | None = None,
        team: str = TEAM_ID,
    ) -> ChannelInfo:
        """A channel of `team`; adding one ID to two workspaces makes a Slack Connect channel
        (one history, each bot its own membership)."""
        info = ChannelInfo(private, member, archived, name or channel_id.lower())
        self._workspace(team).channels[channel_id] = info
        return info

    def add_user(
        self,
        user_id: str,
        *,
        is_admin: bool = False,
        is_owner: bool = False,
        team: str = TEAM_ID,
        tz: str = "America/Chicago",
    ) -> None:
        self._workspace(team).users[user_id] = {
            "id": user_id,
            "team_id": team,
            "name": user_id.lower(),
            "real_name": f"User {user_id}",
            "deleted": False,
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_bot": False,
            "tz": tz,
            "profile": {"real_name": f"User {user_id}", "display_name": user_id.lower()},
        }

    def add_message(self, channel_id: str, text: str, **fields: Any) -> dict[str, Any]:
        """Put a message from someone else (a person by default) into a channel's history."""
        message = {"type": "message", "user": "U0SOMEONE1", "text": text, "ts": self._next_ts()}
        message.update(fields)
        self._others[channel_id].append(message)
        return message

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def fail_next(self, method: str, response: FakeResponse, times: int = 1) -> None:
        """Answer the next `times` calls of method with response, then behave normally."""
        self._canned[method].extend([response] * times)

    @property
    def socket_connected(self) -> bool:
        return bool(self._sockets)

    async def close_sockets(self, code: int = 1001) -> None:
        """Close every Socket Mode connection with a close frame, as Slack does on a restart."""
        for socket in list(self._sockets):
            await socket.close(code=code)

    def drop_sockets(self) -> None:
        """Cut every Socket Mode connection without a close frame, as a network failure does."""
        for socket in list(self._sockets):
            transport = self._socket_requests[socket].transport
            if transport is not None:
                transport.abort()

    async def ask_to_reconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's `disconnect` message: it wants the app on a new connection."""
        await self._sockets[-1].send_str(json.dumps({"type": "disconnect", "reason": reason}))

    async def send_envelope(
        self, kind: str, payload: dict[str, Any], *, timeout: float = 3.0
    ) -> dict[str, Any]:
        """Push a Socket Mode envelope to the app; return its ack (Slack waits 3 s for it)."""
        envelope_id = f"env-{len(self._acks) + 1}"
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = waiter
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": 0,
            "retry_reason": "",
        }
        await self._sockets[-1].send_str(json.dumps(envelope))
        return await asyncio.wait_for(waiter, timeout)

    # request handling

    async def _handle_socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(heartbeat=None)
        await socket.prepare(request)
        self._sockets.append(socket)
        self._socket_requests[socket] = request
        await socket.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        try:
            async for frame in socket:
                if frame.type is not web.WSMsgType.TEXT:
                    continue
                ack = json.loads(frame.data)
                waiter = self._acks.get(ack.get("envelope_id", ""))
                if waiter is not None and not waiter.done():
                    waiter.set_result(ack)
        finally:
            self._sockets.remove(socket)
            del self._socket_requests[socket]
        return socket

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        # Like an incoming webhook, a response_url answers a malformed message with a 400 and
        # the error as plain text; the message is not shown.
        found = message_error(body) if isinstance(body, dict) else ("invalid_payload", [])
        if found is not None:
            self.rejected.append(Rejection("response_url", found[0], tuple(found[1])))
            return web.Response(status=400, text=found[0])
        self.responses.append(body)
        return web.json_response({"ok": True})

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await _read_params(request)
        token = _bearer(request) or params.get("token")
        self.call_counts[method] += 1
        if self.record_calls:
            headers = CIMultiDict(request.headers)
            team = self._token_teams.get(str(token))
            call = Call(method, params, headers, time.monotonic(), request.method, team=team)
            self.calls.append(call)
        self._in_flight += 1
        self.in_flight_peak = max(self.in_flight_peak, self._in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            return await self._answer_api(method, params, request)
        finally:
            self._in_flight -= 1

    async def _answer_api(
        self, method: str, params: dict[str, Any], request: web.Request
    ) -> web.StreamResponse:
        canned = self._canned[method].popleft() if self._canned[method] else None
        if canned is None:
            return await self._answer(method, params, request)
        result = await self._answer(method, params, request) if canned.after_posting else None
        if canned.delay:
            await asyncio.sleep(canned.delay)
        if canned.drop_connection:
            if request.transport is not None:
                request.transport.abort()  # the client sees a disconnect, no status line
            return web.Response()  # never reaches the client
        if canned.body is not None:
            headers = dict(canned.headers)
            if isinstance(canned.body, str):
                headers["Content-Type"] = "text/html; charset=utf-8"
                return web.Response(status=canned.status, text=canned.body, headers=headers)
            return web.json_response(canned.body, status=canned.status, headers=headers)
        if result is None:
            if _client_gone(request):
                return web.Response(status=408)  # the client hung up: Slack never did the work
            result = await self._answer(method, params, request)
        return result

    async def _answer(
        self, method: str, params: dict[str, Any], request: web.Request
    ) -> web.Response:
        try:
            return web.json_response(await self._perform(method, params, request))
        except _Throttled as throttled:
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(throttled.retry_after)},
            )

    async def _perform(
        self, method: str, params: dict[str, Any], request: web.Request
    ) -> dict[str, Any]:
        if method == "oauth.v2.access":  # the app's client credentials, no token
            return self._oauth_v2_access(params, request)
        handler = self._methods().get(method)
        if handler is None and method != "auth.revoke":  # auth.revoke needs the token itself
            return {"ok": False, "error": "unknown_method", "req_method": method}
        token = _bearer(request) or params.get("token")
        if not token:
            return {"ok": False, "error": "not_authed"}
        team = self._token_teams.get(str(token))
        if method == "apps.connections.open" and token != self.app_token:
            known = team is not None  # a real token of the wrong kind
            return {"ok": False, "error": "not_allowed_token_type" if known else "invalid_auth"}
        if method != "apps.connections.open":
            if token == self.app_token:
                return {"ok": False, "error": "not_allowed_token_type"}
            if team is None:
                return {"ok": False, "error": "invalid_auth"}
            if token in self._revoked_tokens:
                return {"ok": False, "error": "token_revoked"}
        workspace = self.workspaces[team or TEAM_ID]
        if method == "chat.postMessage":
            channel = str(params.get("channel", ""))
            # A post to a member lands in (and is paced as) the app's DM with them.
            self._pace(workspace, self.dm_channel(channel) if channel[:1] in "UW" else channel)
        try:
            if handler is None:
                result = self._auth_revoke(params, workspace, str(token))
            else:
                result = handler(params, workspace)
        except SlackError as failure:
            answer: dict[str, Any] = {"ok": False, "error": failure.error}
            if failure.messages:
                self.rejected.append(Rejection(method, failure.error, tuple(failure.messages)))
                answer["response_metadata"] = {"messages": failure.messages}
            return answer
        if method == "chat.postMessage":
            self.pacing.accepted(
                workspace.team_id, result["channel"], time.monotonic(), time.time()
            )
            if self.post_delay:
                await asyncio.sleep(self.post_delay)  # stored, not yet answered: a crash window
        return {"ok": True, **result}

    def _pace(self, workspace: Workspace, channel: str) -> None:
        retry_after = self.pacing.retry_after(
            workspace.team_id,
            channel,
            time.monotonic(),
            per_channel_interval=self.per_channel_interval,
            per_workspace_per_minute=self.per_workspace_per_minute,
        )
        if retry_after is not None:
            raise _Throttled(retry_after)

    def _methods(self) -> dict[str, Callable[[dict[str, Any], Workspace], dict[str, Any]]]:
        return {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "conversations.history": self._conversations_history,
            "conversations.join": self._conversations_join,
            "conversations.open": self._conversations_open,
            "chat.update": self._chat_update,
            "users.info": self._users_info,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "apps.connections.open": self._apps_connections_open,
        }

    # Web API methods: each returns the fields that go beside "ok": true, or raises SlackError.

    def _auth_test(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "url": f"https://{workspace.domain}.slack.com/",
            "team": workspace.name,
            "user": "isscr_news_bot",
            "team_id": workspace.team_id,
            "user_id": workspace.bot_user_id,
            "bot_id": workspace.bot_id,
            "is_enterprise_install": workspace.is_enterprise_install,
        }
        if workspace.enterprise_id is not None:
            answer["enterprise_id"] = workspace.enterprise_id
        return answer

    def _auth_revoke(
        self, params: dict[str, Any], workspace: Workspace, token: str
    ) -> dict[str, Any]:
        if _flag(params.get("test")):  # Slack's test mode: nothing is revoked
            return {"revoked": False}
        self._revoked_tokens.add(token)
        if token == workspace.token:
            self._bot_leaves(workspace)
        return {"revoked": True}

    def _oauth_v2_access(self, params: dict[str, Any], request: web.Request) -> dict[str, Any]:
        """https://api.slack.com/methods/oauth.v2.access: a granted code for a new bot token.
        slack_sdk sends the client credentials as HTTP Basic auth; Slack also takes them as
        parameters."""
        client_id, client_secret = _basic(request) or (
            str(params.get("client_id", "")),
            str(params.get("client_secret", "")),
        )
        if client_id != self.client_id:
            return {"ok": False, "error": "invalid_client_id"}
        if client_secret != self.client_secret:
            return {"ok": False, "error": "bad_client_secret"}
        grant = self._grants.get(str(params.get("code", "")))
        if grant is None:
            return {"ok": False, "error": "invalid_code"}
        if grant.redirect_uri is not None and params.get("redirect_uri") != grant.redirect_uri:
            return {"ok": False, "error": "bad_redirect_uri"}
        del self._grants[str(params["code"])]  # a code is good for one exchange
        workspace = self.workspaces[grant.team_id]
        workspace.token = self._new_token(workspace.team_id)
        workspace.revoked = False
        workspace.enterprise_id = grant.enterprise_id
        workspace.is_enterprise_install = grant.is_enterprise_install
        self._token_teams[workspace.token] = workspace.team_id
        enterprise = None
        if grant.enterprise_id is not None:
            enterprise = {"id": grant.enterprise_id, "name": f"Org {grant.enterprise_id}"}
        return {
            "ok": True,
            "app_id": APP_ID,
            "authed_user": {"id": grant.installer},
            "scope": grant.scope,
            "token_type": "bot",
            "access_token": workspace.token,
            "bot_user_id": workspace.bot_user_id,
            # An org-wide install is the organisation's, not one workspace's.
            "team": None
            if grant.is_enterprise_install
            else {"id": workspace.team_id, "name": workspace.name},
            "enterprise": enterprise,
            "is_enterprise_install": grant.is_enterprise_install,
        }

    def _chat_post_message(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        channel_id = str(params.get("channel", ""))
        if channel_id[:1] in ("U", "W", "D"):  # a member: the app's DM with them (Messages tab)
            channel_id = self._dm_with(workspace, _dm_user(channel_id))
        else:
            self._writable_channel(workspace, channel_id)
        _check_message(params)
        bot_id = workspace.bot_id
        message: dict[str, Any] = {
            "type": "message",
            "user": workspace.bot_user_id,
            "bot_id": bot_id,
            "app_id": APP_ID,
            "team": workspace.team_id,
            "text": params.get("text", ""),
            "ts": self._next_ts(),
            "bot_profile": {"id": bot_id, "app_id": APP_ID, "name": "ISSCR News", "deleted": False},
        }
        for name in ("blocks", "attachments", "metadata", "thread_ts", "reply_broadcast"):
            if name in params:
                message[name] = params[name]
        # Kept in the record for assertions; Slack echoes none of these back.
        for name in _REQUEST_ONLY:
            if name in params:
                message[name] = params[name]
        self.messages[channel_id].append(message)
        return {"channel": channel_id, "ts": message["ts"], "message": _public(message)}

    def _chat_post_ephemeral(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        self._writable_channel(workspace, str(params.get("channel", "")))
        if not params.get("user"):
            raise SlackError("user_not_in_channel")
        _check_message(params)
        self.ephemerals.append({**params, "team": workspace.team_id})
        return {"message_ts": self._next_ts()}

    def _conversations_history(
        self, params: dict[str, Any], workspace: Workspace
    ) -> dict[str, Any]:
        channel_id = str(params.get("channel", ""))
        self._readable_channel(workspace, channel_id)
        inclusive = _flag(params.get("inclusive"))
        oldest = _micros(params.get("oldest") or "0")
        latest = _micros(params.get("latest") or "0") or self._last_ts + 1
        limit = min(max(int(params.get("limit") or 100), 1), 999)
        with_metadata = _flag(params.get("include_all_metadata"))

        def in_window(ts: int) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        everything = self.messages[channel_id] + self._others[channel_id]
        # History lists channel-level messages only; thread replies live in conversations.replies.
        top_level = [m for m in everything if m.get("thread_ts", m["ts"]) == m["ts"]]
        window = sorted(
            (m for m in top_level if in_window(_micros(m["ts"]))),
            key=lambda m: _micros(m["ts"]),
            reverse=True,
        )
        if cursor := params.get("cursor"):
            start = _decode_cursor(str(cursor))
            window = [m for m in window if _micros(m["ts"]) <= start]
        page, rest = window[:limit], window[limit:]
        messages = []
        for message in page:
            shown = _public(message)
            if not with_metadata:
                shown.pop("metadata", None)
            messages.append(shown)
        answer: dict[str, Any] = {
            "messages": messages,
            "has_more": bool(rest),
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
        }
        if rest:
            answer["response_metadata"] = {"next_cursor": _encode_cursor(rest[0]["ts"])}
        return answer

    def _conversations_open(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        users = str(params.get("users", ""))
        if not users or "," in users:
            raise SlackError("invalid_arguments")  # only the app's DM with one member here
        channel_id = self._dm_with(workspace, users)
        return {"channel": {"id": channel_id, "is_im": True, "user": users}}

    def _chat_update(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        channel_id, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        if channel_id[:1] == "D":
            self._dm_with(workspace, _dm_user(channel_id))
        else:
            self._readable_channel(workspace, channel_id)
        found = [m for m in self.messages[channel_id] if m["ts"] == ts]
        if not found:
            others = [m for m in self._others[channel_id] if m["ts"] == ts]
            raise SlackError("cant_update_message" if others else "message_not_found")
        message = found[0]
        if message.get("team") != workspace.team_id:
            raise SlackError("cant_update_message")  # another workspace's bot posted it
        _check_message(params)
        for name in ("text", "blocks", "metadata"):
            if name in params:
                message[name] = params[name]
        message["edited"] = {"user": workspace.bot_user_id, "ts": self._next_ts()}
        message["updates"] = message.get("updates", 0) + 1
        return {"channel": channel_id, "ts": ts, "text": message.get("text", "")}

    def dm_channel(self, user_id: str) -> str:
        """The ID of the app's direct-message conversation with `user_id` (in this stand-in,
        the user ID with D for its first letter)."""
        return "D" + user_id[1:]

    def dms(self, user_id: str) -> list[dict[str, Any]]:
        """What the app sent `user_id` in its DM with them (its Messages tab)."""
        return self.messages[self.dm_channel(user_id)]

    def _dm_with(self, workspace: Workspace, user_id: str) -> str:
        """The app's DM with `user_id`, who must be a member of `workspace` able to get it."""
        user = workspace.users.get(user_id)
        if user is None:
            raise SlackError("user_not_found")
        if user.get("deleted"):
            raise SlackError("user_disabled")
        if user.get("is_bot"):
            raise SlackError("cannot_dm_bot")
        if user.get("messages_blocked"):
            raise SlackError("messages_tab_disabled")
        return self.dm_channel(user_id)

    def _conversations_join(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        channel_id = str(params.get("channel", ""))
        info = workspace.channels.get(channel_id)
        if info is None:
            raise SlackError("channel_not_found")
        if info.is_archived:
            raise SlackError("is_archived")
        if info.is_private:
            raise SlackError("method_not_supported_for_channel_type")
        answer: dict[str, Any] = {}
        if info.is_member:
            answer = {
                "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]},
            }
        else:
            info.is_member = True
            # Slack announces the join in the channel; history readers must skip it.
            self.add_message(
                channel_id,
                f"<@{workspace.bot_user_id}> has joined the channel",
                user=workspace.bot_user_id,
                subtype="channel_join",
            )
        return {"channel": self._channel_object(workspace, channel_id, info), **answer}

    def _users_info(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        user = workspace.users.get(str(params.get("user", "")))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user}

    def _views_publish(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        user_id, view = params.get("user_id"), params.get("view")
        if not user_id or not isinstance(view, dict):
            raise SlackError("invalid_arguments")
        if view.get("type") != "home":
            raise SlackError("invalid_arguments")
        _check_view(view)
        self.home_views[str(user_id)] = view
        self._homes[workspace.team_id, str(user_id)] = view
        return {
            "view": {
                "id": f"V{len(self.home_views):09d}",
                "team_id": workspace.team_id,
                **view,
            },
        }

    def _views_open(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        view = params.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not params.get("trigger_id"):
            raise SlackError("invalid_trigger_id")
        if not isinstance(view, dict) or view.get("type") != "modal":
            raise SlackError("invalid_arguments")
        _check_view(view)
        self.modals.append(view)
        view_id = f"VM{len(self.modals):08d}"
        return {"view": {"id": view_id, "team_id": workspace.team_id, **view}}

    def _apps_connections_open(
        self, params: dict[str, Any], workspace: Workspace
    ) -> dict[str, Any]:
        return {"url": f"ws://127.0.0.1:{self.port}/socket-mode"}

    # the stand-in's own endpoints, for a benchmark driving it in another process

    async def _handle_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _handle_grant(self, request: web.Request) -> web.Response:
        """POST {"code", "team_id", and grant()'s keywords} -> {"ok": true}."""
        fields = await request.json()
        self.grant(fields.pop("code"), fields.pop("team_id"), **fields)
        return web.json_response({"ok": True})

    async def _handle_revoke(self, request: web.Request) -> web.Response:
        """POST {"team_id"} -> {"ok": true}: the app is uninstalled from that workspace."""
        self.revoke((await request.json())["team_id"])
        return web.json_response({"ok": True})

    # helpers

    def _workspace(self, team: str) -> Workspace:
        workspace = self.workspaces.get(team)
        if workspace is None:
            raise KeyError(f"no workspace {team}: add_workspace({team!r}) first")
        return workspace

    def _new_token(self, team_id: str) -> str:
        self._issued += 1
        return f"xoxb-{team_id}-{self._issued:06d}-stand-in"

    def _bot_leaves(self, workspace: Workspace) -> None:
        workspace.revoked = True
        for info in workspace.channels.values():
            info.is_member = False

    def _next_ts(self) -> str:
        # Wall-clock based like Slack's, strictly increasing so every message has a unique ts.
        self._last_ts = max(int(time.time() * 1_000_000), self._last_ts + 1)
        return f"{self._last_ts // 1_000_000}.{self._last_ts % 1_000_000:06d}"

    def _readable_channel(self, workspace: Workspace, channel_id: str) -> ChannelInfo:
        if channel_id[:1] == "D":  # the app's DM with a member: readable while they are
            self._dm_with(workspace, _dm_user(channel_id))
            return ChannelInfo(is_private=True, name=channel_id.lower())
        info = workspace.channels.get(channel_id)
        # A private channel the bot is not in is invisible to it: Slack says channel_not_found.
        if info is None or (info.is_private and not info.is_member):
            raise SlackError("channel_not_found")
        if not info.is_member:
            raise SlackError("not_in_channel")
        return info

    def _writable_channel(self, workspace: Workspace, channel_id: str) -> ChannelInfo:
        info = workspace.channels.get(channel_id)
        if info is None or (info.is_private and not info.is_member):
            raise SlackError("channel_not_found")
        if info.is_archived:
            raise SlackError("is_archived")
        if not info.is_member:  # chat:write.public is not granted
            raise SlackError("not_in_channel")
        return info

    def _channel_object(
        self, workspace: Workspace, channel_id: str, info: ChannelInfo
    ) -> dict[str, Any]:
        return {
            "id": channel_id,
            "name": info.name,
            "is_channel": not info.is_private,
            "is_group": info.is_private,
            "is_im": False,
            "is_private": info.is_private,
            "is_archived": info.is_archived,
            "is_member": info.is_member,
            "context_team_id": workspace.team_id,
        }


def _dm_user(channel_id: str) -> str:
    """The member a DM channel (or a user ID posted to) stands for in this stand-in."""
    return "U" + channel_id[1:] if channel_id[:1] == "D" else channel_id


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Merge query string and body (JSON, form or multipart) into one dict."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json() if request.can_read_body else {}
        params.update(body if isinstance(body, dict) else {})
    elif request.can_read_body:
        form = await request.post()
        params.update({key: value for key, value in form.items() if isinstance(value, str)})
    for name in _JSON_FIELDS:
        # Form and query values arrive as JSON text; decode them so tests see one shape.
        if isinstance(params.get(name), str):
            with contextlib.suppress(json.JSONDecodeError):  # else left as text, rejected later
                params[name] = json.loads(params[name])
    return params


def _bearer(request: web.Request) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def _basic(request: web.Request) -> tuple[str, str] | None:
    """HTTP Basic credentials (client_id, client_secret), as slack_sdk sends them."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, client_secret = decoded.partition(":")
    return client_id, client_secret


def _flag(value: Any) -> bool:
    # JSON bodies carry real booleans; query and form values carry "1"/"0"/"true"/"false".
    if isinstance(value, bool):
        return value
    return str(value).lower() in {"1", "true"}


def _check_message(params: dict[str, Any]) -> None:
    """Refuse what Slack refuses in a message's content (see block_kit.py)."""
    content = {name: params[name] for name in _CONTENT if name in params}
    found = _message_error(json.dumps(content, sort_keys=True))
    if found is not None:
        error, problems = found
        raise SlackError(error, [f"[ERROR] {problem}" for problem in problems])


@functools.lru_cache(maxsize=1024)
def _message_error(content: str) -> tuple[str, tuple[str, ...]] | None:
    # A fan-out posts one message to thousands of channels: judged once (a third of a
    # millisecond of slack_sdk's models per post otherwise, the stand-in's largest cost).
    found = message_error(json.loads(content))
    return None if found is None else (found[0], tuple(found[1]))


def _check_view(view: dict[str, Any]) -> None:
    """Refuse a view Slack would refuse: views.publish and views.open say invalid_arguments."""
    problems = view_problems(view)
    if problems:
        raise SlackError("invalid_arguments", [f"[ERROR] {problem}" for problem in problems])


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in message.items() if key not in _REQUEST_ONLY}


def _encode_cursor(ts: str) -> str:
    # Slack's history cursors are base64 of "next_ts:<ts without the dot>".
    return base64.b64encode(f"next_ts:{ts.replace('.', '')}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor, validate=True).decode()
        digits = text.removeprefix("next_ts:")
        if digits == text or not digits.isdigit():
            raise ValueError(cursor)
        return int(digits)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise SlackError("invalid_cursor") from None


def _micros(ts: Any) -> int:
    """A Slack ts ("1700000000.000100") as integer microseconds, compared exactly."""
    try:
        return int(Decimal(str(ts)) * 1_000_000)
    except InvalidOperation:
        raise SlackError("invalid_ts_latest") from None


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


if __name__ == "__main__":  # python -m standins.slack_api: as python -m standins.slack_process
    from standins.slack_process import main

    main()
