"""Distribution mode's side of Bolt's OAuth: the installation store (in the bot's own
database, reached off the event loop, tokens encrypted), the OAuth states (signed; only used
ones stored), the authorize step that reads the installations, each workspace's posting
client, and the pages an install ends on.

Bolt's own `AsyncInstallationStoreAuthorize` calls auth.test on a workspace's first request
after every start (and on every request while Slack fails it): a slow Slack would then break
the 3-second acknowledgement. Everything it learns from auth.test was kept at install time, so
`InstalledAuthorize` answers from the store alone, as single-workspace mode's `Identity` does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import logging
import secrets
import time
from collections.abc import Callable
from logging import Logger
from urllib.parse import urljoin

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.error import BoltError
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store import Installation as SlackInstallation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from bot.database import Database, DatabaseBusy
from bot.models import Installation
from bot.settings import Settings
from bot.settings.fields import REDIRECT_PATH
from bot.slack.tokens import TokenCipher, WrongKey

log = logging.getLogger(__name__)

# The bot scopes an install asks for: manifest.json's (a test holds them equal).
BOT_SCOPES = (
    "chat:write",
    "commands",
    "channels:join",
    "channels:history",
    "groups:history",
    "users:read",
    "im:write",
    "im:history",
)
INSTALL_PATH = "/slack/install"
# How long an install may take between the "Add to Slack" page and Slack's redirect back.
STATE_SECONDS = 600
# How long a request waits to read its workspace's installation: it comes before the
# listener's own time limits, all within Slack's 3 s (a read waits for no writer, in WAL).
LOOKUP_WITHIN = 0.5
# ... and an install's redirect to record its state as used (a person's browser waits).
INSTALL_WITHIN = 2.0
# How long a workspace's posting client is kept before its token is read again.
POSTER_SECONDS = 60.0
UNAUTHORIZED = (
    "ISSCR News could not find this workspace's installation just now. Please try again in a "
    "minute; if it keeps happening, an admin can add the app to the workspace again."
)
ORG_REFUSED = (
    "ISSCR News is added workspace by workspace, not to a whole Enterprise Grid organisation. "
    "Please add it to each workspace that wants ISSCR news."
)


class OrgInstallRefused(BoltError):
    """An install for a whole Enterprise Grid organisation, which the bot does not serve."""


class StoredInstallations(AsyncInstallationStore):
    """Bolt's installation store, in the bot's database: one row per workspace, its bot token
    encrypted. Each of `on_change` is called with a workspace whose token changed or went."""

    def __init__(self, db: Database, cipher: TokenCipher, client: AsyncWebClient) -> None:
        """`client`: for revoking the token of an install that is refused."""
        self.db = db
        self.cipher = cipher
        self.client = client
        self.on_change: list[Callable[[str], None]] = []

    @property
    def logger(self) -> Logger:
        return log

    async def async_save(self, installation: SlackInstallation) -> None:
        team = installation.team_id
        if installation.is_enterprise_install or not team:
            await self._revoke(installation.bot_token)
            raise OrgInstallRefused(ORG_REFUSED)
        if not installation.bot_token:
            raise BoltError("Slack granted no bot token")
        row = Installation(
            team=team,
            enterprise_id=installation.enterprise_id,
            team_name=installation.team_name,
            app_id=installation.app_id,
            bot_user_id=installation.bot_user_id,
            bot_id=installation.bot_id,
            bot_scopes=",".join(installation.bot_scopes or ()),
            encrypted_token=self.cipher.encrypt(installation.bot_token),
            installer=installation.user_id,
            installed_at=time.time(),
        )
        new = await self.db.write(lambda store: store.save_installation(row, now=time.time()))
        self._changed(team)
        log.info("%s workspace %s (%s)", "new" if new else "reinstalled:", team, row.team_name)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        found = await self.find(team_id)
        if found is None:
            return None
        row, token = found
        return Bot(
            app_id=row.app_id,
            enterprise_id=row.enterprise_id,
            team_id=row.team,
            team_name=row.team_name,
            bot_token=token,
            bot_id=row.bot_id or "",
            bot_user_id=row.bot_user_id or "",
            bot_scopes=row.bot_scopes or "",
            installed_at=row.installed_at,
        )

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> SlackInstallation | None:
        found = await self.find(team_id)
        if found is None:
            return None
        row, token = found
        return SlackInstallation(
            app_id=row.app_id,
            enterprise_id=row.enterprise_id,
            team_id=row.team,
            team_name=row.team_name,
            bot_token=token,
            bot_id=row.bot_id,
            bot_user_id=row.bot_user_id,
            bot_scopes=row.bot_scopes or "",
            user_id=row.installer or "",
            installed_at=row.installed_at,
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.leave(team_id, why="the bot token was deleted")

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await self.leave(team_id, why="the installation was deleted")

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.leave(team_id, why="the installation was deleted")

    async def find(
        self, team: str | None, *, within: float | None = LOOKUP_WITHIN, strict: bool = False
    ) -> tuple[Installation, str] | None:
        """`team`'s installation and its token in the clear; None when it has none, or its
        token cannot be decrypted (logged: TOKEN_ENCRYPTION_KEY lacks its key; with `strict`,
        WrongKey instead). `within`: as `Database.read`'s (a request waits so long at most;
        the outbox, None)."""
        if not team:
            return None
        row = await self.db.read(lambda store: store.installation(team), within=within)
        if row is None:
            return None
        try:
            return row, self.cipher.decrypt(row.encrypted_token)
        except WrongKey:
            if strict:
                raise
            log.error(
                "the token of workspace %s cannot be decrypted: TOKEN_ENCRYPTION_KEY lacks the "
                "key it was encrypted with",
                team,
            )
            return None

    async def leave(
        self,
        team: str | None,
        *,
        why: str,
        happened_at: float | None = None,
        bot_user_ids: list[str] | None = None,
    ) -> bool:
        """Forget `team`: its installation, routes and deliveries, unless it installed again
        after `happened_at` or its bot is none of `bot_user_ids` (see `Store.leave`)."""
        if not team:
            return False
        gone = await self.db.write(
            lambda store: store.leave(
                team, why=why, now=time.time(), happened_at=happened_at,
                bot_user_ids=bot_user_ids,
            )
        )  # fmt: skip
        self._changed(team)
        if gone:
            log.info("workspace %s left: %s", team, why)
        return gone

    def _changed(self, team: str) -> None:
        for call in self.on_change:
            call(team)

    async def _revoke(self, token: str | None) -> None:
        """Hand back a token the bot will not keep, so the refused install leaves nothing."""
        if token:
            try:
                await self.client.auth_revoke(token=token)
            except Exception as error:
                log.warning("could not revoke a refused install's token: %s", type(error).__name__)


class Posters:
    """The client that posts each workspace's announcements, built from its stored token and
    kept for POSTER_SECONDS, or until the workspace installs again or leaves here (another
    process on the database may have seen that: hence the time limit)."""

    def __init__(
        self,
        installations: StoredInstallations,
        build: Callable[[str], AsyncWebClient],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`build(token)`: a posting client (`bot.slack.clients.posting_client`)."""
        self.installations = installations
        self.build = build
        self.clock = clock
        self._clients: dict[str, tuple[AsyncWebClient, float]] = {}
        # Workspaces whose stored token TOKEN_ENCRYPTION_KEY cannot decrypt (a key rotated
        # by another process, say), as last found: shown in /healthz until it can.
        self.unreadable: set[str] = set()
        installations.on_change.append(self.forget)

    async def __call__(self, team: str) -> AsyncWebClient | None:
        """`team`'s poster; None when it is not installed; WrongKey when its token cannot be
        decrypted."""
        kept = self._clients.get(team)
        if kept is not None and kept[1] > self.clock():
            return kept[0]
        try:
            found = await self.installations.find(team, within=None, strict=True)
        except WrongKey:
            self.unreadable.add(team)
            raise
        self.unreadable.discard(team)
        if found is None:
            self._clients.pop(team, None)
            return None
        client = self.build(found[1])
        self._clients[team] = (client, self.clock() + POSTER_SECONDS)
        return client

    def forget(self, team: str) -> None:
        self._clients.pop(team, None)
        self.unreadable.discard(team)

    def problem(self) -> str | None:
        """The line for /healthz while some workspace's token cannot be decrypted."""
        if not self.unreadable:
            return None
        count, example = len(self.unreadable), min(self.unreadable)
        return (
            f"TOKEN_ENCRYPTION_KEY cannot decrypt the token of {count} workspace"
            f"{'' if count == 1 else 's'} (e.g. {example}): their announcements wait; restart "
            "the bot with the key they were encrypted with (the new key first while rotating)"
        )


class SignedStates(AsyncOAuthStateStore):
    """Bolt's OAuth state store: a state is signed rather than stored (a nonce and when it
    expires, with an HMAC under a key derived from the client secret), so the install page,
    open to anyone, writes nothing however often it is viewed. A state is usable once, for
    STATE_SECONDS: a used one is kept until it expires, in the bot's database."""

    def __init__(self, db: Database, client_secret: str) -> None:
        self.db = db
        self._key = hashlib.sha256(
            b"isscr-news-bot oauth state\0" + client_secret.encode()
        ).digest()

    def __repr__(self) -> str:
        return "SignedStates(key hidden)"

    @property
    def logger(self) -> Logger:
        return log

    async def async_issue(self, *args: object, **kwargs: object) -> str:
        payload = f"{secrets.token_urlsafe(16)}.{int(time.time() + STATE_SECONDS)}"
        return f"{payload}.{self._sign(payload)}"

    async def async_consume(self, state: str) -> bool:
        nonce, _, rest = (state or "").partition(".")
        expires, _, signature = rest.partition(".")
        if not (nonce and expires.isdigit() and signature):
            return False
        if not hmac.compare_digest(signature, self._sign(f"{nonce}.{expires}")):
            return False
        now = time.time()
        if int(expires) <= now:
            return False
        return await self.db.write(
            lambda store: store.use_state(nonce, expires_at=float(expires), now=now),
            within=INSTALL_WITHIN,
        )

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class InstalledAuthorize(AsyncAuthorize):
    """Authorizes each request with its workspace's stored token (see the module docstring)."""

    def __init__(self, installations: StoredInstallations) -> None:
        self.installations = installations

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        try:
            found = await self.installations.find(team_id)
        except DatabaseBusy:
            log.warning("the installation of %s was not read in time", team_id)
            return None
        if found is None:
            return None
        row, token = found
        return AuthorizeResult(
            enterprise_id=row.enterprise_id,
            team_id=row.team,
            bot_user_id=row.bot_user_id,
            bot_id=row.bot_id,
            bot_token=token,
            bot_scopes=row.bot_scopes or "",
            user_id=user_id,
        )


def oauth_settings(
    settings: Settings, installations: StoredInstallations, states: SignedStates
) -> AsyncOAuthSettings:
    """Bolt's OAuth flow: "Add to Slack" at INSTALL_PATH, Slack's redirect at REDIRECT_PATH,
    a state checked against the browser's cookie and used once."""
    return AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        scopes=list(BOT_SCOPES),
        redirect_uri=settings.slack_redirect_uri,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        installation_store=installations,
        installation_store_bot_only=True,
        # Slack's own host, as SLACK_API_URL's (slack-gov.com for GovSlack).
        authorization_url=urljoin(settings.slack_api_url, "/oauth/v2/authorize"),
        state_store=states,
        state_expiration_seconds=STATE_SECONDS,
        callback_options=AsyncCallbackOptions(success=_success, failure=_failure),
    )


async def _success(args: AsyncSuccessArgs) -> BoltResponse:
    return await args.default.success(args)


async def _failure(args: AsyncFailureArgs) -> BoltResponse:
    """An install that did not finish: Bolt's page, but for a refused organisation-wide
    install, which says what to do instead."""
    if isinstance(args.error, OrgInstallRefused):
        body = page_html("ISSCR News was not added", ORG_REFUSED)
        return BoltResponse(
            status=400, body=body, headers={"Content-Type": "text/html; charset=utf-8"}
        )
    return await args.default.failure(args)


def page_html(title: str, text: str) -> str:
    """A small HTML page for a person's browser, saying `title` and `text`."""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body style='font-family: sans-serif'>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )
