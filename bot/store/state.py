"""How the feed and the archive backfill are doing: per feed URL, the conditional-GET
validators and poll health; per archive URL, how far the walk got."""

from __future__ import annotations

import json
from collections.abc import Sequence

from bot.models import ArchiveStatus, FeedStatus, Validators
from bot.store.base import StoreBase, float_or_none, int_value
from bot.store.deliveries import FAILED

# How many of the latest malformed items the feed and archive states keep, as examples.
BAD_ITEM_EXAMPLES = 5

# Archive backfill states, as health shows them; a failed walk is FAILED.
NOT_STARTED, RUNNING, DONE = "not started", "running", "done"


class StateMixin(StoreBase):
    """Feed state and archive state."""

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
            bad_items=row.get("bad_items") or 0,
            bad_item_examples=tuple(json.loads(row.get("bad_item_examples") or "[]")),
        )

    def ever_polled(self) -> bool:
        """Whether any poll of any feed URL ever succeeded: the first one only sets a baseline."""
        polled = "SELECT EXISTS (SELECT 1 FROM feed_state WHERE last_success_at IS NOT NULL)"
        return int_value(self.db, polled) == 1

    def latest_poll_success(self) -> float | None:
        """When a poll of any feed URL last succeeded; None before the first one."""
        return float_or_none(self.db, "SELECT max(last_success_at) FROM feed_state")

    def record_feed_window(self, url: str, oldest_published: float | None) -> None:
        """Remember the oldest publication time in the feed as last parsed. The feed lists the
        newest releases, so an unstored release newer than that is one it has yet to show."""
        self.db.execute(
            "UPDATE feed_state SET window_start = ? WHERE url = ?", [oldest_published, url]
        )

    def feed_window_start(self) -> float | None:
        """`record_feed_window`'s value for the feed polled most recently."""
        row = self.db.execute(
            "SELECT window_start FROM feed_state WHERE last_success_at IS NOT NULL "
            "ORDER BY last_success_at DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    def record_poll_success(self, url: str, validators: Validators, *, now: float) -> None:
        self.db.table("feed_state").upsert(
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

    def record_bad_feed_items(self, url: str, problems: Sequence[str]) -> None:
        """Remember the items of the feed as last parsed that were skipped or stored with a
        fallback (none: the feed is clean again)."""
        self.db.execute(
            "UPDATE feed_state SET bad_items = ?, bad_item_examples = ? WHERE url = ?",
            [len(problems), json.dumps(list(problems[:BAD_ITEM_EXAMPLES])), url],
        )

    def record_poll_failure(self, url: str, reason: str, *, now: float) -> int:
        """Store the failure; returns how many polls in a row have failed."""
        with self.transaction():
            failures = self.feed_status(url).failures + 1
            self.db.table("feed_state").upsert(
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

    # -- archive --------------------------------------------------------------------------

    def archive_status(self, url: str) -> ArchiveStatus:
        rows = list(self.db.query("SELECT * FROM archive_state WHERE url = ?", [url]))
        row = rows[0] if rows else {}
        return ArchiveStatus(
            url=url,
            state=row.get("state") or NOT_STARTED,
            next_offset=row.get("next_offset"),
            pages=row.get("pages") or 0,
            stored=row.get("stored") or 0,
            recent=row.get("recent") or 0,
            started_at=row.get("started_at"),
            finished_at=row.get("finished_at"),
            last_error=row.get("last_error"),
            last_error_at=row.get("last_error_at"),
            failures=row.get("failures") or 0,
            planned=bool(row),
            bad_items=row.get("bad_items") or 0,
            bad_item_examples=tuple(json.loads(row.get("bad_item_examples") or "[]")),
            stop_reason=row.get("stop_reason"),
        )

    def plan_archive(self, url: str, *, now: float) -> None:
        """Record that the archive of `url` should be walked (a no-op when it has a state), so
        that a process killed before the first page still backfills at its next start."""
        self.db.execute(
            "INSERT OR IGNORE INTO archive_state (url, state, updated_at) VALUES (?, ?, ?)",
            [url, NOT_STARTED, now],
        )

    def start_archive(self, url: str, *, now: float) -> int | None:
        """Mark the walk of `url` running; returns the offset to resume at (None: first page).

        An unfinished walk (interrupted or failed) resumes with its counts; a finished or
        never started one begins again at the first page with fresh counts.
        """
        with self.transaction():
            status = self.archive_status(url)
            if status.state in (RUNNING, FAILED):
                self.db.execute(
                    "UPDATE archive_state SET state = ?, updated_at = ? WHERE url = ?",
                    [RUNNING, now, url],
                )
                return status.next_offset
            self.db.table("archive_state").upsert(
                {
                    "url": url,
                    "state": RUNNING,
                    "next_offset": None,
                    "pages": 0,
                    "stored": 0,
                    "recent": 0,
                    "started_at": now,
                    "updated_at": now,
                    "finished_at": None,
                    "bad_items": 0,
                    "bad_item_examples": None,
                    "stop_reason": None,
                },
                pk="url",
            )
            return None

    def record_archive_page(
        self,
        url: str,
        *,
        next_offset: int | None,
        stored: int,
        recent: int,
        finished: bool,
        now: float,
        problems: Sequence[str] = (),
        stop_reason: str | None = None,
    ) -> None:
        """Count one page read and remember where the walk goes on (call it in the page's
        transaction, so the offset never runs ahead of or behind the stored releases), with
        the page's malformed items and, on its last page, why the walk ended."""
        examples = [*self.archive_status(url).bad_item_examples, *problems][-BAD_ITEM_EXAMPLES:]
        self.db.execute(
            "UPDATE archive_state SET state = ?, next_offset = ?, pages = pages + 1, "
            "stored = stored + ?, recent = recent + ?, updated_at = ?, finished_at = ?, "
            "failures = CASE WHEN ? THEN 0 ELSE failures END, "
            "bad_items = coalesce(bad_items, 0) + ?, bad_item_examples = ?, stop_reason = ? "
            "WHERE url = ?",
            [DONE if finished else RUNNING, next_offset, stored, recent, now,
             now if finished else None, finished, len(problems), json.dumps(examples),
             stop_reason, url],
        )  # fmt: skip

    def record_archive_failure(self, url: str, reason: str, *, now: float) -> int:
        """Mark the walk failed, progress kept; returns how many runs in a row have failed."""
        with self.transaction():
            self.db.execute(
                "INSERT OR IGNORE INTO archive_state (url, state) VALUES (?, ?)", [url, FAILED]
            )
            self.db.execute(
                "UPDATE archive_state SET state = ?, last_error = ?, last_error_at = ?, "
                "updated_at = ?, failures = failures + 1 WHERE url = ?",
                [FAILED, reason, now, now, url],
            )
            return self.archive_status(url).failures
