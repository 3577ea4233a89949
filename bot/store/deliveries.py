"""Deliveries (the outbox: one row per release and channel), the holds an admin decides on,
and the leases that let one process at a time post to a channel."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bot.models import (
    ALERT,
    ANNOUNCE,
    DIGEST,
    SHARE,
    SINGLE_WORKSPACE,
    UPDATE,
    Delivery,
    Held,
    Holder,
    Lease,
    Place,
)
from bot.store.base import StoreBase, float_or_none, rows_for
from bot.store.routes import AuditMixin

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
# How the last error of a delivery waiting out Slack's rate limit begins (see bot.slack.outbox).
RATE_LIMITED = "ratelimited"
# A delivery held back for an admin to decide on (a flood: see watcher.py), and one an admin
# discarded. The outbox reads only PENDING and SENDING rows, so it never posts either.
HELD, DISCARDED = "held", "discarded"
# A release waiting for its channel's next digest, and one listed in a digest (`digest_id`).
COLLECTED, DIGESTED = "collected", "digested"


_DELIVERY = (
    "id, release_id, channel, state, attempts, due_at, sending_since, last_error, "
    "last_attempt_at, team, kind, conversation, about, target_id, period"
)
# The deliveries an admin answers for, counted and shown in status pages: the posts in the
# channels they routed (members' alerts are theirs; shares and updates need nobody).
_ROUTED = f"kind IN ('{ANNOUNCE}', '{DIGEST}')"
# A message marked sent: (delivery id, ts, note, conversation).
SentMark = tuple[int, str | None, str | None, str | None]


def create_delivery_indexes(store: StoreBase) -> None:
    """Once per release and place for announcements and alerts, once per period for a
    digest, once per message and revision for an update; and the rows a correction looks
    up."""
    for sql in (
        "CREATE UNIQUE INDEX IF NOT EXISTS deliveries_once ON deliveries "
        "(release_id, team, channel) WHERE kind IN ('announce', 'alert')",
        "CREATE UNIQUE INDEX IF NOT EXISTS digests_once ON deliveries (team, channel, period) "
        "WHERE kind = 'digest'",
        "CREATE UNIQUE INDEX IF NOT EXISTS updates_once ON deliveries "
        "(target_id, release_id, revision) WHERE kind = 'update'",
        "CREATE INDEX IF NOT EXISTS deliveries_by_release ON deliveries (release_id, state)",
        "CREATE INDEX IF NOT EXISTS deliveries_by_digest ON deliveries (digest_id) "
        "WHERE digest_id IS NOT NULL",
    ):
        store.db.execute(sql)


def _held_kind(corrections: bool) -> str:
    """SQL that keeps the held updates of posted messages (`corrections`), or the held
    announcements."""
    return f"kind {'=' if corrections else '!='} '{UPDATE}'"


def _decided(releases: int, state: str, corrections: bool) -> str:
    """The audit log's sentence for an admin's decision on what was held."""
    plural = "release" if releases == 1 else "releases"
    if corrections:
        return (
            f"applied the held corrections of {releases:,} {plural} to their posted messages"
            if state == PENDING
            else f"left the posted messages of {releases:,} corrected {plural} as they were"
        )
    return (
        f"queued {releases:,} held {plural} for announcement"
        if state == PENDING
        else f"discarded {releases:,} held {plural} (stored, never announced)"
    )


def lease_name(place: Place) -> str:
    """The lease that lets one process at a time post to `place` (single-workspace mode's
    channels keep the name they had before there were workspaces)."""
    team, channel = place
    return f"channel:{channel}" if team == SINGLE_WORKSPACE else f"channel:{team}:{channel}"


def _waiting_sent_failed(rows: Iterable[tuple[str, str, int]]) -> dict[str, dict[str, int]]:
    """(key, state, count) rows as counts per key of deliveries waiting (pending or sending),
    sent and failed; held ones (rare) only where there are some."""
    counts: dict[str, dict[str, int]] = {}
    for key, state, count in rows:
        per = counts.setdefault(key, {"waiting": 0, SENT: 0, FAILED: 0})
        kind = "waiting" if state in (PENDING, SENDING) else state
        per[kind] = per.get(kind, 0) + count
    return counts


def _team_filter(team: str | None, column: str = "team") -> tuple[str, list[str]]:
    """SQL that keeps `team`'s rows (None: every workspace's), and its parameters."""
    return ("1", []) if team is None else (f"{column} = ?", [team])


class DeliveriesMixin(AuditMixin):
    """The outbox's rows: queued, held, tried, sent or given up on."""

    def add_delivery(
        self,
        release_id: str,
        place: Place,
        *,
        now: float,
        held_because: str | None = None,
        kind: str = ANNOUNCE,
        state: str = PENDING,
        about: str | None = None,
    ) -> bool:
        """Queue `release_id` for `place` unless it already is; True when queued now. With
        `held_because`, it is held for an admin instead (see `announce_held`), and why is kept
        with it. `state`: COLLECTED for a channel that gets digests; `about`: an alert's
        queries."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO deliveries (release_id, team, channel, state, attempts, "
            "due_at, created_at, last_error, kind, about) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?)",
            [release_id, place.team, place.channel, state if held_because is None else HELD,
             now, now, held_because, kind, about],
        )  # fmt: skip
        return cursor.rowcount == 1

    def held(self, *, team: str | None, corrections: bool = False) -> Held:
        """The deliveries held for an admin of `team` (None: of every workspace), and the
        latest reason: a flood's new releases, or with `corrections` the updates of posted
        messages that a mass correction held."""
        where, params = _team_filter(team)
        where += f" AND {_held_kind(corrections)}"
        releases, posts = self.db.execute(
            "SELECT count(DISTINCT release_id), count(*) FROM deliveries "
            f"WHERE state = ? AND {where}",
            [HELD, *params],
        ).fetchone()
        row = self.db.execute(
            f"SELECT last_error FROM deliveries WHERE state = ? AND {where} "
            "ORDER BY id DESC LIMIT 1",
            [HELD, *params],
        ).fetchone()
        return Held(releases, posts, row[0] if row else None)

    def corrections_queued(self, *, at: float) -> int:
        """How many releases had updates of their posted messages queued at `at` (by one
        poll's transaction)."""
        return int(
            self.db.execute(
                "SELECT count(DISTINCT release_id) FROM deliveries WHERE kind = ? AND state = ? "
                "AND created_at = ?",
                [UPDATE, PENDING, at],
            ).fetchone()[0]
        )

    def hold_corrections(self, *, queued_at: float, because: str) -> None:
        """Hold the updates queued at `queued_at` for an admin (see `apply_held_corrections`),
        saying why: a feed that changes many releases at once is more likely broken than
        corrected, and a message edited wrongly stays so until the feed is right again."""
        self.db.execute(
            "UPDATE deliveries SET state = ?, last_error = ? WHERE kind = ? AND state = ? "
            "AND created_at = ?",
            [HELD, because, UPDATE, PENDING, queued_at],
        )

    def announce_held(self, *, team: str, by: str, now: float) -> int:
        """Queue every announcement held in `team` for posting, and audit it; returns how
        many releases."""
        return self._decide_held(PENDING, team=team, by=by, action="announce", now=now)

    def discard_held(self, *, team: str, by: str, now: float) -> int:
        """Never post the announcements held in `team` (their releases stay stored), and
        audit it; returns how many releases."""
        return self._decide_held(DISCARDED, team=team, by=by, action="discard", now=now)

    def apply_held_corrections(self, *, team: str, by: str, now: float) -> int:
        """Update the posted messages whose corrections are held in `team`, and audit it;
        returns how many releases."""
        return self._decide_held(
            PENDING, team=team, by=by, action="apply corrections", now=now, corrections=True
        )

    def skip_held_corrections(self, *, team: str, by: str, now: float) -> int:
        """Leave the posted messages whose corrections are held in `team` as they are, and
        audit it; returns how many releases."""
        return self._decide_held(
            DISCARDED, team=team, by=by, action="skip corrections", now=now, corrections=True
        )

    def _decide_held(
        self,
        state: str,
        *,
        team: str,
        by: str,
        action: str,
        now: float,
        corrections: bool = False,
    ) -> int:
        kind = _held_kind(corrections)
        with self.transaction():
            releases = self.held(team=team, corrections=corrections).releases
            if state == PENDING and not corrections:
                # In a channel that gets digests, a release announced now waits for its next
                # digest, as one collected now would (bot/store/digests.py).
                self.db.execute(
                    "UPDATE deliveries SET state = ?, created_at = ?, last_error = NULL "
                    f"WHERE state = ? AND team = ? AND {kind} AND channel IN "
                    "(SELECT channel FROM routes WHERE team = ? AND mode != 'immediate')",
                    [COLLECTED, now, HELD, team, team],
                )
            self.db.execute(
                "UPDATE deliveries SET state = ?, due_at = ?, last_error = NULL "
                f"WHERE state = ? AND team = ? AND {kind}",
                [state, now, HELD, team],
            )
            if releases:
                self.record_change(
                    by, action, _decided(releases, state, corrections), now=now, team=team
                )
        return releases

    def channels_with_work(self) -> list[Place]:
        """Every workspace's channels with unfinished deliveries."""
        rows = self.db.execute(
            "SELECT DISTINCT team, channel FROM deliveries WHERE state IN (?, ?) "
            "ORDER BY team, channel",
            [PENDING, SENDING],
        )
        return [Place(*row) for row in rows]

    def next_delivery(self, place: Place) -> Delivery | None:
        """The oldest unfinished delivery of `place`, due or not: a channel's posts go out
        in order, so a delivery waiting to be retried holds back the ones after it."""
        rows = list(
            self.db.query(
                f"SELECT {_DELIVERY} FROM deliveries WHERE state IN (?, ?) AND team = ? "
                "AND channel = ? ORDER BY id LIMIT 1",
                [PENDING, SENDING, place.team, place.channel],
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
                [now + ttl, lease_name(delivery.place), owner],
            )
            if cursor.rowcount != 1:
                return None
            # The release's revision as this try posts it: a correction after it is an update.
            self.db.execute(
                "UPDATE deliveries SET state = ?, attempts = attempts + 1, "
                "sending_since = coalesce(sending_since, ?), last_attempt_at = ?, "
                "revision = CASE WHEN kind = ? THEN revision ELSE "
                "(SELECT revision FROM releases WHERE id = release_id) END WHERE id = ?",
                [SENDING, now, now, UPDATE, delivery_id],
            )
            if delivery.kind == DIGEST:  # ... and of each release it lists, as posted
                self.db.execute(
                    "UPDATE deliveries SET revision = (SELECT revision FROM releases "
                    "WHERE id = release_id) WHERE digest_id = ?",
                    [delivery_id],
                )
            return delivery.attempts + 1

    def begin_posts(
        self, delivery_ids: Sequence[int], *, owner: str, ttl: float, now: float
    ) -> list[int | None]:
        """`begin_post` for each of `delivery_ids` (in the order given; their channels'
        leases checked each), in one transaction: one commit for all the posts about to go
        out at once. What each returned, in order."""
        with self.transaction():
            return [self.begin_post(i, owner=owner, ttl=ttl, now=now) for i in delivery_ids]

    def mark_sent(
        self,
        delivery_id: int,
        *,
        ts: str | None,
        now: float,
        note: str | None = None,
        conversation: str | None = None,
    ) -> None:
        """The post is in the channel (whoever found that out): `note` says how, if unusual;
        `conversation`: where it is, when not the delivery's channel (an alert's DM). A
        release corrected while it was being posted (a digest's: any it lists) gets its update
        queued at once."""
        with self.transaction():
            self.db.execute(
                "UPDATE deliveries SET state = ?, ts = ?, sent_at = ?, last_error = NULL, "
                "note = ?, conversation = coalesce(?, conversation) WHERE id = ?",
                [SENT, ts, now, note, conversation, delivery_id],
            )
            self._catch_up(delivery_id, now=now)

    def mark_all_sent(self, posted: Sequence[SentMark], *, now: float) -> None:
        """`mark_sent` for each (delivery id, ts, note, conversation) of `posted`, in one
        transaction."""
        with self.transaction():
            for delivery_id, ts, note, conversation in posted:
                self.mark_sent(delivery_id, ts=ts, now=now, note=note, conversation=conversation)

    def record_share(
        self,
        release_id: str,
        place: Place,
        *,
        ts: str | None,
        user: str,
        revision: int,
        now: float,
    ) -> None:
        """A release `user` shared into `place` is there (posted at once, not queued): kept as
        a sent delivery, so that a correction of the release updates it too. `revision`: the
        release's as it was read to be shared; one corrected since gets its update now."""
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO deliveries (release_id, team, channel, state, attempts, due_at, "
                "created_at, sent_at, ts, kind, about, revision) VALUES "
                "(?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)",
                [release_id, place.team, place.channel, SENT, now, now, now, ts, SHARE, user,
                 revision],
            )  # fmt: skip
            self._catch_up(cursor.lastrowid, now=now)

    def queue_corrections(self, release_id: str, changed: Sequence[str], *, now: float) -> int:
        """The release's title, excerpt, categories or image changed (its revision is new):
        queue an update of every message of it already posted (announcements, alerts, shares,
        and the digests listing it), once per message and revision. How many."""
        return self._queue_updates(
            "d.release_id = ?", [release_id], now=now, changed=json.dumps(list(changed))
        )

    def _catch_up(self, delivery_id: int | None, *, now: float) -> None:
        """Queue the update of a message just posted whose release (a digest's: any it
        lists) was corrected since the revision it showed."""
        # Two statements: `d.id = ? OR d.digest_id = ?` made SQLite read every sent row.
        for where in ("d.id = ?", "d.digest_id = ?"):
            self._queue_updates(
                f"{where} AND d.revision < r.revision", [delivery_id], now=now, changed=None
            )

    def _queue_updates(
        self, where: str, params: Sequence[Any], *, now: float, changed: str | None
    ) -> int:
        """Queue an update, to its release's revision, of each sent message `where` selects
        (`d`: the delivery of the message, `r`: its release); a digest's message through the
        rows it collected. `changed`: what changed, as a JSON list, if known."""
        selected = (
            "SELECT d.id AS target, d.team AS team, coalesce(d.conversation, d.channel) AS place, "
            "r.id AS release, r.revision AS revision "
            "FROM deliveries d JOIN releases r ON r.id = d.release_id "
            f"WHERE {where} AND d.kind IN ('{ANNOUNCE}', '{ALERT}', '{SHARE}') "
            f"AND d.state = '{SENT}' AND d.ts IS NOT NULL "
            "UNION ALL SELECT g.id, g.team, g.channel, r.id, r.revision FROM deliveries d "
            "JOIN releases r ON r.id = d.release_id JOIN deliveries g ON g.id = d.digest_id "
            f"WHERE {where} AND g.state = '{SENT}' AND g.ts IS NOT NULL"
        )
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO deliveries (kind, target_id, team, channel, release_id, "
            "revision, state, attempts, due_at, created_at, about) "
            f"SELECT ?, target, team, place, release, revision, ?, 0, ?, ?, ? FROM ({selected})",
            [UPDATE, PENDING, now, now, changed, *params, *params],
        )
        return cursor.rowcount

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

    def retry_failed(self, *, team: str | None, now: float, by: str | None = None) -> int:
        """Queue every failed delivery of `team` (None: of every workspace) again; returns how
        many. One whose last try may have reached Slack goes back to "sending": it is looked
        for in history before posting. An admin's retry (`by`, of one team) is audited, in
        the same transaction."""
        where, params = _team_filter(team)
        with self.transaction():
            cursor = self.db.execute(
                "UPDATE deliveries SET state = CASE WHEN sending_since IS NULL THEN ? ELSE ? "
                f"END, due_at = ?, attempts = 0 WHERE state = ? AND {where} AND {_ROUTED}",
                [PENDING, SENDING, now, FAILED, *params],
            )
            count = cursor.rowcount
            if count and by is not None and team is not None:
                what = f"{count} failed {'delivery' if count == 1 else 'deliveries'}"
                self.record_change(by, "retry", f"retried {what}", now=now, team=team)
        return count

    def delivery_counts(self, *, team: str | None) -> dict[str, int]:
        """Deliveries by state, of `team` (None: of every workspace)."""
        where, params = _team_filter(team)
        counts = dict.fromkeys((PENDING, SENDING, SENT, FAILED, HELD, DISCARDED), 0)
        for state, count in self.db.execute(
            f"SELECT state, count(*) FROM deliveries WHERE {where} AND {_ROUTED} GROUP BY state",
            params,
        ):
            counts[state] = count
        return counts

    def delivery_counts_by_channel(self, *, team: str) -> dict[str, dict[str, int]]:
        """Per channel of `team`: deliveries waiting (pending or sending), sent and failed."""
        return _waiting_sent_failed(
            self.db.execute(
                "SELECT channel, state, count(*) FROM deliveries WHERE state != ? AND team = ? "
                f"AND {_ROUTED} GROUP BY channel, state",
                [DISCARDED, team],
            )
        )

    def delivery_counts_by_team(self) -> dict[str, dict[str, int]]:
        """Per workspace: deliveries waiting, sent and failed (for `workspaces` in a terminal)."""
        return _waiting_sent_failed(
            self.db.execute(
                f"SELECT team, state, count(*) FROM deliveries WHERE state != ? AND {_ROUTED} "
                "GROUP BY team, state",
                [DISCARDED],
            )
        )

    def failed_in_routed_channels(self, *, team: str | None) -> int:
        """Deliveries of `team` (None: of every workspace) given up on in channels that still
        have a route (a failure in a channel that no longer receives news needs nothing)."""
        where, params = _team_filter(team, "d.team")
        row = self.db.execute(
            f"SELECT count(*) FROM deliveries d WHERE d.state = ? AND {where} AND {_ROUTED} AND "
            "EXISTS "
            "(SELECT 1 FROM routes r WHERE r.team = d.team AND r.channel = d.channel)",
            [FAILED, *params],
        ).fetchone()
        return int(row[0])

    def deliveries(
        self,
        *,
        team: str | None,
        states: Iterable[str],
        limit: int = 20,
        failing: bool = False,
    ) -> list[dict[str, Any]]:
        """Deliveries of `team` (None: of every workspace) in `states` (with `failing`, only
        those whose last try failed), newest first, with their release title, for status
        pages."""
        wanted = list(states)
        marks = ",".join("?" * len(wanted))
        failing_only = "AND d.last_error IS NOT NULL " if failing else ""
        where, params = _team_filter(team, "d.team")
        return list(
            self.db.query(
                "SELECT d.id, d.team, d.channel, d.state, d.attempts, d.last_error, "
                "d.release_id, r.title FROM deliveries d JOIN releases r ON r.id = d.release_id "
                f"WHERE d.state IN ({marks}) AND {where} AND d.{_ROUTED} {failing_only}"
                "ORDER BY d.id DESC LIMIT ?",
                [*wanted, *params, limit],
            )
        )

    def waiting_after_failures(self, *, team: str | None) -> tuple[int, int]:
        """How many unfinished deliveries of `team` (None: of every workspace) last failed:
        (waiting out a rate limit, others)."""
        where, params = _team_filter(team)
        row = self.db.execute(
            "SELECT count(*) FILTER (WHERE last_error LIKE ?), "
            "count(*) FILTER (WHERE last_error NOT LIKE ?) FROM deliveries "
            f"WHERE state IN (?, ?) AND last_error IS NOT NULL AND {where} AND {_ROUTED}",
            [RATE_LIMITED + "%", RATE_LIMITED + "%", PENDING, SENDING, *params],
        ).fetchone()
        return row[0], row[1]

    def alerts_waiting(self, *, team: str | None) -> tuple[int, str | None]:
        """Alerts to members of `team` (None: of every workspace) waiting to be retried, and
        the latest error: the app's to fix (a scope, the token), as a member who cannot be
        messaged is given up on at once."""
        where, params = _team_filter(team)
        waiting = (
            f"FROM deliveries WHERE kind = ? AND state IN (?, ?) AND last_error IS NOT NULL "
            f"AND {where}"
        )
        wanted = [ALERT, PENDING, SENDING, *params]
        count = self.db.execute(f"SELECT count(*) {waiting}", wanted).fetchone()[0]
        latest = self.db.execute(
            f"SELECT last_error {waiting} ORDER BY last_attempt_at DESC, id DESC LIMIT 1", wanted
        ).fetchone()
        return int(count), latest[0] if latest else None

    def delivery_log(self) -> list[dict[str, Any]]:
        """Every delivery in queue order (for tests and `status`)."""
        return list(
            self.db.query(
                "SELECT id, release_id, team, channel, state, attempts, ts, last_error "
                "FROM deliveries ORDER BY id"
            )
        )

    # -- leases ---------------------------------------------------------------------------

    def claim_channels(
        self,
        holder: Holder,
        *,
        skip: Iterable[Place] = (),
        ttl: float,
        now: float,
        holder_is_gone: Callable[[Lease], bool],
    ) -> dict[Place, Delivery]:
        """Take the lease of every channel with unfinished deliveries, except those in `skip`,
        that no live process holds, in one transaction (one commit however many channels a
        release goes to); returns each taken channel's oldest unfinished delivery, by channel.

        A handful of statements whatever the number of channels: a release to 2,000 channels
        took 300 ms of the writer's time before its first post when each channel was looked
        up and leased by statements of its own (benchmarks/fanout.py)."""
        skipped = set(skip)
        with self.transaction():
            firsts = {
                delivery.place: delivery
                for delivery in self._oldest_unfinished()
                if delivery.place not in skipped
            }
            names = {lease_name(place): place for place in firsts}
            held = self._leases(list(names))
            free = sorted(
                place
                for name, place in names.items()
                if (lease := held.get(name)) is None
                or lease.holder.owner == holder.owner
                or lease.expires_at <= now
                or holder_is_gone(lease)
            )
            self._hold([lease_name(place) for place in free], holder, expires_at=now + ttl)
        return {place: firsts[place] for place in free}

    def _oldest_unfinished(self) -> list[Delivery]:
        """Each channel's oldest unfinished delivery (as `next_delivery` gives it)."""
        return [
            Delivery(**row)
            for row in self.db.query(
                f"SELECT {_DELIVERY} FROM deliveries WHERE id IN (SELECT min(id) FROM "
                "deliveries WHERE state IN (?, ?) GROUP BY team, channel)",
                [PENDING, SENDING],
            )
        ]

    def renew_leases(
        self, places: Iterable[Place], *, owner: str, ttl: float, now: float
    ) -> set[Place]:
        """Extend the leases of `places` that `owner` still holds; returns the places whose
        lease was lost to another process meanwhile."""
        lost = set()
        with self.transaction():
            for place in places:
                cursor = self.db.execute(
                    "UPDATE leases SET expires_at = ? WHERE name = ? AND owner = ?",
                    [now + ttl, lease_name(place), owner],
                )
                if cursor.rowcount != 1:
                    lost.add(place)
        return lost

    def release_leases(self, places: Iterable[Place], *, owner: str) -> None:
        """Give up the leases of `places` that `owner` holds, in one transaction."""
        with self.transaction():
            for place in places:
                self.db.execute(
                    "DELETE FROM leases WHERE name = ? AND owner = ?", [lease_name(place), owner]
                )

    def _leases(self, names: Sequence[str]) -> dict[str, Lease]:
        """The leases of `names` that exist, by name."""
        rows = rows_for(
            self.db,
            "SELECT name, owner, host, pid, boot_id, pid_ns, started, expires_at FROM leases "
            "WHERE name IN (?)",
            names,
        )
        return {
            name: Lease(Holder(owner, host, pid, boot_id, pid_ns, started), expires_at)
            for name, owner, host, pid, boot_id, pid_ns, started, expires_at in rows
        }

    def _hold(self, names: Iterable[str], holder: Holder, *, expires_at: float) -> None:
        """Make `holder` the holder of the leases `names`, until `expires_at`."""
        self.db.conn.executemany(
            "INSERT INTO leases (name, owner, host, pid, boot_id, pid_ns, started, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "owner = excluded.owner, host = excluded.host, pid = excluded.pid, "
            "boot_id = excluded.boot_id, pid_ns = excluded.pid_ns, started = excluded.started, "
            "expires_at = excluded.expires_at",
            [
                (name, holder.owner, holder.host, holder.pid, holder.boot_id, holder.pid_ns,
                 holder.started, expires_at)
                for name in names
            ],
        )  # fmt: skip
