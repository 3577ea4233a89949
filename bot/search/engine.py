"""Searching every stored release: one narrow API for the slash command and the CLI.

What a member types is parsed by `bot.search.grammar`, and reaches FTS5 only as quoted strings
built by `bot.search.plan`, so no input can be read as FTS5 syntax. SQLite errors are turned into
`SearchError` at this boundary; callers see `QueryError` (the member's to fix) or `SearchError`
(ours).
"""

from __future__ import annotations

import logging
import sqlite3
from itertools import combinations, islice

from bot.search import grammar
from bot.search.hints import Hinting
from bot.search.marks import marked
from bot.search.plan import Plan
from bot.search.rank import Ranking
from bot.search.results import RANKED_AT_MOST, Results
from bot.store import Store

log = logging.getLogger(__name__)

PAGE_SIZE = 5
TIME_LIMIT = 5.0  # seconds; a search still running then is stopped and the member told why
# A query that nothing matches whole is tried without some of its words: at most this many
# ways, fewest words left out first.
RELAXED_AT_MOST = 24


class SearchError(Exception):
    """The search could not run for a reason that is not the query's fault."""


class Search(Ranking, Hinting):
    """Runs queries against one store (not thread-safe: one Search per thread). Its parts:
    `Vocabulary` (what is read of the archive), `Planning` (a query as FTS5 expressions),
    `Ranking` and `Hinting` (when nothing matched)."""

    def __init__(
        self,
        store: Store,
        *,
        page_size: int = PAGE_SIZE,
        time_limit: float = TIME_LIMIT,
        ranked_at_most: int = RANKED_AT_MOST,
    ) -> None:
        super().__init__(store)
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
                if query.is_empty:  # the latest: their count is known, the page is enough
                    total = self._release_count
                    shown = min(total, cap)
                    page = min(max(1, page), max(1, -(-shown // self.page_size)))
                    ranked = self._matches(plan, page * self.page_size)
                else:
                    # The newest matches, one more than are shown: enough to say "more".
                    rowids = self._matches(plan, cap + 1)
                    if not rowids and len(plan.parts) > 1:
                        plan, rowids = self._relaxed(plan)
                    total = len(rowids)
                    ranked = self._rank(plan, rowids)
                pages = max(1, -(-min(total, cap) // self.page_size))
                page = min(max(1, page), pages)  # the results may have shrunk since a button
                start = (page - 1) * self.page_size
                releases = self.store.releases_by_rowid(ranked[start : start + self.page_size])
                hints = self._hints(query, plan) if not total and not query.is_empty else ()
                found = marked(self.store, releases, plan.any_word)
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
        return Results(
            text,
            query,
            found,
            total,
            page,
            self.page_size,
            hints,
            ranked_at_most=cap,
            corrected=tuple((part.typed, part.shown) for part in plan.corrections),
            dropped=tuple(part.typed for part in plan.dropped),
            partial=bool(plan.any_of),
        )

    def _matches(self, plan: Plan, limit: int) -> list[int]:
        return self.store.matching_rowids(
            plan.match, lowest=plan.lowest, highest=plan.highest, limit=limit
        )

    def _relaxed(self, plan: Plan) -> tuple[Plan, list[int]]:
        """A query that nothing matches whole, without the fewest of its words that leaves
        some matches: first the words no release holds, then any; the releases of every way
        of leaving out as many (those with the most of the words). The plan unchanged when no
        way matches."""
        unknown = [part for part in plan.parts if part.count == 0]
        known = [part for part in plan.parts if part.count > 0]
        tries = RELAXED_AT_MOST
        for size in range(len(known), 0, -1):
            if size > 1 and tries <= 0:
                continue  # past the tries allowed (many words, few together): each alone
            ways = list(islice(combinations(known, size), tries if size > 1 else None))
            tries -= len(ways)
            if size == len(known) and not unknown:
                continue  # the query itself
            found = [kept for kept in ways if self._matches(plan.either([kept]), 1)]
            if found:
                relaxed = plan.either(found)
                return relaxed, self._matches(relaxed, self.ranked_at_most + 1)
        return plan, []
