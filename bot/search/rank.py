"""Ranking the matches of a planned query: best first.

A word in COMMON_SHARE of the releases or more ("stem", "ISSCR") is not distinctive: it says
nothing about which release is wanted (bm25 gives it no weight). With no distinctive word,
every match is as good as the next, and the newest come first. Otherwise the releases with
every distinctive word in the title come first, then the rest; within each, bm25 over the
distinctive words (title weighted above lead paragraph above body), then the newest.

bm25 costs about a microsecond a release weighed: a query with more than WEIGHED_AT_MOST
matches (only in a large archive) is ordered by the title alone, title matches of any age
first (at most TITLE_FIRST_AT_MOST), then the newest.
"""

from __future__ import annotations

from bot.search.plan import Plan, Planning
from bot.store import in_title

COMMON_SHARE = 0.5
WEIGHED_AT_MOST = 1_000
TITLE_FIRST_AT_MOST = 100


class Ranking(Planning):
    """Orders the matches; part of `Search`, which sets `ranked_at_most`."""

    ranked_at_most: int
    weighed_at_most: int

    def _rank(self, plan: Plan, rowids: list[int]) -> list[int]:
        """`rowids`: the newest matches of `plan`, all of them if `weighed_at_most` or fewer.
        Returns the best `ranked_at_most` of them (and of older title matches), best first."""
        cap = self.ranked_at_most
        common = self._release_count * COMMON_SHARE
        distinctive = [part.expression for part in plan.parts if part.count < common]
        if not rowids or not distinctive or plan.match is None:
            return rowids[:cap]  # newest first
        words = " AND ".join(distinctive)
        titled_match = f"{plan.match} AND {in_title(words)}"
        if len(rowids) > self.weighed_at_most:
            titled = self.store.matching_rowids(
                titled_match, lowest=plan.lowest, highest=plan.highest, limit=TITLE_FIRST_AT_MOST
            )
            seen = set(titled)
            return (titled + [rowid for rowid in rowids if rowid not in seen])[:cap]
        lowest, highest = rowids[0], rowids[-1]
        titled_set = set(
            self.store.matching_rowids(
                titled_match, lowest=lowest, highest=highest, limit=len(rowids)
            )
        )
        # bm25 weighs every release in the range holding the distinctive words, matches or
        # not (FTS5 cannot weigh a list of rowids): counted first, which costs far less.
        scores: dict[int, float] = {}
        at_most = self.weighed_at_most
        if self.store.count_matching(words, lowest, highest, at_most) <= at_most:
            scores = self.store.relevance(words, lowest=lowest, highest=highest)
        order = {rowid: index for index, rowid in enumerate(rowids)}  # newest first
        return sorted(
            rowids,
            key=lambda rowid: (rowid not in titled_set, scores.get(rowid, 0.0), order[rowid]),
        )[:cap]
