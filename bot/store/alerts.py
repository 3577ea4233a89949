"""Members' personal alerts: saved queries whose matches are sent to them by direct message.

An alert is its member's own: nothing here is read for anyone else but as counts. Matching a
new release does not run every alert's query: each alert is indexed under the words one of
which every release it matches must hold (`alert_keys`), so only the alerts whose keys the
release holds are checked, each against that one release.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store.base import StoreBase

if TYPE_CHECKING:
    from bot.store import Store


def create_alerts(store: Store) -> None:
    store.db.execute(
        "CREATE TABLE IF NOT EXISTS alerts (id INTEGER PRIMARY KEY, team TEXT NOT NULL, "
        "user_id TEXT NOT NULL, query TEXT NOT NULL, match TEXT, created_at FLOAT NOT NULL, "
        "paused TEXT, paused_at FLOAT, UNIQUE (team, user_id, query))"
    )
    store.db.execute(
        "CREATE TABLE IF NOT EXISTS alert_keys (key TEXT NOT NULL, alert_id INTEGER NOT NULL "
        "REFERENCES alerts (id) ON DELETE CASCADE, PRIMARY KEY (key, alert_id)) WITHOUT ROWID"
    )
    store.db.execute("CREATE INDEX IF NOT EXISTS alert_keys_by_alert ON alert_keys (alert_id)")


class AlertsMixin(StoreBase):
    """Members' alerts and what stops them."""

    def pause_alerts(self, *, team: str, user: str, why: str, now: float) -> int:
        """Stop sending `user`'s alerts (they left the workspace, or cannot be messaged): kept,
        and resumed when they next use them; what was queued for them is given up on, quietly
        (one refusal, not one per release). How many alerts were paused."""
        with self.transaction():
            self.db.execute(
                "UPDATE deliveries SET state = 'failed', last_error = ? WHERE kind = 'alert' "
                "AND team = ? AND channel = ? AND state = 'pending'",
                [why, team, user],
            )
            cursor = self.db.execute(
                "UPDATE alerts SET paused = ?, paused_at = ? WHERE team = ? AND user_id = ? "
                "AND paused IS NULL",
                [why, now, team, user],
            )
        return cursor.rowcount
