"""The search grammar members type after `/isscr-news`, parsed into plain data.

    stem cell "embryo model" category:policy category:"press release" after:2024-01 before:2025
    author:kym

Every word must match, quoted phrases stay together, filters narrow the results. Parsing never
fails on odd input: only a malformed filter or date raises `QueryError`, whose message names the
problem and shows a corrected example. Nothing here knows SQL, FTS5 syntax or Slack: its
markup and escaping are decoded before the text gets here (`bot.slack.markup`).
"""

from __future__ import annotations

import calendar
import difflib
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

T = TypeVar("T")

MAX_QUERY_CHARS = 300
MAX_TERMS = 12
FILTERS = ("category", "author", "after", "before")
HELP_WORDS = frozenset({"help", "?", "-h", "--help", "usage"})

# Typed by the user, or put there by their keyboard: macOS and iOS turn "" into “”.
_QUOTES = str.maketrans(dict.fromkeys("“”„‟«»〝〞＂", '"'))
_TOKEN = re.compile(
    r'(?P<key>[^\s":]+):(?:"(?P<quoted>[^"]*)"?|(?P<value>[^\s"]*))'
    r'|"(?P<phrase>[^"]*)"?'
    r'|(?P<word>[^\s"]+)'
)
_DATE = re.compile(r"^(\d{4})(?:[-/](\d{1,2})(?:[-/](\d{1,2}))?)?$")
_INVISIBLE = ("Cc", "Cf", "Co", "Zl", "Zp")
# The combining marks NFKD splits off accented letters (é → e + ´).
_ACCENTS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# Dates written some other way, which get a hint with the date they most likely mean.
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DATE_AND_TIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})[T ]\d")
_DAY_FIRST = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$")


@dataclass(frozen=True, init=False)
class Hint:
    """A suggestion (for a search that matched nothing, or a corrected example of a query
    that could not run), in plain text pieces: what to do, then what to type for it (a
    query, a filter), alternately. Each surface shows the typed pieces
    its own way (Slack as code, a terminal as they are); `str()` is the plain text."""

    pieces: tuple[str, ...]

    def __init__(self, *pieces: str) -> None:
        object.__setattr__(self, "pieces", pieces)  # frozen: set once, here

    def parts(self) -> Iterator[tuple[str, bool]]:
        """Each piece, and whether it is something to type."""
        return ((piece, index % 2 == 1) for index, piece in enumerate(self.pieces))

    def __str__(self) -> str:
        return "".join(self.pieces)


class QueryError(ValueError):
    """A query we cannot run as typed; `problem` and `example` are shown to the member."""

    def __init__(self, problem: str, example: Hint) -> None:
        super().__init__(f"{problem} Try: {example}")
        self.problem = problem
        self.example = example


@dataclass(frozen=True)
class Term:
    """A word, or a quoted phrase whose words must appear together in this order. A quoted
    word is searched as typed: never corrected, nor read as the beginning of longer ones."""

    text: str
    phrase: bool = False
    quoted: bool = False

    def describe(self) -> str:
        return f'"{self.text}"' if self.phrase or self.quoted else self.text


@dataclass(frozen=True)
class Query:
    terms: tuple[Term, ...] = ()
    categories: tuple[str, ...] = ()  # as typed; any of them
    authors: tuple[str, ...] = ()  # as typed; any of them, part of a name is enough
    after: date | None = None  # on or after
    before: date | None = None  # strictly before

    @property
    def has_filters(self) -> bool:
        return bool(self.categories or self.authors or self.after or self.before)

    @property
    def is_empty(self) -> bool:
        return not self.terms and not self.has_filters

    def without_filters(self) -> Query:
        return Query(terms=self.terms)

    def describe(self) -> str:
        """The query written back in canonical form, for headers and hints."""
        return " ".join([term.describe() for term in self.terms] + self.described_filters())

    def described_filters(self) -> list[str]:
        """The filters written back in canonical form."""
        parts = [f"category:{_quote_if_spaced(name)}" for name in self.categories]
        parts += [f"author:{_quote_if_spaced(name)}" for name in self.authors]
        if self.after:
            parts.append(f"after:{self.after.isoformat()}")
        if self.before:
            parts.append(f"before:{self.before.isoformat()}")
        return parts


def normal(text: str) -> str:
    """`text` as the index compares it: case folded, accents removed."""
    if text.isascii():
        return text.casefold()
    return _ACCENTS.sub("", unicodedata.normalize("NFKD", text.casefold()))


def is_help(text: str) -> bool:
    """Whether `text` asks for the usage rather than searching."""
    return text.strip().casefold() in HELP_WORDS


def clean(text: str) -> str:
    """`text` with compatibility forms folded (ｆｕｌｌ → full), control, format and
    private-use characters turned into spaces (the index uses one of the last to join words),
    typographic quotes made plain, and spaces collapsed."""
    folded = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    visible = "".join(" " if unicodedata.category(char) in _INVISIBLE else char for char in folded)
    return " ".join(visible.split())


def parse(text: str) -> Query:
    """Parse a member's query; raises QueryError for a malformed filter, date or length."""
    text = clean(text)
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(
            f"That query is {len(text)} characters long; I read at most {MAX_QUERY_CHARS}.",
            Hint("a few distinctive words, e.g. ", "embryo model guidelines"),
        )
    terms: list[Term] = []
    filters: dict[str, list[str]] = {name: [] for name in FILTERS}
    for match in _TOKEN.finditer(text):
        key, phrase, word = match.group("key"), match.group("phrase"), match.group("word")
        if key is not None:
            value = match.group("quoted")
            if value is None:
                value = match.group("value")
            name = _filter_name(key)
            if name is not None:
                filters[name].append(_filter_value(name, value))
                continue
            terms.append(Term(match.group(0)))
        elif phrase is not None:
            phrase = " ".join(phrase.split())
            if phrase:
                terms.append(Term(phrase, phrase=" " in phrase, quoted=True))
        elif word is not None:
            terms.append(Term(word))
    # A term with no letter or digit (a lone "*", "-", "(", an empty "") matches nothing.
    terms = [term for term in terms if any(char.isalnum() for char in term.text)]
    if text and not terms and not any(filters.values()):
        shown = text if len(text) <= 40 else text[:39] + "…"
        raise QueryError(
            f"“{shown}” has no letters or digits to search for.",
            Hint("a word or two, e.g. ", "embryo model"),
        )
    if len(terms) > MAX_TERMS:
        raise QueryError(
            f"That's {len(terms)} words and phrases; I search for at most {MAX_TERMS} at once.",
            Hint("the few words that matter most, e.g. ", "NIH funding letter"),
        )
    after = _one_date(filters["after"], "after")
    before = _one_date(filters["before"], "before")
    if after and before and after >= before:
        # Equal: "after:2024 before:2024" most likely meant that year.
        later = _next_period(filters["before"][0]) if after == before else after
        raise QueryError(
            f"after:{after.isoformat()} is not earlier than before:{before.isoformat()}, "
            "so nothing can match.",
            Hint("", f"after:{before.isoformat()} before:{later.isoformat()}"),
        )
    return Query(
        terms=tuple(_unique(terms)),
        categories=tuple(_unique(filters["category"], key=str.casefold)),
        authors=tuple(_unique(filters["author"], key=str.casefold)),
        after=after,
        before=before,
    )


def _filter_name(key: str) -> str | None:
    """The filter `key:` names, None when it is just text with a colon ("covid-19:" "10:30");
    a near miss ("catgory:") is an error, not a word."""
    folded = key.casefold()
    if folded in FILTERS:
        return folded
    if folded.isalpha() and len(folded) >= 4:
        close = difflib.get_close_matches(folded, FILTERS, n=1, cutoff=0.75)
        if close:
            raise QueryError(f"I don't know the filter “{key}:”.", _FILTER_EXAMPLES[close[0]])
    return None


_FILTER_EXAMPLES = {
    "category": Hint("", "category:policy", " or ", 'category:"press release"'),
    "author": Hint("", "author:kilbourne"),
    "after": Hint("", "after:2024-06-30", " (a date as YYYY-MM-DD)"),
    "before": Hint("", "before:2025-01-01", " (a date as YYYY-MM-DD)"),
}


def _filter_value(name: str, value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise QueryError(f"“{name}:” needs a value right after the colon.", _FILTER_EXAMPLES[name])
    return value


def _one_date(values: list[str], name: str) -> date | None:
    if not values:
        return None
    if len(set(values)) > 1:
        raise QueryError(f"{name}: appears more than once.", _FILTER_EXAMPLES[name])
    return parse_date(values[0], name)


def parse_date(value: str, name: str) -> date:
    """YYYY-MM-DD, or YYYY-MM / YYYY for the first day of that month / year."""
    match = _DATE.match(value)
    shown = value if len(value) <= 40 else value[:39] + "…"
    if match:
        year, month, day = (int(part) if part else 1 for part in match.groups())
        if not 1900 <= year <= 2999:
            raise QueryError(
                f"“{name}:{shown}” is outside the years I search (1900 to 2999).",
                _FILTER_EXAMPLES[name],
            )
        if not 1 <= month <= 12:
            # Day and month the other way round, if that makes a date.
            swapped = _valid(year, day, month) if match.group(3) else None
            example = Hint("", f"{name}:{swapped or date(year, min(max(month, 1), 12), 1)}")
            raise QueryError(f"“{name}:{shown}”: there is no month {month}.", example)
        last = calendar.monthrange(year, month)[1]
        if not 1 <= day <= last:
            problem = (
                f"there is no day {day}"
                if day < 1
                else (f"{calendar.month_name[month]} {year} has {last} days")
            )
            raise QueryError(
                f"“{name}:{shown}”: {problem}.",
                Hint("", f"{name}:{date(year, month, min(max(day, 1), last))}"),
            )
        return date(year, month, day)
    close = _close_to_a_date(value)
    if close is not None:
        problem, guess = close
        raise QueryError(
            f"“{name}:{shown}” {problem}", Hint("", f"{name}:{guess}", " (YYYY-MM-DD)")
        )
    raise QueryError(f"“{name}:{shown}” is not a date I can read.", _FILTER_EXAMPLES[name])


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _close_to_a_date(value: str) -> tuple[str, date] | None:
    """What is wrong with a date written another way, and the date it most likely means."""
    if match := _COMPACT_DATE.match(value):  # 20240131
        guess = _valid(*map(int, match.groups()))
        return ("needs dashes between year, month and day.", guess) if guess else None
    if match := _DATE_AND_TIME.match(value):  # 2024-01-31T10:00
        guess = _valid(*map(int, match.groups()))
        return ("has a time; I filter by whole days.", guess) if guess else None
    if match := _DAY_FIRST.match(value):  # 31/01/2024, 01.31.2024
        first, second, year = map(int, match.groups())
        # Day first, unless only month first makes a date (as in the US).
        guess = _valid(year, second, first) or _valid(year, first, second)
        return ("puts the year last; I read the year first.", guess) if guess else None
    return None


def _next_period(value: str) -> date:
    """The day after the year, month or day `value` (a valid date) names."""
    _, month, day = _DATE.match(value).groups()  # type: ignore[union-attr]
    start = parse_date(value, "before")
    if day is not None:
        return start + timedelta(days=1)
    if month is not None:
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return date(start.year + 1, 1, 1)


def _quote_if_spaced(value: str) -> str:
    return f'"{value}"' if " " in value else value


def _unique(items: list[T], key: Callable[[T], object] = lambda item: item) -> list[T]:
    """`items` without repeats, first occurrence kept."""
    seen: set[object] = set()
    kept = []
    for item in items:
        if (marker := key(item)) not in seen:
            seen.add(marker)
            kept.append(item)
    return kept
