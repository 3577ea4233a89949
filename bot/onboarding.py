"""What the log tells whoever installs the bot: the route ANNOUNCE_CHANNEL sets up at start,
and after the first poll, what is stored and where news goes next."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence

from bot.database import Database
from bot.routes import Router
from bot.store import SINGLE_WORKSPACE, Route

log = logging.getLogger(__name__)


async def seed_routes(db: Database, router: Router, announce_channel: str | None) -> None:
    """ANNOUNCE_CHANNEL's route, on a new database (the first poll seeds it too, should
    this write fail); and a word in the log when the setting no longer decides anything."""
    try:
        seeded, unused = await db.write(
            lambda store: (router.seed(store), router.unused_setting(store))
        )
    except sqlite3.Error as error:  # a full disk, say: shown in /healthz
        log.warning("cannot apply ANNOUNCE_CHANNEL yet: %s", error)
        return
    if seeded:
        log.info(
            "ANNOUNCE_CHANNEL: every category goes to %s; admins change routes in Slack",
            announce_channel,
        )
    if unused:
        log.info(unused)


async def say_unused_routes(db: Database) -> None:
    """Distribution mode on a database single-workspace mode used: its routes belong to no
    installation, and are not used; the log says so once per start."""
    try:
        routes = await db.read(lambda store: store.routes(team=SINGLE_WORKSPACE))
    except sqlite3.Error:
        return
    if routes:
        log.warning(
            "this database holds %d route%s of single-workspace mode, which distribution mode "
            "does not use (each workspace routes its own channels): start on a new "
            "DATABASE_PATH to leave them behind",
            len(routes),
            "" if len(routes) == 1 else "s",
        )


async def say_first_success(
    db: Database,
    polled: asyncio.Event,
    *,
    importing: bool,
    suggest_setting: bool,
    distribution: bool = False,
) -> None:
    """One line after the first poll: what is stored and what happens next, so that a
    new installation whose channel stays quiet (the first poll only sets a baseline)
    says why. In `distribution` mode, how many workspaces and channels receive news."""
    await polled.wait()
    try:
        stored, routes, installed = await db.read(
            lambda store: (
                store.release_count(),
                store.every_route() if distribution else store.routes(team=SINGLE_WORKSPACE),
                store.workspaces_summary()["installed"],
            )
        )
    except sqlite3.Error:
        return  # the poll's own log lines have said what happened
    if distribution:
        log.info(workspaces_success(stored, routes, installed, importing=importing))
        return
    log.info(first_success(stored, routes, importing=importing, suggest_setting=suggest_setting))


def workspaces_success(
    stored: int, routes: Sequence[Route], installed: int, *, importing: bool
) -> str:
    """The log line after the first poll in distribution mode, e.g. "stored 20 releases;
    3 workspaces installed; new releases will go to 5 channels in 2 workspaces"."""
    parts = [f"stored {stored:,} release{'' if stored == 1 else 's'}"]
    if importing:
        parts.append("the archive import is running (older releases, not announced)")
    parts.append(f"{installed:,} workspace{'' if installed == 1 else 's'} installed")
    teams = len({route.team for route in routes})
    if routes:
        parts.append(
            f"new releases will go to {len(routes):,} channel{'' if len(routes) == 1 else 's'} "
            f"in {teams:,} workspace{'' if teams == 1 else 's'}"
        )
    else:
        parts.append("no workspace has picked a channel yet (each does on the app's Home)")
    return "; ".join(parts)


def first_success(
    stored: int, routes: Sequence[Route], *, importing: bool, suggest_setting: bool
) -> str:
    """The log line after the first poll, e.g. "stored 20 releases; the archive import is
    running; the next new release will go to C0123456789". `suggest_setting`: ANNOUNCE_CHANNEL
    is unset, so it is a way to pick the channel."""
    parts = [f"stored {stored:,} release{'' if stored == 1 else 's'}"]
    if importing:
        parts.append("the archive import is running (older releases, not announced)")
    if not routes:
        parts.append(
            "no channel receives news yet: an admin picks one on the app's Home in Slack"
            + (" (or set ANNOUNCE_CHANNEL)" if suggest_setting else "")
        )
    elif len(routes) == 1 and not routes[0].categories:
        parts.append(f"the next new release will go to {routes[0].channel}")
    else:
        shown = [
            f"{route.channel} ({', '.join(route.categories) or 'every category'})"
            for route in routes[:5]
        ]
        more = f" and {len(routes) - 5} more routes" if len(routes) > 5 else ""
        parts.append(f"new releases will go to {'; '.join(shown)}{more}")
    return "; ".join(parts)
