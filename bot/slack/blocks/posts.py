"""Every message the outbox sends, by the kind of its delivery, and the same message once its
release was corrected: the one place that knows which builder makes which message."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.models import ALERT, DIGEST, SHARE, Release
from bot.slack.blocks.alerts import alert_message
from bot.slack.blocks.announcement import (
    announcement,
    announcement_text,
    minimal_announcement,
    shared_blocks,
)
from bot.slack.blocks.common import context_block, escape, section_block
from bot.slack.blocks.digest import digest_message
from bot.slack.blocks.shapes import Announcement, MessageMetadata

SHARE_EVENT_TYPE = "isscr_news_share"
# How a correction's note names what changed (the release's fields, as the store says them).
_CHANGED = {
    "title": "title",
    "excerpt": "summary",
    "categories": "categories",
    "image_url": "image",
}


def post_message(
    kind: str,
    releases: Sequence[Release],
    *,
    about: str | None = None,
    period: str | None = None,
    with_image: bool = True,
    minimal: bool = False,
) -> Announcement:
    """The message of a delivery of `kind` showing `releases` (a digest's, newest first; else
    the one release): `about` is an alert's queries (a JSON list) or who shared it; `period`
    a digest's. `minimal`: a form Slack cannot refuse (text and metadata only)."""
    release = releases[0]
    if kind == DIGEST:
        return digest_message(releases, period=period or "")
    if kind == ALERT:
        queries = _strings(about)
        return alert_message(release, queries, with_image=with_image, minimal=minimal)
    if kind == SHARE:
        # Not an announcement's metadata: a restart looking for its own post of the release
        # in the channel must not take a member's share for it.
        metadata: MessageMetadata = {
            "event_type": SHARE_EVENT_TYPE,
            "event_payload": {"item_id": release.id},
        }
        if minimal:
            return {**minimal_announcement(release), "metadata": metadata}
        return {
            "text": announcement_text(release),
            "blocks": shared_blocks(release, about or "", with_image=with_image),
            "metadata": metadata,
        }
    if minimal:
        return minimal_announcement(release)
    return announcement(release, with_image=with_image)


def corrected(message: Announcement, changed: str | None, at: float) -> Announcement:
    """`message` rebuilt from its corrected release, with a small note saying it was updated
    (`changed`: the fields that changed, a JSON list, when known)."""
    names = [_CHANGED.get(name, name) for name in _strings(changed)]
    what = f" ({', '.join(names)})" if names else ""
    day = datetime.fromtimestamp(at, UTC)
    date = f"<!date^{int(at)}^{{date_short}}|{day:%d %b %Y}>"
    note = context_block(f":pencil2: Updated {date}: ISSCR corrected this release{escape(what)}.")
    # A minimal message is its text alone: shown in a section, above the note.
    blocks = message.get("blocks") or [section_block(message["text"])]
    return {**message, "blocks": [*blocks, note]}


def _strings(about: str | None) -> list[str]:
    """A JSON list of strings stored with a delivery (an alert's queries, what a correction
    changed); [] when missing or not one."""
    try:
        value = json.loads(about) if about else []
    except ValueError:
        return []
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
