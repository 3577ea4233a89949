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
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NotRequired, TypedDict

from bot.database import Database, DatabaseBusy
from bot.models import NORMAL_ENDS, SINGLE_WORKSPACE, ArchiveStatus, FeedStatus, Held
from bot.schedule import next_digest
from bot.settings import Settings
from bot.store import FAILED, PENDING, RATE_LIMITED, SENDING, Store

if TYPE_CHECKING:
    from bot.models import SlackConnection

# A feed not polled for three intervals and this long is reported (polls may be a little late).
STALE_MARGIN = 60.0


# The report's shape, as /healthz serves it in JSON (times in ISO 8601, UTC).


class ErrorAt(TypedDict):
    at: str | None
    reason: str


class BadItems(TypedDict):
    """Malformed items skipped or stored with a fallback: how many, and the latest few."""

    count: int
    examples: list[str]


class FeedHealth(TypedDict):
    last_poll: str | None
    last_success: str | None
    last_error: ErrorAt | None
    failures_in_a_row: int
    bad_items: BadItems


class ArchiveHealth(TypedDict):
    state: str  # bot.store's NOT_STARTED, RUNNING, DONE or FAILED
    pages: int
    releases_stored: int
    left_to_watcher: int
    finished: str | None
    stop_reason: str | None
    bad_items: BadItems
    last_error: ErrorAt | None


class ArchiveUnavailable(TypedDict):
    """No archive to import: the feed is a local file."""

    state: str  # "unavailable"
    reason: str


class Retrying(TypedDict):
    channel: str
    attempts: int
    error: str | None
    team: NotRequired[str]  # in the report of every workspace (distribution mode)


class FailedDelivery(TypedDict):
    channel: str
    release: str
    error: str | None
    team: NotRequired[str]


class FailingWorkspace(TypedDict):
    team: str
    deliveries: int
    last_error: str | None


class WorkspacesHealth(TypedDict):
    """Distribution mode: the workspaces installed, and those whose deliveries fail."""

    installed: int
    failing: int
    failing_examples: list[FailingWorkspace]  # the first few


class HeldHealth(TypedDict):
    releases: int
    posts: int
    reason: str | None


class DeliveriesHealth(TypedDict):
    pending: int  # pending or being sent
    sent: int
    failed: int
    retrying: list[Retrying]  # the latest few
    failures: list[FailedDelivery]  # the latest few
    held: HeldHealth
    corrections_held: HeldHealth  # updates of posted messages a mass correction held


class AlertsHealth(TypedDict):
    """Members' alerts, as counts only: who holds which is theirs."""

    members: int
    alerts: int
    paused: int  # members who cannot be messaged, whose alerts wait for them


class DigestsHealth(TypedDict):
    routes: dict[str, int]  # by mode: immediate, daily, weekly
    waiting: int  # releases collected for a next digest
    next: str | None  # when the first digest with something to send is due


class SlackHealth(TypedDict):
    connected: bool
    since: str | None
    last_error: str | None


class Health(TypedDict):
    """The whole report (see the module's docstring)."""

    ok: bool
    problems: list[str]
    notices: list[str]
    feed: FeedHealth
    releases: int
    routes: int
    archive: ArchiveHealth | ArchiveUnavailable
    deliveries: DeliveriesHealth
    alerts: AlertsHealth
    digests: DigestsHealth
    slack: NotRequired[SlackHealth]  # in Socket Mode only
    workspaces: NotRequired[WorkspacesHealth]  # in distribution mode, of every workspace


class Unreadable(TypedDict):
    """The report when the database could not be read in time: its problems say so."""

    ok: bool  # always False
    problems: list[str]


HealthReport = Health | Unreadable


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def everyone(settings: Settings) -> str | None:
    """The `team` of a report on the whole bot (/healthz, `status`): every workspace's in
    distribution mode, else the one workspace's."""
    return None if settings.distribution else SINGLE_WORKSPACE


def health(
    store: Store,
    feed_url: str,
    archive_url: str | None = None,
    *,
    live: Sequence[str] = (),
    poll_interval: float | None = None,
    slack: SlackConnection | None = None,
    now: float | None = None,
    team: str | None = SINGLE_WORKSPACE,
) -> Health:
    """Feed polling, archive backfill, delivery and (in Socket Mode, `slack`) connection
    health. `live` are problems only the running process knows of (the database cannot be
    written, Slack rejected the token or cannot be reached…); `poll_interval` as set (a feed
    not polled for several intervals needs an admin). Failures in channels that no longer
    receive news need nothing more. No route at all is a notice, not a problem: the bot is
    healthy while its admins have yet to pick a channel.

    `team`: whose routes and deliveries (None: every workspace's, with a summary of the
    workspaces, for /healthz and `status` in distribution mode). The feed and the archive
    are every workspace's."""
    current = time.time() if now is None else now
    feed = store.feed_status(feed_url)
    walk = store.archive_status(archive_url) if archive_url is not None else None
    deliveries = _deliveries(store, team)
    routes = store.routes(team=team) if team is not None else store.installed_routes()
    problems = [*live, *_feed_problems(feed, poll_interval, current), *_archive_problems(walk)]
    notices = _notices(feed, walk, routed=bool(routes), team=team)
    receiving = {(route.team, route.channel) for route in routes}
    delivering = _delivery_problems(store, deliveries, receiving, team)
    # Of every workspace: one workspace's failing posts (its token revoked, its channel
    # archived) are its own admins' to fix, shown on its Home; the bot serves the others.
    (notices if team is None else problems).extend(delivering)
    report: Health = {
        "ok": not problems,
        "problems": problems,
        "notices": notices,
        "feed": _feed(feed),
        "releases": store.release_count(),
        "routes": len(routes),
        "archive": _archive(walk),
        "deliveries": deliveries,
        "alerts": _alerts(store, team),
        "digests": _digests(store, team, current),
    }
    if team is None:
        summary = store.workspaces_summary()
        report["workspaces"] = {
            "installed": summary["installed"],
            "failing": summary["failing"],
            "failing_examples": summary["failing_examples"],
        }
    if slack is not None:  # its problem, when it is down, is among `live`
        report["slack"] = {
            "connected": slack.connected,
            "since": iso(slack.since),
            "last_error": slack.last_error,
        }
    return report


def _alerts(store: Store, team: str | None) -> AlertsHealth:
    counts = store.alert_counts(team)
    return {"members": counts["members"], "alerts": counts["alerts"], "paused": counts["paused"]}


def _digests(store: Store, team: str | None, now: float) -> DigestsHealth:
    counts = store.digest_counts(team)
    due = next_digest(store.digests_waiting(team), now)
    return {
        "routes": counts["routes"],
        "waiting": counts["waiting"],
        "next": iso(due.timestamp()) if due else None,
    }


def _feed_problems(feed: FeedStatus, poll_interval: float | None, now: float) -> list[str]:
    if feed.last_success_at is None:
        return [
            "The feed has not been polled successfully yet"
            + (f": {feed.last_error}" if feed.last_error else ".")
        ]
    if feed.failures:
        return [f"The feed is failing ({_times(feed.failures)} in a row): {feed.last_error}"]
    if (
        poll_interval is not None
        and feed.last_poll_at is not None
        and now - feed.last_poll_at > 3 * poll_interval + STALE_MARGIN
    ):
        return [
            f"The feed has not been polled since {iso(feed.last_poll_at)} (every "
            f"{poll_interval:g} s is set): see the bot's log"
        ]
    return []


def _archive_problems(walk: ArchiveStatus | None) -> list[str]:
    if walk is not None and walk.state == FAILED and walk.last_error:
        return [f"The archive import failed: {walk.last_error}"]
    return []


def _deliveries(store: Store, team: str | None) -> DeliveriesHealth:
    counts = store.delivery_counts(team=team)
    held = store.held(team=team)
    corrections = store.held(team=team, corrections=True)
    retrying: list[Retrying] = []
    for row in store.deliveries(team=team, states=[PENDING, SENDING], limit=10, failing=True):
        one: Retrying = {
            "channel": row["channel"], "attempts": row["attempts"], "error": row["last_error"]
        }  # fmt: skip
        if team is None:
            one["team"] = row["team"]
        retrying.append(one)
    failures: list[FailedDelivery] = []
    for row in store.deliveries(team=team, states=[FAILED], limit=10):
        failed: FailedDelivery = {
            "channel": row["channel"], "release": row["release_id"], "error": row["last_error"]
        }  # fmt: skip
        if team is None:
            failed["team"] = row["team"]
        failures.append(failed)
    return {
        "pending": counts[PENDING] + counts[SENDING],
        "sent": counts["sent"],
        "failed": counts[FAILED],
        "retrying": retrying,
        "failures": failures,
        "held": _held(held),
        "corrections_held": _held(corrections),
    }


def _held(held: Held) -> HeldHealth:
    return {"releases": held.releases, "posts": held.posts, "reason": held.reason}


def _delivery_problems(
    store: Store,
    deliveries: DeliveriesHealth,
    receiving: set[tuple[str, str]],
    team: str | None,
) -> list[str]:
    """Posts Slack holds back or refuses, and announcements held after a flood. A failure in
    a channel that no longer receives news (its route removed, say, after the channel was
    deleted) needs nothing more from an admin."""
    problems = []
    retrying = deliveries["retrying"]
    limited, others = store.waiting_after_failures(team=team)
    if limited:
        example = next((row for row in retrying if _rate_limited(row)), None)
        problems.append(
            f"Slack is rate-limiting posts ({_count(limited, 'delivery', 'deliveries')} waiting"
            + (f"; {_where(example)}: {example['error']})" if example else ")")
        )
    if others:
        example = next((row for row in retrying if not _rate_limited(row)), None)
        problems.append(
            f"{_count(others, 'delivery', 'deliveries')} waiting to be retried"
            + (f" ({_where(example)}: {example['error']})" if example else "")
        )
    waiting, error = store.alerts_waiting(team=team)
    if waiting:  # which members they are for is theirs: only how many, and why
        problems.append(
            f"{_count(waiting, 'alert to a member', 'alerts to members')} waiting to be "
            f"retried ({error})"
        )
    failing = store.failed_in_routed_channels(team=team)
    if failing:
        lost = next(
            (
                row
                for row in deliveries["failures"]
                if (row.get("team", team), row["channel"]) in receiving
            ),
            None,
        )
        problems.append(
            f"{_count(failing, 'delivery', 'deliveries')} failed for good"
            + (f" ({_where(lost)}: {lost['error']})" if lost else "")
            + ": fix the cause, then retry them (or remove the channel's route)"
        )
    held = deliveries["held"]
    if held["posts"]:
        problems.append(
            f"{_count(held['releases'], 'announcement')} held for an admin to announce or "
            f"discard: {held['reason']}"
        )
    corrections = deliveries["corrections_held"]
    if corrections["posts"]:
        problems.append(
            f"Corrections of {_count(corrections['releases'], 'release')} held for an admin "
            f"to apply or leave: {corrections['reason']}"
        )
    return problems


def _notices(
    feed: FeedStatus, walk: ArchiveStatus | None, *, routed: bool, team: str | None
) -> list[str]:
    """What an admin may want to know, though nothing is wrong."""
    notices = []
    if not routed and team is None:
        notices.append(
            "No workspace has routed ISSCR news to a channel yet: each workspace's admins "
            "pick channels on the app's Home"
        )
    elif not routed:
        notices.append(
            "No channel receives ISSCR news yet: new releases are stored and searchable but "
            "announced nowhere. An admin picks a channel on the app's Home, or types "
            "/isscr-news route #channel"
        )
    if feed.bad_items:
        notices.append(
            f"The feed had {_count(feed.bad_items, 'malformed item')} "
            f"({_first(feed.bad_item_examples)})"
        )
    if walk is not None and walk.bad_items:
        notices.append(
            f"The archive import met {_count(walk.bad_items, 'malformed item')} "
            f"({_first(walk.bad_item_examples)})"
        )
    if walk is not None and walk.stop_reason and walk.stop_reason not in NORMAL_ENDS:
        notices.append(f"The archive import stopped early: {walk.stop_reason}")
    return notices


def _feed(feed: FeedStatus) -> FeedHealth:
    return {
        "last_poll": iso(feed.last_poll_at),
        "last_success": iso(feed.last_success_at),
        "last_error": (
            {"at": iso(feed.last_error_at), "reason": feed.last_error} if feed.last_error else None
        ),
        "failures_in_a_row": feed.failures,
        "bad_items": {"count": feed.bad_items, "examples": list(feed.bad_item_examples)},
    }


async def report(
    db: Database,
    settings: Settings,
    *,
    live: Sequence[str] = (),
    slack: SlackConnection | None = None,
    within: float | None = None,
    team: str | None = SINGLE_WORKSPACE,
) -> HealthReport:
    """`health` of the bot with these settings, read off the event loop; when the database
    cannot be read within `within` seconds, a report that says so (and is not ok). `team`:
    as for `health`."""
    try:
        return await db.read(
            lambda store: of_settings(store, settings, live, slack, team=team), within=within
        )
    except (DatabaseBusy, sqlite3.Error) as error:
        return {
            "ok": False,
            "problems": [*live, f"The database could not be read in time ({error})"],
        }


def of_settings(
    store: Store,
    settings: Settings,
    live: Sequence[str] = (),
    slack: SlackConnection | None = None,
    *,
    team: str | None = SINGLE_WORKSPACE,
) -> Health:
    """`health` of the bot with these settings (`team`: as for `health`)."""
    return health(
        store,
        settings.feed_url,
        settings.archive_url,
        live=live,
        poll_interval=settings.poll_interval,
        slack=slack,
        team=team,
    )


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number} {one if number == 1 else many or one + 's'}"


def _where(row: Retrying | FailedDelivery) -> str:
    """A delivery's channel, with its workspace in the report of every workspace."""
    team = row.get("team")
    return f"{team}/{row['channel']}" if team else row["channel"]


def _rate_limited(row: Retrying) -> bool:
    return str(row["error"]).startswith(RATE_LIMITED)


def _first(examples: Sequence[str]) -> str:
    return f"e.g. {examples[0]}" if examples else "see the log"


def _times(number: int) -> str:
    return "once" if number == 1 else f"{number} times"


def _archive(status: ArchiveStatus | None) -> ArchiveHealth | ArchiveUnavailable:
    """How far the archive backfill got: not started, running, done or failed (None: there is
    no archive URL)."""
    if status is None:
        return {
            "state": "unavailable",
            "reason": "FEED_URL is a local file and ARCHIVE_URL is not set",
        }
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
