"""Slack text in and out: the slash command's name, the channel mentions Slack sends, and
Slack's escaping decoded into what the member sees. Nothing else reads Slack's escaping or its
`<…>` markup, so the search grammar and the routing rules get plain text."""

from __future__ import annotations

import re

from bot.models import CHANNEL_ID

COMMAND = "/isscr-news"

# With `should_escape`, Slack sends <@U123|name>, <#C123|name>, <https://x|label> and <!here>.
_SLACK_MARKUP = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
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


def from_slack(text: str) -> str:
    """What the member typed, from a slash command's escaped `text`.

    Links, mentions and channels become their visible label; `&amp;`, `&lt;` and `&gt;` are
    decoded once, so "R&D" is searched as typed.
    """
    return unescaped(_SLACK_MARKUP.sub(lambda m: m.group(2) or m.group(1).lstrip("@#!"), text))


def unescaped(text: str) -> str:
    """`text` with the three characters Slack escapes (and nothing else) decoded once
    (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
