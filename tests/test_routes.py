"""Routes changed from the Add / Edit form, against a real SQLite store."""

from __future__ import annotations

import sqlite3

import pytest

from bot.routes import RouteError, Routes
from bot.store import Store

ADMIN, OLD, NEW = "U0ADMIN001", "C0OLDROUT1", "C0NEWROUT1"


def test_a_move_that_fails_half_way_keeps_the_route_where_it_was(store: Store) -> None:
    routes = Routes(store, clock=lambda: 1000.0)
    routes.set(OLD, ["Policy"], by=ADMIN)
    # The disk fills up (or the process dies) after the old route is deleted.
    store.db.execute(
        "CREATE TRIGGER full BEFORE INSERT ON routes BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )

    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        routes.set(NEW, ["Statement"], by=ADMIN, replacing=OLD)

    assert [(r.channel, r.categories) for r in store.routes()] == [(OLD, ("Policy",))]
    assert [c.detail for c in store.recent_changes()] == [f"{OLD}: Policy"]


def test_a_channel_with_a_route_is_not_overwritten_by_another_form(store: Store) -> None:
    routes = Routes(store, clock=lambda: 1000.0)
    routes.set(OLD, ["Policy", "Statement"], by=ADMIN)
    routes.set(NEW, [], by=ADMIN)

    for replacing in (None, NEW):  # the Add form, and an edit of NEW's route moving it to OLD
        with pytest.raises(RouteError) as refused:
            routes.set(OLD, ["Press Release"], by=ADMIN, replacing=replacing)
        assert str(refused.value) == (
            "This channel already has a route (Policy, Statement). Change it with its Edit "
            "button, or choose another channel."
        )
    routes.set(OLD, ["Press Release"], by=ADMIN, replacing=OLD)  # its own Edit form may

    assert [(r.channel, r.categories) for r in store.routes()] == [
        (NEW, ()),
        (OLD, ("Press Release",)),
    ]
