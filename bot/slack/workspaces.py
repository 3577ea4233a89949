"""The services of each workspace that Slack's requests use: its admin operations (with its
clients) and its App Home, built once per workspace (and token) and kept. (The outbox's
posting clients are `bot.slack.installations.Posters`.)

Single-workspace mode has one, SINGLE_WORKSPACE's, with the environment's token. In
distribution mode a request's workspace is the one Bolt authorized it for (`context.team_id`,
with the token read from its installation): an admin of one workspace can reach no other's
routes, whatever a payload says, because nothing here takes a workspace from a payload.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.database import Database
from bot.models import SINGLE_WORKSPACE
from bot.settings import Settings
from bot.slack.admin import Admin
from bot.slack.clients import app_client, posting_client
from bot.slack.controls import Controls
from bot.slack.home import Home
from bot.slack.installations import StoredInstallations


@dataclass(frozen=True)
class Workspace:
    team: str
    token: str | None = field(repr=False)  # a secret: never in a log line or a traceback
    admin: Admin = field(repr=False)
    home: Home = field(repr=False)


class Workspaces:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        controls: Controls,
        *,
        single: tuple[AsyncWebClient, AsyncWebClient] | None = None,
        installations: StoredInstallations | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        """`single`: single-workspace mode's clients (Bolt's, and the one that posts); else
        `installations` gives each workspace's token, and `session` their connections."""
        self.settings = settings
        self.db = db
        self.controls = controls
        self.installations = installations
        self.session = session
        self._single: Workspace | None = None
        if single is not None:
            self._single = self._build(SINGLE_WORKSPACE, settings.slack_bot_token, *single)
        self._by_team: dict[str, Workspace] = {}
        if installations is not None:
            installations.on_change.append(self.forget)

    def of(self, context: AsyncBoltContext) -> Workspace:
        """The workspace of the request `context` belongs to (as Bolt authorized it)."""
        if self._single is not None:
            return self._single
        team, token = context.team_id, context.bot_token
        if not team or not token:  # Bolt authorizes every request it lets through
            raise LookupError("a request of no authorized workspace")
        known = self._by_team.get(team)
        if known is None or known.token != token:
            known = self._by_team[team] = self._build(
                team, token, self._client(token), self._poster(token)
            )
        return known

    def forget(self, team: str) -> None:
        """`team` installed again or left: what was built with its old token goes (the next
        request builds it again, with the new one)."""
        self._by_team.pop(team, None)

    def _build(
        self, team: str, token: str | None, client: AsyncWebClient, poster: AsyncWebClient
    ) -> Workspace:
        admin = Admin(self.settings, self.db, client, poster, self.controls, team=team)
        return Workspace(team, token, admin, Home(admin))

    def _client(self, token: str) -> AsyncWebClient:
        return app_client(self.settings, token, self.session)

    def _poster(self, token: str) -> AsyncWebClient:
        return posting_client(self.settings, token, self.session)
