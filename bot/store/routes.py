"""Routes (which channel announces which categories), the settings seeded into them once, and
the audit log of every admin change."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from bot.models import IMMEDIATE, SINGLE_WORKSPACE, Change, Route, Schedule
from bot.store.base import StoreBase

_ROUTE = "channel, categories, updated_at, updated_by, team, mode, weekday, hour, tz"


class AuditMixin(StoreBase):
    """The audit log: who changed what, when."""

    def record_change(
        self, user_id: str, action: str, detail: str, *, now: float, team: str
    ) -> None:
        """Append to `team`'s audit log: who changed what, when. `detail` is what they did, as
        a sentence without its subject ("polled the feed"); one that names channels starts
        with their IDs, which it then names in place ("C1: sent a test announcement to C1"),
        so that they can be shown as channel links."""
        self.db.execute(
            "INSERT INTO changes (team, at, user_id, action, detail) VALUES (?, ?, ?, ?, ?)",
            [team, now, user_id, action, detail],
        )

    def recent_changes(self, limit: int = 10, *, team: str) -> list[Change]:
        rows = self.db.execute(
            "SELECT at, user_id, action, detail FROM changes WHERE team = ? "
            "ORDER BY id DESC LIMIT ?",
            [team, limit],
        )
        return [Change(*row) for row in rows]


class RoutesMixin(AuditMixin):
    """Channel routes and seeds, each change audited in its transaction."""

    def routes(self, *, team: str) -> list[Route]:
        """`team`'s channel routes, by channel ID."""
        rows = self.db.execute(
            f"SELECT {_ROUTE} FROM routes WHERE team = ? ORDER BY channel",
            [team],
        )
        return [_route(row) for row in rows]

    def installed_routes(self) -> list[Route]:
        """The routes of the workspaces installed now (distribution mode), by workspace and
        channel: a workspace gone, or single-workspace mode's rows, receives nothing."""
        rows = self.db.execute(
            f"SELECT {_ROUTE} FROM routes "
            "WHERE team IN (SELECT team FROM installations) ORDER BY team, channel"
        )
        return [_route(row) for row in rows]

    def every_route(self) -> list[Route]:
        """The routes of every workspace, by workspace and channel (for queuing a release)."""
        rows = self.db.execute(f"SELECT {_ROUTE} FROM routes ORDER BY team, channel")
        return [_route(row) for row in rows]

    def has_uncategorized_releases(self) -> bool:
        """Whether a stored release has no category: only a route taking every category
        announces such a release."""
        return bool(
            self.db.execute(
                "SELECT EXISTS (SELECT 1 FROM releases WHERE NOT EXISTS "
                "(SELECT 1 FROM release_categories WHERE release_id = releases.id))"
            ).fetchone()[0]
        )

    def save_route(
        self,
        channel: str,
        categories: Iterable[str],
        *,
        team: str,
        by: str,
        action: str,
        detail: str,
        now: float,
    ) -> None:
        """Set `channel`'s categories (none: all) in `team` and audit the change, in one
        transaction."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO routes (team, channel, categories, updated_at, updated_by) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (team, channel) DO UPDATE SET "
                "categories = excluded.categories, updated_at = excluded.updated_at, "
                "updated_by = excluded.updated_by",
                [team, channel, json.dumps(list(categories)), now, by],
            )
            self.record_change(by, action, detail, now=now, team=team)

    def delete_route(self, channel: str, *, team: str, by: str, detail: str, now: float) -> bool:
        """Remove `channel`'s route in `team` and audit it; False when it had none."""
        with self.transaction():
            cursor = self.db.execute(
                "DELETE FROM routes WHERE team = ? AND channel = ?", [team, channel]
            )
            if cursor.rowcount:
                self.record_change(by, "unroute", detail, now=now, team=team)
            return cursor.rowcount == 1

    def seed_route(self, name: str, channel: str, *, by: str, detail: str, now: float) -> bool:
        """Route every category to `channel` once per `name`, and only on a database with no
        routes. Whether it did; either way the seed is recorded and never applied again."""
        with self.transaction():
            if self.db.execute("SELECT 1 FROM seeds WHERE name = ?", [name]).fetchone():
                return False
            # Single-workspace mode only: the setting names a channel of its one workspace.
            applied = not self.db.execute(
                "SELECT EXISTS (SELECT 1 FROM routes WHERE team = ?)", [SINGLE_WORKSPACE]
            ).fetchone()[0]
            if applied:
                self.save_route(
                    channel, (), team=SINGLE_WORKSPACE, by=by, action="route", detail=detail,
                    now=now,
                )  # fmt: skip
            self.db.table("seeds").insert(
                {"name": name, "value": channel, "at": now, "applied": int(applied)}
            )
            return applied

    def seeded(self, name: str) -> tuple[str, bool] | None:
        """The value seed `name` was recorded with, and whether it was applied; None: never."""
        row = self.db.execute("SELECT value, applied FROM seeds WHERE name = ?", [name]).fetchone()
        return (row[0], bool(row[1])) if row else None


def _route(row: tuple[Any, ...]) -> Route:
    channel, categories, updated_at, updated_by, team, mode, weekday, hour, tz = row
    schedule = None if mode == IMMEDIATE else Schedule(mode, hour, tz, weekday)
    return Route(channel, tuple(json.loads(categories)), updated_at, updated_by, team, schedule)
