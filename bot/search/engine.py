"""Searching every stored release: one narrow API for the slash command and the CLI.

What a member types is parsed by `bot.search.grammar`, and reaches FTS5 only as quoted strings built
here, so no input can be read as FTS5 syntax. SQLite errors are turned into `SearchError` at
this boundary; callers see `QueryError` (the member's to fix) or `SearchError` (ours).
"""

from __future__ import annotations

import bisect
import difflib
import itertools
import logging
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from bot.models import Found
from bot.search import grammar
from bot.search.grammar import Query, QueryError, Term
from bot.search.marks import Marker, normal
from bot.store import Store, author_key, category_key, joined_parts, pair, published_rowids

log = logging.getLogger(__name__)

PAGE_SIZE = 5
TIME_LIMIT = 5.0  # seconds; a search still running then is stopped and the member told why
MIN_PREFIX = 3  # a shorter last word is matched whole: "ai*" would find "aim", "air", …
# A query matching more releases than this shows this many, and says so: counting and ranking
# all of a large archive would cost milliseconds per thousand releases. The newest matches
# are read (a microsecond or two each), after the best of any age (TIERED_AT_MOST).
RANKED_AT_MOST = 200
# When more match, the releases with every word in the title, and in the lead paragraph, are
# looked for in the whole archive: at most this many of each (newest first), so that reading
# them costs a fraction of a millisecond.
TIERED_AT_MOST = 100
# A prefix expands to at most this many of the index's words before FTS5's own prefix search.
MAX_EXPANSIONS = 256
# Ranking by title and lead paragraph takes the commonest of those words only (see _part),
RANKED_EXPANSIONS = 12
# and leaves out words in more than this share of the releases (see _plan).
COMMON_SHARE = 0.2
# Words in more releases than this are left out of the bm25 weighing: FTS5 reads a word's whole
# posting list to weigh it (about 1.5 µs a release), and a common word says little about
# relevance. Ranking by the title instead costs about what the search itself did.
RANKABLE = 250
_WORD = re.compile(r"[^\W_]+")
# Endings tried, in order, for a word that the stemmer turns into a given index word.
_ENDINGS = ("", "e", "s", "es", "ing", "ed", "y", "al", "er", "ion", "ment", "ness", "ic")


class SearchError(Exception):
    """The search could not run for a reason that is not the query's fault."""


@dataclass(frozen=True, init=False)
class Hint:
    """A suggestion for a search that matched nothing, in plain text pieces: what to do, then
    what to type for it (a query, a filter), alternately. Each surface shows the typed pieces
    its own way (Slack as code, a terminal as they are); `str()` is the plain text."""

    pieces: tuple[str, ...]

    def __init__(self, *pieces: str) -> None:
        object.__setattr__(self, "pieces", pieces)  # frozen: set once, here

    def parts(self) -> Iterator[tuple[str, bool]]:
        """Each piece, and whether it is something to type."""
        return ((piece, index % 2 == 1) for index, piece in enumerate(self.pieces))

    def __str__(self) -> str:
        return "".join(self.pieces)


@dataclass(frozen=True)
class Results:
    text: str  # the query as the member typed it (cleaned), for echoing and paging
    query: Query
    found: list[Found]
    total: int
    page: int
    page_size: int
    hints: tuple[Hint, ...] = field(default=())  # what to loosen, when nothing matched
    ranked_at_most: int = RANKED_AT_MOST  # `total` above this means "more than this many"

    @property
    def capped(self) -> bool:
        return self.total > self.ranked_at_most

    @property
    def pages(self) -> int:
        return max(1, -(-min(self.total, self.ranked_at_most) // self.page_size))

    def heading(self) -> str:
        """What was asked and how many match, as plain text."""
        if self.query.is_empty:  # the latest: `total` is the exact number stored
            return f"Latest ISSCR news ({self.total:,} releases stored)"
        if self.capped:
            return f"More than {self.ranked_at_most:,} releases match “{self.text}”"
        return f"{match_count(self.total)} “{self.text}”"

    @property
    def note(self) -> str | None:
        """What a member should know about how these results were chosen."""
        if self.capped and self.query.terms and (self.query.categories or self.query.authors):
            return (
                f"Showing the most relevant of the newest {self.ranked_at_most:,}: "
                "add a word or a filter to narrow the search."
            )
        if self.capped and self.query.terms:
            return (
                f"Showing {self.ranked_at_most:,} of them: those with every word in the title "
                "or the lead paragraph first, from the whole archive, then the newest others. "
                "Add a word or a filter to narrow the search."
            )
        return None

    @property
    def page_label(self) -> str | None:
        return f"page {self.page} of {self.pages}" if self.pages > 1 else None

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def last_word_is_prefix(terms: Sequence[Term]) -> bool:
    """Whether the last term also matches as a prefix: a word (not a phrase) whose last run of
    letters and digits has MIN_PREFIX or more ("CAR-T" and "Parkinson's" end in one letter,
    and "t*" or "s*" would match nearly every release)."""
    if not terms or terms[-1].phrase:
        return False
    runs = _WORD.findall(terms[-1].text)
    return bool(runs) and len(runs[-1]) >= MIN_PREFIX


@dataclass(frozen=True)
class _Part:
    """One term of a query as FTS5 expressions, and the index words they read."""

    expression: str  # for the whole index, where two adjacent words are also one word
    # The same without those pairs, for ranking by the titles' and leads' own indexes (a
    # prefix there stands for its commonest words only).
    exact: str
    reads: tuple[str, ...]  # the index words and pairs whose postings weighing it reads
    open_prefix: bool = False  # FTS5's own prefix search, which reads every such word


@dataclass(frozen=True)
class _Plan:
    """A query turned into FTS5 expressions and a rowid (publication time) range."""

    match: str | None  # words, categories and authors: what a result must match
    words: str | None  # the words alone
    # The words alone, for the titles' and leads' own indexes: all of them, and the
    # distinctive ones, which rank the newest matches.
    exact_words: str | None
    ranking_words: str | None
    parts: tuple[_Part, ...]
    weigh: str | None  # the rarer words, whose bm25 ranks the results
    lowest: int | None
    highest: int | None
    by_name: bool = False  # a category or author filter


class Search:
    """Runs queries against one store (not thread-safe: one Search per thread)."""

    def __init__(
        self,
        store: Store,
        *,
        page_size: int = PAGE_SIZE,
        time_limit: float = TIME_LIMIT,
        ranked_at_most: int = RANKED_AT_MOST,
        rankable: int = RANKABLE,
    ) -> None:
        self.store = store
        self.rankable = rankable
        self.page_size = page_size
        self.time_limit = time_limit
        self.ranked_at_most = ranked_at_most
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

    def run(self, text: str, page: int = 1) -> Results:
        """Page `page` of the releases matching `text` (an empty text lists the latest).

        Raises QueryError with a hint for a query that cannot run as typed, SearchError when
        the database fails or the search runs too long.
        """
        text = grammar.clean(text)
        query = grammar.parse(text)
        cap = self.ranked_at_most
        try:
            with self.store.time_limit(self.time_limit):
                self._refresh()
                plan = self._plan(query)
                # The newest cap + 1 matches: enough to rank, and to say "more than cap". The
                # latest releases need only the page (their count is known).
                wanted = cap + 1
                if query.is_empty:
                    shown = min(self._release_count, cap)
                    page = min(max(1, page), max(1, -(-shown // self.page_size)))
                    wanted = page * self.page_size
                rowids = self.store.matching_rowids(
                    plan.match, lowest=plan.lowest, highest=plan.highest, limit=wanted
                )
                total = self._release_count if query.is_empty else len(rowids)
                pages = max(1, -(-min(total, cap) // self.page_size))
                page = min(max(1, page), pages)  # the results may have shrunk since a button
                start = (page - 1) * self.page_size
                ranked = self._rank(plan, rowids)
                releases = self.store.releases_by_rowid(ranked[start : start + self.page_size])
                hints = self._hints(query, plan) if not total and not query.is_empty else ()
        except sqlite3.OperationalError as error:
            if "interrupted" in str(error):
                raise SearchError(
                    f"That search took longer than {self.time_limit:g} seconds, so I stopped it. "
                    "Add a more distinctive word or a filter to narrow it."
                ) from None
            log.exception("search failed for %r", text)
            raise SearchError(
                "The archive could not be searched just now (the database is busy or "
                "damaged); please try again in a minute. The bot's log has the details."
            ) from None
        except sqlite3.Error:
            log.exception("search failed for %r", text)
            raise SearchError(
                "The archive could not be searched just now; please try again in a minute. "
                "The bot's log has the details."
            ) from None
        marker = Marker(query.terms, prefix=last_word_is_prefix(query.terms))
        found = [
            Found(release, marker.mark(release.excerpt) or marker.snippet(release.body))
            if query.terms
            else Found(release)
            for release in releases
        ]
        return Results(text, query, found, total, page, self.page_size, hints, ranked_at_most=cap)

    # -- planning -------------------------------------------------------------------------

    def _plan(self, query: Query) -> _Plan:
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
        return _Plan(
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

    def _part(self, term: Term, *, prefix: bool) -> _Part:
        """A term as FTS5 text: quoted strings, so that whatever a member typed is only ever
        text. A prefix last word becomes the index's words that begin it, OR-ed, which FTS5
        reads lazily (its own `"embr"*` first merges the posting lists of every such word in
        full, whatever the LIMIT)."""
        tokens = tuple(self._tokenize(term.text))
        if not prefix:
            return self._phrase(term.text, tokens)
        runs = _WORD.findall(term.text)
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
                        return _Part(expression, exact or everything, tuple(pairs))
                    return _Part(everything, exact or everything, (*tokens[:-1], *words))
            expression = _quoted(term.text) + "*"
            return _Part(expression, exact or expression, tokens, open_prefix=True)
        expression = _quoted(term.text) + "*"
        return _Part(expression, expression, tokens, open_prefix=True)

    def _phrase(self, text: str, tokens: tuple[str, ...]) -> _Part:
        """A word, or words that must be adjacent (a quoted phrase, "single-cell"): found by
        their pairs, one index word each, beyond two together with the phrase itself (its
        pairs could each be somewhere else), instead of by checking the positions of its
        words in every release that has them all."""
        quoted = _quoted(text)
        if len(tokens) < 2:
            return _Part(quoted, quoted, tokens)
        pairs = [pair(first, second) for first, second in itertools.pairwise(tokens)]
        if len(tokens) == 2:
            return _Part(_quoted(pairs[0]), quoted, tuple(pairs))
        expression = "(" + " AND ".join([*map(_quoted, pairs), quoted]) + ")"
        return _Part(expression, quoted, (*pairs, *tokens))

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

    def _weighing_cost(self, part: _Part) -> float:
        """How many postings bm25 reads to weigh `part`: every word's whole list."""
        if part.open_prefix:
            return float("inf")
        return sum(self._releases_with(word) for word in set(part.reads))

    def _releases_with(self, word: str) -> int:
        """How many releases contain an index word; for a pair (as `pair` writes it), at most
        as many as contain the rarer of its two words (counting them exactly would read the
        pair's whole posting list)."""
        parts = joined_parts(word)
        if parts is None:
            return self._index.get(word, 0)
        return min(self._index.get(part, 0) for part in parts)

    def _rank(self, plan: _Plan, rowids: list[int]) -> list[int]:
        """Best first: every distinctive word in the title, then in the title and lead
        paragraph (both from small indexes of their own), then the rest; within each, bm25 of
        the rarer words (a very common one says little), then newest. `rowids` are the
        newest matches, one more than ranked when there are more: then releases with every
        word in the title, or title and lead, come from the whole archive first."""
        cap = self.ranked_at_most
        if not rowids or plan.exact_words is None or plan.ranking_words is None:
            return rowids[:cap]  # newest first
        # With a category or author filter, looking one up for each older release would cost
        # more than the search: the newest matches only.
        older = len(rowids) > cap and not plan.by_name
        if older:
            # Every word, so that each one found matches the words of the query.
            words, lowest, highest = plan.exact_words, plan.lowest, plan.highest
            limit = min(cap, TIERED_AT_MOST)
        else:  # among `rowids`, which match
            rowids = rowids[:cap]
            words, lowest, highest, limit = plan.ranking_words, rowids[0], rowids[-1], len(rowids)
        in_lead = self.store.lead_matches(words, lowest=lowest, highest=highest, limit=limit)
        in_title: list[int] = []
        if in_lead:
            # A title match is a lead match too: among those, when all of them were read.
            if len(in_lead) < limit:
                lowest, highest = in_lead[0], in_lead[-1]
            in_title = self.store.title_matches(words, lowest=lowest, highest=highest, limit=limit)
        found = set(rowids[:cap])
        if older:
            found.update(in_title, in_lead)
        tiers: list[list[int]] = [[], [], []]
        for group, tier in ((in_title, 0), (in_lead, 1), (rowids[:cap], 2)):
            tiers[tier] = [rowid for rowid in group if rowid in found]
            found.difference_update(tiers[tier])
        scores: dict[int, float] = {}
        if plan.weigh is not None:
            every = [rowid for tier in tiers for rowid in tier]
            scores = self.store.relevance(plan.weigh, lowest=min(every), highest=max(every))

        def best_first(group: list[int]) -> list[int]:
            # Those weighed (bm25 is below 0: lower is better), then the rest, newest first.
            weighed = sorted((rowid for rowid in group if rowid in scores), key=scores.__getitem__)
            return weighed + [rowid for rowid in group if rowid not in scores]

        # Each tier comes newest first, and sorting is stable: ties stay newest first.
        return [rowid for tier in tiers for rowid in best_first(tier)][:cap]

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
                "the same search again in a minute, without `category:`",
            )
        close = difflib.get_close_matches(
            folded, [known_name.casefold() for known_name in known], n=1, cutoff=0.6
        )
        choices = ", ".join(_filter_form(known_name) for known_name in known[:12])
        if close:
            suggestion = next(k for k in known if k.casefold() == close[0])
            problem = f"There is no category “{name}”. Did you mean {suggestion}?"
            example = _filter_form(suggestion)
        else:
            problem = f"There is no category “{name}”."
            example = f"one of {choices}"
        raise QueryError(problem, example)

    def _authors_named(self, part: str) -> list[str]:
        """The stored author names that contain `part`, case and accents aside."""
        folded = normal(part)
        return [name for name in self._authors if folded in normal(name)]

    def _hints(self, query: Query, plan: _Plan) -> tuple[Hint, ...]:
        """Suggestions for loosening a query that matched nothing, each backed by a count."""
        if not self._release_count:
            return (
                Hint(
                    "No releases are stored yet: the first feed poll or the archive import has "
                    "not finished. Try again in a few minutes."
                ),
            )
        hints: list[Hint] = []
        last = len(query.terms) - 1
        missing = [
            term.text
            for index, term in enumerate(query.terms)
            if not self.store.matching_rowids(
                self._part(
                    term, prefix=index == last and last_word_is_prefix(query.terms)
                ).expression,
                limit=1,
            )
        ]
        if missing:
            final = query.terms[-1]
            runs = _WORD.findall(final.text)
            short = bool(runs) and len(runs[-1]) < MIN_PREFIX and not final.phrase
            if short and missing[-1] == final.text:
                # An unfinished word, too short to be read as the beginning of longer ones.
                hints.append(
                    Hint(
                        f"No release has the word “{missing.pop()}”: type at least {MIN_PREFIX} "
                        "letters to find the words it begins."
                    )
                )
            if missing:
                words = ", ".join(f"“{text}”" for text in missing)
                hints.append(
                    Hint(f"No release mentions {words}: check the spelling or leave it out.")
                )
        elif plan.words is not None and query.has_filters:
            cap = self.ranked_at_most
            loose = len(self.store.matching_rowids(plan.words, limit=cap + 1)) if plan.words else 0
            if loose:
                many = match_count(loose) if loose <= cap else f"more than {cap:,} releases match"
                loose_query = query.without_filters().describe()
                hints.append(Hint(f"Without the filters, {many}: try ", loose_query, "."))
        elif len(query.terms) > 1:
            hints.append(
                Hint(f"No release has all {len(query.terms)} of these together: try fewer words.")
            )
        if query.authors:
            authors = self._authors
            if not any(self._authors_named(part) for part in query.authors):
                hints.append(
                    Hint(
                        "No author's name contains "
                        + " or ".join(f"“{part}”" for part in query.authors)
                        + (f"; the authors are {', '.join(authors[:8])}." if authors else ".")
                    )
                )
        if query.after or query.before:
            hints.append(
                Hint("Try a wider date range, or leave out ", "after:", " / ", "before:", ".")
            )
        if not hints:
            hints.append(Hint("Try fewer words or drop a filter."))
        return tuple(hints)


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


def _filter_form(category: str) -> str:
    return f'`category:"{category}"`' if " " in category else f"`category:{category}`"


def match_count(count: int) -> str:
    """ "1 release matches", "2 releases match": the start of a results heading."""
    return f"{count:,} release matches" if count == 1 else f"{count:,} releases match"
