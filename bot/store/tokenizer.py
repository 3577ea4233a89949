"""The search index's own tokenizer, used on text outside the index: an in-memory FTS5 database
with tables tokenized as the index is, into which text goes only inside a transaction that is
rolled back. It splits a release into the words the vocabulary counts, stems words as the index
does, and marks the words a query matched in the texts a search shows (FTS5's `highlight()` and
`snippet()` on the shown texts alone, so marking costs the same at any size of archive).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

# Case folded, accents removed, each run of letters and digits a word ("Régulations" →
# "regulations"); the index stems those words too ("regul").
WORDS = "unicode61 remove_diacritics 2"
TOKENIZER = f"porter {WORDS}"
# Matched words come back wrapped in these (the surfaces turn them into bold); they are control
# characters, which neither feed text nor a query keeps.
MARK_OPEN, MARK_CLOSE = "\x02", "\x03"
SNIPPET_WORDS = 30


class Tokenizer:
    """One in-memory scratch database; not thread-safe (one per Store, as the connection is)."""

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        # `stems` and `plain` hold one text each; `shown` the texts a search shows.
        self._db.execute(f"CREATE VIRTUAL TABLE stems USING fts5(w, tokenize='{TOKENIZER}')")
        self._db.execute(f"CREATE VIRTUAL TABLE plain USING fts5(w, tokenize='{WORDS}')")
        self._db.execute(f"CREATE VIRTUAL TABLE shown USING fts5(a, b, tokenize='{TOKENIZER}')")
        self._db.execute("CREATE VIRTUAL TABLE stem_words USING fts5vocab(stems, instance)")
        self._db.execute("CREATE VIRTUAL TABLE plain_words USING fts5vocab(plain, instance)")

    def close(self) -> None:
        self._db.close()

    def stems(self, text: str) -> list[str]:
        """`text` as the index sees it, in order: "Regulations of Stem-Cells" → regul, of,
        stem, cell."""
        return self._words("stems", "stem_words", text)

    def words(self, text: str) -> list[str]:
        """`text`'s words before stemming, in order: "Régulations" → "regulations"."""
        return self._words("plain", "plain_words", text)

    def _words(self, table: str, vocabulary: str, text: str) -> list[str]:
        # Rolled back, not deleted: FTS5 would tokenize the text again to delete it.
        self._db.execute("BEGIN")
        try:
            self._db.execute(f"INSERT INTO {table} (rowid, w) VALUES (1, ?)", [text])
            rows = self._db.execute(f"SELECT term FROM {vocabulary} ORDER BY offset")
            return [row[0] for row in rows]
        finally:
            self._db.execute("ROLLBACK")

    def marked(
        self, pairs: Sequence[tuple[str, str]], match: str
    ) -> list[tuple[str | None, str | None]]:
        """For each (lead, body) pair: the lead with every word `match` (an FTS5 expression of
        words, no column filters) finds marked, and a snippet of the body around its best
        stretch of matches, marked; None where nothing matched. The marks are exactly the
        index's matches: its tokenizer, stemming and phrases."""
        self._db.execute("BEGIN")
        try:
            self._db.executemany(
                "INSERT INTO shown (rowid, a, b) VALUES (?, ?, ?)",
                [(index, lead, body) for index, (lead, body) in enumerate(pairs, 1)],
            )
            found = {
                rowid: (lead, body)
                for rowid, lead, body in self._db.execute(
                    "SELECT rowid, highlight(shown, 0, ?, ?), "
                    "snippet(shown, 1, ?, ?, '…', ?) FROM shown WHERE shown MATCH ?",
                    [MARK_OPEN, MARK_CLOSE, MARK_OPEN, MARK_CLOSE, SNIPPET_WORDS, match],
                )
            }
        finally:
            self._db.execute("ROLLBACK")
        return [
            (_if_marked(found[index][0]), _if_marked(found[index][1]))
            if index in found
            else (None, None)
            for index in range(1, len(pairs) + 1)
        ]


def _if_marked(text: str | None) -> str | None:
    # Paragraph breaks of a snippet become spaces: it is shown as one run of text.
    return " ".join(text.split()) if text and MARK_OPEN in text else None
