"""What the archive costs on disk: the database file (and WAL) against the raw text of its
releases, and what each table, index and FTS5 shadow table takes of it.

The raw text is the UTF-8 bytes of each release's title, excerpt, body, categories and author,
read back through `Store.release`. The split reads SQLite's `dbstat` virtual table (one
b-tree per row, with `aggregate=TRUE`), on a read-only connection of its own: that is a
statement about the file, not something the bot asks, so it is not among the Store's methods.
Without `dbstat` (SQLite built without SQLITE_ENABLE_DBSTAT_VTAB) only the page counts are
reported.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from corpus import release_id

from bot.store import Store

FTS5_SHADOWS = ("data", "idx", "docsize", "config", "content")


@dataclass(frozen=True)
class Btree:
    name: str
    kind: str  # "table", "index on X", "FTS5 data of X", ...
    bytes: int


@dataclass(frozen=True)
class Sizes:
    releases: int
    raw_text: int  # bytes of the releases' text, UTF-8
    database: int  # bytes of the database file
    wal: int  # bytes of its WAL (0 when there is none)
    page_size: int
    free_pages: int
    btrees: list[Btree] | None  # largest first; None without dbstat

    @property
    def total(self) -> int:
        return self.database + self.wal

    @property
    def ratio(self) -> float:
        return self.total / self.raw_text


def raw_text_bytes(path: Path, releases: int) -> int:
    """The UTF-8 bytes of the text of releases 1..`releases` of the corpus."""
    store = Store(path, read_only=True)
    total = 0
    try:
        for n in range(1, releases + 1):
            release = store.release(release_id(n))
            if release is None:
                raise RuntimeError(f"the corpus lacks release {n}")
            parts = [release.title, release.excerpt, release.body, *release.categories]
            if release.author is not None:
                parts.append(release.author)
            total += sum(len(part.encode()) for part in parts)
    finally:
        store.close()
    return total


def measure_sizes(path: Path, releases: int) -> Sizes:
    wal = path.with_name(path.name + "-wal")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        free_pages = conn.execute("PRAGMA freelist_count").fetchone()[0]
        btrees = _btrees(conn)
    finally:
        conn.close()
    return Sizes(
        releases=releases,
        raw_text=raw_text_bytes(path, releases),
        database=path.stat().st_size,
        wal=wal.stat().st_size if wal.exists() else 0,
        page_size=page_size,
        free_pages=free_pages,
        btrees=btrees,
    )


def _btrees(conn: sqlite3.Connection) -> list[Btree] | None:
    try:
        rows = conn.execute("SELECT name, pgsize FROM dbstat WHERE aggregate = TRUE").fetchall()
    except sqlite3.OperationalError:  # no such table: dbstat
        return None
    schema = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    virtual = [
        name
        for kind, name, _, sql in schema
        if kind == "table" and (sql or "").upper().startswith("CREATE VIRTUAL TABLE")
    ]
    owners = {name: (kind, table) for kind, name, table, _ in schema}
    btrees = [Btree(name, _kind(name, owners, virtual), size) for name, size in rows]
    return sorted(btrees, key=lambda b: -b.bytes)


def _kind(name: str, owners: dict[str, tuple[str, str]], virtual: list[str]) -> str:
    for table in virtual:
        for shadow in FTS5_SHADOWS:
            if name == f"{table}_{shadow}":
                return f"FTS5 {shadow} of {table}"
    kind, table = owners.get(name, ("table", name))
    if name == "sqlite_schema":
        return "the schema"
    return f"index on {table}" if kind == "index" else kind
