"""Announcements in a channel: a new release, its minimal form for when Slack refuses the full
one, a test announcement, and a release a member shared from their search results."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.models import USER_ID, Release
from bot.search.grammar import normal
from bot.slack.blocks.common import (
    MAX_ALT_TEXT,
    MAX_TITLE,
    MAX_URL,
    MAX_VALUE,
    fallback_text,
    marked_pieces,
    plain_field,
    release_context,
    safe_url,
    section_block,
    titled,
    truncate,
)
from bot.slack.blocks.shapes import Announcement, Block, Message, MessageMetadata

EVENT_TYPE = "isscr_news_item"
READ_ACTION_ID = "read_release"
_WORD = re.compile(r"[^\W_]+")


def announcement_blocks(release: Release, *, with_image: bool = True) -> list[Block]:
    """An announcement: title as link, excerpt, image, labels, and a button to the site."""
    section: Block = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": titled(release, marked_pieces(release.excerpt))},
    }
    image_url = safe_url(release.image_url or "") if with_image else ""
    if 0 < len(image_url) <= MAX_URL:
        section["accessory"] = {
            "type": "image",
            "image_url": image_url,
            "alt_text": plain_field(release.title, MAX_ALT_TEXT, otherwise="Cover image"),
        }
    blocks = [section, release_context(release)]
    url = safe_url(release.link)
    if 0 < len(url) <= MAX_URL:  # else the title's link is left off too (see titled)
        button: Block = {
            "type": "button",
            "action_id": READ_ACTION_ID,
            "text": {"type": "plain_text", "text": "Read on isscr.org"},
            "url": url,
        }
        if 0 < len(release.id) <= MAX_VALUE:  # only informative: the button opens the link
            button["value"] = release.id
        blocks.append({"type": "actions", "elements": [button]})
    return blocks


def announcement_text(release: Release) -> str:
    """The notification and screen-reader fallback for an announcement: "ISSCR Policy: title",
    or the title alone when it starts with one of its categories already ("ISSCR Statement
    on …", never "ISSCR Statement: ISSCR Statement on …")."""
    title = release.title
    if _names_a_category_first(title, release.categories):
        # It says what it is; and who from, unless it says that too ("The ISSCR's Policy…").
        return fallback_text(title if "isscr" in _words(title, 3) else f"ISSCR: {title}")
    labels = truncate(", ".join(release.categories), MAX_TITLE)
    prefix = f"ISSCR {labels}" if labels else "ISSCR News"
    return fallback_text(f"{prefix}: {title}")


def trial_text(release: Release) -> str:
    """The notification of a test announcement: marked as a test from its first word."""
    return f"Test: {announcement_text(release)}"


def _stem(word: str) -> str:
    """A rough English singular: "statements" → "statement", "policies" → "policy"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _words(text: str, limit: int = 12) -> list[str]:
    """The first `limit` words of `text` as compared: case and accents folded, stemmed."""
    return [_stem(normal(word)) for word in _WORD.findall(text[:500])[:limit]]


def _names_a_category_first(title: str, categories: Sequence[str]) -> bool:
    """Whether `title` starts with one of `categories` (any case, singular or plural), after
    "The" or "ISSCR" / "ISSCR's"."""
    starts = [words := _words(title)]
    while words and words[0] in ("the", "isscr"):
        words = words[2:] if words[:2] == ["isscr", "s"] else words[1:]
        starts.append(words)
    names = [named for category in categories if (named := _words(category))]
    return any(start[: len(named)] == named for start in starts for named in names)


def announcement(release: Release, *, with_image: bool = True) -> Announcement:
    """The announcement of `release` as the outbox posts it (see `announcement_blocks`)."""
    return {
        "text": announcement_text(release),
        "blocks": announcement_blocks(release, with_image=with_image),
        "metadata": announcement_metadata(release),
    }


def announcement_metadata(release: Release) -> MessageMetadata:
    """Message metadata that lets a restart find its own post in the channel's history."""
    return {"event_type": EVENT_TYPE, "event_payload": {"item_id": release.id}}


def minimal_announcement(release: Release) -> Announcement:
    """An announcement Slack cannot refuse whatever the release holds: no blocks at all, only
    the escaped title linked to the release (or alone, when the link is too long to be one),
    within every limit, with the metadata that lets a restart find it. For when Slack refuses
    the full announcement as malformed."""
    return {"text": titled(release), "metadata": announcement_metadata(release)}


def shared_message(release: Release, user_id: str) -> Message:
    """A release a member shared from their search results, as it is posted."""
    return {"text": announcement_text(release), "blocks": shared_blocks(release, user_id)}


def shared_blocks(release: Release, user_id: str, *, with_image: bool = True) -> list[Block]:
    """An announcement posted because a member shared it from their search results."""
    note = {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f"Shared by {_member(user_id, 'a member')}"}],
    }
    return [*announcement_blocks(release, with_image=with_image), note]


def just_shared_text(user_id: str) -> str:
    """The answer to Share when another member shared the same release here a moment ago."""
    return f"{_member(user_id, 'Another member')} shared this release here a moment ago."


def _member(user_id: str, otherwise: str) -> str:
    # Only a real user ID becomes a mention: anything else could smuggle in <!channel>.
    return f"<@{user_id}>" if USER_ID.match(user_id) else otherwise


def trial_message(release: Release, user_id: str) -> Message:
    """A test announcement of `release` sent by the admin `user_id`, as it is posted."""
    return {"text": trial_text(release), "blocks": trial_blocks(release, user_id)}


def trial_blocks(release: Release, user_id: str) -> list[Block]:
    """A test announcement: first what it is and who sent it, where everyone reads it, then
    the latest release in the real format."""
    who = f"<@{user_id}>" if USER_ID.fullmatch(user_id) else "an admin"
    note = (
        f"🧪 *Test announcement* sent by {who} — not a new release. New ISSCR releases will "
        "appear here like this:"
    )
    return [section_block(note), *announcement_blocks(release)]
