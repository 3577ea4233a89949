"""What a query is planned against, read of the archive after any change to its releases:
how many releases there are, their categories and authors, and the acronyms they define. The
words and stems are read one query at a time (`bot.store.vocabulary`): nothing that grows with
the archive is held in memory.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import dataclass

from bot.search.grammar import Hint, QueryError, normal
from bot.store import Store

ACRONYM_FORMS = 2  # the long forms an acronym stands for at most (the commonest)


@dataclass(frozen=True)
class Acronym:
    short: str  # as defined ("iPSC")
    long: str  # in lower case ("induced pluripotent stem cells")
    stems: tuple[str, ...]  # the long form's words as the index has them


class Vocabulary:
    """What the search reads of the archive before it plans a query; part of `Search`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._version: int | None = None
        self._release_count = 0
        self._categories: list[str] = []
        self._category_stems: set[tuple[str, ...]] = set()
        self._authors: list[str] = []
        self._tokens: dict[str, list[str]] = {}
        # Acronyms by their short form case folded, and by the first stem of their long form.
        self._short: dict[str, list[Acronym]] = {}
        self._long: dict[str, list[Acronym]] = {}

    def _refresh(self) -> None:
        version, count = self.store.releases_counted()
        if version != self._version:
            self._release_count = count
            self._categories = self.store.categories()
            # Each category name as the index has it ("Press Release": press, releas).
            self._category_stems = {
                tuple(self._tokenize(name)) for name in self._categories if name.strip()
            }
            self._authors = self.store.authors()
            self._load_acronyms()
            self._version = version

    def _load_acronyms(self) -> None:
        by_short: dict[str, list[tuple[int, Acronym]]] = defaultdict(list)
        for short, long, count in self.store.acronyms():
            acronym = Acronym(short, long, tuple(self._tokenize(long)))
            by_short[normal(short)].append((count, acronym))
        self._short = {
            short: [acronym for _, acronym in sorted(forms, key=lambda pair: -pair[0])][
                :ACRONYM_FORMS
            ]
            for short, forms in by_short.items()
        }
        self._long = defaultdict(list)
        for forms in self._short.values():
            for acronym in forms:
                if acronym.stems:
                    self._long[acronym.stems[0]].append(acronym)

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


def _filter_form(category: str) -> str:
    return f'category:"{category}"' if " " in category else f"category:{category}"
