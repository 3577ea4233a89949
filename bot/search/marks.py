"""Marking the words a search matched, in a release's excerpt or a snippet of its body.

FTS5 can do this itself (`highlight()`, `snippet()`), but only by running the query again for
each row shown, which for a prefix term on a large archive costs more than the search. Here
it is done on the few texts shown, with FTS5's idea of a word: a run of letters and digits,
case and accents ignored; a plural or an -ing/-ed form counts as its stem, roughly as the
porter stemmer of the index does. Marking is display only: it never decides what matches.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterator, Sequence

from bot.search.grammar import Term

# Matched words come back wrapped in these; the caller turns them into bold.
MARK_OPEN, MARK_CLOSE = "\x02", "\x03"

_WORD = re.compile(r"[^\W_]+")
# The combining marks NFKD splits off accented letters (é → e + ´).
_ACCENTS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


@functools.lru_cache(maxsize=65_536)
def _key(word: str) -> tuple[str, str]:
    # Words repeat a lot: a cache turns marking a long body into dictionary lookups.
    folded = normal(word)
    return folded, stem(folded)


def normal(text: str) -> str:
    """`text` as the index compares it: case folded, accents removed."""
    if text.isascii():
        return text.casefold()
    return _ACCENTS.sub("", unicodedata.normalize("NFKD", text.casefold()))


def stem(word: str) -> str:
    """A rough English stem: "cells" → "cell", "embryos" → "embryo", "editing" → "edit"."""
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes", "zes")):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if len(word) > 5 and word.endswith("ing"):
        word = word[:-3]
    elif len(word) > 4 and word.endswith("ed"):
        word = word[:-2]
    return word


class _Plain(dict[int, int]):
    """A str.translate table mapping a letter to its lower-case base letter (É → e), one for
    one, so that a text keeps its length; a letter that lower-cases to two stays as it is."""

    def __missing__(self, code: int) -> int:
        decomposed = unicodedata.normalize("NFKD", chr(code))
        accented = len(decomposed) > 1 and all(unicodedata.combining(c) for c in decomposed[1:])
        base = decomposed[0] if accented else chr(code)
        lower = base.lower()
        self[code] = ord(lower) if len(lower) == 1 else ord(base)
        return self[code]


_PLAIN = _Plain()


class Marker:
    """Marks the words of `terms` in text; with `prefix`, any word starting with the last one."""

    def __init__(self, terms: Sequence[Term], *, prefix: bool) -> None:
        words = [normal(word) for term in terms for word in _WORD.findall(term.text)]
        self.stems = {stem(word) for word in words}
        self.prefix = words[-1] if prefix and words else None
        # Candidates are words starting like a stem or a typed word ("studies" → "study":
        # "stud"), found by str.find at C speed; only those are checked word by word.
        self._starts = {word[:4] for word in (*self.stems, *words)}

    def matches(self, word: str) -> bool:
        folded, stemmed = _key(word)
        return stemmed in self.stems or (self.prefix is not None and folded.startswith(self.prefix))

    def _matches_in(self, text: str) -> Iterator[re.Match[str]]:
        # Lower case without accents, letter for letter, so that offsets stay those of `text`.
        plain = text.lower() if text.isascii() else text.translate(_PLAIN)
        starts = set()
        for start in self._starts:
            at = plain.find(start)
            while at >= 0:
                if at == 0 or not plain[at - 1].isalnum():  # the start of a word
                    starts.add(at)
                at = plain.find(start, at + 1)
        for at in sorted(starts):
            match = _WORD.match(plain, at)
            if match is not None and self.matches(match.group(0)):
                yield match

    def mark(self, text: str) -> str | None:
        """`text` with every matched word between MARK_OPEN and MARK_CLOSE; None if none."""
        pieces, last = [], 0
        for match in self._matches_in(text):
            word = text[match.start() : match.end()]
            pieces += [text[last : match.start()], MARK_OPEN, word, MARK_CLOSE]
            last = match.end()
        if not pieces:
            return None
        return "".join(pieces) + text[last:]

    def snippet(self, text: str, *, words: int = 30, before: int = 8) -> str | None:
        """About `words` words of `text` around its first match, marked; None if none."""
        first = next(self._matches_in(text), None)
        if first is None:
            return None
        # `before` words back from the match (within a generous stretch of text) …
        lead = [
            m.start()
            for m in _WORD.finditer(text, max(0, first.start() - 40 * before), first.start())
        ]
        start = (
            lead[-before]
            if len(lead) >= before
            else (0 if first.start() < 40 * before else lead[0])
        )
        # … and `words` words on from there.
        ends = [m.end() for m in itertools.islice(_WORD.finditer(text, start), words)]
        end = ends[-1] if len(ends) == words else len(text)
        cut_before = start > 0 and bool(_WORD.search(text, 0, start))
        cut_after = bool(_WORD.search(text, end))
        piece = " ".join(
            text[0 if not cut_before else start : len(text) if not cut_after else end].split()
        )
        marked = self.mark(piece) or piece
        return ("…" if cut_before else "") + marked + ("…" if cut_after else "")
