"""Ranking the matches of a planned query: best first, by title, lead paragraph and bm25."""

from __future__ import annotations

from bot.search.plan import Plan, Planning

# When more match, the releases with every word in the title, and in the lead paragraph, are
# looked for in the whole archive: at most this many of each (newest first), so that reading
# them costs a fraction of a millisecond.
TIERED_AT_MOST = 100


class Ranking(Planning):
    """Orders the matches; part of `Search`, which sets `ranked_at_most`."""

    ranked_at_most: int

    def _rank(self, plan: Plan, rowids: list[int]) -> list[int]:
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
