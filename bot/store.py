"""SQLite storage: the one place that holds SQL.

Tables: `releases` (every release ever seen), `deliveries` (the outbox: one row per release and
channel), `feed_state` (conditional-GET validators and poll health per feed URL) and `leases`
(which process may post to which channel). WAL mode lets the watcher write while the web
handlers read; every multi-step write runs in one `BEGIN IMMEDIATE` transaction so two bot
processes on one file serialise cleanly.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.models import Release, Validators

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


@dataclass(frozen=True)
class Delivery:
    id: int
    release_id: str
    channel: str
    state: str
    attempts: int
    due_at: float
    sending_since: float | None
    last_error: str | None


@dataclass(frozen=True)
class FeedStatus:
    url: str
    validators: Validators
    last_poll_at: float | None
    last_success_at: float | None
    last_error: str | None
    last_error_at: float | None
    failures: int


@dataclass(frozen=True)
class Lease:
    owner: str
    host: str
    pid: int
    expires_at: float


class Store:
    """All reads and writes of the bot's SQLite database."""

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, sqlite3 never opens
        # an implicit transaction behind our back.
        target = f"file:{Path(path).resolve()}?mode=ro" if read_only else str(path)
        conn = sqlite3.connect(target, timeout=30, isolation_level=None, uri=read_only)
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA busy_timeout = 30000")
        # FULL: a committed "sending"/"sent" mark survives even a power cut, which is what
        # keeps a restart from posting twice.
        self.db.execute("PRAGMA synchronous = FULL")
        if str(path) != ":memory:" and not read_only:
            self.db.enable_wal()

    def close(self) -> None:
        self.db.close()

    def ensure_schema(self) -> None:
        """Create tables and indexes that do not exist yet; safe at every start."""
        with self.transaction():
            self.db["releases"].create(
                {
                    "id": str,
                    "title": str,
                    "link": str,
                    "published": str,
                    "categories": str,
                    "author": str,
                    "excerpt": str,
                    "body": str,
                    "image_url": str,
                    "source": str,
                    "first_seen": float,
                    "updated_at": float,
                },
                pk="id",
                not_null={"title", "link", "categories", "first_seen"},
                if_not_exists=True,
            )
            self.db["deliveries"].create(
                {
                    "id": int,
                    "release_id": str,
                    "channel": str,
                    "state": str,
                    "attempts": int,
                    "due_at": float,
                    "sending_since": float,
                    "last_error": str,
                    "created_at": float,
                    "sent_at": float,
                    "ts": str,
                },
                pk="id",
                not_null={"release_id", "channel", "state", "attempts", "due_at", "created_at"},
                defaults={"state": PENDING, "attempts": 0},
                foreign_keys=[("release_id", "releases", "id")],
                if_not_exists=True,
            )
            self.db["deliveries"].create_index(
                ["release_id", "channel"], unique=True, if_not_exists=True
            )
            self.db["deliveries"].create_index(["state", "channel", "id"], if_not_exists=True)
            self.db["releases"].create_index(["published"], if_not_exists=True)
            self.db["feed_state"].create(
                {
                    "url": str,
                    "etag": str,
                    "last_modified": str,
                    "body_hash": str,
                    "last_poll_at": float,
                    "last_success_at": float,
                    "last_error": str,
                    "last_error_at": float,
                    "failures": int,
                },
                pk="url",
                defaults={"failures": 0},
                if_not_exists=True,
            )
            self.db["leases"].create(
                {"name": str, "owner": str, "host": str, "pid": int, "expires_at": float},
                pk="name",
                if_not_exists=True,
            )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction; nested uses join the outer one."""
        if self.db.conn.in_transaction:
            yield
            return
        # IMMEDIATE takes the write lock up front, so a read-then-write never fails half-way
        # with SQLITE_BUSY when another process wrote in between.
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- releases -------------------------------------------------------------------------

    def known_release_ids(self, ids: Iterable[str]) -> set[str]:
        wanted = list(ids)
        known: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT id FROM releases WHERE id IN ({marks})", chunk)
            known.update(row[0] for row in rows)
        return known

    def has_releases(self) -> bool:
        return self.db.execute("SELECT EXISTS (SELECT 1 FROM releases)").fetchone()[0] == 1

    def save_release(self, release: Release, *, source: str, now: float) -> bool:
        """Insert or update `release`; True when the stored row changed (or is new)."""
        row = _release_row(release)
        existing = self.db.execute(
            "SELECT title, link, published, categories, author, excerpt, body, image_url "
            "FROM releases WHERE id = ?",
            [release.id],
        ).fetchone()
        if existing is None:
            self.db["releases"].insert(
                {**row, "source": source, "first_seen": now, "updated_at": now}
            )
            return True
        fields = ("title", "link", "published", "categories", "author", "excerpt", "body")
        if tuple(existing[: len(fields)]) == tuple(row[f] for f in fields) and (
            existing[-1] == row["image_url"] or row["image_url"] is None
        ):
            return False
        if row["image_url"] is None:
            row["image_url"] = existing[-1]  # the archive may lack what the RSS had
        self.db["releases"].update(release.id, {**row, "updated_at": now})
        return True

    def release(self, release_id: str) -> Release | None:
        rows = list(self.db.query("SELECT * FROM releases WHERE id = ?", [release_id]))
        return _release_from_row(rows[0]) if rows else None

    def latest_releases(self, limit: int) -> list[Release]:
        rows = self.db.query(
            "SELECT * FROM releases ORDER BY published DESC, first_seen DESC LIMIT ?", [limit]
        )
        return [_release_from_row(row) for row in rows]

    def release_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM releases").fetchone()[0]

    # -- deliveries (the outbox) ----------------------------------------------------------

    def add_delivery(self, release_id: str, channel: str, *, now: float) -> bool:
        """Queue `release_id` for `channel` unless it already is; True when queued now."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO deliveries (release_id, channel, state, attempts, due_at, "
            "created_at) VALUES (?, ?, ?, 0, ?, ?)",
            [release_id, channel, PENDING, now, now],
        )
        return cursor.rowcount == 1

    def channels_with_work(self) -> list[str]:
        rows = self.db.execute(
            "SELECT DISTINCT channel FROM deliveries WHERE state IN (?, ?) ORDER BY channel",
            [PENDING, SENDING],
        )
        return [row[0] for row in rows]

    def next_delivery(self, channel: str) -> Delivery | None:
        """The oldest unfinished delivery of `channel`, due or not: a channel's posts go out
        in order, so a delivery waiting to be retried holds back the ones after it."""
        rows = list(
            self.db.query(
                "SELECT id, release_id, channel, state, attempts, due_at, sending_since, "
                "last_error FROM deliveries WHERE channel = ? AND state IN (?, ?) "
                "ORDER BY id LIMIT 1",
                [channel, PENDING, SENDING],
            )
        )
        return Delivery(**rows[0]) if rows else None

    def next_due_at(self) -> float | None:
        return self.db.execute(
            "SELECT min(due_at) FROM deliveries WHERE state IN (?, ?)", [PENDING, SENDING]
        ).fetchone()[0]

    def mark_sending(self, delivery_id: int, *, now: float) -> None:
        """Record that a post is about to be attempted: from here on, its outcome is unknown
        until `mark_sent` or `reschedule`, and a restart checks Slack before posting again."""
        self.db.execute(
            "UPDATE deliveries SET state = ?, attempts = attempts + 1, "
            "sending_since = coalesce(sending_since, ?) WHERE id = ?",
            [SENDING, now, delivery_id],
        )

    def mark_sent(self, delivery_id: int, *, ts: str | None, now: float) -> None:
        self.db.execute(
            "UPDATE deliveries SET state = ?, ts = ?, sent_at = ?, last_error = NULL WHERE id = ?",
            [SENT, ts, now, delivery_id],
        )

    def reschedule(
        self, delivery_id: int, *, due_at: float, error: str, outcome_known: bool
    ) -> None:
        """Try again at `due_at`. When the failed post surely did not reach Slack, the delivery
        goes back to pending; otherwise it stays "sending" so the retry checks history first."""
        if outcome_known:
            self.db.execute(
                "UPDATE deliveries SET state = ?, sending_since = NULL, due_at = ?, "
                "last_error = ? WHERE id = ?",
                [PENDING, due_at, error, delivery_id],
            )
        else:
            self.db.execute(
                "UPDATE deliveries SET due_at = ?, last_error = ? WHERE id = ?",
                [due_at, error, delivery_id],
            )

    def mark_failed(self, delivery_id: int, *, error: str) -> None:
        self.db.execute(
            "UPDATE deliveries SET state = ?, last_error = ? WHERE id = ?",
            [FAILED, error, delivery_id],
        )

    def make_all_due(self, *, now: float) -> None:
        """At start-up: whatever waited for a retry is tried at once (a restart often follows
        the fix, e.g. a new token)."""
        self.db.execute(
            "UPDATE deliveries SET due_at = ? WHERE state IN (?, ?) AND due_at > ?",
            [now, PENDING, SENDING, now],
        )

    def retry_failed(self, *, now: float) -> int:
        """Queue every failed delivery again; returns how many."""
        cursor = self.db.execute(
            "UPDATE deliveries SET state = ?, due_at = ?, attempts = 0, sending_since = NULL "
            "WHERE state = ?",
            [PENDING, now, FAILED],
        )
        return cursor.rowcount

    def delivery_counts(self) -> dict[str, int]:
        counts = dict.fromkeys((PENDING, SENDING, SENT, FAILED), 0)
        for state, count in self.db.execute(
            "SELECT state, count(*) FROM deliveries GROUP BY state"
        ):
            counts[state] = count
        return counts

    def deliveries(self, *, states: Iterable[str], limit: int = 20) -> list[dict[str, Any]]:
        """Deliveries in `states`, newest first, with their release title, for status pages."""
        wanted = list(states)
        marks = ",".join("?" * len(wanted))
        return list(
            self.db.query(
                "SELECT d.id, d.channel, d.state, d.attempts, d.last_error, d.release_id, "
                f"r.title FROM deliveries d JOIN releases r ON r.id = d.release_id "
                f"WHERE d.state IN ({marks}) ORDER BY d.id DESC LIMIT ?",
                [*wanted, limit],
            )
        )

    def delivery_log(self) -> list[dict[str, Any]]:
        """Every delivery in queue order (for tests and `status`)."""
        return list(
            self.db.query(
                "SELECT id, release_id, channel, state, attempts, ts, last_error "
                "FROM deliveries ORDER BY id"
            )
        )

    # -- feed state -----------------------------------------------------------------------

    def feed_status(self, url: str) -> FeedStatus:
        rows = list(self.db.query("SELECT * FROM feed_state WHERE url = ?", [url]))
        row = rows[0] if rows else {}
        return FeedStatus(
            url=url,
            validators=Validators(row.get("etag"), row.get("last_modified"), row.get("body_hash")),
            last_poll_at=row.get("last_poll_at"),
            last_success_at=row.get("last_success_at"),
            last_error=row.get("last_error"),
            last_error_at=row.get("last_error_at"),
            failures=row.get("failures") or 0,
        )

    def ever_polled(self) -> bool:
        """Whether any poll of any feed URL ever succeeded: the first one only sets a baseline."""
        row = self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM feed_state WHERE last_success_at IS NOT NULL)"
        ).fetchone()
        return row[0] == 1

    def record_poll_success(self, url: str, validators: Validators, *, now: float) -> None:
        self.db["feed_state"].upsert(
            {
                "url": url,
                "etag": validators.etag,
                "last_modified": validators.last_modified,
                "body_hash": validators.body_hash,
                "last_poll_at": now,
                "last_success_at": now,
                "failures": 0,
            },
            pk="url",
        )

    def record_poll_failure(self, url: str, reason: str, *, now: float) -> int:
        """Store the failure; returns how many polls in a row have failed."""
        with self.transaction():
            failures = self.feed_status(url).failures + 1
            self.db["feed_state"].upsert(
                {
                    "url": url,
                    "last_poll_at": now,
                    "last_error": reason,
                    "last_error_at": now,
                    "failures": failures,
                },
                pk="url",
            )
        return failures

    # -- leases ---------------------------------------------------------------------------

    def acquire_lease(
        self,
        name: str,
        *,
        owner: str,
        host: str,
        pid: int,
        ttl: float,
        now: float,
        holder_is_gone: Callable[[Lease], bool],
    ) -> bool:
        """Take or renew the lease `name` for `owner`, unless a live holder has it."""
        with self.transaction():
            rows = list(self.db.query("SELECT * FROM leases WHERE name = ?", [name]))
            if rows:
                held = Lease(
                    rows[0]["owner"], rows[0]["host"], rows[0]["pid"], rows[0]["expires_at"]
                )
                if held.owner != owner and held.expires_at > now and not holder_is_gone(held):
                    return False
            self.db["leases"].upsert(
                {"name": name, "owner": owner, "host": host, "pid": pid, "expires_at": now + ttl},
                pk="name",
            )
            return True

    def renew_lease(self, name: str, *, owner: str, ttl: float, now: float) -> bool:
        """Extend a lease `owner` still holds; False when it was lost to another process."""
        cursor = self.db.execute(
            "UPDATE leases SET expires_at = ? WHERE name = ? AND owner = ?",
            [now + ttl, name, owner],
        )
        return cursor.rowcount == 1

    def release_lease(self, name: str, *, owner: str) -> None:
        self.db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", [name, owner])


def _release_row(release: Release) -> dict[str, Any]:
    return {
        "id": release.id,
        "title": release.title,
        "link": release.link,
        "published": release.published.isoformat() if release.published else None,
        "categories": json.dumps(list(release.categories)),
        "author": release.author,
        "excerpt": release.excerpt,
        "body": release.body,
        "image_url": release.image_url,
    }


def _release_from_row(row: dict[str, Any]) -> Release:
    return Release(
        id=row["id"],
        title=row["title"],
        link=row["link"],
        published=datetime.fromisoformat(row["published"]) if row["published"] else None,
        categories=tuple(json.loads(row["categories"])),
        author=row["author"],
        excerpt=row["excerpt"] or "",
        body=row["body"] or "",
        image_url=row["image_url"],
    )
