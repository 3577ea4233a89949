"""The index's words and how many releases hold each, the stored categories and authors: what
a query is planned against, read once after any change to the releases."""

from __future__ import annotations

import bisect
import difflib
import itertools

from bot.search.grammar import Hint, QueryError
from bot.search.marks import normal
from bot.store import Store, joined_parts

# A prefix expands to at most this many of the index's words before FTS5's own prefix search.
MAX_EXPANSIONS = 256
# Endings tried, in order, for a word that the stemmer turns into a given index word.
_ENDINGS = ("", "e", "s", "es", "ing", "ed", "y", "al", "er", "ion", "ment", "ness", "ic")


class Vocabulary:
    """What the search reads of the index before it plans a query; part of `Search`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # The index's words and how many releases contain each, reloaded after any change to
        # the releases (at 100,000 releases that takes a second).
        self._version: int | None = None
        self._index: dict[str, int] = {}
        self._sorted_index: list[str] = []
        self._release_count = 0
        self._categories: list[str] = []
        self._authors: list[str] = []
        self._tokens: dict[str, list[str]] = {}
        self._typed: dict[str, str | None] = {}  # a word that stems to an index word

    def _refresh(self) -> None:
        version = self.store.releases_version()
        if version != self._version:
            self._index = self.store.index_terms()
            self._sorted_index = sorted(self._index)
            self._release_count = self.store.release_count()
            self._categories = self.store.categories()
            self._authors = self.store.authors()
            self._typed.clear()
            self._version = version

    def _tokenize(self, text: str) -> list[str]:
        if text not in self._tokens:
            if len(self._tokens) > 50_000:
                self._tokens.clear()
            self._tokens[text] = self.store.tokens(text)
        return self._tokens[text]

    def _category(self, name: str) -> str:
        """The stored category `name` refers to: the same name in any case, or the one
        category it begins ("category:press"); otherwise a QueryError saying what exists."""
        exact = self.store.category_named(name)
        if exact is not None:
            return exact
        known = self._categories
        folded = name.casefold()
        # SQLite's NOCASE folds only ASCII: "éthique" is "Éthique" here.
        same = [known_name for known_name in known if known_name.casefold() == folded]
        if same:
            return same[0]
        starting = [known_name for known_name in known if known_name.casefold().startswith(folded)]
        if len(starting) == 1:
            return starting[0]
        if not known:
            raise QueryError(
                "No releases are stored yet, so there are no categories to filter by.",
                Hint("the same search again in a minute, without ", "category:"),
            )
        close = difflib.get_close_matches(
            folded, [known_name.casefold() for known_name in known], n=1, cutoff=0.6
        )
        if close:
            suggestion = next(k for k in known if k.casefold() == close[0])
            problem = f"There is no category “{name}”. Did you mean {suggestion}?"
            example = Hint("", _filter_form(suggestion))
        else:
            problem = f"There is no category “{name}”."
            choices = [
                piece for known_name in known[:12] for piece in (", ", _filter_form(known_name))
            ]
            example = Hint("one of ", *choices[1:])
        raise QueryError(problem, example)

    def _authors_named(self, part: str) -> list[str]:
        """The stored author names that contain `part`, case and accents aside."""
        folded = normal(part)
        return [name for name in self._authors if folded in normal(name)]

    def _beginning(self, start: str) -> list[str]:
        """The index words that begin with `start` (MAX_EXPANSIONS + 1 at most)."""
        first = bisect.bisect_left(self._sorted_index, start)
        return list(
            itertools.takewhile(
                lambda word: word.startswith(start),
                self._sorted_index[first : first + MAX_EXPANSIONS + 1],
            )
        )

    def _typed_forms(self, words: list[str]) -> list[str | None]:
        """For each index word, a word the tokenizer turns into it (None if none found):
        mostly the word itself; a stem that the stemmer would shorten again, with an ending
        ("releas" → "release"). Cached: the tokenizer is asked once for a batch of words."""
        unknown = [word for word in words if word not in self._typed]
        for ending in _ENDINGS:
            if not unknown:
                break
            forms = [word + ending for word in unknown]
            stems = self.store.tokens(" ".join(forms))
            if len(stems) != len(forms):  # a form that is not one token: ask one by one
                stems = [(self._tokenize(form) or [""])[0] for form in forms]
            for word, form, stem in zip(unknown, forms, stems, strict=True):
                if stem == word:
                    self._typed[word] = form
            unknown = [word for word in unknown if word not in self._typed]
        self._typed.update(dict.fromkeys(unknown))  # none found: FTS5's own prefix search
        return [self._typed[word] for word in words]

    def _releases_with(self, word: str) -> int:
        """How many releases contain an index word; for a pair (as `pair` writes it), at most
        as many as contain the rarer of its two words (counting them exactly would read the
        pair's whole posting list)."""
        parts = joined_parts(word)
        if parts is None:
            return self._index.get(word, 0)
        return min(self._index.get(part, 0) for part in parts)


def _filter_form(category: str) -> str:
    return f'category:"{category}"' if " " in category else f"category:{category}"
