"""The bot's health, as a small JSON-able dict for `/healthz`, the `status` command and the
admin's Home.

`problems` lists, one line each, whatever needs an admin's attention or explains why news is not
flowing; `ok` is true only when it is empty (and `/healthz` answers 503 otherwise, which is what
platform health checks act on). `notices` lists what is worth knowing but leaves the bot ok:
malformed items of the feed or the archive, skipped or stored undated. The site has to fix those,
and a health check failing for weeks over one item would only get the bot restarted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.archive import NORMAL_ENDS
from bot.database import Database, DatabaseBusy
from bot.store import FAILED, PENDING, SENDING, Store

# A delivery whose last error starts so is waiting out a 429 (see bot.outbox).
RATE_LIMITED = "ratelimited"


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def health(
    store: Store,
    feed_url: str,
    archive_url: str | None = None,
    *,
    live: Sequence[str] = (),
) -> dict[str, Any]:
    """Feed polling, archive backfill and delivery health. `live` are problems only the
    running process knows of (the database cannot be written, Slack rejected the token…)."""
    feed = store.feed_status(feed_url)
    archive = _archive(store, archive_url)
    counts = store.delivery_counts()
    held = store.held()
    retrying = [
        {"channel": row["channel"], "attempts": row["attempts"], "error": row["last_error"]}
        for row in store.deliveries(states=[PENDING, SENDING], limit=10)
        if row["last_error"]
    ]
    failed = [
        {"channel": row["channel"], "release": row["release_id"], "error": row["last_error"]}
        for row in store.deliveries(states=[FAILED], limit=10)
    ]
    problems = [*live]
    if feed.last_success_at is None:
        problems.append(
            "The feed has not been polled successfully yet"
            + (f": {feed.last_error}" if feed.last_error else ".")
        )
    elif feed.failures:
        problems.append(
            f"The feed is failing ({_times(feed.failures)} in a row): {feed.last_error}"
        )
    if archive["state"] == FAILED and archive["last_error"]:
        problems.append(f"The archive import failed: {archive['last_error']['reason']}")
    limited = [row for row in retrying if str(row["error"]).startswith(RATE_LIMITED)]
    if limited:
        problems.append(
            f"Slack is rate-limiting posts ({_count(len(limited), 'channel')}; "
            f"{limited[0]['channel']}: {limited[0]['error']})"
        )
    others = [row for row in retrying if row not in limited]
    if others:
        problems.append(
            f"{_count(len(others), 'delivery', 'deliveries')} waiting to be retried "
            f"({others[0]['channel']}: {others[0]['error']})"
        )
    if failed:
        problems.append(
            f"{_count(counts[FAILED], 'delivery', 'deliveries')} failed for good "
            f"({failed[0]['channel']}: {failed[0]['error']}): fix the cause, then retry them"
        )
    if held.posts:
        problems.append(
            f"{_count(held.releases, 'announcement')} held for an admin to announce or "
            f"discard: {held.reason}"
        )
    notices = []
    if feed.bad_items:
        notices.append(
            f"The feed had {_count(feed.bad_items, 'malformed item')} "
            f"({_first(feed.bad_item_examples)})"
        )
    archive_bad = archive.get("bad_items") or {}
    if archive_bad.get("count"):
        notices.append(
            f"The archive import met {_count(archive_bad['count'], 'malformed item')} "
            f"({_first(archive_bad.get('examples') or ())})"
        )
    if archive.get("stop_reason") and archive["stop_reason"] not in NORMAL_ENDS:
        notices.append(f"The archive import stopped early: {archive['stop_reason']}")
    return {
        "ok": not problems,
        "problems": problems,
        "notices": notices,
        "feed": {
            "last_poll": iso(feed.last_poll_at),
            "last_success": iso(feed.last_success_at),
            "last_error": (
                {"at": iso(feed.last_error_at), "reason": feed.last_error}
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


async def report(
    db: Database,
    feed_url: str,
    archive_url: str | None,
    *,
    live: Sequence[str] = (),
    within: float | None = None,
) -> dict[str, Any]:
    """`health` read off the event loop; when the database cannot be read within `within`
    seconds, a report that says so (and is not ok)."""
    try:
        return await db.read(
            lambda store: health(store, feed_url, archive_url, live=live), within=within
        )
    except (DatabaseBusy, sqlite3.Error) as error:
        return {
            "ok": False,
            "problems": [*live, f"The database could not be read in time ({error})"],
        }


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number} {one if number == 1 else many or one + 's'}"


def _first(examples: Sequence[str]) -> str:
    return f"e.g. {examples[0]}" if examples else "see the log"


def _times(number: int) -> str:
    return "once" if number == 1 else f"{number} times"


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
        "finished": iso(status.finished_at),
        "stop_reason": status.stop_reason,
        "bad_items": {"count": status.bad_items, "examples": list(status.bad_item_examples)},
        "last_error": (
            {"at": iso(status.last_error_at), "reason": status.last_error}
            if status.last_error
            else None
        ),
    }
