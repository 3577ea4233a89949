"""Hints for a search that matched nothing: what to loosen, each backed by a count."""

from __future__ import annotations

from bot.search.grammar import Hint, Query
from bot.search.plan import MIN_PREFIX, WORD, Plan, Planning
from bot.search.results import match_count


class Hinting(Planning):
    """Suggests a looser query; part of `Search`, which sets `ranked_at_most`."""

    ranked_at_most: int

    def _hints(self, query: Query, plan: Plan) -> tuple[Hint, ...]:
        """Suggestions for loosening a query that matched nothing, each backed by a count."""
        if not self._release_count:
            return (
                Hint(
                    "No releases are stored yet: the first feed poll or the archive import has "
                    "not finished. Try again in a few minutes."
                ),
            )
        hints = self._word_hints(query, plan)
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

    def _word_hints(self, query: Query, plan: Plan) -> list[Hint]:
        """What the words alone suggest: words no release has, or the matches without the
        filters, or fewer words."""
        hints: list[Hint] = []
        missing = [part.shown for part in (*plan.parts, *plan.dropped) if part.count == 0]
        if missing:
            final = query.terms[-1]
            runs = WORD.findall(final.text)
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
        elif plan.parts and query.has_filters:
            cap = self.ranked_at_most
            words = " AND ".join(part.expression for part in plan.parts)
            loose = len(self.store.matching_rowids(words, limit=cap + 1))
            if loose:
                many = match_count(loose) if loose <= cap else f"more than {cap:,} releases match"
                loose_query = query.without_filters().describe()
                hints.append(Hint(f"Without the filters, {many}: try ", loose_query, "."))
        elif len(query.terms) > 1:
            hints.append(
                Hint(f"No release has all {len(query.terms)} of these together: try fewer words.")
            )
        return hints
