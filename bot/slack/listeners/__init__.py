"""Bolt listeners, one module per kind of request; each only acks and calls the domain."""

from slack_bolt.async_app import AsyncApp

from bot.database import Database
from bot.search.service import SearchService
from bot.slack.controls import Controls
from bot.slack.listeners import (
    alerts,
    commands,
    forms,
    home,
    lifecycle,
    messages,
    payloads,
    strays,
)
from bot.slack.workspaces import Workspaces


def register(
    app: AsyncApp,
    db: Database,
    search: SearchService,
    workspaces: Workspaces,
    controls: Controls,
) -> None:
    """Every listener, each handed the services it calls (built once, before; a workspace's
    own by `workspaces`, for the request's workspace)."""
    app.use(payloads.RefuseMalformed())  # before any listener, or Bolt's matching, reads it
    strays.register(app, workspaces)  # before the listeners of the buttons it answers for
    commands.register(app, search, workspaces, controls)
    messages.register(app, db, search, workspaces)
    home.register(app, workspaces)
    forms.register(app, workspaces)
    alerts.register(app, workspaces)
    if workspaces.installations is not None:
        lifecycle.register(app, workspaces.installations)
