"""The bot's health, as a small JSON-able dict for `/healthz` and the `status` command."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.store import FAILED, PENDING, SENDING, Store

if TYPE_CHECKING:
    from bot.socket_mode import SlackConnection


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def health(
    store: Store,
    feed_url: str,
    archive_url: str | None = None,
    slack: SlackConnection | None = None,
) -> dict[str, Any]:
    """Feed polling, archive backfill, delivery and (in Socket Mode, `slack`) connection
    health; `ok` is false while anything needs attention."""
    feed = store.feed_status(feed_url)
    archive = _archive(store, archive_url)
    counts = store.delivery_counts()
    failing_now = feed.failures > 0
    retrying = [
        {"channel": row["channel"], "attempts": row["attempts"], "error": row["last_error"]}
        for row in store.deliveries(states=[PENDING, SENDING], limit=10)
        if row["last_error"]
    ]
    failed = [
        {"channel": row["channel"], "release": row["release_id"], "error": row["last_error"]}
        for row in store.deliveries(states=[FAILED], limit=10)
    ]
    report = {
        "ok": not failing_now and not failed and not retrying and archive["state"] != FAILED,
        "feed": {
            "last_poll": _iso(feed.last_poll_at),
            "last_success": _iso(feed.last_success_at),
            "last_error": (
                {"at": _iso(feed.last_error_at), "reason": feed.last_error}
                if feed.last_error
                else None
            ),
            "failures_in_a_row": feed.failures,
        },
        "releases": store.release_count(),
        "archive": archive,
        "deliveries": {
            "pending": counts[PENDING] + counts[SENDING],
            "sent": counts["sent"],
            "failed": counts[FAILED],
            "retrying": retrying,
            "failures": failed,
        },
    }
    if slack is not None:
        report["ok"] = report["ok"] and slack.connected
        report["slack"] = {
            "connected": slack.connected,
            "since": _iso(slack.since),
            "last_error": slack.last_error,
        }
    return report


def _archive(store: Store, archive_url: str | None) -> dict[str, Any]:
    """How far the archive backfill got: not started, running, done or failed."""
    if archive_url is None:
        return {
            "state": "unavailable",
            "reason": "FEED_URL is a local file and ARCHIVE_URL is not set",
        }
    status = store.archive_status(archive_url)
    return {
        "state": status.state,
        "pages": status.pages,
        "releases_stored": status.stored,
        "left_to_watcher": status.recent,
        "finished": _iso(status.finished_at),
        "last_error": (
            {"at": _iso(status.last_error_at), "reason": status.last_error}
            if status.last_error
            else None
        ),
    }
