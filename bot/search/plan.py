"""Planning a query: its terms as FTS5 expressions (quoted strings built here, so that no input
can be read as FTS5 syntax), its filters as index words and a rowid range."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from bot.search.grammar import Query, Term
from bot.search.marks import normal
from bot.search.vocabulary import MAX_EXPANSIONS, Vocabulary
from bot.store import author_key, category_key, pair, published_rowids

MIN_PREFIX = 3  # a shorter last word is matched whole: "ai*" would find "aim", "air", …
# Ranking by title and lead paragraph takes the commonest of those words only (see _part),
RANKED_EXPANSIONS = 12
# and leaves out words in more than this share of the releases (see _plan).
COMMON_SHARE = 0.2
WORD = re.compile(r"[^\W_]+")


def last_word_is_prefix(terms: Sequence[Term]) -> bool:
    """Whether the last term also matches as a prefix: a word (not a phrase) whose last run of
    letters and digits has MIN_PREFIX or more ("CAR-T" and "Parkinson's" end in one letter,
    and "t*" or "s*" would match nearly every release)."""
    if not terms or terms[-1].phrase:
        return False
    runs = WORD.findall(terms[-1].text)
    return bool(runs) and len(runs[-1]) >= MIN_PREFIX


@dataclass(frozen=True)
class Part:
    """One term of a query as FTS5 expressions, and the index words they read."""

    expression: str  # for the whole index, where two adjacent words are also one word
    # The same without those pairs, for ranking by the titles' and leads' own indexes (a
    # prefix there stands for its commonest words only).
    exact: str
    reads: tuple[str, ...]  # the index words and pairs whose postings weighing it reads
    open_prefix: bool = False  # FTS5's own prefix search, which reads every such word


@dataclass(frozen=True)
class Plan:
    """A query turned into FTS5 expressions and a rowid (publication time) range."""

    match: str | None  # words, categories and authors: what a result must match
    words: str | None  # the words alone
    # The words alone, for the titles' and leads' own indexes: all of them, and the
    # distinctive ones, which rank the newest matches.
    exact_words: str | None
    ranking_words: str | None
    parts: tuple[Part, ...]
    weigh: str | None  # the rarer words, whose bm25 ranks the results
    lowest: int | None
    highest: int | None
    by_name: bool = False  # a category or author filter


class Planning(Vocabulary):
    """Turns a query into a `Plan`; part of `Search`, which sets `rankable`."""

    rankable: int

    def _plan(self, query: Query) -> Plan:
        last = len(query.terms) - 1
        parts = [
            self._part(term, prefix=index == last and last_word_is_prefix(query.terms))
            for index, term in enumerate(query.terms)
        ]
        # Words match anywhere, category and author included ("policy" finds Policy releases):
        # a column filter would cost a position-list check for every release read.
        words = " AND ".join(part.expression for part in parts) or None
        # Ranking by title and lead paragraph leaves out words in a large share of the
        # archive (unless all are): one says little, and looking up a rarer word's releases
        # in its long posting list would cost more than the search.
        common = self._release_count * COMMON_SHARE
        distinctive = [part for part in parts if self._weighing_cost(part) <= common] or parts
        ranking_words = " AND ".join(part.exact for part in distinctive) or None
        exact_words = " AND ".join(part.exact for part in parts) or None
        rare = [part.expression for part in parts if self._weighing_cost(part) <= self.rankable]
        # Filters match whole names, each one word in the index (see `Store.joined_words`).
        categories = [
            _quoted(category_key(self._tokenize(self._category(name)))) for name in query.categories
        ]
        # Part of an author's name is enough ("author:bourne"): the names containing it.
        authors = [
            _quoted(author_key(self._tokenize(name)))
            for part in query.authors
            for name in self._authors_named(part)
        ]
        if query.authors and not authors:  # no such author: a name nobody has
            authors = [_quoted(author_key([]))]
        filters = [
            f"({' OR '.join(categories)})" if categories else None,
            f"({' OR '.join(authors)})" if authors else None,
        ]
        match = " AND ".join(part for part in (words, *filters) if part) or None
        lowest = highest = None
        if query.after or query.before:  # a date filter leaves out undated releases
            lowest, highest = published_rowids(
                _start_of_day(query.after) if query.after else None,
                _start_of_day(query.before) if query.before else None,
            )
        weigh = " AND ".join(rare) or None
        return Plan(
            match,
            words,
            exact_words,
            ranking_words,
            tuple(parts),
            weigh,
            lowest,
            highest,
            bool(query.categories or query.authors),
        )

    def _part(self, term: Term, *, prefix: bool) -> Part:
        """A term as FTS5 text: quoted strings, so that whatever a member typed is only ever
        text. A prefix last word becomes the index's words that begin it, OR-ed, which FTS5
        reads lazily (its own `"embr"*` first merges the posting lists of every such word in
        full, whatever the LIMIT)."""
        tokens = tuple(self._tokenize(term.text))
        if not prefix:
            return self._phrase(term.text, tokens)
        runs = WORD.findall(term.text)
        if tokens and len(runs) == len(tokens):
            # The index holds stems: words that begin as typed ("embr": "embryo"), and the
            # typed word's own stem ("cells": "cell", not "cellular"; "organization":
            # "organ", not "organoid"). A piece of a word longer than its stem ("organi" of
            # "organ-ization") begins with that stem instead.
            typed_start = normal(runs[-1])
            words = self._beginning(typed_start)
            if tokens[-1] in self._index and tokens[-1] not in words:
                words.append(tokens[-1])
            if not words:
                stem = next(
                    (
                        typed_start[:size]
                        for size in range(len(typed_start) - 1, len(typed_start) - 3, -1)
                        if typed_start[:size] in self._index
                    ),
                    None,
                )
                words = self._beginning(stem) if stem and len(stem) >= MIN_PREFIX else []
            if not words:  # nothing begins so: the word as typed, which matches nothing
                return self._phrase(term.text, tokens)
            # Ranking looks for the commonest words it begins in titles and lead paragraphs:
            # each word costs a look-up in each of two queries.
            common = sorted(words, key=lambda word: -self._index.get(word, 0))
            ranked = self._typed_forms(common[:RANKED_EXPANSIONS])
            leading = runs[:-1]
            exact = _alternatives(leading, ranked) if None not in ranked else None
            if len(words) <= MAX_EXPANSIONS:
                typed = self._typed_forms(words)
                if None not in typed:
                    everything = _alternatives(leading, typed)
                    if len(tokens) == 2:  # "single-cel": "single" paired with each word
                        pairs = [pair(tokens[0], word) for word in words]
                        expression = "(" + " OR ".join(map(_quoted, pairs)) + ")"
                        return Part(expression, exact or everything, tuple(pairs))
                    return Part(everything, exact or everything, (*tokens[:-1], *words))
            expression = _quoted(term.text) + "*"
            return Part(expression, exact or expression, tokens, open_prefix=True)
        expression = _quoted(term.text) + "*"
        return Part(expression, expression, tokens, open_prefix=True)

    def _phrase(self, text: str, tokens: tuple[str, ...]) -> Part:
        """A word, or words that must be adjacent (a quoted phrase, "single-cell"): found by
        their pairs, one index word each, beyond two together with the phrase itself (its
        pairs could each be somewhere else), instead of by checking the positions of its
        words in every release that has them all."""
        quoted = _quoted(text)
        if len(tokens) < 2:
            return Part(quoted, quoted, tokens)
        pairs = [pair(first, second) for first, second in itertools.pairwise(tokens)]
        if len(tokens) == 2:
            return Part(_quoted(pairs[0]), quoted, tuple(pairs))
        expression = "(" + " AND ".join([*map(_quoted, pairs), quoted]) + ")"
        return Part(expression, quoted, (*pairs, *tokens))

    def _weighing_cost(self, part: Part) -> float:
        """How many postings bm25 reads to weigh `part`: every word's whole list."""
        if part.open_prefix:
            return float("inf")
        return sum(self._releases_with(word) for word in set(part.reads))


def _start_of_day(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _alternatives(leading: Sequence[str], forms: Sequence[str | None]) -> str:
    """Any of `forms`, each after the words `leading`, as an FTS5 OR of phrases. Quoting a
    word hands it to the stemmer again, so each index word is written as a word that stems
    to it ("releas" as "release"); the words before the last stay as typed."""
    lead = " ".join(leading)
    return "(" + " OR ".join(sorted({_quoted(f"{lead} {form}".strip()) for form in forms})) + ")"


def _quoted(text: str) -> str:
    """An FTS5 string: whatever it holds is only ever text to the tokenizer."""
    return '"' + text.replace('"', '""') + '"'
