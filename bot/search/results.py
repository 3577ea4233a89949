"""What a search found, one page of it, and hints when it found nothing: plain data that each
surface (Slack, the terminal) shows its own way."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.models import Found
from bot.search.grammar import Hint, Query

# A query matching more releases than this shows this many, and says so: counting and ranking
# all of a large archive would cost milliseconds per thousand releases. The newest matches
# are read (a microsecond or two each), after the best of any age (TIERED_AT_MOST).
RANKED_AT_MOST = 200


@dataclass(frozen=True)
class Results:
    text: str  # the query as the member typed it (cleaned), for echoing and paging
    query: Query
    found: list[Found]
    total: int
    page: int
    page_size: int
    hints: tuple[Hint, ...] = field(default=())  # what to loosen, when nothing matched
    ranked_at_most: int = RANKED_AT_MOST  # `total` above this means "more than this many"

    @property
    def capped(self) -> bool:
        return self.total > self.ranked_at_most

    @property
    def pages(self) -> int:
        return max(1, -(-min(self.total, self.ranked_at_most) // self.page_size))

    def heading(self) -> str:
        """What was asked and how many match, as plain text."""
        if self.query.is_empty:  # the latest: `total` is the exact number stored
            return f"Latest ISSCR news ({self.total:,} releases stored)"
        if self.capped:
            return f"More than {self.ranked_at_most:,} releases match “{self.text}”"
        return f"{match_count(self.total)} “{self.text}”"

    @property
    def note(self) -> str | None:
        """What a member should know about how these results were chosen."""
        if self.capped and self.query.terms and (self.query.categories or self.query.authors):
            return (
                f"Showing the most relevant of the newest {self.ranked_at_most:,}: "
                "add a word or a filter to narrow the search."
            )
        if self.capped and self.query.terms:
            return (
                f"Showing {self.ranked_at_most:,} of them: those with every word in the title "
                "or the lead paragraph first, from the whole archive, then the newest others. "
                "Add a word or a filter to narrow the search."
            )
        return None

    @property
    def page_label(self) -> str | None:
        return f"page {self.page} of {self.pages}" if self.pages > 1 else None

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def match_count(count: int) -> str:
    """ "1 release matches", "2 releases match": the start of a results heading."""
    return f"{count:,} release matches" if count == 1 else f"{count:,} releases match"
