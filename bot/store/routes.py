"""Routes (which channel announces which categories), the settings seeded into them once, and
the audit log of every admin change."""

from __future__ import annotations

import json
from collections.abc import Iterable

from bot.models import Change, Route
from bot.store.base import StoreBase


class AuditMixin(StoreBase):
    """The audit log: who changed what, when."""

    def record_change(self, user_id: str, action: str, detail: str, *, now: float) -> None:
        """Append to the audit log: who changed what, when. `detail` is what they did, as a
        sentence without its subject ("polled the feed"); one that names channels starts with
        their IDs, which it then names in place ("C1: sent a test announcement to C1"), so
        that they can be shown as channel links."""
        self.db.execute(
            "INSERT INTO changes (at, user_id, action, detail) VALUES (?, ?, ?, ?)",
            [now, user_id, action, detail],
        )

    def recent_changes(self, limit: int = 10) -> list[Change]:
        rows = self.db.execute(
            "SELECT at, user_id, action, detail FROM changes ORDER BY id DESC LIMIT ?", [limit]
        )
        return [Change(*row) for row in rows]


class RoutesMixin(AuditMixin):
    """Channel routes and seeds, each change audited in its transaction."""

    def routes(self) -> list[Route]:
        """Every channel route, by channel ID."""
        rows = self.db.execute(
            "SELECT channel, categories, updated_at, updated_by FROM routes ORDER BY channel"
        )
        return [Route(row[0], tuple(json.loads(row[1])), row[2], row[3]) for row in rows]

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
        by: str,
        action: str,
        detail: str,
        now: float,
    ) -> None:
        """Set `channel`'s categories (none: all) and audit the change, in one transaction."""
        with self.transaction():
            self.db.table("routes").upsert(
                {
                    "channel": channel,
                    "categories": json.dumps(list(categories)),
                    "updated_at": now,
                    "updated_by": by,
                },
                pk="channel",
            )
            self.record_change(by, action, detail, now=now)

    def delete_route(self, channel: str, *, by: str, detail: str, now: float) -> bool:
        """Remove `channel`'s route and audit it; False when it had none."""
        with self.transaction():
            cursor = self.db.execute("DELETE FROM routes WHERE channel = ?", [channel])
            if cursor.rowcount:
                self.record_change(by, "unroute", detail, now=now)
            return cursor.rowcount == 1

    def seed_route(self, name: str, channel: str, *, by: str, detail: str, now: float) -> bool:
        """Route every category to `channel` once per `name`, and only on a database with no
        routes. Whether it did; either way the seed is recorded and never applied again."""
        with self.transaction():
            if self.db.execute("SELECT 1 FROM seeds WHERE name = ?", [name]).fetchone():
                return False
            applied = not self.db.execute("SELECT EXISTS (SELECT 1 FROM routes)").fetchone()[0]
            if applied:
                self.save_route(channel, (), by=by, action="route", detail=detail, now=now)
            self.db.table("seeds").insert(
                {"name": name, "value": channel, "at": now, "applied": int(applied)}
            )
            return applied

    def seeded(self, name: str) -> tuple[str, bool] | None:
        """The value seed `name` was recorded with, and whether it was applied; None: never."""
        row = self.db.execute("SELECT value, applied FROM seeds WHERE name = ?", [name]).fetchone()
        return (row[0], bool(row[1])) if row else None
