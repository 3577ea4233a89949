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
        self._db.execute(f"CREATE VIRTUAL TABLE shown USING fts5(a, tokenize='{TOKENIZER}')")
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
        self, shown: Sequence[tuple[str, str, str]], match: str
    ) -> list[tuple[str | None, str | None]]:
        """For each (title, lead, body) shown: the lead with every word `match` (an FTS5
        expression of words, no column filters) finds marked, and, when neither the title nor
        the lead has a match, a snippet of the body around its best stretch of matches,
        marked; None where nothing matched or none was made. The marks are exactly the
        index's matches: its tokenizer, stemming and phrases. (Bodies are long: only those
        whose release would otherwise show no match are read.)"""
        titled = self.matching([title for title, _, _ in shown], match)
        highlight = "highlight(shown, 0, ?, ?)"
        leads = self._marked([lead for _, lead, _ in shown], match, highlight)
        unmarked = [index for index in range(len(shown)) if index not in {*leads, *titled}]
        snippet = f"snippet(shown, 0, ?, ?, '…', {SNIPPET_WORDS})"
        snippets = self._marked([shown[index][2] for index in unmarked], match, snippet)
        bodies = {unmarked[index]: text for index, text in snippets.items()}
        return [(leads.get(index), bodies.get(index)) for index in range(len(shown))]

    def matching(self, texts: Sequence[str], match: str) -> set[int]:
        """The positions in `texts` of those `match` (FTS5 words, no column filters) finds."""
        return set(self._found(texts, match, "''"))

    def _marked(self, texts: Sequence[str], match: str, function: str) -> dict[int, str]:
        """By position, each text `match` finds something in, marked by `function` (FTS5's
        highlight or snippet of column 0, its marks as parameters)."""
        found = self._found(texts, match, function, MARK_OPEN, MARK_CLOSE)
        return {index: marked for index, text in found.items() if (marked := _if_marked(text))}

    def _found(
        self, texts: Sequence[str], match: str, function: str, *marks: str
    ) -> dict[int, str]:
        """By position, `function` of each text `match` finds something in."""
        if not texts:
            return {}
        self._db.execute("BEGIN")
        try:
            self._db.executemany(
                "INSERT INTO shown (rowid, a) VALUES (?, ?)", list(enumerate(texts))
            )
            rows = self._db.execute(
                f"SELECT rowid, {function} FROM shown WHERE shown MATCH ?", [*marks, match]
            )
            return dict(rows.fetchall())
        finally:
            self._db.execute("ROLLBACK")


def _if_marked(text: str) -> str | None:
    # Paragraph breaks of a snippet become spaces: it is shown as one run of text.
    return " ".join(text.split()) if text and MARK_OPEN in text else None
