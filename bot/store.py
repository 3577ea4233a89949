"""SQLite storage: the one place that holds SQL.

Tables: `releases` (every release ever seen), `deliveries` (the outbox: one row per release and
channel), `feed_state` (conditional-GET validators and poll health per feed URL), `leases`
(which process may post to which channel) and `archive_state` (how far the archive backfill
got, per archive URL). WAL mode lets the watcher write while the web
handlers read; every multi-step write runs in one `BEGIN IMMEDIATE` transaction so two bot
processes on one file serialise cleanly.
"""

from __future__ import annotations

import itertools
import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.models import Release, Validators

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"

# Indexed for full-text search, in this order. Words are looked for in the first three; the
# weights rank a title match above the lead paragraph (the excerpt) above the rest of the body.
# Categories and author are indexed so that filters on them are index lookups too.
# `joined` holds words the index also keeps joined into one word (see `joined_words`): every
# two adjacent words, so that a phrase is found by looking up its pairs rather than by checking
# positions in every release that has all its words ("stem cell" is in every one); and each
# category and the author whole, so that a filter is one look-up and takes only the whole name.
SEARCH_COLUMNS = ("title", "excerpt", "body", "categories", "author", "joined")
SEARCH_WEIGHTS = (10.0, 4.0, 1.0, 0.0, 0.0, 1.0)
# Joins words into one: a letter to the tokenizer (Unicode's last private-use character), so a
# joined word is one word, sorted after every other.
JOIN = "\U0010fffd"
TOKENIZER = "porter unicode61 remove_diacritics 2"
# PRAGMA user_version: 2 = rowids in publication order, 3 = newest lowest (see release_key)
SCHEMA_VERSION = 3


@dataclass(frozen=True)
class Delivery:
    id: int
    release_id: str
    channel: str
    state: str
    attempts: int
    due_at: float
    sending_since: float | None
    last_error: str | None


@dataclass(frozen=True)
class FeedStatus:
    url: str
    validators: Validators
    last_poll_at: float | None
    last_success_at: float | None
    last_error: str | None
    last_error_at: float | None
    failures: int


@dataclass(frozen=True)
class Route:
    channel: str
    categories: tuple[str, ...]  # empty: every category
    updated_at: float
    updated_by: str


@dataclass(frozen=True)
class Change:
    at: float
    user_id: str
    action: str
    detail: str


@dataclass(frozen=True)
class Lease:
    owner: str
    host: str
    pid: int
    expires_at: float


# Archive backfill states, as health shows them; a failed walk is FAILED.
NOT_STARTED, RUNNING, DONE = "not started", "running", "done"


@dataclass(frozen=True)
class ArchiveStatus:
    url: str
    state: str
    next_offset: int | None  # where an unfinished walk resumes; None: at the first page
    pages: int
    stored: int
    recent: int  # releases left to the feed watcher
    started_at: float | None
    finished_at: float | None
    last_error: str | None
    last_error_at: float | None
    failures: int  # failed runs in a row
    planned: bool  # a walk was asked for (plan_archive) or started, at some point


class SchemaTooNew(Exception):
    """The database was written by a newer version of the bot: this one would misread it, and
    its writes could break what the newer version relies on."""

    def __init__(self, found: int) -> None:
        self.found = found
        super().__init__(f"schema version {found}, this version knows up to {SCHEMA_VERSION}")


class Store:
    """All reads and writes of the bot's SQLite database."""

    def __init__(self, path: Path | str, *, read_only: bool = False, create: bool = True) -> None:
        """Open the database; `create=False` (implied by `read_only`) never creates the file.
        Raises SchemaTooNew for a database of a newer version of the bot."""
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, sqlite3 never opens
        # an implicit transaction behind our back.
        uri = read_only or not create
        target = f"{Path(path).resolve().as_uri()}?mode={'ro' if read_only else 'rw'}"
        conn = sqlite3.connect(
            target if uri else str(path), timeout=30, isolation_level=None, uri=uri
        )
        try:
            # Checked before anything else touches the file (enabling WAL writes to it).
            found = conn.execute("PRAGMA user_version").fetchone()[0]
            if found > SCHEMA_VERSION:
                raise SchemaTooNew(found)
        except BaseException:
            conn.close()
            raise
        self.db = sqlite_utils.Database(conn)
        self._scratch: sqlite3.Connection | None = None
        self.db.execute("PRAGMA busy_timeout = 30000")
        # FULL: a committed "sending"/"sent" mark survives even a power cut, which is what
        # keeps a restart from posting twice.
        self.db.execute("PRAGMA synchronous = FULL")
        # Reads map the file instead of copying each page out of the OS cache: a search
        # reads hundreds of index pages, and this takes a fifth off its time at 100,000
        # releases (benchmarks/search.py). SQLite caps it at 2 GB. The price: a disk failing
        # under a mapped page ends the process with SIGBUS instead of raising an error.
        self.db.execute(f"PRAGMA mmap_size = {2**31}")
        if str(path) != ":memory:" and not read_only:
            self.db.enable_wal()

    def close(self) -> None:
        if self._scratch is not None:
            self._scratch.close()
        self.db.close()

    def ensure_schema(self) -> None:
        """Create tables and indexes that do not exist yet; safe at every start."""
        with self.transaction():
            self.db["releases"].create(
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
            self.db["deliveries"].create(
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
            self.db["deliveries"].create_index(
                ["release_id", "channel"], unique=True, if_not_exists=True
            )
            self.db["deliveries"].create_index(["state", "channel", "id"], if_not_exists=True)
            self.db["releases"].create_index(["published"], if_not_exists=True)
            self.db["releases"].create_index(["author"], if_not_exists=True)
            self._ensure_search_schema()
            self.db["feed_state"].create(
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
            self.db["leases"].create(
                {"name": str, "owner": str, "host": str, "pid": int, "expires_at": float},
                pk="name",
                if_not_exists=True,
            )
            self.db["archive_state"].create(
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
            # Added with the archive backfill; a database from before gets the column here.
            if "window_start" not in self.db["feed_state"].columns_dict:
                self.db["feed_state"].add_column("window_start", float)
            self.db["routes"].create(
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
            self.db["changes"].create(
                {"id": int, "at": float, "user_id": str, "action": str, "detail": str},
                pk="id",
                not_null={"at", "user_id", "action"},
                if_not_exists=True,
            )

    def _ensure_search_schema(self) -> None:
        # A release's categories, one row each, so a category filter is an index lookup.
        # NOCASE: "category:policy" finds "Policy".
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS release_categories (release_id TEXT NOT NULL "
            "REFERENCES releases(id), category TEXT NOT NULL COLLATE NOCASE, "
            "PRIMARY KEY (release_id, category))"
        )
        self.db["release_categories"].create_index(["category"], if_not_exists=True)
        if not self.db.execute("SELECT EXISTS (SELECT 1 FROM release_categories)").fetchone()[0]:
            # A database from before search existed: fill from the releases' JSON lists.
            self.db.execute(
                "INSERT OR IGNORE INTO release_categories (release_id, category) "
                "SELECT releases.id, value FROM releases, json_each(releases.categories)"
            )
        if self.db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            # Rowids follow publication time (see `release_key`); older databases have them
            # otherwise: renumber, once. The search indexes go first (they are built again
            # below, in one pass rather than two updates a release), and the old rowids move
            # above every new one so that no two collide.
            self._drop_search_indexes()
            self.db.execute(f"UPDATE releases SET rowid = rowid + {_RENUMBERING}")
            for rowid, published in self.db.execute(
                "SELECT rowid, published FROM releases WHERE rowid >= ? ORDER BY rowid",
                [_RENUMBERING // 2],
            ).fetchall():
                self.db.execute(
                    "UPDATE releases SET rowid = ? WHERE rowid = ?",
                    [self._rowid_for(published), rowid],
                )
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        fts = self.db["releases"].detect_fts()
        if fts is not None and tuple(self.db[fts].columns_dict) != SEARCH_COLUMNS:
            self.db["releases"].disable_fts()  # an index of other columns: build it anew
            fts = None
        if "joined" not in self.db["releases"].columns_dict:
            self.db["releases"].add_column("joined", str)
        # A database from before: fill them in (one release at a time, as bodies are long),
        # before the index is built from them.
        unjoined = self.db.execute("SELECT rowid FROM releases WHERE joined IS NULL").fetchall()
        for (rowid,) in unjoined:
            [row] = self.db.query("SELECT * FROM releases WHERE rowid = ?", [rowid])
            self.db.execute(
                "UPDATE releases SET joined = ? WHERE rowid = ?", [self.joined_words(row), rowid]
            )
        if fts is None:
            # Porter stemming: "cells" finds "cell"; triggers keep the index in step with every
            # insert and update; a database from before search is indexed here, once.
            self.db["releases"].enable_fts(
                list(SEARCH_COLUMNS), create_triggers=True, tokenize=TOKENIZER
            )
        for table in _SIDE_INDEXES:
            self._ensure_side_index(table)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS releases_version (id INTEGER PRIMARY KEY CHECK (id = 1), "
            "version INTEGER NOT NULL)"
        )
        self.db.execute("INSERT OR IGNORE INTO releases_version (id, version) VALUES (1, 0)")
        for name, trigger in _VERSION_TRIGGERS.items():
            self.db.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {trigger}")

    def _drop_search_indexes(self) -> None:
        if self.db["releases"].detect_fts() is not None:
            self.db["releases"].disable_fts()  # the index and its triggers
        for table in _SIDE_INDEXES:
            for name in _side_triggers(table):
                self.db.execute(f"DROP TRIGGER IF EXISTS {name}")
            if self.db[table].exists():
                if self.db[table].detect_fts() is not None:
                    self.db[table].disable_fts()
                self.db[table].drop()

    def _ensure_side_index(self, table: str) -> None:
        """A copy of some columns of every release, indexed apart and kept in step by
        triggers (see _SIDE_INDEXES)."""
        columns = _SIDE_INDEXES[table]
        self.db[table].create(
            {"id": int, **dict.fromkeys(columns, str)},
            pk="id",
            if_not_exists=True,  # id: the release's rowid
        )
        for name, trigger in _side_triggers(table).items():  # not executescript: it commits
            self.db.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {trigger}")
        # A database from before (or whose triggers were lost): put right what differs.
        differs = " OR ".join(f"s.{column} IS NOT r.{column}" for column in columns)
        stale = (
            f"SELECT r.rowid, {', '.join(f'r.{column}' for column in columns)} FROM releases r "
            f"LEFT JOIN {table} s ON s.id = r.rowid WHERE {differs}"
        )
        marks = ", ".join("?" * (len(columns) + 1))
        for row in self.db.execute(stale).fetchall():
            self.db.execute(
                f"INSERT OR REPLACE INTO {table} (id, {', '.join(columns)}) VALUES ({marks})", row
            )
        self.db.execute(f"DELETE FROM {table} WHERE id NOT IN (SELECT rowid FROM releases)")
        if self.db[table].detect_fts() is None:
            self.db[table].enable_fts(list(columns), create_triggers=True, tokenize=TOKENIZER)

    def tidy_search_index(self) -> None:
        """Merge the search indexes into one piece each, after a bulk import (FTS5's optimize)."""
        with self.transaction():
            self.db["releases"].optimize()
            for table in _SIDE_INDEXES:
                self.db[table].optimize()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction; nested uses join the outer one."""
        if self.db.conn.in_transaction:
            yield
            return
        # IMMEDIATE takes the write lock up front, so a read-then-write never fails half-way
        # with SQLITE_BUSY when another process wrote in between.
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- releases -------------------------------------------------------------------------

    def known_release_ids(self, ids: Iterable[str]) -> set[str]:
        wanted = list(ids)
        known: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT id FROM releases WHERE id IN ({marks})", chunk)
            known.update(row[0] for row in rows)
        return known

    def has_releases(self) -> bool:
        return self.db.execute("SELECT EXISTS (SELECT 1 FROM releases)").fetchone()[0] == 1

    def save_release(self, release: Release, *, source: str, now: float) -> bool:
        """Insert or update `release`; True when the stored row changed (or is new)."""
        row = _release_row(release)
        row["joined"] = self.joined_words(row)
        existing = self.db.execute(
            "SELECT title, link, published, categories, author, excerpt, body, image_url "
            "FROM releases WHERE id = ?",
            [release.id],
        ).fetchone()
        if existing is None:
            with self.transaction():
                values = {
                    **row,
                    "source": source,
                    "first_seen": now,
                    "updated_at": now,
                    "rowid": self._rowid_for(row["published"]),
                }
                names = ", ".join(values)
                self.db.execute(
                    f"INSERT INTO releases ({names}) VALUES ({', '.join('?' * len(values))})",
                    list(values.values()),
                )
                self._save_categories(release)
            return True
        fields = ("title", "link", "published", "categories", "author", "excerpt", "body")
        if tuple(existing[: len(fields)]) == tuple(row[f] for f in fields) and (
            existing[-1] == row["image_url"] or row["image_url"] is None
        ):
            return False
        if row["image_url"] is None:
            row["image_url"] = existing[-1]  # the archive may lack what the RSS had
        with self.transaction():
            self.db["releases"].update(release.id, {**row, "updated_at": now})
            if existing[2] != row["published"]:  # keep rowids in publication order
                self.db.execute(
                    "UPDATE releases SET rowid = ? WHERE id = ?",
                    [self._rowid_for(row["published"]), release.id],
                )
            if existing[3] != row["categories"]:
                self.db.execute("DELETE FROM release_categories WHERE release_id = ?", [release.id])
                self._save_categories(release)
        return True

    def _rowid_for(self, published: str | None) -> int:
        """A free rowid in publication order (newest lowest): search reads the newest matches
        first straight off the index, and a date filter is a rowid range."""
        base = release_key(datetime.fromisoformat(published) if published else None)
        span = _ROWID_SPAN if published else _UNDATED_SPAN
        top = self.db.execute(
            "SELECT max(rowid) FROM releases WHERE rowid >= ? AND rowid < ?",
            [base, base + span],
        ).fetchone()[0]
        if top is None:
            return base
        if top + 1 < base + span:
            return top + 1
        return self.db.execute("SELECT max(rowid) + 1 FROM releases").fetchone()[0]

    def _save_categories(self, release: Release) -> None:
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO release_categories (release_id, category) VALUES (?, ?)",
            [(release.id, name) for name in release.categories],
        )

    def release(self, release_id: str) -> Release | None:
        rows = list(self.db.query(f"SELECT {_RELEASE} FROM releases WHERE id = ?", [release_id]))
        return _release_from_row(rows[0]) if rows else None

    def latest_releases(self, limit: int) -> list[Release]:
        rows = self.db.query(
            f"SELECT {_RELEASE} FROM releases ORDER BY published DESC, first_seen DESC LIMIT ?",
            [limit],
        )
        return [_release_from_row(row) for row in rows]

    def release_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM releases").fetchone()[0]

    # -- search -------------------------------------------------------------------------

    def categories(self) -> list[str]:
        """Every category a stored release has, alphabetically, one spelling per name."""
        rows = self.db.execute("SELECT DISTINCT category FROM release_categories ORDER BY category")
        return [row[0] for row in rows]

    def category_named(self, name: str) -> str | None:
        """The stored spelling of the category `name`, compared without case."""
        row = self.db.execute(
            "SELECT category FROM release_categories WHERE category = ? LIMIT 1", [name]
        ).fetchone()
        return row[0] if row else None

    def authors(self) -> list[str]:
        rows = self.db.execute(
            "SELECT DISTINCT author FROM releases WHERE author IS NOT NULL ORDER BY author"
        )
        return [row[0] for row in rows]

    @contextmanager
    def time_limit(self, seconds: float) -> Iterator[None]:
        """Abort statements still running after `seconds` (sqlite3.OperationalError)."""
        deadline = time.monotonic() + seconds
        # Checked every 1,000 VM steps: FTS5 does most of its work inside a single step.
        self.db.conn.set_progress_handler(lambda: time.monotonic() > deadline, 1_000)
        try:
            yield
        finally:
            self.db.conn.set_progress_handler(None, 0)

    def releases_version(self) -> int:
        """A number that changes whenever a release is stored, changed or removed (and only
        then: polls and deliveries write too), by this connection or another one."""
        return self.db.execute("SELECT version FROM releases_version").fetchone()[0]

    def tokens(self, text: str) -> list[str]:
        """`text` as the search index sees it: its words case folded, accents removed,
        stemmed ("Regulations" → "regul"), in order."""
        if self._scratch is None:
            # A throwaway index with the same tokenizer, in memory: tokenizing leaves no trace
            # in the database, not even in this connection's change count.
            self._scratch = sqlite3.connect(":memory:", isolation_level=None)
            self._scratch.execute(
                f"CREATE VIRTUAL TABLE scratch USING fts5(w, tokenize='{TOKENIZER}')"
            )
            self._scratch.execute("CREATE VIRTUAL TABLE words USING fts5vocab(scratch, instance)")
        # Rolled back, not deleted: FTS5 would tokenize the text again to delete it.
        self._scratch.execute("BEGIN")
        try:
            self._scratch.execute("INSERT INTO scratch (rowid, w) VALUES (1, ?)", [text])
            rows = self._scratch.execute("SELECT term FROM words ORDER BY offset")
            return [row[0] for row in rows]
        finally:
            self._scratch.execute("ROLLBACK")

    def joined_words(self, row: dict[str, Any]) -> str:
        """What the `joined` column of a release `row` holds: every two adjacent words of each
        indexed column, each category and the author, each as one word (see `pair`,
        `category_key`, `author_key`)."""
        joined = []
        for column in SEARCH_COLUMNS[:3]:
            words = self.tokens(row[column] or "")
            joined += [pair(first, second) for first, second in itertools.pairwise(words)]
        joined += [category_key(self.tokens(name)) for name in json.loads(row["categories"])]
        if row["author"]:
            joined.append(author_key(self.tokens(row["author"])))
        return " ".join(joined)

    def index_terms(self) -> dict[str, int]:
        """Every word of the search index (not the joined ones), with the number of releases
        containing it."""
        self.db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.index_terms "
            "USING fts5vocab(main, releases_fts, row)"
        )
        rows = self.db.execute("SELECT term, doc FROM temp.index_terms WHERE term < ?", [JOIN])
        return dict(rows.fetchall())

    def matching_rowids(
        self,
        match: str | None,
        *,
        lowest: int | None = None,
        highest: int | None = None,
        limit: int,
    ) -> list[int]:
        """The rowids of the releases matching the FTS5 expression `match` (None: all) within
        a rowid range, newest first, at most `limit`: read lazily off the index, so a query
        that matches most of a large archive costs no more than one matching `limit`."""
        table = "releases" if match is None else "releases_fts"
        return self._newest(table, match, lowest, highest, limit)

    def relevance(self, match: str, *, lowest: int, highest: int) -> dict[int, float]:
        """bm25 with SEARCH_WEIGHTS (lower is better) of the releases matching `match` in a
        rowid range. FTS5 reads the whole posting list of every word of `match` to weigh it,
        so callers keep very common words out of `match`."""
        rows = self.db.execute(
            f"SELECT rowid, {_BM25} FROM releases_fts WHERE releases_fts MATCH ? "
            "AND rowid >= ? AND rowid <= ?",
            [match, lowest, highest],
        )
        return dict(rows.fetchall())

    def title_matches(
        self, match: str, *, lowest: int | None, highest: int | None, limit: int
    ) -> list[int]:
        """The rowids of the releases whose title alone matches `match`, within a rowid
        range, newest first, at most `limit`: read off the titles' own index."""
        return self._newest("release_titles_fts", match, lowest, highest, limit)

    def lead_matches(
        self, match: str, *, lowest: int | None, highest: int | None, limit: int
    ) -> list[int]:
        """The same for the title and lead paragraph (excerpt) together."""
        return self._newest("release_leads_fts", match, lowest, highest, limit)

    def _newest(
        self, table: str, match: str | None, lowest: int | None, highest: int | None, limit: int
    ) -> list[int]:
        """The first `limit` rowids of `table` (matching `match`, unless None) in a range."""
        where, args = (["1"], []) if match is None else ([f"{table} MATCH ?"], [match])
        if lowest is not None:
            where.append("rowid >= ?")
            args.append(lowest)
        if highest is not None:
            where.append("rowid <= ?")
            args.append(highest)
        rows = self.db.execute(
            f"SELECT rowid FROM {table} WHERE {' AND '.join(where)} ORDER BY rowid LIMIT ?",
            [*args, limit],
        )
        return [row[0] for row in rows]

    def releases_by_rowid(self, rowids: list[int]) -> list[Release]:
        """The releases with these rowids, in this order."""
        marks = ",".join("?" * len(rowids))
        found = {
            row["rowid"]: _release_from_row(row)
            for row in self.db.query(
                f"SELECT rowid, {_RELEASE} FROM releases WHERE rowid IN ({marks})", rowids
            )
        }
        return [found[rowid] for rowid in rowids if rowid in found]

    # -- routes and the audit log ---------------------------------------------------------

    def routes(self) -> list[Route]:
        """Every channel route, by channel ID."""
        rows = self.db.execute(
            "SELECT channel, categories, updated_at, updated_by FROM routes ORDER BY channel"
        )
        return [Route(row[0], tuple(json.loads(row[1])), row[2], row[3]) for row in rows]

    def has_uncategorized_releases(self) -> bool:
        """Whether a stored release has no category: only a route taking every category
        announces such a release."""
        return bool(
            self.db.execute(
                "SELECT EXISTS (SELECT 1 FROM releases WHERE NOT EXISTS "
                "(SELECT 1 FROM release_categories WHERE release_id = releases.id))"
            ).fetchone()[0]
        )

    def save_route(
        self,
        channel: str,
        categories: Iterable[str],
        *,
        by: str,
        action: str,
        detail: str,
        now: float,
    ) -> None:
        """Set `channel`'s categories (none: all) and audit the change, in one transaction."""
        with self.transaction():
            self.db["routes"].upsert(
                {
                    "channel": channel,
                    "categories": json.dumps(list(categories)),
                    "updated_at": now,
                    "updated_by": by,
                },
                pk="channel",
            )
            self.record_change(by, action, detail, now=now)

    def delete_route(self, channel: str, *, by: str, detail: str, now: float) -> bool:
        """Remove `channel`'s route and audit it; False when it had none."""
        with self.transaction():
            cursor = self.db.execute("DELETE FROM routes WHERE channel = ?", [channel])
            if cursor.rowcount:
                self.record_change(by, "unroute", detail, now=now)
            return cursor.rowcount == 1

    def record_change(self, user_id: str, action: str, detail: str, *, now: float) -> None:
        """Append to the audit log: who changed what, when."""
        self.db.execute(
            "INSERT INTO changes (at, user_id, action, detail) VALUES (?, ?, ?, ?)",
            [now, user_id, action, detail],
        )

    def recent_changes(self, limit: int = 10) -> list[Change]:
        rows = self.db.execute(
            "SELECT at, user_id, action, detail FROM changes ORDER BY id DESC LIMIT ?", [limit]
        )
        return [Change(*row) for row in rows]

    def delivery_counts_by_channel(self) -> dict[str, dict[str, int]]:
        """Per channel: deliveries waiting (pending or sending), sent and failed."""
        counts: dict[str, dict[str, int]] = {}
        for channel, state, count in self.db.execute(
            "SELECT channel, state, count(*) FROM deliveries GROUP BY channel, state"
        ):
            per = counts.setdefault(channel, {"waiting": 0, SENT: 0, FAILED: 0})
            per["waiting" if state in (PENDING, SENDING) else state] += count
        return counts

    # -- deliveries (the outbox) ----------------------------------------------------------

    def add_delivery(self, release_id: str, channel: str, *, now: float) -> bool:
        """Queue `release_id` for `channel` unless it already is; True when queued now."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO deliveries (release_id, channel, state, attempts, due_at, "
            "created_at) VALUES (?, ?, ?, 0, ?, ?)",
            [release_id, channel, PENDING, now, now],
        )
        return cursor.rowcount == 1

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
                "SELECT id, release_id, channel, state, attempts, due_at, sending_since, "
                "last_error FROM deliveries WHERE channel = ? AND state IN (?, ?) "
                "ORDER BY id LIMIT 1",
                [channel, PENDING, SENDING],
            )
        )
        return Delivery(**rows[0]) if rows else None

    def next_due_at(self) -> float | None:
        return self.db.execute(
            "SELECT min(due_at) FROM deliveries WHERE state IN (?, ?)", [PENDING, SENDING]
        ).fetchone()[0]

    def mark_sending(self, delivery_id: int, *, now: float) -> None:
        """Record that a post is about to be attempted: from here on, its outcome is unknown
        until `mark_sent` or `reschedule`, and a restart checks Slack before posting again."""
        self.db.execute(
            "UPDATE deliveries SET state = ?, attempts = attempts + 1, "
            "sending_since = coalesce(sending_since, ?) WHERE id = ?",
            [SENDING, now, delivery_id],
        )

    def mark_sent(self, delivery_id: int, *, ts: str | None, now: float) -> None:
        self.db.execute(
            "UPDATE deliveries SET state = ?, ts = ?, sent_at = ?, last_error = NULL WHERE id = ?",
            [SENT, ts, now, delivery_id],
        )

    def reschedule(
        self, delivery_id: int, *, due_at: float, error: str, outcome_known: bool
    ) -> None:
        """Try again at `due_at`. When the failed post surely did not reach Slack, the delivery
        goes back to pending; otherwise it stays "sending" so the retry checks history first."""
        if outcome_known:
            self.db.execute(
                "UPDATE deliveries SET state = ?, sending_since = NULL, due_at = ?, "
                "last_error = ? WHERE id = ?",
                [PENDING, due_at, error, delivery_id],
            )
        else:
            self.db.execute(
                "UPDATE deliveries SET due_at = ?, last_error = ? WHERE id = ?",
                [due_at, error, delivery_id],
            )

    def mark_failed(self, delivery_id: int, *, error: str, outcome_known: bool) -> None:
        """Give up on a delivery. When its last try may have reached Slack, it keeps its
        `sending_since`, so that `retry_failed` has it looked for in history before posting."""
        self.db.execute(
            "UPDATE deliveries SET state = ?, last_error = ?, "
            "sending_since = CASE WHEN ? THEN NULL ELSE sending_since END WHERE id = ?",
            [FAILED, error, outcome_known, delivery_id],
        )

    def make_all_due(self, *, now: float) -> None:
        """At start-up: whatever waited for a retry is tried at once (a restart often follows
        the fix, e.g. a new token)."""
        self.db.execute(
            "UPDATE deliveries SET due_at = ? WHERE state IN (?, ?) AND due_at > ?",
            [now, PENDING, SENDING, now],
        )

    def retry_failed(self, *, now: float) -> int:
        """Queue every failed delivery again; returns how many. One whose last try may have
        reached Slack goes back to "sending": it is looked for in history before posting."""
        cursor = self.db.execute(
            "UPDATE deliveries SET state = CASE WHEN sending_since IS NULL THEN ? ELSE ? END, "
            "due_at = ?, attempts = 0 WHERE state = ?",
            [PENDING, SENDING, now, FAILED],
        )
        return cursor.rowcount

    def delivery_counts(self) -> dict[str, int]:
        counts = dict.fromkeys((PENDING, SENDING, SENT, FAILED), 0)
        for state, count in self.db.execute(
            "SELECT state, count(*) FROM deliveries GROUP BY state"
        ):
            counts[state] = count
        return counts

    def deliveries(self, *, states: Iterable[str], limit: int = 20) -> list[dict[str, Any]]:
        """Deliveries in `states`, newest first, with their release title, for status pages."""
        wanted = list(states)
        marks = ",".join("?" * len(wanted))
        return list(
            self.db.query(
                "SELECT d.id, d.channel, d.state, d.attempts, d.last_error, d.release_id, "
                f"r.title FROM deliveries d JOIN releases r ON r.id = d.release_id "
                f"WHERE d.state IN ({marks}) ORDER BY d.id DESC LIMIT ?",
                [*wanted, limit],
            )
        )

    def delivery_log(self) -> list[dict[str, Any]]:
        """Every delivery in queue order (for tests and `status`)."""
        return list(
            self.db.query(
                "SELECT id, release_id, channel, state, attempts, ts, last_error "
                "FROM deliveries ORDER BY id"
            )
        )

    # -- feed state -----------------------------------------------------------------------

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
        )

    def ever_polled(self) -> bool:
        """Whether any poll of any feed URL ever succeeded: the first one only sets a baseline."""
        row = self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM feed_state WHERE last_success_at IS NOT NULL)"
        ).fetchone()
        return row[0] == 1

    def latest_poll_success(self) -> float | None:
        """When a poll of any feed URL last succeeded; None before the first one."""
        return self.db.execute("SELECT max(last_success_at) FROM feed_state").fetchone()[0]

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
        self.db["feed_state"].upsert(
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

    def record_poll_failure(self, url: str, reason: str, *, now: float) -> int:
        """Store the failure; returns how many polls in a row have failed."""
        with self.transaction():
            failures = self.feed_status(url).failures + 1
            self.db["feed_state"].upsert(
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

    # -- leases ---------------------------------------------------------------------------

    def acquire_lease(
        self,
        name: str,
        *,
        owner: str,
        host: str,
        pid: int,
        ttl: float,
        now: float,
        holder_is_gone: Callable[[Lease], bool],
    ) -> bool:
        """Take or renew the lease `name` for `owner`, unless a live holder has it."""
        with self.transaction():
            rows = list(self.db.query("SELECT * FROM leases WHERE name = ?", [name]))
            if rows:
                held = Lease(
                    rows[0]["owner"], rows[0]["host"], rows[0]["pid"], rows[0]["expires_at"]
                )
                if held.owner != owner and held.expires_at > now and not holder_is_gone(held):
                    return False
            self.db["leases"].upsert(
                {"name": name, "owner": owner, "host": host, "pid": pid, "expires_at": now + ttl},
                pk="name",
            )
            return True

    def renew_lease(self, name: str, *, owner: str, ttl: float, now: float) -> bool:
        """Extend a lease `owner` still holds; False when it was lost to another process."""
        cursor = self.db.execute(
            "UPDATE leases SET expires_at = ? WHERE name = ? AND owner = ?",
            [now + ttl, name, owner],
        )
        return cursor.rowcount == 1

    def release_lease(self, name: str, *, owner: str) -> None:
        self.db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", [name, owner])

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
            self.db["archive_state"].upsert(
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
    ) -> None:
        """Count one page read and remember where the walk goes on (call it in the page's
        transaction, so the offset never runs ahead of or behind the stored releases)."""
        self.db.execute(
            "UPDATE archive_state SET state = ?, next_offset = ?, pages = pages + 1, "
            "stored = stored + ?, recent = recent + ?, updated_at = ?, finished_at = ?, "
            "failures = CASE WHEN ? THEN 0 ELSE failures END WHERE url = ?",
            [DONE if finished else RUNNING, next_offset, stored, recent, now,
             now if finished else None, finished, url],
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


# Small indexes beside the whole one, which ranking reads across the whole archive: the
# titles alone, and the titles with the lead paragraphs (excerpts). Each follows every insert,
# edit, renumbering and removal of a release.
_SIDE_INDEXES = {"release_titles": ("title",), "release_leads": ("title", "excerpt")}


def _side_triggers(table: str) -> dict[str, str]:
    columns = _SIDE_INDEXES[table]
    insert = (
        f"INSERT INTO {table} (id, {', '.join(columns)}) "
        f"VALUES (new.rowid, {', '.join(f'new.{column}' for column in columns)});"
    )
    changed = " OR ".join(f"old.{column} IS NOT new.{column}" for column in columns)
    name = table.removeprefix("release_")
    return {
        f"releases_{name}_ai": f"AFTER INSERT ON releases BEGIN {insert} END",
        f"releases_{name}_au": f"AFTER UPDATE ON releases WHEN old.rowid != new.rowid OR "
        f"{changed} BEGIN DELETE FROM {table} WHERE id = old.rowid; {insert} END",
        f"releases_{name}_ad": f"AFTER DELETE ON releases BEGIN "
        f"DELETE FROM {table} WHERE id = old.rowid; END",
    }


# Every change to the releases counts, so that a search knows when to reload its vocabulary.
_VERSION_TRIGGERS = {
    f"releases_version_{suffix}": f"AFTER {event} ON releases BEGIN "
    "UPDATE releases_version SET version = version + 1; END"
    for suffix, event in (("ai", "INSERT"), ("au", "UPDATE"), ("ad", "DELETE"))
}

# The columns a Release is made of: the joined words after them (several KB, in overflow pages)
# are never read back.
_RELEASE = "id, title, link, published, categories, author, excerpt, body, image_url"
_BM25 = f"bm25(releases_fts, {', '.join(map(str, SEARCH_WEIGHTS))})"


# Rowids run against publication time, newest lowest: "newest first" is then FTS5's forward
# order, which reads a posting list about a third faster than backwards. Each second has
# _ROWID_SPAN rowids, for releases of the same second; undated releases (never seen from
# Squarespace) get rowids after every dated one.
_ROWID_SPAN = 1024
UNDATED_KEY = 2**52
_UNDATED_SPAN = 2**40
LAST_DATED_KEY = UNDATED_KEY - 1
# Old rowids move here while a database from before is renumbered: above every new one.
_RENUMBERING = 2**60


def pair(first: str, second: str) -> str:
    """Two adjacent words (as the index has them) as one word."""
    return f"{JOIN}{first}{JOIN}{second}"


def category_key(words: Sequence[str]) -> str:
    """A whole category name (its words as the index has them) as one word."""
    return JOIN * 2 + JOIN.join(words)


def author_key(words: Sequence[str]) -> str:
    """A whole author name (its words as the index has them) as one word."""
    return JOIN * 3 + JOIN.join(words)


def release_key(published: datetime | None) -> int:
    """The lowest rowid of a release published at `published`: rowids run against
    publication time (to the second, with room for releases of the same second); undated
    ones come after all dated ones."""
    if published is None:
        return UNDATED_KEY
    return -(math.floor(published.timestamp()) + 1) * _ROWID_SPAN


def published_rowids(since: datetime | None, until: datetime | None) -> tuple[int | None, int]:
    """The rowid range (lowest, highest) of the dated releases published at or after `since`
    and before `until` (None: no bound on that side)."""
    lowest = release_key(until) + _ROWID_SPAN if until is not None else None
    highest = release_key(since) + _ROWID_SPAN - 1 if since is not None else LAST_DATED_KEY
    return lowest, highest


def _release_row(release: Release) -> dict[str, Any]:
    return {
        "id": release.id,
        "title": release.title,
        "link": release.link,
        "published": release.published.isoformat() if release.published else None,
        "categories": json.dumps(list(release.categories)),
        "author": release.author,
        "excerpt": release.excerpt,
        "body": release.body,
        "image_url": release.image_url,
    }


def _release_from_row(row: dict[str, Any]) -> Release:
    return Release(
        id=row["id"],
        title=row["title"],
        link=row["link"],
        published=datetime.fromisoformat(row["published"]) if row["published"] else None,
        categories=tuple(json.loads(row["categories"])),
        author=row["author"],
        excerpt=row["excerpt"] or "",
        body=row["body"] or "",
        image_url=row["image_url"],
    )
