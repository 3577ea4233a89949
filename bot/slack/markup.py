"""Slack text in and out: the slash command's name, and the channel mentions Slack sends.

(The decoding of Slack's escaping, `unescaped`, joins this module: for now it is still
`bot.query.unescaped`.)
"""

from __future__ import annotations

import re

from bot.models import CHANNEL_ID

COMMAND = "/isscr-news"

# How Slack sends a channel picked with # when the command has `should_escape`: <#C123|name>.
_CHANNEL_MENTION = re.compile(rf"^<#({CHANNEL_ID.pattern[1:-1]})(?:\|[^>]*)?>$")
_ANY_CHANNEL_MENTION = re.compile(rf"<#{CHANNEL_ID.pattern[1:-1]}(?:\|[^>]*)?>")


def channel_id(text: str) -> str | None:
    """The channel ID in `<#C123|name>` (what Slack sends for #name) or a bare ID; None when
    `text` is neither."""
    text = text.strip()
    match = _CHANNEL_MENTION.match(text)
    if match:
        return match.group(1)
    return text if CHANNEL_ID.match(text) else None


def mentions_channel(text: str) -> bool:
    """Whether `text` names a channel anywhere, as Slack sends one."""
    return _ANY_CHANNEL_MENTION.search(text) is not None
