"""The search index: its FTS5 layout, how words are encoded in it, and every read of it.

The releases are indexed whole (`releases_fts`, over SEARCH_COLUMNS, stemmed);
`release_categories` makes listing categories a look-up; `releases_version` counts changes and
releases. Rowids run in publication order (`release_key`), so that the newest matches come first
off the index and a date filter is a rowid range. Whole category and author names are indexed as
one word each (`category_key`, `author_key`), so that a filter is one look-up that takes only
the whole name. The words, stems and acronyms of the archive are counted beside the index
(`bot.store.vocabulary`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlite_utils

from bot.models import Release
from bot.store.base import int_or_none, int_value, rows_for
from bot.store.tokenizer import MARK_CLOSE, MARK_OPEN, TOKENIZER
from bot.store.vocabulary import VocabularyMixin

# Indexed for full-text search, in this order. Words are looked for in every column; the
# weights rank a title match above the lead paragraph (the excerpt) above the rest of the body;
# categories and author find releases without weighing them. `names` holds each category and
# the author whole, as one word each (see `category_key`).
SEARCH_COLUMNS = ("title", "excerpt", "body", "categories", "author", "names")
SEARCH_WEIGHTS = (10.0, 2.0, 1.0, 0.0, 0.0, 0.0)
# Joins words into one: a letter to the tokenizer (Unicode's last private-use character), so a
# joined name is one word, sorted after every other.
JOIN = "\U0010fffd"
# Tables of the layout before schema 5, dropped by it: side indexes of titles and leads, whose
# triggers were named after them.
_OLD_SIDE_INDEXES = ("release_titles", "release_leads")


def _counter_triggers() -> dict[str, str]:
    """Every change to the releases counts (a search caches what it read of the archive until
    the next one), and so does the number of releases (counting them would read them all)."""
    count = {"ai": " releases = releases + 1,", "au": "", "ad": " releases = releases - 1,"}
    return {
        f"releases_version_{suffix}": f"AFTER {event} ON releases BEGIN "
        f"UPDATE releases_version SET{count[suffix]} version = version + 1; END"
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


# Text put through the tokenizer to be marked: the marks' own characters are not marks, and
# FTS5's highlight() and snippet() stop at a NUL.
_PLAIN = str.maketrans({MARK_OPEN: " ", MARK_CLOSE: " ", "\x00": " "})


def category_key(words: Sequence[str]) -> str:
    """A whole category name (its words as the index has them) as one word."""
    return JOIN * 2 + JOIN.join(words)


def author_key(words: Sequence[str]) -> str:
    """A whole author name (its words as the index has them) as one word."""
    return JOIN * 3 + JOIN.join(words)


def in_title(match: str) -> str:
    """The FTS5 expression `match` looked for in the titles only."""
    return "{title}: (" + match + ")"


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


class SearchIndexMixin(VocabularyMixin):
    """Reads of the search index, and the index rows a stored release needs."""

    def tidy_search_index(self) -> None:
        """Merge the search index into one piece, after a bulk import (FTS5's optimize)."""
        with self.transaction():
            self.db.table("releases").optimize()

    def categories(self) -> list[str]:
        """Every category a stored release has, alphabetically, one spelling per name."""
        return self._distinct("release_categories", "category")

    def category_named(self, name: str) -> str | None:
        """The stored spelling of the category `name`, compared without case."""
        row = self.db.execute(
            "SELECT category FROM release_categories WHERE category = ? LIMIT 1", [name]
        ).fetchone()
        return row[0] if row else None

    def authors(self) -> list[str]:
        return self._distinct("releases", "author")

    def _distinct(self, table: str, column: str) -> list[str]:
        """The distinct values of an indexed column, in its order, found by jumping from
        each to the next through the index: a handful of look-ups, where DISTINCT would read
        the whole index (a row per release)."""
        rows = self.db.execute(
            f"WITH RECURSIVE found(value) AS (SELECT min({column}) FROM {table} UNION ALL "
            f"SELECT (SELECT min({column}) FROM {table} WHERE {column} > value) FROM found "
            "WHERE value IS NOT NULL) SELECT value FROM found WHERE value IS NOT NULL"
        )
        return [row[0] for row in rows]

    def releases_version(self) -> int:
        """A number that changes whenever a release is stored, changed or removed (and only
        then: polls and deliveries write too), by this connection or another one."""
        return int_value(self.db, "SELECT version FROM releases_version")

    def releases_counted(self) -> tuple[int, int]:
        """(`releases_version`, the number of releases), in one read of one row."""
        row = self.db.execute("SELECT version, releases FROM releases_version").fetchone()
        return int(row[0]), int(row[1])

    def names(self, row: Mapping[str, Any]) -> str:
        """What the `names` column of a release `row` holds: each category and the author
        whole, each as one word (see `category_key`, `author_key`)."""
        names = [category_key(self.tokens(name)) for name in json.loads(row["categories"])]
        if row["author"]:
            names.append(author_key(self.tokens(row["author"])))
        return " ".join(names)

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
        where = ["1"] if match is None else ["releases_fts MATCH ?"]
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

    def count_matching(self, match: str, lowest: int, highest: int, at_most: int) -> int:
        """How many releases in a rowid range match `match`, counting no further than one
        past `at_most` (a fiftieth of a microsecond a release)."""
        return int_value(
            self.db,
            "SELECT count(*) FROM (SELECT 1 FROM releases_fts WHERE releases_fts MATCH ? "
            "AND rowid >= ? AND rowid <= ? LIMIT ?)",
            [match, lowest, highest, at_most + 1],
        )

    def relevance(self, match: str, *, lowest: int, highest: int) -> dict[int, tuple[float, float]]:
        """For each release matching `match` in a rowid range: bm25 with SEARCH_WEIGHTS, and
        bm25 of its title alone (0 when the title holds none of the words); lower is better.
        FTS5 weighs every release it returns (about a microsecond each) after reading the
        whole posting list of each word of `match` (a fiftieth of that a release holding it)."""
        weights = ", ".join(map(str, SEARCH_WEIGHTS))
        title = ", ".join(["1.0", *["0.0"] * (len(SEARCH_COLUMNS) - 1)])
        rows = self.db.execute(
            f"SELECT rowid, bm25(releases_fts, {weights}), bm25(releases_fts, {title}) "
            "FROM releases_fts WHERE releases_fts MATCH ? AND rowid >= ? AND rowid <= ?",
            [match, lowest, highest],
        )
        return {rowid: (score, in_title) for rowid, score, in_title in rows}

    def marked(
        self, shown: Sequence[tuple[str, str, str]], match: str
    ) -> list[tuple[str | None, str | None]]:
        """For each (title, lead, body) shown: the lead with the words `match` finds marked,
        and a marked snippet of the body when neither title nor lead has one (None where
        nothing matched or no snippet was made), by the index's own tokenizer (see
        `Tokenizer.marked`)."""
        return self.tokenizer.marked(
            [(t.translate(_PLAIN), e.translate(_PLAIN), b.translate(_PLAIN)) for t, e, b in shown],
            match,
        )

    def titles_matching(self, rowids: Sequence[int], match: str) -> set[int]:
        """Which of these releases have a title `match` (an FTS5 expression of words, no
        column filters) finds something in: their titles alone are tokenized, so this costs
        the same whatever their words."""
        titles = rows_for(self.db, "SELECT rowid, title FROM releases WHERE rowid IN (?)", rowids)
        found = self.tokenizer.matching([title.translate(_PLAIN) for _, title in titles], match)
        return {titles[index][0] for index in found}

    def index_categories(self, release: Release) -> None:
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO release_categories (release_id, category) VALUES (?, ?)",
            [(release.id, name) for name in release.categories],
        )


# -- layout: what schema.py's steps build ------------------------------------------------


def create_category_index(store: SearchIndexMixin) -> None:
    """A release's categories, one row each, so listing them is an index read; filled from
    the releases' JSON lists on a database from before search."""
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
    """The index of SEARCH_COLUMNS, with the `names` of every release filled in first; an
    index of other columns (an older layout's) is dropped with its triggers and built anew,
    and so are the older layout's side indexes and joined words."""
    db = store.db
    fts = db.table("releases").detect_fts()
    if fts is not None and tuple(db.table(fts).columns_dict) != SEARCH_COLUMNS:
        db.table("releases").disable_fts()  # the index and its triggers
        fts = None
    _drop_old_layout(store)
    if "names" not in db.table("releases").columns_dict:
        db.table("releases").add_column("names", str)
    # A database from before: fill them in (one release at a time, as bodies are long),
    # before the index is built from them.
    unnamed = db.execute("SELECT rowid FROM releases WHERE names IS NULL").fetchall()
    for (rowid,) in unnamed:
        [row] = db.query("SELECT categories, author FROM releases WHERE rowid = ?", [rowid])
        db.execute("UPDATE releases SET names = ? WHERE rowid = ?", [store.names(row), rowid])
    if fts is None:
        # Porter stemming: "cells" finds "cell"; triggers keep the index in step with every
        # insert and update; a database from before search is indexed here, once.
        db.table("releases").enable_fts(
            list(SEARCH_COLUMNS), create_triggers=True, tokenize=TOKENIZER
        )


def _drop_old_layout(store: SearchIndexMixin) -> None:
    """What the index of schema 4 and before kept beside it: side indexes of titles and of
    leads, with their triggers, and every two adjacent words of a release (`joined`)."""
    db = store.db
    for table in _OLD_SIDE_INDEXES:
        name = table.removeprefix("release_")
        for suffix in ("ai", "au", "ad"):
            db.execute(f"DROP TRIGGER IF EXISTS releases_{name}_{suffix}")
        if db.table(table).exists():
            if db.table(table).detect_fts() is not None:
                db.table(table).disable_fts()
            db.table(table).drop()
    if "joined" in db.table("releases").columns_dict:
        db.execute("ALTER TABLE releases DROP COLUMN joined")


def create_version_counter(store: SearchIndexMixin) -> None:
    """`releases_version` and the triggers that count every change to the releases, and the
    releases (counted once here)."""
    db = store.db
    db.execute(
        "CREATE TABLE IF NOT EXISTS releases_version (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "version INTEGER NOT NULL, releases INTEGER NOT NULL DEFAULT 0)"
    )
    if "releases" not in db.table("releases_version").columns_dict:
        db.execute("ALTER TABLE releases_version ADD COLUMN releases INTEGER NOT NULL DEFAULT 0")
        for name in _counter_triggers():  # they counted changes only
            db.execute(f"DROP TRIGGER IF EXISTS {name}")
    db.execute("INSERT OR IGNORE INTO releases_version (id, version) VALUES (1, 0)")
    db.execute("UPDATE releases_version SET releases = (SELECT count(*) FROM releases)")
    for name, trigger in _counter_triggers().items():
        db.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {trigger}")


def has_version_counter(store: SearchIndexMixin) -> bool:
    """Whether the counter's triggers are all there (a hand edit or a partial restore may have
    lost them): a read of the schema alone, cheap at every start."""
    names = list(_counter_triggers())
    found = store.db.execute(
        f"SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN "
        f"({', '.join('?' * len(names))})",
        names,
    ).fetchone()[0]
    return int(found) == len(names)


def renumber_releases(store: SearchIndexMixin) -> None:
    """Give every release the rowid of its publication time (see `release_key`). The search
    index goes first (the caller builds it again, in one pass rather than two updates a
    release), and the old rowids move above every new one so that no two collide."""
    if store.db.table("releases").detect_fts() is not None:
        store.db.table("releases").disable_fts()  # the index and its triggers
    _drop_old_layout(store)
    store.db.execute(f"UPDATE releases SET rowid = rowid + {_RENUMBERING}")
    for rowid, published in store.db.execute(
        "SELECT rowid, published FROM releases WHERE rowid >= ? ORDER BY rowid",
        [_RENUMBERING // 2],
    ).fetchall():
        store.db.execute(
            "UPDATE releases SET rowid = ? WHERE rowid = ?", [rowid_for(store.db, published), rowid]
        )
