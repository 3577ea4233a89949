"""The database's shape, as a numbered list of steps applied in order.

A database records in `PRAGMA user_version` the last step it has had; `ensure_schema` applies
the ones after it, in one transaction, at every start. Versions 2 and 3 were recorded before
this list existed, and tables and columns were added without a version of their own (a database
of version 3 may lack the seeds table, say): so every step finds its work possibly done already
(IF NOT EXISTS, a column added when missing), and a database of any earlier version, from any
of the bot's versions, comes out the same as a new one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.models import ANNOUNCE
from bot.store.alerts import create_alerts
from bot.store.deliveries import PENDING, create_delivery_indexes
from bot.store.installations import create_installations
from bot.store.releases import categories_json
from bot.store.search_index import (
    create_category_index,
    create_main_index,
    create_version_counter,
    has_version_counter,
    renumber_releases,
)
from bot.store.vocabulary import create_vocabulary

if TYPE_CHECKING:
    from bot.store import Store


@dataclass(frozen=True)
class Migration:
    version: int  # what user_version says once it is applied
    does: str
    apply: Callable[[Store], None]


def _tables(store: Store) -> None:
    """The announcement pipeline's tables (0 -> 1): releases, the outbox, leases, feed and
    archive state. (Long, but one table definition after another: it reads best whole.)"""
    store.db.table("releases").create(
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
    store.db.table("deliveries").create(
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
    store.db.table("deliveries").create_index(
        ["release_id", "channel"], unique=True, if_not_exists=True
    )
    store.db.table("deliveries").create_index(["state", "channel", "id"], if_not_exists=True)
    store.db.table("releases").create_index(["published"], if_not_exists=True)
    store.db.table("releases").create_index(["author"], if_not_exists=True)
    store.db.table("feed_state").create(
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
    store.db.table("leases").create(
        {"name": str, "owner": str, "host": str, "pid": int, "expires_at": float},
        pk="name",
        if_not_exists=True,
    )
    store.db.table("archive_state").create(
        {
            "url": str,
            "state": str,
            "next_offset": int,
            "pages": int,
            "stored": int,
            "recent": int,
            "started_at": float,
            "updated_at": float,
            "finished_at": float,
            "last_error": str,
            "last_error_at": float,
            "failures": int,
        },
        pk="url",
        not_null={"state"},
        defaults={"pages": 0, "stored": 0, "recent": 0, "failures": 0},
        if_not_exists=True,
    )


def _search_index(store: Store) -> None:
    """The search index (1 -> 2): categories one row each and the whole index. (Version 2
    also had rowids in publication order, oldest lowest: step 3 renumbers from any order; and
    an index of another layout, which step 5 replaces: this step builds today's.)"""
    create_category_index(store)
    create_main_index(store)


def _newest_lowest(store: Store) -> None:
    """Rowids in publication order, newest lowest (2 -> 3: see `release_key`); the search
    index is built again around them."""
    renumber_releases(store)
    create_main_index(store)


def _since_version_3(store: Store) -> None:
    """What came while the version stayed 3 or below it (3 -> 4): routes and the audit log,
    seeds, the columns in _ADDED_COLUMNS and the link index. (Version 4 also had an index of
    the leads, which step 5 drops, and a count of changes, which it extends.)"""
    store.db.table("routes").create(
        {
            "channel": str,
            "categories": str,  # JSON list of names; [] takes every category
            "updated_at": float,
            "updated_by": str,
        },
        pk="channel",
        not_null={"categories"},
        if_not_exists=True,
    )
    store.db.table("changes").create(
        {"id": int, "at": float, "user_id": str, "action": str, "detail": str},
        pk="id",
        not_null={"at", "user_id", "action"},
        if_not_exists=True,
    )
    # Settings applied once to the database (ANNOUNCE_CHANNEL's first route): recorded,
    # so that an admin's later change is not undone at the next start.
    store.db.table("seeds").create(
        {"name": str, "value": str, "at": float, "applied": int},
        pk="name",
        not_null={"at", "applied"},
        if_not_exists=True,
    )
    for table, column, kind in _ADDED_COLUMNS:
        if column not in store.db.table(table).columns_dict:
            store.db.table(table).add_column(column, kind)
    # A release whose guid changed is recognised by its link (bot/ingest/identity.py).
    store.db.table("releases").create_index(["link"], if_not_exists=True)


def _one_index(store: Store) -> None:
    """One search index and the archive's vocabulary (4 -> 5): the side indexes of titles and
    leads and the joined pairs of words go (they cost three times the text and bought no
    relevance); whole names stay one word each; the words, stems and acronyms of every release
    are counted; so are the releases. Categories stored with their letters escaped
    ("\\u00c9thique") are written as they are, for the index to read them."""
    for rowid, categories in store.db.execute("SELECT rowid, categories FROM releases").fetchall():
        plain = categories_json(json.loads(categories))
        if plain != categories:
            store.db.execute("UPDATE releases SET categories = ? WHERE rowid = ?", [plain, rowid])
    create_main_index(store)
    create_vocabulary(store)
    create_version_counter(store)


def _workspaces(store: Store) -> None:
    """Many workspaces on one database (5 -> 6): routes, deliveries and the audit log each
    name their workspace (`team`; the rows already there are single-workspace mode's, ""),
    a route is one per workspace and channel, a delivery one per release, workspace and
    channel; the installations of distribution mode (tokens encrypted) and the OAuth states
    of installs under way."""
    if "team" not in store.db.table("routes").columns_dict:
        # A primary key cannot be altered in place: the table is copied into the new shape.
        store.db.execute("ALTER TABLE routes RENAME TO routes_before_6")
        store.db.execute(
            "CREATE TABLE routes (team TEXT NOT NULL DEFAULT '', channel TEXT NOT NULL, "
            "categories TEXT NOT NULL, updated_at FLOAT, updated_by TEXT, "
            "PRIMARY KEY (team, channel))"
        )
        store.db.execute(
            "INSERT INTO routes (team, channel, categories, updated_at, updated_by) "
            "SELECT '', channel, categories, updated_at, updated_by FROM routes_before_6"
        )
        store.db.execute("DROP TABLE routes_before_6")
    for table in ("deliveries", "changes"):
        if "team" not in store.db.table(table).columns_dict:
            store.db.execute(f"ALTER TABLE {table} ADD COLUMN team TEXT NOT NULL DEFAULT ''")
    store.db.execute("DROP INDEX IF EXISTS idx_deliveries_release_id_channel")
    store.db.execute("DROP INDEX IF EXISTS idx_deliveries_state_channel_id")
    store.db.table("deliveries").create_index(
        ["release_id", "team", "channel"], unique=True, if_not_exists=True
    )
    store.db.table("deliveries").create_index(
        ["state", "team", "channel", "id"], if_not_exists=True
    )
    store.db.table("deliveries").create_index(["team", "state"], if_not_exists=True)
    store.db.table("changes").create_index(["team", "id"], if_not_exists=True)
    create_installations(store)


def _personal(store: Store) -> None:
    """Members' alerts, digests and corrections (6 -> 7): a release's revision (what members
    saw of it changed), a delivery's kind (an announcement, an alert, a digest, a share, an
    update of an earlier message) with what each kind needs, a route's digest schedule, and
    the alerts with the words they are indexed under."""
    added = (
        ("releases", "revision", int, 1),
        ("deliveries", "kind", str, ANNOUNCE),
        ("routes", "mode", str, "immediate"),
    )
    for table, column, kind, default in added:
        if column not in store.db.table(table).columns_dict:
            store.db.table(table).add_column(column, kind, not_null_default=default)
    for table, column, kind in _PERSONAL_COLUMNS:
        if column not in store.db.table(table).columns_dict:
            store.db.table(table).add_column(column, kind)
    store.db.execute("DROP INDEX IF EXISTS idx_deliveries_release_id_team_channel")
    create_delivery_indexes(store)
    create_alerts(store)


# What deliveries and routes hold for alerts, digests and corrections (step 7).
_PERSONAL_COLUMNS = (
    ("deliveries", "revision", int),  # the release's revision posted, or an update applies
    ("deliveries", "conversation", str),  # where the message is, when not `channel` (a DM)
    ("deliveries", "about", str),  # an alert: the queries it matched (JSON list)
    ("deliveries", "period", str),  # a digest: the end of the period it covers
    ("deliveries", "digest_id", int),  # a release collected for a digest: the digest's row
    ("deliveries", "target_id", int),  # an update: the delivery whose message it updates
    ("routes", "weekday", int),  # a weekly digest: 0 is Monday
    ("routes", "hour", int),  # a digest's hour, in `tz`
    ("routes", "tz", str),  # an IANA time zone
)

# Columns added to tables after they first shipped, as (table, column, type).
_ADDED_COLUMNS = (
    ("feed_state", "window_start", float),  # the archive backfill
    ("feed_state", "bad_items", int),  # malformed items (issue 10)
    ("feed_state", "bad_item_examples", str),  # JSON list
    ("archive_state", "bad_items", int),
    ("archive_state", "bad_item_examples", str),
    ("archive_state", "stop_reason", str),
    ("leases", "boot_id", str),  # who holds a lease, unambiguously (see Holder)
    ("leases", "pid_ns", str),
    ("leases", "started", int),
    ("deliveries", "last_attempt_at", float),  # the window a history check reads
    ("deliveries", "note", str),  # how an unusual post went out
)

MIGRATIONS = (
    Migration(1, "the announcement pipeline's tables", _tables),
    Migration(2, "the search index", _search_index),
    Migration(3, "rowids newest lowest", _newest_lowest),
    Migration(4, "routes, audit log, seeds and columns added since", _since_version_3),
    Migration(5, "one search index, the vocabulary, the count of releases", _one_index),
    Migration(6, "a workspace per route, delivery and change; installations", _workspaces),
    Migration(7, "alerts, digests and corrections", _personal),
)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(store: Store, *, to: int = SCHEMA_VERSION) -> None:
    """Apply the steps after the database's version, up to `to`, in one transaction (a
    database of a later version is left as it is)."""
    with store.transaction():
        found = store.db.execute("PRAGMA user_version").fetchone()[0]
        for step in MIGRATIONS[found:to]:
            step.apply(store)
            store.db.execute(f"PRAGMA user_version = {step.version}")


def ensure_schema(store: Store) -> None:
    """Bring the database up to SCHEMA_VERSION, then put right the counts of changes and
    releases, whose triggers a hand edit or a partial restore may have lost; safe at every
    start, and at every start after the first it reads the schema only (no table is scanned)."""
    with store.transaction():
        migrate(store)
        if not has_version_counter(store):
            create_version_counter(store)
