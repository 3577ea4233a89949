"""A digest: one message listing the releases collected for a channel since its last one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.models import Release
from bot.search.results import RANKED_AT_MOST
from bot.slack.blocks.common import (
    context_block,
    counted,
    escape,
    fallback_text,
    release_context,
    section_block,
    titled,
)
from bot.slack.blocks.shapes import Announcement, Block
from bot.slack.markup import COMMAND

DIGEST_EVENT_TYPE = "isscr_news_digest"
# Releases listed, each as its linked title and a line of categories, date and author; the
# rest are counted ("…and 4 more"). Ten keep a digest readable on a phone, and far within a
# message's 50 blocks (two each, and three around them).
LISTED_AT_MOST = 10


def digest_message(releases: Sequence[Release], *, period: str) -> Announcement:
    """The digest of `releases` (newest first) for the period ending at `period` (its key, an
    ISO time with its offset, which its metadata carries so that a restart finds the message
    in the channel)."""
    shown = releases[:LISTED_AT_MOST]
    count = counted(len(releases), "new release")
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "ISSCR News digest"}},
        context_block(f"{count} since the last digest{_until(period)}"),
    ]
    for release in shown:
        blocks.append(section_block(titled(release)))
        blocks.append(release_context(release))
    if len(releases) > len(shown):
        blocks.append(section_block(_more(releases, len(releases) - len(shown))))
    return {
        "text": fallback_text(f"ISSCR News digest: {count}"),
        "blocks": blocks,
        "metadata": {"event_type": DIGEST_EVENT_TYPE, "event_payload": {"period": period}},
    }


def _until(period: str) -> str:
    """ ", to Mon 2 March 2026" in each reader's own time zone and language; nothing for a
    key that is no time."""
    try:
        end = datetime.fromisoformat(period)
    except ValueError:
        return ""
    if end.tzinfo is None:
        return ""
    shown = escape(end.strftime("%a %d %b %Y %H:%M").replace(" 0", " "))
    return f", to <!date^{int(end.timestamp())}^{{date_short_pretty}} at {{time}}|{shown}>"


def _more(releases: Sequence[Release], left: int) -> str:
    """ "…and 4 more": those not listed (the oldest), with the search of the days they were
    published, `after:` the first and `before:` the day after the last: it leaves out what
    was published later (the newest listed above, those published since the digest). It
    claims no more: a search shows RANKED_AT_MOST releases at most, and finds the releases of
    those days that went to other channels too."""
    dated = [release.published for release in releases[-left:] if release.published is not None]
    if len(dated) < left:  # a date filter leaves undated releases out: no search finds them
        return f"…and {left:,} more."
    first = min(dated).astimezone(UTC).date()
    after = max(dated).astimezone(UTC).date() + timedelta(days=1)
    search = f"`{COMMAND} after:{first.isoformat()} before:{after.isoformat()}`"
    if left > RANKED_AT_MOST:
        return (
            f"…and {left:,} more: {search} covers the days they were published; a search shows "
            f"{RANKED_AT_MOST:,} releases at most, so add words or a `category:` to narrow it."
        )
    return f"…and {left:,} more: {search} covers the days they were published."
