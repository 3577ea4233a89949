"""Digests: a route's schedule, the releases collected for its channel's next digest, and the
digest rows made of them, each exactly once per period.

A channel whose route is daily or weekly gets a COLLECTED delivery for each new release
instead of a PENDING one. At a period's boundary `make_digest` turns the releases collected up
to it into one DIGEST delivery (pending: the outbox posts it) and marks them DIGESTED with its
id, in one transaction; the unique index `digests_once` (team, channel, period) makes a second
digest of a period impossible, whichever process or restart tries.
"""

from __future__ import annotations

from typing import Any

from bot.models import DIGEST, IMMEDIATE, SINGLE_WORKSPACE, Place, Route, Schedule
from bot.store.deliveries import COLLECTED, DIGESTED, DISCARDED, PENDING, _team_filter
from bot.store.routes import _ROUTE, AuditMixin, _route


class DigestsMixin(AuditMixin):
    """Routes' schedules and the digests made from what they collected."""

    def save_schedule(
        self,
        channel: str,
        schedule: Schedule | None,
        *,
        team: str,
        by: str,
        detail: str,
        now: float,
    ) -> None:
        """Set the schedule of `channel`'s route in `team` (None: immediate) and audit it
        (action "digest"), in one transaction; the route must exist."""
        mode = IMMEDIATE if schedule is None else schedule.mode
        weekday = None if schedule is None else schedule.weekday
        hour = None if schedule is None else schedule.hour
        tz = None if schedule is None else schedule.tz
        with self.transaction():
            self.db.execute(
                "UPDATE routes SET mode = ?, weekday = ?, hour = ?, tz = ?, updated_at = ?, "
                "updated_by = ? WHERE team = ? AND channel = ?",
                [mode, weekday, hour, tz, now, by, team, channel],
            )
            self.record_change(by, "digest", detail, now=now, team=team)

    def digest_routes(self, *, distribution: bool) -> list[Route]:
        """The routes that collect for digests, as the router reads routes: in distribution
        mode those of installed workspaces, else single-workspace mode's."""
        where = "team IN (SELECT team FROM installations)" if distribution else "team = ?"
        rows = self.db.execute(
            f"SELECT {_ROUTE} FROM routes WHERE mode != ? AND {where} ORDER BY team, channel",
            [IMMEDIATE] if distribution else [IMMEDIATE, SINGLE_WORKSPACE],
        )
        return [_route(row) for row in rows]

    def collecting_places(self) -> set[Place]:
        """Every channel whose route collects for a digest rather than posting at once."""
        rows = self.db.execute("SELECT team, channel FROM routes WHERE mode != ?", [IMMEDIATE])
        return {Place(*row) for row in rows}

    def collected_since(self) -> dict[Place, float]:
        """Every channel with releases waiting for its digest, and when the oldest of them
        was collected."""
        rows = self.db.execute(
            "SELECT team, channel, min(created_at) FROM deliveries WHERE state = ? "
            "GROUP BY team, channel",
            [COLLECTED],
        )
        return {Place(team, channel): oldest for team, channel, oldest in rows}

    def collected_count(self, place: Place) -> int:
        """How many releases wait for `place`'s next digest."""
        row = self.db.execute(
            "SELECT count(*) FROM deliveries WHERE state = ? AND team = ? AND channel = ?",
            [COLLECTED, place.team, place.channel],
        ).fetchone()
        return int(row[0])

    def make_digest(
        self, place: Place, *, period: str, up_to: float | None, now: float
    ) -> int | None:
        """The digest of `period` for `place`: the releases collected there until `up_to`
        (None: all of them) become one pending DIGEST delivery, and are marked DIGESTED with
        its id; one transaction. Its id, or None when that period has its digest already or
        nothing was collected (nothing is sent for an empty period)."""
        with self.transaction():
            if self.db.execute(
                "SELECT 1 FROM deliveries WHERE kind = ? AND team = ? AND channel = ? "
                "AND period = ?",
                [DIGEST, place.team, place.channel, period],
            ).fetchone():
                return None
            collected = [
                row[0]
                for row in self.db.execute(
                    "SELECT d.id FROM deliveries d JOIN releases r ON r.id = d.release_id "
                    "WHERE d.state = ? AND d.team = ? AND d.channel = ? AND d.created_at <= ? "
                    "ORDER BY r.published IS NULL, r.published DESC, r.first_seen DESC, d.id",
                    [COLLECTED, place.team, place.channel,
                     float("inf") if up_to is None else up_to],
                )
            ]  # fmt: skip
            if not collected:
                return None
            newest = self.db.execute(
                "SELECT release_id FROM deliveries WHERE id = ?", [collected[0]]
            ).fetchone()[0]
            # Due at once (0: before any clock's now), whichever clock said the period was
            # over: the outbox posts it at its next look.
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO deliveries (release_id, team, channel, state, attempts, "
                "due_at, created_at, kind, period) VALUES (?, ?, ?, ?, 0, 0, ?, ?, ?)",
                [newest, place.team, place.channel, PENDING, now, DIGEST, period],
            )
            if cursor.rowcount != 1:  # the period's digest exists (the index said so)
                return None
            digest_id = int(cursor.lastrowid or 0)
            self.db.conn.executemany(
                "UPDATE deliveries SET state = ?, digest_id = ? WHERE id = ?",
                [(DIGESTED, digest_id, row_id) for row_id in collected],
            )
            return digest_id

    def move_collected(self, source: Place, target: Place) -> None:
        """What `source` collected now waits for `target`'s digest (a route moved to another
        channel); a release `target` already had stays there once, and its copy is dropped."""
        with self.transaction():
            self.db.execute(
                "UPDATE OR IGNORE deliveries SET channel = ? WHERE state = ? AND team = ? "
                "AND channel = ?",
                [target.channel, COLLECTED, source.team, source.channel],
            )
            self.drop_collected(source)

    def drop_collected(self, place: Place) -> int:
        """Never send what `place` collected (its route is gone: no digest would); the
        releases stay stored and searchable. How many were dropped."""
        cursor = self.db.execute(
            "UPDATE deliveries SET state = ? WHERE state = ? AND team = ? AND channel = ?",
            [DISCARDED, COLLECTED, place.team, place.channel],
        )
        return cursor.rowcount

    def digest_counts(self, team: str | None) -> dict[str, Any]:
        """For status and the admin Home, of `team` (None: of every workspace): routes by
        mode, and releases waiting for a digest."""
        where, params = _team_filter(team)
        modes = dict.fromkeys(("immediate", "daily", "weekly"), 0)
        for mode, count in self.db.execute(
            f"SELECT mode, count(*) FROM routes WHERE {where} GROUP BY mode", params
        ):
            modes[mode] = count
        waiting = self.db.execute(
            f"SELECT count(*) FROM deliveries WHERE state = ? AND {where}", [COLLECTED, *params]
        ).fetchone()[0]
        return {"routes": modes, "waiting": waiting}

    def digests_waiting(self, team: str | None) -> list[Route]:
        """The digest routes of `team` (None: of every workspace) with releases collected for
        their next digest."""
        return [
            route
            for route in self._routes_of(team)
            if route.schedule is not None
            and self.db.execute(
                "SELECT EXISTS (SELECT 1 FROM deliveries WHERE state = ? AND team = ? "
                "AND channel = ?)",
                [COLLECTED, route.team, route.channel],
            ).fetchone()[0]
        ]

    def _routes_of(self, team: str | None) -> list[Route]:
        where, params = _team_filter(team)
        rows = self.db.execute(f"SELECT {_ROUTE} FROM routes WHERE {where}", params)
        return [_route(row) for row in rows]
