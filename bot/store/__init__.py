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
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.models import (
    ArchiveStatus,
    Change,
    Delivery,
    FeedStatus,
    Held,
    Holder,
    Lease,
    Release,
    Route,
    Validators,
)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
# How the last error of a delivery waiting out Slack's rate limit begins (see bot.outbox).
RATE_LIMITED = "ratelimited"
# A delivery held back for an admin to decide on (a flood: see watcher.py), and one an admin
# discarded. The outbox reads only PENDING and SENDING rows, so it never posts either.
HELD, DISCARDED = "held", "discarded"
# How many of the latest malformed items the feed and archive states keep, as examples.
BAD_ITEM_EXAMPLES = 5

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
# How long a statement waits for another connection's lock before failing with "locked".
BUSY_TIMEOUT_MS = 30_000
# PRAGMA user_version: 2 = rowids in publication order, 3 = newest lowest (see release_key)
SCHEMA_VERSION = 3
# Pages a backup copies per step (4 MB of the default 4 KB pages): between steps, Ctrl-C stops it.
BACKUP_PAGES = 1024


# Archive backfill states, as health shows them; a failed walk is FAILED.
NOT_STARTED, RUNNING, DONE = "not started", "running", "done"


class SchemaTooNew(Exception):
    """The database was written by a newer version of the bot: this one would misread it, and
    its writes could break what the newer version relies on."""

    def __init__(self, found: int) -> None:
        self.found = found
        super().__init__(f"schema version {found}, this version knows up to {SCHEMA_VERSION}")


class Store:
    """All reads and writes of the bot's SQLite database."""

    def __init__(
        self,
        path: Path | str,
        *,
        read_only: bool = False,
        create: bool = True,
        busy_timeout: float | None = None,
    ) -> None:
        """Open the database; `create=False` (implied by `read_only`) never creates the file.
        `busy_timeout`: seconds a statement waits for another connection's lock (default
        BUSY_TIMEOUT_MS). Raises SchemaTooNew for a database of a newer version of the bot."""
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
        self._deadlines: list[float] = []  # see time_limit
        busy_ms = BUSY_TIMEOUT_MS if busy_timeout is None else max(1, int(busy_timeout * 1000))
        self.db.execute(f"PRAGMA busy_timeout = {busy_ms}")
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
            # A release whose guid changed is recognised by its link (bot/identity.py).
            self.db["releases"].create_index(["link"], if_not_exists=True)
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
            # Columns added since these tables first shipped: a database from before gets them.
            for table, column, kind in _ADDED_COLUMNS:
                if column not in self.db[table].columns_dict:
                    self.db[table].add_column(column, kind)
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
            # Settings applied once to the database (ANNOUNCE_CHANNEL's first route): recorded,
            # so that an admin's later change is not undone at the next start.
            self.db["seeds"].create(
                {"name": str, "value": str, "at": float, "applied": int},
                pk="name",
                not_null={"at", "applied"},
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
            # SQLite may have rolled back already (a full disk, an interrupt): say what failed,
            # not that there was nothing left to roll back.
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        try:
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            raise

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

    def release_ids_by_link(self, links: Iterable[str]) -> dict[str, str]:
        """The stored release of each of these links (the first stored, when several share
        one), by link."""
        wanted = list(dict.fromkeys(links))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT link, id FROM releases WHERE link IN ({marks}) ORDER BY first_seen DESC",
                chunk,
            )
            found.update(rows.fetchall())  # the last written wins: the first stored
        return found

    def release_id_by_title_and_date(self, title: str, published: datetime) -> str | None:
        """The first stored release with this title and publication date."""
        row = self.db.execute(
            "SELECT id FROM releases WHERE published = ? AND title = ? ORDER BY first_seen LIMIT 1",
            [published.isoformat(), title],
        ).fetchone()
        return row[0] if row else None

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
        """Abort statements still running after `seconds` (sqlite3.OperationalError); nested
        limits keep the earliest deadline."""
        self._deadlines.append(time.monotonic() + seconds)
        earliest = min(self._deadlines)
        # Checked every 1,000 VM steps: FTS5 does most of its work inside a single step.
        self.db.conn.set_progress_handler(lambda: time.monotonic() > earliest, 1_000)
        try:
            yield
        finally:
            self._deadlines.pop()
            if self._deadlines:
                outer = min(self._deadlines)
                self.db.conn.set_progress_handler(lambda: time.monotonic() > outer, 1_000)
            else:
                self.db.conn.set_progress_handler(None, 0)

    @contextmanager
    def bounded(self, seconds: float) -> Iterator[None]:
        """Wait at most `seconds` for a lock, and abort statements still running after them
        (sqlite3.OperationalError, "locked" or "interrupted"): for work someone waits on."""
        previous = self.db.execute("PRAGMA busy_timeout").fetchone()[0]
        self.db.execute(f"PRAGMA busy_timeout = {max(1, min(previous, int(seconds * 1000)))}")
        try:
            with self.time_limit(seconds):
                yield
        finally:
            self.db.execute(f"PRAGMA busy_timeout = {previous}")

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

    def seed_route(self, name: str, channel: str, *, by: str, detail: str, now: float) -> bool:
        """Route every category to `channel` once per `name`, and only on a database with no
        routes. Whether it did; either way the seed is recorded and never applied again."""
        with self.transaction():
            if self.db.execute("SELECT 1 FROM seeds WHERE name = ?", [name]).fetchone():
                return False
            applied = not self.db.execute("SELECT EXISTS (SELECT 1 FROM routes)").fetchone()[0]
            if applied:
                self.save_route(channel, (), by=by, action="route", detail=detail, now=now)
            self.db["seeds"].insert(
                {"name": name, "value": channel, "at": now, "applied": int(applied)}
            )
            return applied

    def seeded(self, name: str) -> tuple[str, bool] | None:
        """The value seed `name` was recorded with, and whether it was applied; None: never."""
        row = self.db.execute("SELECT value, applied FROM seeds WHERE name = ?", [name]).fetchone()
        return (row[0], bool(row[1])) if row else None

    def record_change(self, user_id: str, action: str, detail: str, *, now: float) -> None:
        """Append to the audit log: who changed what, when. `detail` is what they did, as a
        sentence without its subject ("polled the feed"); one that names channels starts with
        their IDs, which it then names in place ("C1: sent a test announcement to C1"), so
        that they can be shown as channel links."""
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
            "SELECT channel, state, count(*) FROM deliveries WHERE state != ? "
            "GROUP BY channel, state",
            [DISCARDED],
        ):
            per = counts.setdefault(channel, {"waiting": 0, SENT: 0, FAILED: 0})
            # Held ones (rare) only where there are some.
            key = "waiting" if state in (PENDING, SENDING) else state
            per[key] = per.get(key, 0) + count
        return counts

    # -- deliveries (the outbox) ----------------------------------------------------------

    def add_delivery(
        self, release_id: str, channel: str, *, now: float, held_because: str | None = None
    ) -> bool:
        """Queue `release_id` for `channel` unless it already is; True when queued now. With
        `held_because`, it is held for an admin instead (see `announce_held`), and why is kept
        with it."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO deliveries (release_id, channel, state, attempts, due_at, "
            "created_at, last_error) VALUES (?, ?, ?, 0, ?, ?, ?)",
            [release_id, channel, PENDING if held_because is None else HELD, now, now,
             held_because],
        )  # fmt: skip
        return cursor.rowcount == 1

    def held(self) -> Held:
        """The deliveries held for an admin, and the latest reason."""
        releases, posts = self.db.execute(
            "SELECT count(DISTINCT release_id), count(*) FROM deliveries WHERE state = ?", [HELD]
        ).fetchone()
        row = self.db.execute(
            "SELECT last_error FROM deliveries WHERE state = ? ORDER BY id DESC LIMIT 1", [HELD]
        ).fetchone()
        return Held(releases, posts, row[0] if row else None)

    def announce_held(self, *, by: str, now: float) -> int:
        """Queue every held delivery for posting, and audit it; returns how many releases."""
        return self._decide_held(PENDING, by=by, action="announce", now=now)

    def discard_held(self, *, by: str, now: float) -> int:
        """Never post the held deliveries (their releases stay stored), and audit it; returns
        how many releases."""
        return self._decide_held(DISCARDED, by=by, action="discard", now=now)

    def _decide_held(self, state: str, *, by: str, action: str, now: float) -> int:
        with self.transaction():
            releases = self.held().releases
            self.db.execute(
                "UPDATE deliveries SET state = ?, due_at = ?, last_error = NULL WHERE state = ?",
                [state, now, HELD],
            )
            if releases:
                plural = "release" if releases == 1 else "releases"
                did = (
                    f"queued {releases:,} held {plural} for announcement"
                    if state == PENDING
                    else f"discarded {releases:,} held {plural} (stored, never announced)"
                )
                self.record_change(by, action, did, now=now)
        return releases

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
                f"SELECT {_DELIVERY} FROM deliveries WHERE channel = ? AND state IN (?, ?) "
                "ORDER BY id LIMIT 1",
                [channel, PENDING, SENDING],
            )
        )
        return Delivery(**rows[0]) if rows else None

    def delivery(self, delivery_id: int) -> Delivery | None:
        rows = list(
            self.db.query(f"SELECT {_DELIVERY} FROM deliveries WHERE id = ?", [delivery_id])
        )
        return Delivery(**rows[0]) if rows else None

    def next_due_at(self) -> float | None:
        return self.db.execute(
            "SELECT min(due_at) FROM deliveries WHERE state IN (?, ?)", [PENDING, SENDING]
        ).fetchone()[0]

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
                [now + ttl, lease_name(delivery.channel), owner],
            )
            if cursor.rowcount != 1:
                return None
            self.db.execute(
                "UPDATE deliveries SET state = ?, attempts = attempts + 1, "
                "sending_since = coalesce(sending_since, ?), last_attempt_at = ? WHERE id = ?",
                [SENDING, now, now, delivery_id],
            )
            return delivery.attempts + 1

    def mark_sent(
        self, delivery_id: int, *, ts: str | None, now: float, note: str | None = None
    ) -> None:
        """The post is in the channel (whoever found that out): `note` says how, if unusual."""
        self.db.execute(
            "UPDATE deliveries SET state = ?, ts = ?, sent_at = ?, last_error = NULL, note = ? "
            "WHERE id = ?",
            [SENT, ts, now, note, delivery_id],
        )

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
        counts = dict.fromkeys((PENDING, SENDING, SENT, FAILED, HELD, DISCARDED), 0)
        for state, count in self.db.execute(
            "SELECT state, count(*) FROM deliveries GROUP BY state"
        ):
            counts[state] = count
        return counts

    def deliveries(
        self, *, states: Iterable[str], limit: int = 20, failing: bool = False
    ) -> list[dict[str, Any]]:
        """Deliveries in `states` (with `failing`, only those whose last try failed), newest
        first, with their release title, for status pages."""
        wanted = list(states)
        marks = ",".join("?" * len(wanted))
        failing_only = "AND d.last_error IS NOT NULL " if failing else ""
        return list(
            self.db.query(
                "SELECT d.id, d.channel, d.state, d.attempts, d.last_error, d.release_id, "
                f"r.title FROM deliveries d JOIN releases r ON r.id = d.release_id "
                f"WHERE d.state IN ({marks}) {failing_only}ORDER BY d.id DESC LIMIT ?",
                [*wanted, limit],
            )
        )

    def waiting_after_failures(self) -> tuple[int, int]:
        """How many unfinished deliveries last failed: (waiting out a rate limit, others)."""
        row = self.db.execute(
            "SELECT count(*) FILTER (WHERE last_error LIKE ?), "
            "count(*) FILTER (WHERE last_error NOT LIKE ?) FROM deliveries "
            "WHERE state IN (?, ?) AND last_error IS NOT NULL",
            [RATE_LIMITED + "%", RATE_LIMITED + "%", PENDING, SENDING],
        ).fetchone()
        return row[0], row[1]

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
            bad_items=row.get("bad_items") or 0,
            bad_item_examples=tuple(json.loads(row.get("bad_item_examples") or "[]")),
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

    def claim_channels(
        self,
        holder: Holder,
        *,
        skip: Iterable[str] = (),
        ttl: float,
        now: float,
        holder_is_gone: Callable[[Lease], bool],
    ) -> dict[str, Delivery]:
        """Take the lease of every channel with unfinished deliveries, except those in `skip`,
        that no live process holds, in one transaction (one commit however many channels a
        release goes to); returns each taken channel's oldest unfinished delivery."""
        taken: dict[str, Delivery] = {}
        skipped = set(skip)
        with self.transaction():
            for channel in self.channels_with_work():
                if channel in skipped:
                    continue
                name = lease_name(channel)
                held = self._lease(name)
                if (
                    held is not None
                    and held.holder.owner != holder.owner
                    and held.expires_at > now
                    and not holder_is_gone(held)
                ):
                    continue
                self._hold(name, holder, expires_at=now + ttl)
                delivery = self.next_delivery(channel)
                if delivery is not None:
                    taken[channel] = delivery
        return taken

    def renew_leases(
        self, channels: Iterable[str], *, owner: str, ttl: float, now: float
    ) -> set[str]:
        """Extend the leases of `channels` that `owner` still holds; returns the channels whose
        lease was lost to another process meanwhile."""
        lost = set()
        with self.transaction():
            for channel in channels:
                cursor = self.db.execute(
                    "UPDATE leases SET expires_at = ? WHERE name = ? AND owner = ?",
                    [now + ttl, lease_name(channel), owner],
                )
                if cursor.rowcount != 1:
                    lost.add(channel)
        return lost

    def release_lease(self, channel: str, *, owner: str) -> None:
        self.db.execute(
            "DELETE FROM leases WHERE name = ? AND owner = ?", [lease_name(channel), owner]
        )

    def _lease(self, name: str) -> Lease | None:
        rows = list(self.db.query("SELECT * FROM leases WHERE name = ?", [name]))
        if not rows:
            return None
        row = rows[0]
        holder = Holder(
            row["owner"], row["host"], row["pid"], row.get("boot_id"), row.get("pid_ns"),
            row.get("started"),
        )  # fmt: skip
        return Lease(holder, row["expires_at"])

    def _hold(self, name: str, holder: Holder, *, expires_at: float) -> None:
        self.db["leases"].upsert(
            {
                "name": name,
                "owner": holder.owner,
                "host": holder.host,
                "pid": holder.pid,
                "boot_id": holder.boot_id,
                "pid_ns": holder.pid_ns,
                "started": holder.started,
                "expires_at": expires_at,
            },
            pk="name",
        )

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

    # -- backup -------------------------------------------------------------------------------

    def copy_to(
        self,
        target: Path,
        *,
        pages: int = BACKUP_PAGES,
        on_step: Callable[[int, int], object] | None = None,
    ) -> None:
        """Copy the whole database into the empty file `target` with SQLite's online backup,
        `pages` at a time (`on_step(remaining, total)` after each), as of one moment.

        In WAL mode, the bot's, the copy reads one snapshot held from its first page to its
        last: a snapshot blocks no writer, and whatever the bot commits meanwhile is simply
        not in the copy. (Without it SQLite starts the copy over after every write of another
        connection, and a busy bot could keep a large copy from ever finishing.) A database in
        rollback-journal mode has no such snapshot: there each step holds a read lock only
        while it runs. The copy is left in rollback-journal mode, one self-contained file."""
        copy = sqlite3.connect(target, isolation_level=None)
        try:
            snapshot = self.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            if snapshot:
                self.db.execute("BEGIN")
                self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # begins it
            try:
                self.db.conn.backup(
                    copy,
                    pages=pages,
                    progress=None
                    if on_step is None
                    else lambda _, left, total: on_step(left, total),
                )
            finally:
                if snapshot:
                    self.db.execute("COMMIT")
            copy.execute("PRAGMA journal_mode = DELETE")
        finally:
            copy.close()

    def integrity_problems(self) -> list[str]:
        """What SQLite's integrity check finds wrong with the database; empty when sound."""
        found = [row[0] for row in self.db.execute("PRAGMA integrity_check")]
        return [] if found == ["ok"] else found


_DELIVERY = (
    "id, release_id, channel, state, attempts, due_at, sending_since, last_error, last_attempt_at"
)


def lease_name(channel: str) -> str:
    """The lease that lets one process at a time post to `channel`."""
    return f"channel:{channel}"


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
