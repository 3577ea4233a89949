"""Searching every stored release: one narrow API for the slash command and the CLI.

What a member types is parsed by `bot.query`, and reaches FTS5 only as quoted strings built
here, so no input can be read as FTS5 syntax. SQLite errors are turned into `SearchError` at
this boundary; callers see `QueryError` (the member's to fix) or `SearchError` (ours).
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from pathlib import Path

from bot import query as grammar
from bot.models import Found, SearchFilters
from bot.query import Query, QueryError, Term
from bot.store import Store

log = logging.getLogger(__name__)

PAGE_SIZE = 5
TIME_LIMIT = 5.0  # seconds; a search still running then is stopped and the member told why
MIN_PREFIX = 3  # a shorter last word is matched whole: "ai*" would find "aim", "air", …
# Matched words come back wrapped in these; the caller turns them into bold.
MARK_OPEN, MARK_CLOSE = "\x02", "\x03"


class SearchError(Exception):
    """The search could not run for a reason that is not the query's fault."""


@dataclass(frozen=True)
class Results:
    text: str  # the query as the member typed it (cleaned), for echoing and paging
    query: Query
    found: list[Found]
    total: int
    page: int
    page_size: int
    hints: tuple[str, ...] = field(default=())  # what to loosen, when nothing matched

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    def heading(self) -> str:
        """What was asked and how many match, as plain text."""
        if self.query.is_empty:
            return f"Latest ISSCR news ({self.total:,} releases stored)"
        return f"{match_count(self.total)} “{self.text}”"

    @property
    def page_label(self) -> str | None:
        return f"page {self.page} of {self.pages}" if self.pages > 1 else None

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def fts_expression(terms: Sequence[Term]) -> str | None:
    """An FTS5 expression requiring every term: each one a quoted string, so `AND`, `NEAR(`,
    `*` or `"` typed by a member are only ever text; the last word also matches as a prefix."""
    parts = []
    for index, term in enumerate(terms):
        literal = '"' + term.text.replace('"', '""') + '"'
        if index == len(terms) - 1 and not term.phrase and len(term.text) >= MIN_PREFIX:
            literal += "*"
        parts.append(literal)
    return " ".join(parts) or None


class Search:
    """Runs queries against one store."""

    def __init__(
        self, store: Store, *, page_size: int = PAGE_SIZE, time_limit: float = TIME_LIMIT
    ) -> None:
        self.store = store
        self.page_size = page_size
        self.time_limit = time_limit

    def run(self, text: str, page: int = 1) -> Results:
        """Page `page` of the releases matching `text` (an empty text lists the latest).

        Raises QueryError with a hint for a query that cannot run as typed, SearchError when
        the database fails or the search runs too long.
        """
        text = grammar.clean(text)
        query = grammar.parse(text)
        try:
            with self.store.time_limit(self.time_limit):
                filters = self._filters(query)
                match = fts_expression(query.terms)
                total = self.store.count_matches(match, filters)
                pages = max(1, -(-total // self.page_size))
                page = min(max(1, page), pages)  # the results may have shrunk since a button
                found = self.store.search(
                    match,
                    filters,
                    limit=self.page_size,
                    offset=(page - 1) * self.page_size,
                    marks=(MARK_OPEN, MARK_CLOSE),
                )
                found = [_tidy(item) for item in found]
                hints = self._hints(query, filters) if total == 0 else ()
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
        return Results(text, query, found, total, page, self.page_size, hints)

    def _filters(self, query: Query) -> SearchFilters:
        return SearchFilters(
            categories=tuple(self._category(name) for name in query.categories),
            author_parts=query.authors,
            published_from=_start_of_day(query.after) if query.after else None,
            published_until=_start_of_day(query.before) if query.before else None,
        )

    def _category(self, name: str) -> str:
        """The stored category `name` refers to: the same name in any case, or the one
        category it begins ("category:press"); otherwise a QueryError saying what exists."""
        exact = self.store.category_named(name)
        if exact is not None:
            return exact
        known = self.store.categories()
        folded = name.casefold()
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

    def _hints(self, query: Query, filters: SearchFilters) -> tuple[str, ...]:
        """Suggestions for loosening a query that matched nothing, each backed by a count."""
        hints: list[str] = []
        missing = [
            term.text
            for index, term in enumerate(query.terms)
            if not self.store.count_matches(
                fts_expression(query.terms[index : index + 1]), SearchFilters()
            )
        ]
        match = fts_expression(query.terms)
        if missing:
            words = ", ".join(f"“{text}”" for text in missing)
            hints.append(f"No release mentions {words}: check the spelling or leave it out.")
        elif filters and match is not None:
            loose = self.store.count_matches(match, SearchFilters())
            if loose:
                hints.append(
                    f"Without the filters, {match_count(loose)}: "
                    f"try `{query.without_filters().describe()}`."
                )
        elif len(query.terms) > 1:
            hints.append(
                f"No release has all {len(query.terms)} of these together: try fewer words."
            )
        if query.authors:
            authors = self.store.authors()
            if not any(
                part.casefold() in author.casefold() for part in query.authors for author in authors
            ):
                hints.append(
                    "No author's name contains "
                    + " or ".join(f"“{part}”" for part in query.authors)
                    + (f"; the authors are {', '.join(authors[:8])}." if authors else ".")
                )
        if query.after or query.before:
            hints.append("Try a wider date range, or leave out `after:` / `before:`.")
        if not hints:
            hints.append("Try fewer words or drop a filter.")
        return tuple(hints)


class SearchService:
    """Runs `Search` on a thread of its own with its own database connection, so that no
    search can hold up the event loop (and with it Slack's 3-second acknowledgements)."""

    def __init__(self, database_path: Path, *, page_size: int = PAGE_SIZE) -> None:
        self.database_path = database_path
        self.page_size = page_size
        # One worker: searches take milliseconds, and one connection must not be shared by
        # two threads at once.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="search")
        self._search: Search | None = None

    async def run(self, text: str, page: int = 1) -> Results:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, text, page)

    def _run(self, text: str, page: int) -> Results:
        if self._search is None:
            try:
                store = Store(self.database_path)  # opened on the thread that uses it
            except sqlite3.Error as error:
                log.error("cannot open %s for searching: %s", self.database_path, error)
                raise SearchError(
                    "The archive could not be opened just now; please try again in a minute."
                ) from None
            self._search = Search(store, page_size=self.page_size)
        return self._search.run(text, page)

    def close(self) -> None:
        """Finish the search in progress, then close the connection."""
        if self._search is not None:
            self._executor.submit(self._search.store.close)
        self._executor.shutdown(wait=True)


def _tidy(found: Found) -> Found:
    # A body snippet may span paragraphs: one line reads better in a list of results.
    if found.marked_excerpt is None:
        return found
    return replace(found, marked_excerpt=" ".join(found.marked_excerpt.split()))


def _start_of_day(day: date) -> str:
    # Stored dates are ISO 8601 in UTC, so they compare as strings.
    return datetime.combine(day, time(), tzinfo=UTC).isoformat()


def _filter_form(category: str) -> str:
    return f'`category:"{category}"`' if " " in category else f"`category:{category}`"


def match_count(count: int) -> str:
    """ "1 release matches", "2 releases match": the start of a results heading."""
    return f"{count:,} release matches" if count == 1 else f"{count:,} releases match"
