"""Ranking the matches of a planned query: best first.

A word in COMMON_SHARE of the releases or more ("stem", "ISSCR") is not distinctive: it says
nothing about which release is wanted (bm25 gives it no weight). With no distinctive word,
every match is as good as the next, and the newest come first. Otherwise the releases with
every distinctive word in the title come first, then the rest; within each, bm25 over the
distinctive words (title weighted above lead paragraph above body), then the newest.

The work is bounded whatever the size of the archive. At most `ranked_at_most` + 1 matches are
read (newest first, lazily). When that is all of them, they are weighed with bm25, which FTS5
does for every release in a rowid range holding the distinctive words (about a microsecond
each): counted first, and weighed when there are at most WEIGHED_AT_MOST. When there are more
matches (only in a large archive), the title matches among the newest read come first, then
the newest others.
"""

from __future__ import annotations

from bot.search.plan import Plan, Planning
from bot.store import in_title

COMMON_SHARE = 0.5
WEIGHED_AT_MOST = 500


class Ranking(Planning):
    """Orders the matches; part of `Search`, which sets `ranked_at_most`."""

    ranked_at_most: int

    def _rank(self, plan: Plan, rowids: list[int]) -> list[int]:
        """`rowids`: the newest `ranked_at_most` + 1 matches of `plan` (all of them, when
        fewer). Returns the best `ranked_at_most` of them, best first."""
        cap = self.ranked_at_most
        common = self._release_count * COMMON_SHARE
        distinctive = [part.expression for part in plan.parts if part.count < common]
        if not rowids or not distinctive or plan.match is None:
            return rowids[:cap]  # newest first
        words = " AND ".join(distinctive)
        lowest, highest = rowids[0], rowids[-1]
        titled = set(
            self.store.matching_rowids(
                f"{plan.match} AND {in_title(words)}",
                lowest=lowest,
                highest=highest,
                limit=len(rowids),
            )
        )
        scores: dict[int, float] = {}
        # bm25 weighs every release in the range holding the distinctive words, matches or
        # not (FTS5 cannot weigh a list of rowids): counted first, which costs far less.
        complete = len(rowids) <= cap
        if complete and self.store.count_matching(words, lowest, highest, WEIGHED_AT_MOST) <= (
            WEIGHED_AT_MOST
        ):
            scores = self.store.relevance(words, lowest=lowest, highest=highest)
        order = {rowid: index for index, rowid in enumerate(rowids)}  # newest first
        best = sorted(rowids, key=lambda row: (row not in titled, scores.get(row, 0.0), order[row]))
        return best[:cap]
