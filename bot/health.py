"""The bot's health, as a small JSON-able dict for `/healthz` and the `status` command."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.store import FAILED, PENDING, SENDING, Store


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def health(store: Store, feed_url: str) -> dict[str, Any]:
    """Feed polling and delivery health; `ok` is false while anything needs attention."""
    feed = store.feed_status(feed_url)
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
    return {
        "ok": not failing_now and not failed and not retrying,
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
        "deliveries": {
            "pending": counts[PENDING] + counts[SENDING],
            "sent": counts["sent"],
            "failed": counts[FAILED],
            "retrying": retrying,
            "failures": failed,
        },
    }
