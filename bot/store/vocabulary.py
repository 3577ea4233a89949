"""The archive's vocabulary, kept beside the search index: every word (as typed, before
stemming) and every stem (as the index holds it) with the number of releases holding it, and
the acronyms releases define. Search reads single rows of it (how common a word is, which
words begin with a prefix or lie one typo from a word), so nothing is loaded at start, and it
is kept in step by `count_release` as each release is stored or changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.store.acronyms import defined_acronyms
from bot.store.base import StoreBase, rows_for
from bot.store.tokenizer import Tokenizer


class VocabularyMixin(StoreBase):
    """The vocabulary tables: their reads, and their upkeep as releases are stored."""

    _tokenizer: Tokenizer | None = None

    @property
    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            self._tokenizer = Tokenizer()
        return self._tokenizer

    def close(self) -> None:
        if self._tokenizer is not None:
            self._tokenizer.close()
        super().close()

    def tokens(self, text: str) -> list[str]:
        """`text` as the search index sees it: its words case folded, accents removed,
        stemmed ("Regulations" → "regul"), in order."""
        return self.tokenizer.stems(text)

    # -- reads ---------------------------------------------------------------------------

    def word_counts(self, words: Iterable[str]) -> dict[str, int]:
        """How many releases hold each of `words` (as typed, case folded); absent: none."""
        return self._counts("search_words", "word", words)

    def stem_counts(self, stems: Iterable[str]) -> dict[str, int]:
        """How many releases hold each of `stems` (as the index holds them); absent: none."""
        return self._counts("search_stems", "stem", stems)

    def _counts(self, table: str, column: str, keys: Iterable[str]) -> dict[str, int]:
        sql = f"SELECT {column}, docs FROM {table} WHERE {column} IN (?) AND docs > 0"
        return dict(rows_for(self.db, sql, sorted(set(keys))))

    def words_beginning(self, start: str, limit: int) -> list[tuple[str, int]]:
        """The commonest `limit` words that begin with `start`, with their counts."""
        rows = self.db.execute(
            "SELECT word, docs FROM search_words WHERE word >= ? AND word < ? AND docs > 0 "
            "ORDER BY docs DESC, word LIMIT ?",
            [start, start + "\U0010ffff", limit],
        )
        return rows.fetchall()

    def words_sized(self, first: str, shortest: int, longest: int) -> list[tuple[str, int]]:
        """The words that begin with the letter `first` and have between `shortest` and
        `longest` letters, with their counts."""
        rows = self.db.execute(
            "SELECT word, docs FROM search_words WHERE word >= ? AND word < ? "
            "AND length(word) BETWEEN ? AND ? AND docs > 0",
            [first, first + "\U0010ffff", shortest, longest],
        )
        return rows.fetchall()

    def acronyms(self) -> list[tuple[str, str, int]]:
        """Every (acronym, long form, releases defining it) the archive defines."""
        rows = self.db.execute("SELECT short, long, docs FROM search_acronyms WHERE docs > 0")
        return rows.fetchall()

    # -- upkeep --------------------------------------------------------------------------

    def count_release(self, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> None:
        """Move the counts from a release's old row (None: it is new) to its new one (None:
        it is gone), within the caller's transaction."""
        before, after = self._vocabulary_of(old), self._vocabulary_of(new)
        for index, (table, key) in enumerate(_TABLES):
            gone, came = before[index] - after[index], after[index] - before[index]
            self._add(table, key, gone, -1)
            self._add(table, key, came, 1)

    def _vocabulary_of(self, row: Mapping[str, Any] | None) -> tuple[set[Any], set[Any], set[Any]]:
        if row is None:
            return set(), set(), set()
        text = " \n ".join(
            [
                row["title"] or "",
                row["excerpt"] or "",
                row["body"] or "",
                " ".join(json.loads(row["categories"] or "[]")),
                row["author"] or "",
            ]
        )
        prose = " \n ".join([row["title"] or "", row["excerpt"] or "", row["body"] or ""])
        return (
            set(self.tokenizer.words(text)),
            set(self.tokenizer.stems(text)),
            defined_acronyms(prose),
        )

    def _add(self, table: str, key: Sequence[str], values: set[Any], step: int) -> None:
        if not values:
            return
        names = ", ".join(key)
        rows = [(*value, step) if isinstance(value, tuple) else (value, step) for value in values]
        self.db.conn.executemany(
            f"INSERT INTO {table} ({names}, docs) VALUES ({', '.join('?' * len(key))}, ?) "
            f"ON CONFLICT ({names}) DO UPDATE SET docs = docs + excluded.docs",
            rows,
        )


_TABLES = (
    ("search_words", ("word",)),
    ("search_stems", ("stem",)),
    ("search_acronyms", ("short", "long")),
)


def create_vocabulary(store: VocabularyMixin) -> None:
    """The vocabulary tables, counted from every stored release (schema step 5)."""
    db = store.db
    db.execute(
        "CREATE TABLE IF NOT EXISTS search_words (word TEXT PRIMARY KEY, "
        "docs INTEGER NOT NULL) WITHOUT ROWID"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS search_stems (stem TEXT PRIMARY KEY, "
        "docs INTEGER NOT NULL) WITHOUT ROWID"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS search_acronyms (short TEXT NOT NULL, long TEXT NOT NULL, "
        "docs INTEGER NOT NULL, PRIMARY KEY (short, long)) WITHOUT ROWID"
    )
    for table, _ in _TABLES:
        db.execute(f"DELETE FROM {table}")
    # One release at a time: bodies are long.
    for (rowid,) in db.execute("SELECT rowid FROM releases").fetchall():
        [row] = db.query("SELECT * FROM releases WHERE rowid = ?", [rowid])
        store.count_release(None, row)
