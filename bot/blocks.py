"""Block Kit payloads, as pure functions of plain data.

Every piece of feed or user text passes through `escape` before it reaches mrkdwn, so a title
can never ping @channel, mention a user or disguise a link: Slack only treats `<…>` as a
mention or link, and `&lt;`/`&gt;` are shown as the characters themselves.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bot.models import Release

EVENT_TYPE = "isscr_news_item"
READ_ACTION_ID = "read_release"

Block = dict[str, Any]

# Limits from https://api.slack.com/reference/block-kit
_MAX_SECTION_TEXT = 3000
_MAX_CONTEXT_TEXT = 2000
_MAX_URL = 3000


def escape(text: str) -> str:
    """Escape `&`, `<` and `>` for mrkdwn (and for `text` fields, which Slack parses alike)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_url(url: str) -> str:
    """`url` with the characters that would end or split a `<url|label>` link percent-encoded."""
    return quote(url, safe="/:?#[]@!$&'()*+,;=%~-._")


def link(url: str, label: str) -> str:
    """A mrkdwn link whose label is shown literally."""
    return f"<{safe_url(url)}|{escape(label)}>"


def slack_date(release: Release) -> str | None:
    """The publication date, shown in each reader's own locale and time zone."""
    if release.published is None:
        return None
    fallback = release.published.strftime("%d %b %Y").lstrip("0")
    return f"<!date^{int(release.published.timestamp())}^{{date}}|{fallback}>"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def release_context(release: Release, *, extra: str | None = None) -> Block:
    """Categories · date · author, as one small grey line."""
    parts = []
    if release.categories:
        parts.append(" · ".join(f"*{escape(name)}*" for name in release.categories))
    if (date := slack_date(release)) is not None:
        parts.append(date)
    if release.author:
        parts.append(escape(release.author))
    if extra:
        parts.append(extra)
    text = "  |  ".join(parts) or "ISSCR News"
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _truncate(text, _MAX_CONTEXT_TEXT)}],
    }


def announcement_blocks(release: Release, *, with_image: bool = True) -> list[Block]:
    """An announcement: title as link, excerpt, image, labels, and a button to the site."""
    body = f"*{link(release.link, release.title)}*"
    if release.excerpt:
        body += "\n" + escape(release.excerpt)
    section: Block = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": _truncate(body, _MAX_SECTION_TEXT)},
    }
    if with_image and release.image_url and len(release.image_url) <= _MAX_URL:
        section["accessory"] = {
            "type": "image",
            "image_url": release.image_url,
            "alt_text": _truncate(release.title, 2000),
        }
    blocks = [section, release_context(release)]
    if len(release.link) <= _MAX_URL:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": READ_ACTION_ID,
                        "text": {"type": "plain_text", "text": "Read on isscr.org"},
                        "url": safe_url(release.link),
                        "value": release.id[:2000],
                    }
                ],
            }
        )
    return blocks


def announcement_text(release: Release) -> str:
    """The notification and screen-reader fallback for an announcement."""
    labels = ", ".join(release.categories)
    prefix = f"ISSCR {labels}" if labels else "ISSCR News"
    return escape(f"{prefix}: {release.title}")


def announcement_metadata(release: Release) -> dict[str, Any]:
    """Message metadata that lets a restart find its own post in the channel's history."""
    return {"event_type": EVENT_TYPE, "event_payload": {"item_id": release.id}}


def latest_blocks(releases: list[Release]) -> list[Block]:
    """A compact list of releases (for `/isscr-news` with no words)."""
    if not releases:
        return [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "No ISSCR releases stored yet: the first feed poll has not finished. "
                    "Try again in a minute.",
                },
            }
        ]
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Latest ISSCR news"}}
    ]
    for release in releases:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*{link(release.link, release.title)}*"},
            }
        )
        blocks.append(release_context(release))
    return blocks


def help_blocks(command: str) -> list[Block]:
    """Usage of the slash command."""
    text = (
        f"*{escape(command)}* shows the latest ISSCR press releases, policy letters and "
        f"statements.\n• `{escape(command)}` — the 5 latest releases\n"
        f"• `{escape(command)} help` — this message"
    )
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def unknown_words_blocks(command: str, words: str) -> list[Block]:
    """The answer to words the command does not understand: say so, then show the usage."""
    shown = escape(words if len(words) <= 200 else words[:199] + "…")
    note = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": f"I don't understand “{shown}”."},
    }
    return [note, *help_blocks(command)]


def home_view(releases: list[Release], command: str) -> dict[str, Any]:
    """The App Home tab: the latest releases and how to ask for more."""
    intro = {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": "New ISSCR press releases, policy letters and statements are announced in "
            f"this workspace as they appear. Type `{escape(command)}` in any channel for the "
            "latest ones.",
        },
    }
    return {"type": "home", "blocks": [*latest_blocks(releases), {"type": "divider"}, intro]}
