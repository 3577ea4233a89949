"""Bolt listeners, one module per kind of request; each only acks and calls the domain."""

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.controls import Controls
from bot.database import Database
from bot.listeners import actions, commands, events, payloads, settings_actions, views
from bot.listeners.admin import AdminCommands
from bot.listeners.home import Home
from bot.search.service import SearchService


def register(
    app: AsyncApp,
    db: Database,
    search: SearchService,
    admin: AdminCommands,
    controls: Controls,
    poster: AsyncWebClient,
) -> None:
    """`poster` posts what a person asks for (Share, a test announcement): like
    announcements, never repeated blindly after a lost answer."""
    app.use(payloads.RefuseMalformed())  # before any listener, or Bolt's matching, reads it
    home = Home(admin, admin.client)
    admin.after_change = home.after_change
    commands.register(app, search, admin, controls)
    actions.register(app, db, search, poster)
    settings_actions.register(app, admin, home)
    views.register(app, admin, home, poster)
    events.register(app, home)
