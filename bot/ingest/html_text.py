"""Turning a post's HTML into plain text: paragraphs for search, a short excerpt for Slack."""

from __future__ import annotations

import re
from html.parser import HTMLParser

EXCERPT_LENGTH = 300

# Tags that end one paragraph and start another.
_BLOCK_TAGS = frozenset(
    "address article aside blockquote dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table td th tr ul".split()
)
# Tags whose content is never reader-visible text.
_HIDDEN_TAGS = frozenset("script style noscript template head title svg".split())
_SPACES = re.compile(r"\s+")


class _Paragraphs(HTMLParser):
    def __init__(self) -> None:
        # convert_charrefs decodes &amp;, &#8217; … exactly once.
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._current: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden_depth += 1
        elif tag == "br":
            self._current.append(" ")
        elif tag in _BLOCK_TAGS:
            self._flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._current.append(" ")
        elif tag in _BLOCK_TAGS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self._current.append(data)

    def _flush(self) -> None:
        text = _SPACES.sub(" ", "".join(self._current)).strip()
        if text:
            self.paragraphs.append(text)
        self._current = []

    def close(self) -> None:
        super().close()
        self._flush()


def paragraphs(html: str) -> list[str]:
    """The visible text of `html`, one string per paragraph, entities decoded, spaces collapsed."""
    parser = _Paragraphs()
    parser.feed(html)
    parser.close()
    return parser.paragraphs


def shorten(text: str, limit: int = EXCERPT_LENGTH) -> str:
    """Cut `text` to at most `limit` characters at a word boundary, marking the cut with '…'."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.-–—") + "…"


def excerpt(found: list[str], limit: int = EXCERPT_LENGTH) -> str:
    """The first of a post's `paragraphs`, at most about `limit` characters."""
    return shorten(found[0], limit) if found else ""
