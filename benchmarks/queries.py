"""The query mix: seeded queries of each kind, built from a random stored release as a member
would recall it (see search.py's docstring for the shares)."""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from datetime import date, timedelta

from corpus import release_id
from vocabulary import FUNCTION_WORDS

from bot.models import Release
from bot.search.engine import Search, SearchError
from bot.search.grammar import QueryError
from bot.store import Store

KINDS = {
    "words": (50, "1-3 words from a release's title/excerpt"),
    "prefix": (10, "the same, last word cut to a prefix"),
    "phrase": (8, 'a "quoted phrase" (+ a word, sometimes)'),
    "filtered": (12, "1-2 words + category:/after:/author:"),
    "filter-only": (7, "category:/author:/after: alone"),
    "misspelt": (8, "a misspelt word: corrected"),
    "empty": (5, "no text: the latest releases"),
}
_STOP = frozenset(FUNCTION_WORDS)
_EDGE_PUNCTUATION = ".,;:!?()\"'“”‘’"


@dataclass(frozen=True)
class Probe:
    kind: str
    text: str


class QueryMaker:
    """Seeded queries, each built from a random stored release as a member would recall it."""

    def __init__(self, store: Store, releases: int, seed: int) -> None:
        self.store = store
        self.releases = releases
        self.rng = random.Random(seed * 7919 + 1)
        self.search = Search(store)

    def probes(self, count: int) -> list[Probe]:
        kinds = list(KINDS)
        weights = [KINDS[k][0] for k in kinds]
        return [self.probe(self.rng.choices(kinds, weights)[0]) for _ in range(count)]

    def probe(self, kind: str) -> Probe:
        rng = self.rng
        if kind == "empty":
            return Probe(kind, "")
        release = self._release()
        if kind in ("words", "prefix"):
            words = self._words(release, rng.choices((1, 2, 3), (40, 40, 20))[0])
            if kind == "prefix":
                cut = [i for i, w in enumerate(words) if w.isalpha() and len(w) >= 5]
                if not cut:
                    return self.probe(kind)  # this release's words are too short: another one
                words = words[: cut[-1] + 1]
                words[-1] = words[-1][: rng.randint(3, len(words[-1]) - 1)]
            return Probe(kind, " ".join(words))
        if kind == "phrase":
            phrase = self._phrase(release)
            if phrase is None:
                return self.probe(kind)
            extra = self._words(release, 1) if rng.random() < 0.3 else []
            return Probe(kind, " ".join([f'"{phrase}"', *extra]))
        if kind == "filtered":
            return Probe(
                kind, " ".join([*self._words(release, rng.randint(1, 2)), self._filter(release)])
            )
        if kind == "filter-only":
            choice = rng.choices(("category", "author", "after", "both"), (40, 20, 20, 20))[0]
            if choice == "author" and release.author is None:
                choice = "category"
            if choice == "author":
                return Probe(kind, self._author(release))
            if choice == "after":
                return Probe(kind, self._after(release))
            if choice == "both":
                return Probe(
                    kind, f"{self._category(release)} {self._after(release, year_only=True)}"
                )
            return Probe(kind, self._category(release))
        if kind == "misspelt":
            for _ in range(20):
                words = self._words(release, rng.randint(1, 2))
                at = rng.randrange(len(words))
                words[at] = self._misspell(words[at])
                # A typo no release holds (so that the search corrects it), in a query that
                # runs.
                if not self.store.stem_counts(self.store.tokens(words[at])):
                    text = " ".join(words)
                    with contextlib.suppress(QueryError, SearchError):
                        self.search.run(text)
                        return Probe(kind, text)
                release = self._release()
            raise RuntimeError("could not make a misspelt query")
        raise ValueError(kind)

    def _release(self) -> Release:
        release = self.store.release(release_id(self.rng.randint(1, self.releases)))
        if release is None:
            raise RuntimeError("the corpus lacks a release it should have")
        return release

    def _tokens(self, release: Release) -> list[str]:
        source = release.title if self.rng.random() < 0.5 else release.excerpt
        return [t.strip(_EDGE_PUNCTUATION + "…") for t in source.split()]

    def _words(self, release: Release, count: int) -> list[str]:
        """`count` content words of the title or excerpt, in text order, mostly lower case."""
        tokens = [t for t in self._tokens(release) if len(t) >= 3 and t.casefold() not in _STOP]
        tokens = list(dict.fromkeys(tokens))
        if not tokens:
            return self._words(self._release(), count)
        picked = sorted(self.rng.sample(range(len(tokens)), min(count, len(tokens))))
        lower = self.rng.random() < 0.8
        return [tokens[i].lower() if lower else tokens[i] for i in picked]

    def _phrase(self, release: Release) -> str | None:
        tokens = [t for t in self._tokens(release) if t]
        length = self.rng.choice((2, 2, 3))
        starts = [
            i
            for i in range(len(tokens) - length + 1)
            if tokens[i].casefold() not in _STOP and tokens[i + length - 1].casefold() not in _STOP
        ]
        if not starts:
            return None
        start = self.rng.choice(starts)
        return " ".join(tokens[start : start + length]).lower()

    def _filter(self, release: Release) -> str:
        choice = self.rng.choices(("category", "after", "author"), (60, 25, 15))[0]
        if choice == "author" and release.author is not None:
            return self._author(release)
        if choice == "after":
            return self._after(release)
        return self._category(release)

    def _category(self, release: Release) -> str:
        name = self.rng.choice(release.categories)
        form = self.rng.choice(("lower", "quoted", "prefix"))
        if form == "prefix":
            return f"category:{name.split()[0].lower()[: self.rng.randint(4, 6)]}"
        if " " in name:
            return f'category:"{name.lower()}"'
        return f"category:{name.lower()}"

    def _author(self, release: Release) -> str:
        assert release.author is not None
        return f"author:{release.author.split()[-1].lower()}"

    def _after(self, release: Release, *, year_only: bool = False) -> str:
        assert release.published is not None
        day: date = release.published.date() - timedelta(days=self.rng.randint(0, 3 * 365))
        return f"after:{day.year}" if year_only else f"after:{day.isoformat()}"

    def _misspell(self, word: str) -> str:
        """A typo: two letters swapped, one dropped, doubled or replaced."""
        if len(word) < 3:
            return word + "qz"
        at = self.rng.randrange(1, len(word) - 1)
        edit = self.rng.choice(("swap", "drop", "double", "replace"))
        if edit == "swap" and word[at] != word[at + 1]:
            return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
        if edit == "drop":
            return word[:at] + word[at + 1 :]
        if edit == "double":
            return word[:at] + word[at] + word[at:]
        letters = [c for c in "aeiouyklmnrst" if c != word[at].lower()]
        return word[:at] + self.rng.choice(letters) + word[at + 1 :]
