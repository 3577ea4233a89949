"""Members' personal alerts: saved queries whose matches are sent to them by direct message.

An alert is its member's own: nothing here is read for anyone else but as counts, and every
read or change of one names its workspace and member. Matching a new release does not run every
alert's query: each alert is indexed under keys one of which every release it matches must hold
(`alert_keys`; which keys is `bot.search.alerts`' to say), so only the alerts whose keys the
release holds are candidates, each then checked against that one release.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.models import MEMBERS, SINGLE_WORKSPACE, Alert, Words
from bot.store.base import StoreBase
from bot.store.routes import AuditMixin
from bot.store.search_index import SEARCH_COLUMNS, SearchIndexMixin

if TYPE_CHECKING:
    from bot.store import Store

_ALERT = "id, team, user_id, query, match, authors, words, created_at, paused, paused_at"


def create_alerts(store: Store) -> None:
    """`match`: the FTS5 expression of the alert's words and categories (NULL: none);
    `authors`: the parts of authors' names it filters by, folded (JSON list; any of them);
    `words`: the same as the index's words (see `bot.models.Words`), written compactly
    (`_words_text`: they are read for every candidate of every new release);
    `paused`: why its member cannot be messaged, since `paused_at`."""
    store.db.execute(
        "CREATE TABLE IF NOT EXISTS alerts (id INTEGER PRIMARY KEY, team TEXT NOT NULL, "
        "user_id TEXT NOT NULL, query TEXT NOT NULL, match TEXT, authors TEXT NOT NULL "
        "DEFAULT '[]', words TEXT NOT NULL DEFAULT '', created_at FLOAT NOT NULL, paused TEXT, "
        "paused_at FLOAT, "
        "UNIQUE (team, user_id, query))"
    )
    store.db.execute(
        "CREATE TABLE IF NOT EXISTS alert_keys (key TEXT NOT NULL, alert_id INTEGER NOT NULL "
        "REFERENCES alerts (id) ON DELETE CASCADE, PRIMARY KEY (key, alert_id)) WITHOUT ROWID"
    )
    store.db.execute("CREATE INDEX IF NOT EXISTS alert_keys_by_alert ON alert_keys (alert_id)")
    # The audit log's one entry a day for members' alerts: how many were saved and removed,
    # never by whom or for what (`_tally`).
    store.db.execute(
        "CREATE TABLE IF NOT EXISTS alert_tallies (team TEXT NOT NULL, day TEXT NOT NULL, "
        "saved INTEGER NOT NULL DEFAULT 0, removed INTEGER NOT NULL DEFAULT 0, change_id INTEGER, "
        "PRIMARY KEY (team, day))"
    )


def _alert(row: Any) -> Alert:
    return Alert(
        id=row[0],
        team=row[1],
        user_id=row[2],
        query=row[3],
        match=row[4],
        authors=tuple(json.loads(row[5])) if row[5] != "[]" else (),
        words=_words_of(row[6]),
        created_at=row[7],
        paused=row[8],
        paused_at=row[9],
    )


# An alert's words as text: parts one a line, a part's forms separated by "|", a form's texts
# by "+", a text's words by spaces. The index's words never hold any of these (its tokenizer
# splits at them), and this reads ten times faster than JSON.
def _words_text(words: Words) -> str:
    return "\n".join(
        "|".join("+".join(" ".join(text) for text in form) for form in part) for part in words
    )


def _words_of(text: str) -> Words:
    if not text:
        return ()
    return tuple(
        tuple(
            tuple(tuple(run.split(" ")) if run else () for run in form.split("+"))
            for form in part.split("|")
        )
        for part in text.split("\n")
    )


class AlertsMixin(SearchIndexMixin, AuditMixin):
    """Members' alerts, what stops them, and the candidates for a new release."""

    def alerts_of(self, *, team: str, user: str) -> list[Alert]:
        """`user`'s alerts in `team`, oldest first."""
        rows = self.db.execute(
            f"SELECT {_ALERT} FROM alerts WHERE team = ? AND user_id = ? ORDER BY id",
            [team, user],
        )
        return [_alert(row) for row in rows]

    def add_alert(
        self,
        *,
        team: str,
        user: str,
        query: str,
        match: str | None,
        authors: Sequence[str],
        words: Words,
        keys: Iterable[str],
        now: float,
    ) -> Alert:
        """Save an alert and the keys it is indexed under (the caller checked that the member
        has no such alert and room for one, in the same transaction)."""
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO alerts (team, user_id, query, match, authors, words, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    team,
                    user,
                    query,
                    match,
                    json.dumps(list(authors)),
                    _words_text(words),
                    now,
                ],
            )
            alert_id = cursor.lastrowid
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO alert_keys (key, alert_id) VALUES (?, ?)",
                [(key, alert_id) for key in set(keys)],
            )
            self._tally(team, now=now, saved=1)
            [alert] = [a for a in self.alerts_of(team=team, user=user) if a.id == alert_id]
        return alert

    def remove_alert(self, alert_id: int, *, team: str, user: str, now: float) -> Alert | None:
        """Delete alert `alert_id` if it is `user`'s in `team` (whatever a button says);
        the alert removed, or None when there is no such alert of theirs."""
        with self.transaction():
            found = [a for a in self.alerts_of(team=team, user=user) if a.id == alert_id]
            if not found:
                return None
            self.db.execute("DELETE FROM alert_keys WHERE alert_id = ?", [alert_id])
            self.db.execute("DELETE FROM alerts WHERE id = ?", [alert_id])
            self._tally(team, now=now, removed=1)
        return found[0]

    def _tally(self, team: str, *, now: float, saved: int = 0, removed: int = 0) -> None:
        """Count a change of members' alerts in the day's one audit entry: in aggregate only
        (a member's queries are theirs, and so is the fact of changing them)."""
        day = datetime.fromtimestamp(now, UTC).date().isoformat()
        self.db.execute(
            "INSERT INTO alert_tallies (team, day, saved, removed) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (team, day) DO UPDATE SET saved = saved + excluded.saved, "
            "removed = removed + excluded.removed",
            [team, day, saved, removed],
        )
        saved, removed, change_id = self.db.execute(
            "SELECT saved, removed, change_id FROM alert_tallies WHERE team = ? AND day = ?",
            [team, day],
        ).fetchone()
        detail = f"saved {_alerts(saved)} and removed {_alerts(removed)} on {day} (UTC)"
        if change_id is None:
            self.record_change(MEMBERS, "alerts", detail, now=now, team=team)
            self.db.execute(
                "UPDATE alert_tallies SET change_id = last_insert_rowid() "
                "WHERE team = ? AND day = ?",
                [team, day],
            )
        else:
            self.db.execute(
                "UPDATE changes SET at = ?, detail = ? WHERE id = ?", [now, detail, change_id]
            )

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

    def resume_alerts(self, *, team: str, user: str) -> tuple[str, float] | None:
        """Send `user`'s alerts again; why and since when they had been paused, or None when
        they were not."""
        with self.transaction():
            row = self.db.execute(
                "SELECT paused, paused_at FROM alerts WHERE team = ? AND user_id = ? "
                "AND paused IS NOT NULL ORDER BY paused_at LIMIT 1",
                [team, user],
            ).fetchone()
            if row is None:
                return None
            self.db.execute(
                "UPDATE alerts SET paused = NULL, paused_at = NULL WHERE team = ? AND user_id = ?",
                [team, user],
            )
        return row[0], row[1]

    def alert_candidates(self, keys: Iterable[str], *, installed: bool) -> list[Alert]:
        """The alerts indexed under any of `keys` (a new release's), not paused, of the
        workspaces that get news: with `installed`, those installed in distribution mode;
        otherwise single-workspace mode's."""
        where = (
            "a.team IN (SELECT team FROM installations)"
            if installed
            else f"a.team = '{SINGLE_WORKSPACE}'"
        )
        columns = ", ".join(f"a.{column}" for column in _ALERT.split(", "))
        rows = self.db.execute(
            f"SELECT {columns} FROM alerts a WHERE a.id IN (SELECT alert_id FROM alert_keys "
            "WHERE key IN (SELECT value FROM json_each(?))) "
            f"AND a.paused IS NULL AND {where} ORDER BY a.id",
            [json.dumps(sorted(set(keys)))],
        )
        return [_alert(row) for row in rows]

    def indexed_words(self, release_id: str) -> list[list[str]] | None:
        """The words of a stored release's index entry, column by column (SEARCH_COLUMNS),
        each in order, as the index's tokenizer reads the columns; None when it is not
        stored."""
        columns = ", ".join(SEARCH_COLUMNS)
        row = self.db.execute(
            f"SELECT {columns} FROM releases WHERE id = ?", [release_id]
        ).fetchone()
        if row is None:
            return None
        return [self.tokens(text) if text else [] for text in row]

    def alert_counts(self, team: str | None) -> dict[str, int]:
        """How many members of `team` (None: of every workspace) have alerts, how many alerts
        they hold, and how many of those members are paused (they cannot be messaged): counts
        only, for admins, who never see a member's queries."""
        where, params = ("1", []) if team is None else ("team = ?", [team])
        members, alerts, paused = self.db.execute(
            "SELECT count(DISTINCT team || ' ' || user_id), count(*), "
            "count(DISTINCT CASE WHEN paused IS NOT NULL THEN team || ' ' || user_id END) "
            f"FROM alerts WHERE {where}",
            params,
        ).fetchone()
        return {"members": members, "alerts": alerts, "paused": paused}


def _alerts(count: int) -> str:
    return f"{count} alert" if count == 1 else f"{count} alerts"


def forget_alerts(store: StoreBase, team: str) -> None:
    """Delete every alert of `team` (it left), within the caller's transaction."""
    store.db.execute(
        "DELETE FROM alert_keys WHERE alert_id IN (SELECT id FROM alerts WHERE team = ?)", [team]
    )
    store.db.execute("DELETE FROM alerts WHERE team = ?", [team])
    store.db.execute("DELETE FROM alert_tallies WHERE team = ?", [team])
