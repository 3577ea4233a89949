"""Bolt listeners, one module per kind of request; each only acks and calls the domain."""

from slack_bolt.async_app import AsyncApp

from bot.database import Database
from bot.search.service import SearchService
from bot.slack.admin import Admin
from bot.slack.controls import Controls
from bot.slack.home import Home
from bot.slack.listeners import commands, forms, home, messages, payloads


def register(
    app: AsyncApp,
    db: Database,
    search: SearchService,
    admin: Admin,
    controls: Controls,
) -> None:
    """Every listener, each handed the services it calls (built once, before)."""
    app.use(payloads.RefuseMalformed())  # before any listener, or Bolt's matching, reads it
    publisher = Home(admin)
    commands.register(app, search, admin, publisher, controls)
    messages.register(app, db, search, admin.poster)
    home.register(app, admin, publisher)
    forms.register(app, admin, publisher)
