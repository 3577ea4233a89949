"""Bolt listeners, one module per kind of request; each only acks and calls the domain."""

from slack_bolt.async_app import AsyncApp

from bot.listeners import actions, commands, events
from bot.listeners.admin import AdminCommands
from bot.search import SearchService
from bot.store import Store


def register(app: AsyncApp, store: Store, search: SearchService, admin: AdminCommands) -> None:
    commands.register(app, search, admin)
    actions.register(app, store, search)
    events.register(app, store)
