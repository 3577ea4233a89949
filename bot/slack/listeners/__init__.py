"""Bolt listeners, one module per kind of request; each only acks and calls the domain."""

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.database import Database
from bot.search import SearchService
from bot.slack.admin import AdminCommands
from bot.slack.controls import Controls
from bot.slack.home import Home
from bot.slack.listeners import commands, events, forms, home, messages, payloads


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
    publisher = Home(admin, admin.client)
    admin.after_change = publisher.after_change
    commands.register(app, search, admin, controls)
    messages.register(app, db, search, poster)
    home.register(app, admin, publisher)
    forms.register(app, admin, publisher, poster)
    events.register(app, publisher)
