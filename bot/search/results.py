"""What a search found, one page of it, and hints when it found nothing: plain data that each
surface (Slack, the terminal) shows its own way."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.models import Found
from bot.search.grammar import MAX_QUERY_CHARS, Hint, Query

# A query matching more releases than this shows this many, best first, and says so.
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
    # How the query was read, when not as typed: words corrected, as (typed, read as), and
    # words left out (as typed) because no release has them with the rest.
    corrected: tuple[tuple[str, str], ...] = ()
    dropped: tuple[str, ...] = ()
    partial: bool = False  # each result has most of the words, none all of them

    @property
    def instead(self) -> str | None:
        """The query as typed, with its corrected words quoted so that they are searched as
        typed: what "search instead for" runs. None when nothing was corrected, or when the
        quotes would make it longer than a query may be."""
        if not self.corrected:
            return None
        typed = {word for word, _ in self.corrected}
        instead = " ".join(
            [
                f'"{term.text}"' if term.text in typed and not term.phrase else term.describe()
                for term in self.query.terms
            ]
            + self.query.described_filters()
        )
        return instead if len(instead) <= MAX_QUERY_CHARS else None

    @property
    def adjustments(self) -> tuple[Hint, ...]:
        """What a member should know about how the query was read: corrections (with the
        query to run instead) and words left out."""
        notes = []
        read_as = dict(self.corrected)
        kept = [term for term in self.query.terms if term.describe() not in self.dropped]
        if any(term.describe() in read_as for term in kept):
            shown = " ".join(read_as.get(term.describe(), term.describe()) for term in kept)
            instead = self.instead
            notes.append(
                Hint("Showing results for ", shown, ". Search instead for ", instead)
                if instead is not None
                else Hint("Showing results for ", shown, ".")
            )
        # As typed, without the quotes of a quoted word or phrase.
        left_out = " and ".join("“" + word.strip('"') + "”" for word in self.dropped)
        if self.partial:
            none_has = f"; none has {left_out}" if self.dropped else ""
            notes.append(
                Hint(
                    "No release has every word of your search: showing those with the most "
                    f"of them{none_has}."
                )
            )
        elif self.dropped:
            notes.append(
                Hint(f"No release has every word of your search: showing those without {left_out}.")
            )
        return tuple(notes)

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
        if self.capped and self.query.terms:
            return (
                f"Showing the newest {self.ranked_at_most:,}, those with your words in the "
                "title first. Add a word or a filter to narrow the search."
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
