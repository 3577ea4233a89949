"""Slack's text as it arrives, decoded into what the member sees: nothing else reads Slack's
escaping or its `<…>` markup, so the search grammar and the routing rules get plain text."""

from __future__ import annotations

import re

# With `should_escape`, Slack sends <@U123|name>, <#C123|name>, <https://x|label> and <!here>.
_SLACK_MARKUP = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


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
