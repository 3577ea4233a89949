"""Searching every stored release: one narrow API for the slash command and the CLI.

What a member types is parsed by `bot.search.grammar`, and reaches FTS5 only as quoted strings
built by `bot.search.plan`, so no input can be read as FTS5 syntax. SQLite errors are turned into
`SearchError` at this boundary; callers see `QueryError` (the member's to fix) or `SearchError`
(ours).
"""

from __future__ import annotations

import logging
import sqlite3

from bot.models import Found
from bot.search import grammar
from bot.search.hints import Hinting
from bot.search.marks import Marker
from bot.search.plan import last_word_is_prefix
from bot.search.rank import Ranking
from bot.search.results import RANKED_AT_MOST, Results
from bot.store import Store

log = logging.getLogger(__name__)

PAGE_SIZE = 5
TIME_LIMIT = 5.0  # seconds; a search still running then is stopped and the member told why
# Words in more releases than this are left out of the bm25 weighing: FTS5 reads a word's whole
# posting list to weigh it (about 1.5 µs a release), and a common word says little about
# relevance. Ranking by the title instead costs about what the search itself did.
RANKABLE = 250


class SearchError(Exception):
    """The search could not run for a reason that is not the query's fault."""


class Search(Ranking, Hinting):
    """Runs queries against one store (not thread-safe: one Search per thread). Its parts:
    `Vocabulary` (the index's words), `Planning` (a query as FTS5 expressions), `Ranking` and
    `Hinting` (when nothing matched)."""

    def __init__(
        self,
        store: Store,
        *,
        page_size: int = PAGE_SIZE,
        time_limit: float = TIME_LIMIT,
        ranked_at_most: int = RANKED_AT_MOST,
        rankable: int = RANKABLE,
    ) -> None:
        super().__init__(store)
        self.rankable = rankable
        self.page_size = page_size
        self.time_limit = time_limit
        self.ranked_at_most = ranked_at_most

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
