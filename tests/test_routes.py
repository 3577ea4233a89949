"""Routes changed from the Add / Edit form, against a real SQLite store."""

from __future__ import annotations

import itertools
import sqlite3

import pytest

from bot.models import SINGLE_WORKSPACE, Route
from bot.routes import CONFLICT, RouteError, Routes
from bot.store import Store

ADMIN, OTHER, OLD, NEW = "U0ADMIN001", "U0ADMIN002", "C0OLDROUT1", "C0NEWROUT1"


def routes_at_a_ticking_clock(store: Store) -> Routes:
    """Routes whose clock moves a second at every change, as a real one moves on."""
    return Routes(store, team=SINGLE_WORKSPACE, clock=itertools.count(1000.0).__next__)


def route(store: Store, channel: str) -> Route:
    return next(r for r in store.routes(team=SINGLE_WORKSPACE) if r.channel == channel)


def test_a_move_that_fails_half_way_keeps_the_route_where_it_was(store: Store) -> None:
    routes = routes_at_a_ticking_clock(store)
    routes.set(OLD, ["Policy"], by=ADMIN)
    opened = route(store, OLD).updated_at  # the Edit form is opened
    # The disk fills up (or the process dies) after the old route is deleted.
    store.db.execute(
        "CREATE TRIGGER full BEFORE INSERT ON routes BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )

    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        routes.set(NEW, ["Statement"], by=ADMIN, replacing=OLD, seen=opened)

    assert [(r.channel, r.categories) for r in store.routes(team=SINGLE_WORKSPACE)] == [
        (OLD, ("Policy",))
    ]
    assert [c.detail for c in store.recent_changes(team=SINGLE_WORKSPACE)] == [
        f"{OLD}: routed Policy to {OLD}"
    ]


def test_a_channel_with_a_route_is_not_overwritten_by_another_form(store: Store) -> None:
    routes = routes_at_a_ticking_clock(store)
    routes.set(OLD, ["Policy", "Statement"], by=ADMIN)
    routes.set(NEW, [], by=ADMIN)

    # The Add form, and an edit of NEW's route moving it to OLD
    for replacing in (None, NEW):
        with pytest.raises(RouteError) as refused:
            routes.set(
                OLD,
                ["Press Release"],
                by=ADMIN,
                replacing=replacing,
                seen=route(store, NEW).updated_at,
            )
        assert str(refused.value) == (
            "This channel already has a route (Policy, Statement). Change it with its Edit "
            "button, or choose another channel."
        )
    # Its own Edit form may
    routes.set(OLD, ["Press Release"], by=ADMIN, replacing=OLD, seen=route(store, OLD).updated_at)

    assert [(r.channel, r.categories) for r in store.routes(team=SINGLE_WORKSPACE)] == [
        (NEW, ()),
        (OLD, ("Press Release",)),
    ]


@pytest.mark.parametrize("meanwhile", ["changed", "removed", "moved"])
def test_an_edit_form_opened_before_another_admins_change_changes_nothing(
    store: Store, meanwhile: str
) -> None:
    routes = routes_at_a_ticking_clock(store)
    routes.set(OLD, ["Policy"], by=ADMIN)
    opened = route(store, OLD).updated_at  # both admins open Edit
    if meanwhile == "changed":
        routes.set(OLD, ["Policy", "Statement"], by=OTHER, replacing=OLD, seen=opened)
    elif meanwhile == "removed":
        routes.unroute(OLD, [], by=OTHER)
    else:
        routes.set(NEW, ["Policy"], by=OTHER, replacing=OLD, seen=opened)
    before, audited = (
        store.routes(team=SINGLE_WORKSPACE),
        store.recent_changes(team=SINGLE_WORKSPACE),
    )

    for target in (OLD, NEW):  # saved in place, or moved to another channel
        with pytest.raises(RouteError) as refused:
            routes.set(target, ["Press Release"], by=ADMIN, replacing=OLD, seen=opened)
        assert str(refused.value) == CONFLICT

    assert (
        store.routes(team=SINGLE_WORKSPACE) == before
        and store.recent_changes(team=SINGLE_WORKSPACE) == audited
    )


def test_the_audit_log_says_what_each_change_did(store: Store) -> None:
    routes = routes_at_a_ticking_clock(store)
    routes.route(OLD, ["Policy"], by=ADMIN)
    routes.route(OLD, ["Statement", "Policy"], by=ADMIN)
    routes.route(OLD, ["Press Release"], by=ADMIN)
    routes.unroute(OLD, ["Statement"], by=ADMIN)
    routes.set(OLD, ["Statement"], by=ADMIN, replacing=OLD, seen=route(store, OLD).updated_at)
    routes.set(OLD, [], by=ADMIN, replacing=OLD, seen=route(store, OLD).updated_at)
    routes.set(OLD, [], by=ADMIN, replacing=OLD, seen=route(store, OLD).updated_at)  # unchanged
    routes.set(OLD, ["Policy"], by=ADMIN, replacing=OLD, seen=route(store, OLD).updated_at)
    routes.set(NEW, ["Policy"], by=ADMIN, replacing=OLD, seen=route(store, OLD).updated_at)
    routes.unroute(NEW, [], by=ADMIN)

    assert [
        (c.action, c.detail) for c in reversed(store.recent_changes(20, team=SINGLE_WORKSPACE))
    ] == [
        ("route", f"{OLD}: routed Policy to {OLD}"),
        ("route", f"{OLD}: added Statement to {OLD} (now Policy, Statement)"),
        ("route", f"{OLD}: added Press Release to {OLD} (now Policy, Statement, Press Release)"),
        ("unroute", f"{OLD}: removed Statement from {OLD} (keeps Policy, Press Release)"),
        (
            "route",
            f"{OLD}: changed {OLD}: added Statement, removed Policy, Press Release (now Statement)",
        ),
        ("route", f"{OLD}: routed every category to {OLD} (was Statement)"),
        ("route", f"{OLD}: narrowed {OLD} to Policy (was every category)"),
        ("unroute", f"{OLD} {NEW}: moved the route from {OLD} to {NEW}"),
        ("route", f"{NEW}: routed Policy to {NEW}"),
        ("unroute", f"{NEW}: removed the route to {NEW} (was Policy)"),
    ]
