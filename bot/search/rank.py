"""Ranking the matches of a planned query: best first.

A word in COMMON_SHARE of the releases or more ("stem", "ISSCR") is not distinctive: it says
nothing about which release is wanted (bm25 gives it no weight). Nor is a word that names a
category ("policy", "statement"): the releases of that kind are wanted, and how often one
repeats the word says nothing more. With no distinctive word, every match is as good as the
next, and the newest come first. Otherwise the releases with a
distinctive word in the title come first, then the rest; within each, bm25 over the
distinctive words (title weighted above lead paragraph above body), then the newest.

The work is bounded whatever the size of the archive. At most `ranked_at_most` + 1 matches are
read (newest first, lazily). When that is all of them, they are weighed with bm25, which FTS5
does for every release in a rowid range holding the weighed words (about a microsecond each):
counted first, and weighed when there are at most WEIGHED_AT_MOST. FTS5 also reads the whole
posting list of each word it weighs, and of a phrase every position of its words: a word in
more than WEIGHED_POSTINGS releases, or a phrase whose words are all in more than
PHRASE_POSTINGS, is not weighed (only in a large archive). When nothing is weighed, the matches
with a distinctive word in the title come first, then the newest.
"""

from __future__ import annotations

from bot.search.plan import Plan, Planning
from bot.store import in_title

COMMON_SHARE = 0.5
WEIGHED_AT_MOST = 500
WEIGHED_POSTINGS = 5_000
PHRASE_POSTINGS = 1_000


class Ranking(Planning):
    """Orders the matches; part of `Search`, which sets `ranked_at_most`."""

    ranked_at_most: int

    def _rank(self, plan: Plan, rowids: list[int]) -> list[int]:
        """`rowids`: the newest `ranked_at_most` + 1 matches of `plan` (all of them, when
        fewer). Returns the best `ranked_at_most` of them, best first."""
        cap = self.ranked_at_most
        common = self._release_count * COMMON_SHARE
        distinctive = [part for part in plan.parts if part.count < common and not part.category]
        if not rowids or not distinctive or plan.match is None:
            return rowids[:cap]  # newest first
        lowest, highest = rowids[0], rowids[-1]
        order = {rowid: index for index, rowid in enumerate(rowids)}  # newest first
        weighed = [
            part
            for part in distinctive
            if part.count <= (PHRASE_POSTINGS if part.phrase else WEIGHED_POSTINGS)
        ]
        # A query left with any of several groups of words weighs any of them.
        words = (" OR " if plan.any_of else " AND ").join(part.expression for part in weighed)
        # bm25 weighs every release in the range holding the words, matches or not (FTS5
        # cannot weigh a list of rowids): counted first, which costs far less.
        if (
            weighed
            and len(rowids) <= cap
            and self.store.count_matching(words, lowest, highest, WEIGHED_AT_MOST)
            <= WEIGHED_AT_MOST
        ):
            scores = self.store.relevance(words, lowest=lowest, highest=highest)
            unweighed = (0.0, 0.0)

            def best(row: int) -> tuple[bool, float, int]:
                score, in_title = scores.get(row, unweighed)
                return in_title == 0.0, score, order[row]

            return sorted(rowids, key=best)[:cap]
        any_word = " OR ".join(part.expression for part in distinctive)
        if any(part.phrase for part in plan.parts):
            # Matching the phrases again would cost what the search did: the titles alone.
            titled = self.store.titles_matching(rowids, any_word)
        else:
            titled = set(
                self.store.matching_rowids(
                    f"{plan.match} AND {in_title(any_word)}",
                    lowest=lowest,
                    highest=highest,
                    limit=len(rowids),
                )
            )
        return sorted(rowids, key=lambda row: (row not in titled, order[row]))[:cap]
