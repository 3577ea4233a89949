"""The bot's health, as a small JSON-able dict for `/healthz` and the `status` command."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.store import FAILED, PENDING, SENDING, Store


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def health(store: Store, feed_url: str, archive_url: str | None = None) -> dict[str, Any]:
    """Feed polling, archive backfill and delivery health; `ok` is false while anything needs
    attention. Malformed items (skipped or stored undated) are shown but leave it ok: the site
    has to fix them, and a health check failing for weeks over one item would only get the bot
    restarted; announcements held after a flood wait for an admin, so they count."""
    feed = store.feed_status(feed_url)
    archive = _archive(store, archive_url)
    counts = store.delivery_counts()
    held = store.held()
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
        "ok": not failing_now
        and not failed
        and not retrying
        and archive["state"] != FAILED
        and not held.posts,
        "feed": {
            "last_poll": _iso(feed.last_poll_at),
            "last_success": _iso(feed.last_success_at),
            "last_error": (
                {"at": _iso(feed.last_error_at), "reason": feed.last_error}
                if feed.last_error
                else None
            ),
            "failures_in_a_row": feed.failures,
            "bad_items": {"count": feed.bad_items, "examples": list(feed.bad_item_examples)},
        },
        "releases": store.release_count(),
        "archive": archive,
        "deliveries": {
            "pending": counts[PENDING] + counts[SENDING],
            "sent": counts["sent"],
            "failed": counts[FAILED],
            "retrying": retrying,
            "failures": failed,
            "held": {"releases": held.releases, "posts": held.posts, "reason": held.reason},
        },
    }


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
        "stop_reason": status.stop_reason,
        "bad_items": {"count": status.bad_items, "examples": list(status.bad_item_examples)},
        "last_error": (
            {"at": _iso(status.last_error_at), "reason": status.last_error}
            if status.last_error
            else None
        ),
    }
