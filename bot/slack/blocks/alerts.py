"""A member's alert: a release that matched one of their saved queries, sent to them alone."""

from __future__ import annotations

from collections.abc import Sequence

from bot.models import Release
from bot.slack.blocks.announcement import (
    announcement_blocks,
    announcement_metadata,
    announcement_text,
)
from bot.slack.blocks.common import MAX_CONTEXT_TEXT, context_block, escaped_pieces, fit, titled
from bot.slack.blocks.shapes import Announcement
from bot.slack.markup import COMMAND


def alert_message(
    release: Release, queries: Sequence[str], *, with_image: bool = True, minimal: bool = False
) -> Announcement:
    """The direct message of `release` to a member whose alerts for `queries` it matched;
    its metadata is an announcement's, which lets a restart find it in the DM's history."""
    quoted = ", ".join(f"“{query}”" for query in queries) or "one of your alerts"
    note = fit(
        escaped_pieces(f"Matches your alert {quoted}. Manage your alerts: {COMMAND} alerts"),
        MAX_CONTEXT_TEXT,
    )
    if minimal:
        return {"text": titled(release), "metadata": announcement_metadata(release)}
    return {
        "text": announcement_text(release),
        "blocks": [*announcement_blocks(release, with_image=with_image), context_block(note)],
        "metadata": announcement_metadata(release),
    }
