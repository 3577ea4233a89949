"""A digest: one message listing the releases collected for a channel since its last one."""

from __future__ import annotations

from collections.abc import Sequence

from bot.models import Release
from bot.slack.blocks.common import (
    MAX_SECTION_TEXT,
    counted,
    fallback_text,
    release_context,
    section_block,
    titled,
)
from bot.slack.blocks.shapes import Announcement, Block

DIGEST_EVENT_TYPE = "isscr_news_digest"
LISTED_AT_MOST = 10  # releases shown in full; the rest are counted ("and 4 more")


def digest_message(releases: Sequence[Release], *, period: str) -> Announcement:
    """The digest of `releases` (newest first) for the period ending at `period` (its key,
    which its metadata carries so that a restart finds the message in the channel)."""
    shown = releases[:LISTED_AT_MOST]
    blocks: list[Block] = [
        section_block(f"*ISSCR News digest:* {counted(len(releases), 'new release')}")
    ]
    for release in shown:
        blocks.append(section_block(titled(release)[:MAX_SECTION_TEXT]))
        blocks.append(release_context(release))
    if len(releases) > len(shown):
        blocks.append(section_block(f"…and {len(releases) - len(shown)} more"))
    return {
        "text": fallback_text(f"ISSCR News digest: {counted(len(releases), 'new release')}"),
        "blocks": blocks,
        "metadata": {"event_type": DIGEST_EVENT_TYPE, "event_payload": {"period": period}},
    }
