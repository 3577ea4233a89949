"""The database's tables, created or brought up to date at every start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store.deliveries import PENDING
from bot.store.search_index import (
    SIDE_INDEXES,
    create_category_index,
    create_main_index,
    create_version_counter,
    ensure_side_index,
    renumber_releases,
)

if TYPE_CHECKING:
    from bot.store import Store

# PRAGMA user_version: 2 = rowids in publication order, 3 = newest lowest (see release_key)
SCHEMA_VERSION = 3


def ensure_schema(store: Store) -> None:
    """Create tables and indexes that do not exist yet; safe at every start."""
    with store.transaction():
        store.db["releases"].create(
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
                "joined": str,  # see SEARCH_COLUMNS
                "source": str,
                "first_seen": float,
                "updated_at": float,
            },
            pk="id",
            not_null={"title", "link", "categories", "first_seen"},
            if_not_exists=True,
        )
        store.db["deliveries"].create(
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
        store.db["deliveries"].create_index(
            ["release_id", "channel"], unique=True, if_not_exists=True
        )
        store.db["deliveries"].create_index(["state", "channel", "id"], if_not_exists=True)
        store.db["releases"].create_index(["published"], if_not_exists=True)
        store.db["releases"].create_index(["author"], if_not_exists=True)
        # A release whose guid changed is recognised by its link (bot/identity.py).
        store.db["releases"].create_index(["link"], if_not_exists=True)
        create_category_index(store)
        if store.db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            # Rowids follow publication time (see `release_key`); older databases have them
            # otherwise: renumber, once.
            renumber_releases(store)
            store.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        create_main_index(store)
        for table in SIDE_INDEXES:
            ensure_side_index(store, table)
        create_version_counter(store)
        store.db["feed_state"].create(
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
        store.db["leases"].create(
            {"name": str, "owner": str, "host": str, "pid": int, "expires_at": float},
            pk="name",
            if_not_exists=True,
        )
        store.db["archive_state"].create(
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
        # Columns added since these tables first shipped: a database from before gets them.
        for table, column, kind in _ADDED_COLUMNS:
            if column not in store.db[table].columns_dict:
                store.db[table].add_column(column, kind)
        store.db["routes"].create(
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
        store.db["changes"].create(
            {"id": int, "at": float, "user_id": str, "action": str, "detail": str},
            pk="id",
            not_null={"at", "user_id", "action"},
            if_not_exists=True,
        )
        # Settings applied once to the database (ANNOUNCE_CHANNEL's first route): recorded,
        # so that an admin's later change is not undone at the next start.
        store.db["seeds"].create(
            {"name": str, "value": str, "at": float, "applied": int},
            pk="name",
            not_null={"at", "applied"},
            if_not_exists=True,
        )


# (table, column, type) added after the table first shipped; ensure_schema adds what is missing.
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
