"""The search index: its FTS5 layout, how words are encoded in it, and every read of it.

The releases are indexed whole (`releases_fts`, over SEARCH_COLUMNS) and in two small side
indexes for ranking (SIDE_INDEXES); `release_categories` makes a category filter an index
lookup; `releases_version` counts changes. Rowids run in publication order (`release_key`), so
that a date filter is a rowid range. Words the index keeps joined into one (a phrase's pairs,
whole category and author names) are written and read only here (`pair`, `category_key`,
`author_key`, `joined_parts`).
"""

from __future__ import annotations

import itertools
import json
import math
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlite_utils

from bot.models import Release
from bot.store.base import StoreBase, int_or_none, int_value

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


# Small indexes beside the whole one, which ranking reads across the whole archive: the
# titles alone, and the titles with the lead paragraphs (excerpts). Each follows every insert,
# edit, renumbering and removal of a release.
SIDE_INDEXES = {"release_titles": ("title",), "release_leads": ("title", "excerpt")}


def _side_triggers(table: str) -> dict[str, str]:
    columns = SIDE_INDEXES[table]
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


def joined_parts(word: str) -> list[str] | None:
    """What a word the index keeps joined (`pair`, `category_key`, `author_key`) is made of,
    after its leading JOIN: for a pair, its two words. None for a plain word."""
    return word.split(JOIN)[1:] if word.startswith(JOIN) else None


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


def rowid_for(db: sqlite_utils.Database, published: str | None) -> int:
    """A free rowid in publication order (newest lowest): search reads the newest matches
    first straight off the index, and a date filter is a rowid range."""
    base = release_key(datetime.fromisoformat(published) if published else None)
    span = _ROWID_SPAN if published else _UNDATED_SPAN
    top = int_or_none(
        db, "SELECT max(rowid) FROM releases WHERE rowid >= ? AND rowid < ?", [base, base + span]
    )
    if top is None:
        return base
    if top + 1 < base + span:
        return top + 1
    return int_value(db, "SELECT max(rowid) + 1 FROM releases")


class SearchIndexMixin(StoreBase):
    """Reads of the search index, and the index rows a stored release needs."""

    _scratch: sqlite3.Connection | None = None  # see tokens

    def close(self) -> None:
        if self._scratch is not None:
            self._scratch.close()
        super().close()

    def tidy_search_index(self) -> None:
        """Merge the search indexes into one piece each, after a bulk import (FTS5's optimize)."""
        with self.transaction():
            self.db.table("releases").optimize()
            for table in SIDE_INDEXES:
                self.db.table(table).optimize()

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

    def releases_version(self) -> int:
        """A number that changes whenever a release is stored, changed or removed (and only
        then: polls and deliveries write too), by this connection or another one."""
        return int_value(self.db, "SELECT version FROM releases_version")

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
        where = ["1"] if match is None else [f"{table} MATCH ?"]
        args: list[str | int] = [] if match is None else [match]
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

    def index_categories(self, release: Release) -> None:
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO release_categories (release_id, category) VALUES (?, ?)",
            [(release.id, name) for name in release.categories],
        )


# -- layout: what schema.py's steps build ------------------------------------------------


def create_category_index(store: SearchIndexMixin) -> None:
    """A release's categories, one row each, so a category filter is an index lookup; filled
    from the releases' JSON lists on a database from before search."""
    # NOCASE: "category:policy" finds "Policy".
    store.db.execute(
        "CREATE TABLE IF NOT EXISTS release_categories (release_id TEXT NOT NULL "
        "REFERENCES releases(id), category TEXT NOT NULL COLLATE NOCASE, "
        "PRIMARY KEY (release_id, category))"
    )
    store.db.table("release_categories").create_index(["category"], if_not_exists=True)
    if not store.db.execute("SELECT EXISTS (SELECT 1 FROM release_categories)").fetchone()[0]:
        store.db.execute(
            "INSERT OR IGNORE INTO release_categories (release_id, category) "
            "SELECT releases.id, value FROM releases, json_each(releases.categories)"
        )


def create_main_index(store: SearchIndexMixin) -> None:
    """The index of SEARCH_COLUMNS, with the `joined` words of every release filled in first;
    an index of other columns is built anew."""
    db = store.db
    fts = db.table("releases").detect_fts()
    if fts is not None and tuple(db.table(fts).columns_dict) != SEARCH_COLUMNS:
        db.table("releases").disable_fts()  # an index of other columns: build it anew
        fts = None
    if "joined" not in db.table("releases").columns_dict:
        db.table("releases").add_column("joined", str)
    # A database from before: fill them in (one release at a time, as bodies are long),
    # before the index is built from them.
    unjoined = db.execute("SELECT rowid FROM releases WHERE joined IS NULL").fetchall()
    for (rowid,) in unjoined:
        [row] = db.query("SELECT * FROM releases WHERE rowid = ?", [rowid])
        db.execute(
            "UPDATE releases SET joined = ? WHERE rowid = ?", [store.joined_words(row), rowid]
        )
    if fts is None:
        # Porter stemming: "cells" finds "cell"; triggers keep the index in step with every
        # insert and update; a database from before search is indexed here, once.
        db.table("releases").enable_fts(
            list(SEARCH_COLUMNS), create_triggers=True, tokenize=TOKENIZER
        )


def ensure_side_index(store: SearchIndexMixin, table: str) -> None:
    """A copy of some columns of every release, indexed apart and kept in step by
    triggers (see SIDE_INDEXES)."""
    columns = SIDE_INDEXES[table]
    store.db.table(table).create(
        {"id": int, **dict.fromkeys(columns, str)},
        pk="id",
        if_not_exists=True,  # id: the release's rowid
    )
    for name, trigger in _side_triggers(table).items():  # not executescript: it commits
        store.db.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {trigger}")
    # A database from before (or whose triggers were lost): put right what differs.
    differs = " OR ".join(f"s.{column} IS NOT r.{column}" for column in columns)
    stale = (
        f"SELECT r.rowid, {', '.join(f'r.{column}' for column in columns)} FROM releases r "
        f"LEFT JOIN {table} s ON s.id = r.rowid WHERE {differs}"
    )
    marks = ", ".join("?" * (len(columns) + 1))
    for row in store.db.execute(stale).fetchall():
        store.db.execute(
            f"INSERT OR REPLACE INTO {table} (id, {', '.join(columns)}) VALUES ({marks})", row
        )
    store.db.execute(f"DELETE FROM {table} WHERE id NOT IN (SELECT rowid FROM releases)")
    if store.db.table(table).detect_fts() is None:
        store.db.table(table).enable_fts(list(columns), create_triggers=True, tokenize=TOKENIZER)


def create_version_counter(store: SearchIndexMixin) -> None:
    """`releases_version` and the triggers that count every change to the releases."""
    store.db.execute(
        "CREATE TABLE IF NOT EXISTS releases_version (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "version INTEGER NOT NULL)"
    )
    store.db.execute("INSERT OR IGNORE INTO releases_version (id, version) VALUES (1, 0)")
    for name, trigger in _VERSION_TRIGGERS.items():
        store.db.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {trigger}")


def renumber_releases(store: SearchIndexMixin) -> None:
    """Give every release the rowid of its publication time (see `release_key`). The search
    indexes go first (the caller builds them again, in one pass rather than two updates a
    release), and the old rowids move above every new one so that no two collide."""
    drop_search_indexes(store)
    store.db.execute(f"UPDATE releases SET rowid = rowid + {_RENUMBERING}")
    for rowid, published in store.db.execute(
        "SELECT rowid, published FROM releases WHERE rowid >= ? ORDER BY rowid",
        [_RENUMBERING // 2],
    ).fetchall():
        store.db.execute(
            "UPDATE releases SET rowid = ? WHERE rowid = ?", [rowid_for(store.db, published), rowid]
        )


def drop_search_indexes(store: SearchIndexMixin) -> None:
    """The whole index, and the side indexes with their triggers."""
    if store.db.table("releases").detect_fts() is not None:
        store.db.table("releases").disable_fts()  # the index and its triggers
    for table in SIDE_INDEXES:
        for name in _side_triggers(table):
            store.db.execute(f"DROP TRIGGER IF EXISTS {name}")
        if store.db.table(table).exists():
            if store.db.table(table).detect_fts() is not None:
                store.db.table(table).disable_fts()
            store.db.table(table).drop()
