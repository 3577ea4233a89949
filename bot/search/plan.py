"""Planning a query: each term as an FTS5 expression (quoted strings built here, so that no
input can be read as FTS5 syntax), with what the archive teaches about it: a word no release
holds is read as the beginning of longer words (the last one) or corrected, an acronym also
stands for its long form and a long form for its acronym; filters become index words and a
rowid range."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time

from bot.search.grammar import Query, Term, normal
from bot.search.spelling import likeliest
from bot.search.vocabulary import Acronym, Vocabulary
from bot.store import author_key, category_key, published_rowids

MIN_PREFIX = 3  # a shorter unfinished word is not completed: "ai" would stand for "aim", "air"…
# Words spelling out a long form find its acronym when the acronym has MIN_SPELLED_SHORT
# letters or the long form MIN_SPELLED_LONG words: a two-letter acronym of two words ("SC")
# stands for too many other things.
MIN_SPELLED_SHORT = 3
MIN_SPELLED_LONG = 3
PREFIX_WORDS = 32  # an unfinished word stands for at most its commonest completions
WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Part:
    """One term of a query, as the search reads it."""

    typed: str  # as the member wrote it ("modles", or "\"stem cell\"")
    shown: str  # what it was read as ("models"): `typed` unless corrected
    expression: str  # the FTS5 expression of it and the forms it stands for
    count: int  # about how many releases match it (0: none)
    corrected: bool = False
    category: bool = False  # it names a category ("policy", "press releases")
    # The ways a release matches it, as `expression` says them: each the texts (words or
    # phrases) a release must all hold. Empty: `shown` alone.
    forms: tuple[tuple[str, ...], ...] = ()

    @property
    def alternatives(self) -> tuple[tuple[str, ...], ...]:
        return self.forms or ((self.shown,),)

    @property
    def phrase(self) -> bool:
        """Whether it holds words that must be adjacent: FTS5 then checks their positions in
        every release holding them all, which costs far more than finding a word."""
        return " " in self.expression.replace('" OR "', "")


@dataclass(frozen=True)
class Plan:
    """A query turned into FTS5 expressions and a rowid (publication time) range."""

    parts: tuple[Part, ...]
    filters: str | None  # categories and authors, as index words
    lowest: int | None
    highest: int | None
    by_name: bool = False  # a category or author filter
    dropped: tuple[Part, ...] = ()  # left out: no release matches them with the rest
    # When set, a result matches every part of one of these (each leaves out as many words:
    # no release has them all), instead of every part.
    any_of: tuple[tuple[Part, ...], ...] = ()

    @property
    def match(self) -> str | None:
        """What a result must match: every part (or those of one of `any_of`) and the
        filters."""
        pieces = [part.expression for part in self.parts]
        if self.any_of:
            groups = (" AND ".join(part.expression for part in group) for group in self.any_of)
            pieces = ["(" + " OR ".join(f"({group})" for group in groups) + ")"]
        return " AND ".join([*pieces, *([self.filters] if self.filters else [])]) or None

    @property
    def any_word(self) -> str | None:
        """Any one part: what is marked in the texts shown (each one matches some part)."""
        return " OR ".join(part.expression for part in (*self.parts, *self.dropped)) or None

    @property
    def corrections(self) -> tuple[Part, ...]:
        return tuple(part for part in self.parts if part.corrected)

    def without(self, dropped: Sequence[Part]) -> Plan:
        return replace(
            self,
            parts=tuple(part for part in self.parts if part not in dropped),
            dropped=(*self.dropped, *dropped),
        )

    def either(self, groups: Sequence[tuple[Part, ...]]) -> Plan:
        """The query with the words of any one of `groups`, and without the words in none."""
        kept = [part for part in self.parts if any(part in group for group in groups)]
        narrowed = self.without([part for part in self.parts if part not in kept])
        return replace(narrowed, any_of=tuple(groups) if len(groups) > 1 else ())


class Planning(Vocabulary):
    """Turns a query into a `Plan`; part of `Search`."""

    def _plan(self, query: Query, *, strict: bool = False) -> Plan:
        """`strict`: every word as typed (with its stems and the acronyms it stands for or
        spells out), never corrected nor read as the beginning of longer ones: what an alert
        is to match in releases yet to come (`bot.search.alerts`)."""
        terms = list(query.terms)
        parts: list[Part] = []
        index = 0
        while index < len(terms):
            long_form = self._long_form_at(terms, index)
            if long_form is not None:
                acronym, size = long_form
                parts.append(self._spelled_out(terms[index : index + size], acronym))
                index += size
                continue
            last = index == len(terms) - 1 and not strict
            parts.append(self._part(terms[index], last=last, strict=strict))
            index += 1
        categories = self._category_filter(query)
        authors = self._author_filter(query)
        filters = [
            f"({' OR '.join(categories)})" if categories else None,
            f"({' OR '.join(authors)})" if authors else None,
        ]
        lowest = highest = None
        if query.after or query.before:  # a date filter leaves out undated releases
            lowest, highest = published_rowids(
                _start_of_day(query.after) if query.after else None,
                _start_of_day(query.before) if query.before else None,
            )
        return Plan(
            tuple(parts),
            " AND ".join(part for part in filters if part) or None,
            lowest,
            highest,
            bool(query.categories or query.authors),
        )

    def _category_filter(self, query: Query) -> list[str]:
        """The index words of the categories filtered by, any of which a release must have:
        whole names, each one word in the index (see `Store.names`)."""
        return [
            _quoted(category_key(self._tokenize(self._category(name)))) for name in query.categories
        ]

    def _author_filter(self, query: Query) -> list[str]:
        """The index words of the authors filtered by: part of a name is enough
        ("author:bourne"), so the names containing it; a name nobody has when none does."""
        authors = [
            _quoted(author_key(self._tokenize(name)))
            for part in query.authors
            for name in self._authors_named(part)
        ]
        if query.authors and not authors:
            authors = [_quoted(author_key([]))]
        return authors

    def _part(self, term: Term, *, last: bool, strict: bool = False) -> Part:
        """A term as FTS5 text: quoted strings, so that whatever a member typed is only ever
        text. An acronym also finds its long forms; the last word, when no release holds it
        as typed, stands for the words it begins ("embr"); a word the index does not find at
        all stands for the word it most likely misspells (not when `strict`)."""
        tokens = self._tokenize(term.text)
        counts = self.store.stem_counts(tokens)
        count = min((counts.get(token, 0) for token in tokens), default=0)
        category = tuple(tokens) in self._category_stems
        part = Part(term.describe(), term.text, _quoted(term.text), count, category=category)
        if term.phrase or term.quoted or not tokens:
            return part
        if last:
            unfinished = self._unfinished(term, tokens)
            if unfinished is not None:
                return unfinished
        if len(tokens) != 1:
            return part
        if count == 0 and not strict:
            return self._misspelt(term) or part
        key = normal(term.text)
        forms = self._short.get(key)
        if not forms and key.endswith("s") and len(key) > 2:
            forms = self._short.get(key[:-1])  # "iPSCs": the plural of "iPSC"
        if forms:
            expression = " OR ".join([part.expression, *(_quoted(form.long) for form in forms)])
            return replace(
                part,
                expression=f"({expression})",
                count=self._at_most_all(count),
                forms=((term.text,), *((form.long,) for form in forms)),
            )
        return part

    def _unfinished(self, term: Term, tokens: Sequence[str]) -> Part | None:
        """The last word as the beginning of the archive's words, when no release holds it as
        typed ("embr": embryo, embryos, embryonic); of a word of several parts, its last part
        ("single-cel": single-cell, single-celled). None when it is a whole word, too short,
        or begins none."""
        runs = WORD.findall(term.text)
        typed = normal(runs[-1]) if runs else ""
        if len(typed) < MIN_PREFIX or len(runs) != len(tokens) or self.store.word_counts([typed]):
            return None
        completions = self.store.words_beginning(typed, PREFIX_WORDS)
        if not completions:
            return None
        lead = " ".join(runs[:-1])
        words = [f"{lead} {word}".strip() for word, _ in completions]
        forms = [_quoted(word) for word in words]
        count = sum(count for _, count in completions)
        if lead:
            stems = self.store.stem_counts(tokens[:-1])
            count = min([count, *(stems.get(stem, 0) for stem in tokens[:-1])])
        expression = f"({' OR '.join(forms)})"
        alternatives = tuple((word,) for word in words)
        return Part(term.text, term.text, expression, self._at_most_all(count), forms=alternatives)

    def _misspelt(self, term: Term) -> Part | None:
        """The archive's word a word no release holds most likely misspells; None if none."""
        corrected = likeliest(normal(term.text), self.store.word_counts, self.store.words_sized)
        if corrected is None:
            return None
        stems = self._tokenize(corrected)
        counts = self.store.stem_counts(stems)
        count = min((counts.get(stem, 0) for stem in stems), default=0)
        return Part(term.text, corrected, _quoted(corrected), count, corrected=True)

    def _long_form_at(self, terms: Sequence[Term], index: int) -> tuple[Acronym, int] | None:
        """The acronym whose long form the plain words from `index` on spell out, whole or
        its first half or more ("induced pluripotent" of "induced pluripotent stem cells"),
        and how many terms that takes; the longest such run."""
        first = terms[index]
        if first.phrase or first.quoted:
            return None
        stems = self._tokenize(first.text)
        found: tuple[Acronym, int] | None = None
        for acronym in self._long.get(stems[0] if stems else "", []):
            if len(acronym.short) < MIN_SPELLED_SHORT and len(acronym.stems) < MIN_SPELLED_LONG:
                continue  # "stem cell (SC)": SC means too many other things
            for size in range(len(acronym.stems), 1, -1):
                words = terms[index : index + size]
                plain = len(words) == size and not any(t.phrase or t.quoted for t in words)
                spelled = tuple(stem for term in words for stem in self._tokenize(term.text))
                if size * 2 < len(acronym.stems) or not plain:
                    continue
                if spelled == acronym.stems[: len(spelled)] and (found is None or size > found[1]):
                    found = acronym, size
        return found

    def _spelled_out(self, terms: Sequence[Term], acronym: Acronym) -> Part:
        """Terms that spell out an acronym's long form (or its first half or more): those
        words, as they would match without it, or the acronym."""
        typed = " ".join(term.text for term in terms)
        spelled = [stem for term in terms for stem in self._tokenize(term.text)]
        short = self._tokenize(acronym.short)
        counts = self.store.stem_counts([*spelled, *short])
        written = min(counts.get(stem, 0) for stem in spelled)
        count = self._at_most_all(written + sum(counts.get(stem, 0) for stem in short))
        words = " AND ".join(_quoted(term.text) for term in terms)
        expression = f"(({words}) OR {_quoted(acronym.short)})"
        forms = (tuple(term.text for term in terms), (acronym.short,))
        return Part(typed, typed, expression, count, forms=forms)

    def _at_most_all(self, count: int) -> int:
        return min(count, self._release_count)


def _start_of_day(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _quoted(text: str) -> str:
    """An FTS5 string: whatever it holds is only ever text to the tokenizer."""
    return '"' + text.replace('"', '""') + '"'
