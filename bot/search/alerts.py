"""Alerts: a member's saved query read strictly, the keys it is indexed under, and a new
release's keys.

An alert waits for releases yet to come, so it is read as typed: every word (with its stems,
and the acronyms it stands for or spells out, as the search reads them), every phrase and
filter; never corrected, never read as the beginning of longer words, no word ever left out. A
word no release holds yet is what the member waits for: "organoid" must not become "organ"
today and miss the first release about organoids tomorrow. Dates filter nothing a release yet
to come could fail (`after:`) or pass (`before:`), so they are refused.

Matching a new release does not run every alert. Each alert is indexed under keys one of which
every release it matches holds: of its parts (a word, a phrase, the categories, the authors),
the one fewest releases hold; of each way a release may match that part, its rarest word (a
phrase, or an acronym's long form, needs all of its words); of an author's name, three letters
of the part typed. A new release's keys (`release_keys`) are every word its index entry holds
and every run of up to three letters of its author, so the alerts under any of them (the
store's `alert_candidates`) are all the alerts it can match. Each of those is then checked
against that one release's words, column by column, as the index holds them (`ReleaseWords`):
its words a set look-up each, its phrases' words in a row within one column, as FTS5 reads a
phrase. This is the alert's FTS5 expression (`AlertQuery.match`) evaluated on one release, so
its answer is the index's (the tests compare them on random alerts and releases), in a few
microseconds an alert where an index look-up takes about 25.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.models import Alert, Release, Text, Words
from bot.search import grammar
from bot.search.grammar import Hint, Query, QueryError, normal
from bot.search.plan import Part, Planning
from bot.search.spelling import likeliest

# Keys from authors' names: this prefix, then up to GRAM letters of a name (folded). The index's
# words never hold a colon, so they never meet these.
AUTHOR = "author:"
GRAM = 3
# A query matching more than this share of the archive (and at least BROAD_AT_LEAST releases)
# would bring most new releases: the member is warned before saving it.
BROAD_SHARE = 0.5
BROAD_AT_LEAST = 20
_ALL_ROWIDS = (-(2**62), 2**62)  # every rowid (see `release_key`)


@dataclass(frozen=True)
class AlertQuery:
    """A query as an alert keeps it: what it is shown as, what a release must match, and the
    keys it is indexed under."""

    text: str  # canonical: the words as typed, categories by their stored names
    # Its words and categories as an FTS5 expression (None: neither): what a search reads,
    # kept as the record of what the alert means; `words` is the same, as matching reads it.
    match: str | None
    authors: tuple[str, ...]  # parts of an author's name (folded), any of which must match
    keys: tuple[str, ...]
    words: Words = ()  # `match` as the index's words (see `bot.models.Words`)


@dataclass(frozen=True)
class Preview:
    """What a member sees before saving an alert: how many past releases it matches."""

    alert: AlertQuery
    count: int  # past releases matching it
    releases: int  # in the archive
    latest: Release | None  # the newest of them
    unknown: tuple[str, ...] = ()  # its words no release holds yet
    suggestion: str | None = None  # the query with those words as the archive spells them

    @property
    def broad(self) -> bool:
        """Whether it matches most of the archive (most new releases would be sent)."""
        return self.count >= BROAD_AT_LEAST and self.count > self.releases * BROAD_SHARE


class ReleaseWords:
    """A release's words as its index entry holds them: each column's, in order."""

    def __init__(self, columns: Sequence[Sequence[str]]) -> None:
        self.columns = columns
        self.all = {word for column in columns for word in column}
        # Where each word stands (column, position), for the phrases.
        self._at: dict[str, list[tuple[int, int]]] = {}
        for number, column in enumerate(columns):
            for position, word in enumerate(column):
                self._at.setdefault(word, []).append((number, position))

    def holds(self, text: Text) -> bool:
        """Whether the release holds `text`: its words in a row within one column, as FTS5
        matches a quoted string (a text of no words matches nothing)."""
        if len(text) == 1:
            return text[0] in self.all
        if not text:
            return False
        return any(
            tuple(self.columns[number][position : position + len(text)]) == text
            for number, position in self._at.get(text[0], ())
        )


def matches(alert: Alert, release: Release, words: ReleaseWords) -> bool:
    """Whether the stored `release` (whose index entry is `words`) matches `alert`: its
    author (when the alert names some) by part of the name, as search reads `author:`, and
    its words and categories as the index would (see the module docstring)."""
    if alert.authors and not any(part in normal(release.author or "") for part in alert.authors):
        return False
    return all(
        any(all(words.holds(text) for text in form) for form in part) for part in alert.words
    )


def release_keys(words: ReleaseWords, author: str | None) -> set[str]:
    """The keys of a release: every word of its index entry, and the runs of up to GRAM
    letters of its author's name."""
    return {*words.all, *(AUTHOR + gram for gram in _grams(normal(author or "")))}


def _grams(text: str) -> set[str]:
    return {text[start : start + size] for size in range(1, GRAM + 1) for start in range(len(text))}


class AlertPlanning(Planning):
    """Reads a query as an alert: `Search`'s planning, strictly (see the module docstring).
    One per store and thread, as `Search`."""

    def alert(self, text: str) -> AlertQuery:
        """The alert `text` asks for; QueryError when it cannot be one (a malformed query, a
        date filter, an unknown category, no words nor filters)."""
        return self._read(text)[0]

    def preview(self, text: str) -> Preview:
        """The alert `text` asks for, with the past releases it matches."""
        alert, plan_match, parts = self._read(text)
        count = self.store.count_matching(plan_match, *_ALL_ROWIDS, at_most=self._release_count)
        newest = self.store.matching_rowids(plan_match, limit=1)
        latest = self.store.releases_by_rowid(newest)
        unknown = [part for part in parts if part.count == 0]
        return Preview(
            alert,
            count,
            self._release_count,
            latest[0] if latest else None,
            tuple(part.typed for part in unknown),
            self._suggestion(alert.text, unknown),
        )

    def _read(self, text: str) -> tuple[AlertQuery, str, tuple[Part, ...]]:
        """The alert, the FTS5 expression of all of it (authors too, by the names stored
        today: for counting past releases), and its parts."""
        query = grammar.parse(grammar.clean(text))
        _refuse_dates(query)
        if query.is_empty:
            raise QueryError(
                "An alert needs words or a filter to wait for.",
                Hint("for example ", "embryo models", " or ", "category:policy"),
            )
        self._refresh()
        plan = self._plan(query, strict=True)
        categories = self._category_filter(query)
        pieces = [part.expression for part in plan.parts]
        if categories:
            pieces.append(f"({' OR '.join(categories)})")
        named = tuple(dict.fromkeys(self._category(name) for name in query.categories))
        canonical = replace(query, categories=named).describe()
        authors = tuple(dict.fromkeys(normal(part) for part in query.authors))
        words = self._words(plan.parts, categories)
        keys = self._keys(words, categories, authors, query)
        alert = AlertQuery(canonical, " AND ".join(pieces) or None, authors, keys, words)
        assert plan.match is not None  # the query has words or filters
        return alert, plan.match, plan.parts

    def _words(self, parts: Sequence[Part], categories: Sequence[str]) -> Words:
        """The alert's parts (its words and phrases, then its categories as one) as the
        index's words: each part as the ways a release matches it, each the texts it must all
        hold, each text a run of words (see `bot.models.Words`)."""
        texts = [part.alternatives for part in parts]
        if categories:
            texts.append(tuple((category,) for category in categories))
        return tuple(
            tuple(tuple(tuple(self._tokenize(text)) for text in form) for form in part)
            for part in texts
        )

    def _keys(
        self, words: Words, categories: Sequence[str], authors: Sequence[str], query: Query
    ) -> tuple[str, ...]:
        """The keys of the part that the fewest releases hold (see the module docstring)."""
        choices: list[tuple[int, tuple[str, ...]]] = []
        counts = self.store.stem_counts(
            word for part in words for form in part for text in form for word in text
        )
        for index, part in enumerate(words):
            keys: list[str] = []
            cost = 0
            for form in part:
                if not all(form):  # a text of no words: no release holds this form
                    continue
                every = [word for text in form for word in text]
                rarest = min(every, key=lambda word: (counts.get(word, 0), word))
                keys.append(rarest)
                cost += counts.get(rarest, 0)
            if categories and index == len(words) - 1:  # not among the counted words
                cost = self._count(f"({' OR '.join(categories)})")
            # No form at all: no release matches the alert, so no key is needed.
            choices.append((cost, tuple(dict.fromkeys(keys))))
        if authors:
            known = [normal(name) for name in self._authors]
            grams = [
                min(_grams_of(part), key=lambda gram: (_named(gram, known), gram))
                for part in authors
            ]
            cost = self._count(" OR ".join(self._author_filter(query)))
            choices.append((cost, tuple(dict.fromkeys(AUTHOR + gram for gram in grams))))
        # Never empty: an alert has words, categories or authors (else it is refused).
        return min(choices, key=lambda choice: choice[0])[1]

    def _count(self, match: str) -> int:
        return self.store.count_matching(match, *_ALL_ROWIDS, at_most=self._release_count)

    def _suggestion(self, text: str, unknown: Sequence[Part]) -> str | None:
        """`text` with each plain word of `unknown` replaced by the archive's word it most
        likely misspells; None when none is."""
        query = grammar.parse(text)
        corrected = {}
        for part in unknown:
            if part.typed != part.shown or " " in part.shown:  # quoted, or several words
                continue
            word = likeliest(normal(part.shown), self.store.word_counts, self.store.words_sized)
            if word is not None:
                corrected[part.shown] = word
        if not corrected:
            return None
        terms = tuple(
            replace(term, text=corrected.get(term.text, term.text)) for term in query.terms
        )
        return replace(query, terms=terms).describe()


def _grams_of(part: str) -> list[str]:
    """The runs of GRAM letters of an author filter's text (itself when shorter), one of which
    keys it: every name containing the text contains each."""
    if len(part) <= GRAM:
        return [part]
    return [part[start : start + GRAM] for start in range(len(part) - GRAM + 1)]


def _named(gram: str, names: Sequence[str]) -> int:
    return sum(gram in name for name in names)


def _refuse_dates(query: Query) -> None:
    """Alerts are about releases yet to come: `before:` would match none of them and
    `after:` all of them, so either is refused, with the query without it."""
    if not (query.after or query.before):
        return
    rest = replace(query, after=None, before=None)
    example = Hint("", rest.describe()) if not rest.is_empty else Hint("", "embryo models")
    if query.before:
        raise QueryError(
            "An alert is about releases yet to come, which are never before a date: leave "
            "out before:. To read past releases, search instead.",
            example,
        )
    raise QueryError(
        "An alert is about releases yet to come, which are all after today: leave out after:.",
        example,
    )
