"""Deliveries (the outbox: one row per release and channel), the holds an admin decides on,
and the leases that let one process at a time post to a channel."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from bot.models import Delivery, Held, Holder, Lease
from bot.store.base import float_or_none
from bot.store.routes import AuditMixin

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
# How the last error of a delivery waiting out Slack's rate limit begins (see bot.slack.outbox).
RATE_LIMITED = "ratelimited"
# A delivery held back for an admin to decide on (a flood: see watcher.py), and one an admin
# discarded. The outbox reads only PENDING and SENDING rows, so it never posts either.
HELD, DISCARDED = "held", "discarded"

_DELIVERY = (
    "id, release_id, channel, state, attempts, due_at, sending_since, last_error, last_attempt_at"
)


def lease_name(channel: str) -> str:
    """The lease that lets one process at a time post to `channel`."""
    return f"channel:{channel}"


class DeliveriesMixin(AuditMixin):
    """The outbox's rows: queued, held, tried, sent or given up on."""

    def add_delivery(
        self, release_id: str, channel: str, *, now: float, held_because: str | None = None
    ) -> bool:
        """Queue `release_id` for `channel` unless it already is; True when queued now. With
        `held_because`, it is held for an admin instead (see `announce_held`), and why is kept
        with it."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO deliveries (release_id, channel, state, attempts, due_at, "
            "created_at, last_error) VALUES (?, ?, ?, 0, ?, ?, ?)",
            [release_id, channel, PENDING if held_because is None else HELD, now, now,
             held_because],
        )  # fmt: skip
        return cursor.rowcount == 1

    def held(self) -> Held:
        """The deliveries held for an admin, and the latest reason."""
        releases, posts = self.db.execute(
            "SELECT count(DISTINCT release_id), count(*) FROM deliveries WHERE state = ?", [HELD]
        ).fetchone()
        row = self.db.execute(
            "SELECT last_error FROM deliveries WHERE state = ? ORDER BY id DESC LIMIT 1", [HELD]
        ).fetchone()
        return Held(releases, posts, row[0] if row else None)

    def announce_held(self, *, by: str, now: float) -> int:
        """Queue every held delivery for posting, and audit it; returns how many releases."""
        return self._decide_held(PENDING, by=by, action="announce", now=now)

    def discard_held(self, *, by: str, now: float) -> int:
        """Never post the held deliveries (their releases stay stored), and audit it; returns
        how many releases."""
        return self._decide_held(DISCARDED, by=by, action="discard", now=now)

    def _decide_held(self, state: str, *, by: str, action: str, now: float) -> int:
        with self.transaction():
            releases = self.held().releases
            self.db.execute(
                "UPDATE deliveries SET state = ?, due_at = ?, last_error = NULL WHERE state = ?",
                [state, now, HELD],
            )
            if releases:
                plural = "release" if releases == 1 else "releases"
                did = (
                    f"queued {releases:,} held {plural} for announcement"
                    if state == PENDING
                    else f"discarded {releases:,} held {plural} (stored, never announced)"
                )
                self.record_change(by, action, did, now=now)
        return releases

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
                f"SELECT {_DELIVERY} FROM deliveries WHERE channel = ? AND state IN (?, ?) "
                "ORDER BY id LIMIT 1",
                [channel, PENDING, SENDING],
            )
        )
        return Delivery(**rows[0]) if rows else None

    def delivery(self, delivery_id: int) -> Delivery | None:
        rows = list(
            self.db.query(f"SELECT {_DELIVERY} FROM deliveries WHERE id = ?", [delivery_id])
        )
        return Delivery(**rows[0]) if rows else None

    def next_due_at(self) -> float | None:
        return float_or_none(
            self.db, "SELECT min(due_at) FROM deliveries WHERE state IN (?, ?)", [PENDING, SENDING]
        )

    def begin_post(self, delivery_id: int, *, owner: str, ttl: float, now: float) -> int | None:
        """Right before a post: check that `owner` still holds the lease of the delivery's
        channel and that the delivery is still unfinished, extend the lease, and record the
        attempt ("sending": from here on its outcome is unknown until `mark_sent` or
        `reschedule`, and a restart checks Slack before posting again). One transaction;
        returns the attempt's number (see `reschedule`), or None, with nothing changed, when
        the lease or the delivery was taken meanwhile."""
        with self.transaction():
            delivery = self.delivery(delivery_id)
            if delivery is None or delivery.state not in (PENDING, SENDING):
                return None
            cursor = self.db.execute(
                "UPDATE leases SET expires_at = ? WHERE name = ? AND owner = ?",
                [now + ttl, lease_name(delivery.channel), owner],
            )
            if cursor.rowcount != 1:
                return None
            self.db.execute(
                "UPDATE deliveries SET state = ?, attempts = attempts + 1, "
                "sending_since = coalesce(sending_since, ?), last_attempt_at = ? WHERE id = ?",
                [SENDING, now, now, delivery_id],
            )
            return delivery.attempts + 1

    def mark_sent(
        self, delivery_id: int, *, ts: str | None, now: float, note: str | None = None
    ) -> None:
        """The post is in the channel (whoever found that out): `note` says how, if unusual."""
        self.db.execute(
            "UPDATE deliveries SET state = ?, ts = ?, sent_at = ?, last_error = NULL, note = ? "
            "WHERE id = ?",
            [SENT, ts, now, note, delivery_id],
        )

    def reschedule(
        self,
        delivery_id: int,
        *,
        attempt: int | None,
        due_at: float,
        error: str,
        outcome_known: bool,
        count_attempt: bool = False,
    ) -> None:
        """Try again at `due_at`. When the failed post surely did not reach Slack, the delivery
        goes back to pending; otherwise it stays "sending" so the retry checks history first.
        `count_attempt`: a try that posted nothing (a history check) counts towards giving up.

        Only while the delivery is still at `attempt` (its `attempts` when this try began): a
        process that stalled mid-try must not undo what another made of the delivery since
        (a newer try whose outcome is unknown, or a post found in history). None: whatever
        its attempts (the holder's own bookkeeping)."""
        state = "CASE WHEN ? THEN ? ELSE state END"
        self.db.execute(
            f"UPDATE deliveries SET state = {state}, "
            "sending_since = CASE WHEN ? THEN NULL ELSE sending_since END, due_at = ?, "
            "last_error = ?, attempts = attempts + ? "
            "WHERE id = ? AND (? IS NULL OR attempts = ?) AND state IN (?, ?)",
            [outcome_known, PENDING, outcome_known, due_at, error, int(count_attempt),
             delivery_id, attempt, attempt, PENDING, SENDING],
        )  # fmt: skip

    def mark_failed(
        self, delivery_id: int, *, attempt: int | None, error: str, outcome_known: bool
    ) -> None:
        """Give up on a delivery. When its last try may have reached Slack, it keeps its
        `sending_since`, so that `retry_failed` has it looked for in history before posting.
        Only while it is still at `attempt` (None: whatever its attempts), as `reschedule`."""
        self.db.execute(
            "UPDATE deliveries SET state = ?, last_error = ?, "
            "sending_since = CASE WHEN ? THEN NULL ELSE sending_since END "
            "WHERE id = ? AND state IN (?, ?) AND (? IS NULL OR attempts = ?)",
            [FAILED, error, outcome_known, delivery_id, PENDING, SENDING, attempt, attempt],
        )

    def make_all_due(self, *, now: float) -> None:
        """At start-up: whatever waited for a retry is tried at once (a restart often follows
        the fix, e.g. a new token), but for what waits out Slack's rate limit: a restart
        does not end that."""
        self.db.execute(
            "UPDATE deliveries SET due_at = ? WHERE state IN (?, ?) AND due_at > ? "
            "AND coalesce(last_error, '') NOT LIKE ?",
            [now, PENDING, SENDING, now, RATE_LIMITED + "%"],
        )

    def retry_failed(self, *, now: float, by: str | None = None) -> int:
        """Queue every failed delivery again; returns how many. One whose last try may have
        reached Slack goes back to "sending": it is looked for in history before posting.
        An admin's retry (`by`) is audited, in the same transaction."""
        with self.transaction():
            cursor = self.db.execute(
                "UPDATE deliveries SET state = CASE WHEN sending_since IS NULL THEN ? ELSE ? "
                "END, due_at = ?, attempts = 0 WHERE state = ?",
                [PENDING, SENDING, now, FAILED],
            )
            count = cursor.rowcount
            if count and by is not None:
                what = f"{count} failed {'delivery' if count == 1 else 'deliveries'}"
                self.record_change(by, "retry", f"retried {what}", now=now)
        return count

    def delivery_counts(self) -> dict[str, int]:
        counts = dict.fromkeys((PENDING, SENDING, SENT, FAILED, HELD, DISCARDED), 0)
        for state, count in self.db.execute(
            "SELECT state, count(*) FROM deliveries GROUP BY state"
        ):
            counts[state] = count
        return counts

    def delivery_counts_by_channel(self) -> dict[str, dict[str, int]]:
        """Per channel: deliveries waiting (pending or sending), sent and failed."""
        counts: dict[str, dict[str, int]] = {}
        for channel, state, count in self.db.execute(
            "SELECT channel, state, count(*) FROM deliveries WHERE state != ? "
            "GROUP BY channel, state",
            [DISCARDED],
        ):
            per = counts.setdefault(channel, {"waiting": 0, SENT: 0, FAILED: 0})
            # Held ones (rare) only where there are some.
            key = "waiting" if state in (PENDING, SENDING) else state
            per[key] = per.get(key, 0) + count
        return counts

    def deliveries(
        self, *, states: Iterable[str], limit: int = 20, failing: bool = False
    ) -> list[dict[str, Any]]:
        """Deliveries in `states` (with `failing`, only those whose last try failed), newest
        first, with their release title, for status pages."""
        wanted = list(states)
        marks = ",".join("?" * len(wanted))
        failing_only = "AND d.last_error IS NOT NULL " if failing else ""
        return list(
            self.db.query(
                "SELECT d.id, d.channel, d.state, d.attempts, d.last_error, d.release_id, "
                f"r.title FROM deliveries d JOIN releases r ON r.id = d.release_id "
                f"WHERE d.state IN ({marks}) {failing_only}ORDER BY d.id DESC LIMIT ?",
                [*wanted, limit],
            )
        )

    def waiting_after_failures(self) -> tuple[int, int]:
        """How many unfinished deliveries last failed: (waiting out a rate limit, others)."""
        row = self.db.execute(
            "SELECT count(*) FILTER (WHERE last_error LIKE ?), "
            "count(*) FILTER (WHERE last_error NOT LIKE ?) FROM deliveries "
            "WHERE state IN (?, ?) AND last_error IS NOT NULL",
            [RATE_LIMITED + "%", RATE_LIMITED + "%", PENDING, SENDING],
        ).fetchone()
        return row[0], row[1]

    def delivery_log(self) -> list[dict[str, Any]]:
        """Every delivery in queue order (for tests and `status`)."""
        return list(
            self.db.query(
                "SELECT id, release_id, channel, state, attempts, ts, last_error "
                "FROM deliveries ORDER BY id"
            )
        )

    # -- leases ---------------------------------------------------------------------------

    def claim_channels(
        self,
        holder: Holder,
        *,
        skip: Iterable[str] = (),
        ttl: float,
        now: float,
        holder_is_gone: Callable[[Lease], bool],
    ) -> dict[str, Delivery]:
        """Take the lease of every channel with unfinished deliveries, except those in `skip`,
        that no live process holds, in one transaction (one commit however many channels a
        release goes to); returns each taken channel's oldest unfinished delivery."""
        taken: dict[str, Delivery] = {}
        skipped = set(skip)
        with self.transaction():
            for channel in self.channels_with_work():
                if channel in skipped:
                    continue
                name = lease_name(channel)
                held = self._lease(name)
                if (
                    held is not None
                    and held.holder.owner != holder.owner
                    and held.expires_at > now
                    and not holder_is_gone(held)
                ):
                    continue
                self._hold(name, holder, expires_at=now + ttl)
                delivery = self.next_delivery(channel)
                if delivery is not None:
                    taken[channel] = delivery
        return taken

    def renew_leases(
        self, channels: Iterable[str], *, owner: str, ttl: float, now: float
    ) -> set[str]:
        """Extend the leases of `channels` that `owner` still holds; returns the channels whose
        lease was lost to another process meanwhile."""
        lost = set()
        with self.transaction():
            for channel in channels:
                cursor = self.db.execute(
                    "UPDATE leases SET expires_at = ? WHERE name = ? AND owner = ?",
                    [now + ttl, lease_name(channel), owner],
                )
                if cursor.rowcount != 1:
                    lost.add(channel)
        return lost

    def release_lease(self, channel: str, *, owner: str) -> None:
        self.db.execute(
            "DELETE FROM leases WHERE name = ? AND owner = ?", [lease_name(channel), owner]
        )

    def _lease(self, name: str) -> Lease | None:
        rows = list(self.db.query("SELECT * FROM leases WHERE name = ?", [name]))
        if not rows:
            return None
        row = rows[0]
        holder = Holder(
            row["owner"], row["host"], row["pid"], row.get("boot_id"), row.get("pid_ns"),
            row.get("started"),
        )  # fmt: skip
        return Lease(holder, row["expires_at"])

    def _hold(self, name: str, holder: Holder, *, expires_at: float) -> None:
        self.db.table("leases").upsert(
            {
                "name": name,
                "owner": holder.owner,
                "host": holder.host,
                "pid": holder.pid,
                "boot_id": holder.boot_id,
                "pid_ns": holder.pid_ns,
                "started": holder.started,
                "expires_at": expires_at,
            },
            pk="name",
        )
