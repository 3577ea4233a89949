"""Marking the words a search matched, in a release's excerpt or a snippet of its body.

The marks are the index's own matches: the texts shown are tokenized, stemmed and matched by
FTS5 with the same tokenizer and the same expressions as the search (`Store.marked`), so a word
is bold exactly when the index found it ("approval" bolds "approved", "noted" bolds no "not").
Only the few texts shown are marked, so marking costs the same at any size of archive.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.models import Found, Release
from bot.store import MARK_CLOSE, MARK_OPEN, Store

__all__ = ["MARK_CLOSE", "MARK_OPEN", "marked"]


def marked(store: Store, releases: Sequence[Release], match: str | None) -> list[Found]:
    """Each release with its excerpt marked where `match` (an FTS5 expression of words) found
    some; else, unless its title has a match, a marked snippet of its body where it found some
    there; else as it is."""
    if match is None or not releases:
        return [Found(release) for release in releases]
    texts = store.marked([(r.title, r.excerpt, r.body) for r in releases], match)
    return [
        Found(release, lead or snippet)
        for release, (lead, snippet) in zip(releases, texts, strict=True)
    ]
