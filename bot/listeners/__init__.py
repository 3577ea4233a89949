"""Bolt listeners, one module per kind of request; each only acks and calls the domain."""

from slack_bolt.async_app import AsyncApp

from bot.listeners import actions, commands, events
from bot.store import Store


def register(app: AsyncApp, store: Store) -> None:
    commands.register(app, store)
    actions.register(app)
    events.register(app, store)
