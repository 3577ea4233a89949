"""Parsing a Squarespace RSS body into `Release`s with feedparser.

CPU-bound: the watcher calls `parse_feed` in a worker thread, off the event loop.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from bot.ingest.dates import first_believable, from_struct
from bot.ingest.fields import (
    SQUARESPACE_GUID,
    Item,
    Reading,
    absolute,
    item_key,
    one_line,
    read_items,
    release_of,
)
from bot.ingest.html_text import shorten
from bot.models import FeedError, Parsed


def parse_feed(
    body: bytes, url: str, content_type: str | None = None, *, now: float | None = None
) -> Parsed:
    """Every item of the feed `body` fetched from `url`, in feed order, and what was wrong
    with the items skipped or stored with a fallback (`now` judges the dates).

    Raises FeedError when the body is not a well-formed RSS/Atom feed: an HTML page,
    malformed XML, garbage. A partial parse is never returned, so a broken feed can
    never masquerade as "these are all the releases". One bad item is not a broken feed:
    it is skipped or given a fallback, and the others are read (issue 10).
    """
    # Imported here, in the worker thread of the first poll: it would add a twentieth of a
    # second to every start before /healthz answers.
    import feedparser

    if not body.strip():
        raise FeedError("empty response body")
    headers = {"content-type": content_type} if content_type else None
    try:
        parsed = feedparser.parse(
            _valid_char_refs(body), response_headers=headers, sanitize_html=False
        )
    except Exception as error:  # feedparser's own bugs on hostile input: a failed poll
        raise FeedError(f"the feed could not be parsed ({error.__class__.__name__})") from None
    if not parsed.get("version"):
        if _looks_like_html(body, content_type):
            raise FeedError(
                "got an HTML page instead of a feed (check FEED_URL ends in ?format=rss)"
            )
        raise FeedError("response is not an RSS or Atom feed")
    problem = parsed.get("bozo_exception")
    # feedparser flags these on perfectly usable feeds (a local file has no Content-Type).
    harmless = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
    if parsed.get("bozo") and not isinstance(problem, harmless):
        line = getattr(problem, "getLineNumber", lambda: None)()
        where = f" at line {line}" if line else ""
        raise FeedError(f"malformed feed XML{where}: {problem}")
    site = urljoin(url, parsed.feed.get("link") or url)
    when = time.time() if now is None else now
    releases, problems = read_items(parsed.entries, lambda entry: _release(entry, site, when))
    return Parsed(releases, problems, site)


# XML allows only these characters (XML 1.0 § 2.2). A reference to any other, e.g. a lone
# surrogate `&#xD800;`, makes feedparser fall back to its loose parser, which then crashes on
# it: one character in one item stopped every poll. It becomes U+FFFD, as HTML parsers do.
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,16})|([0-9]{1,20}));")


def _valid_char_refs(body: bytes) -> bytes:
    if b"&#" not in body:
        return body

    def checked(match: re.Match[bytes]) -> bytes:
        code = int(match[1], 16) if match[1] else int(match[2])
        allowed = code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF
        allowed = allowed or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF
        return match[0] if allowed else b"&#xFFFD;"

    return _CHAR_REF.sub(checked, body)


def _release(entry: Any, site: str, now: float) -> Reading:
    """The release of one feed item, and what fallback it needed (see fields.release_of)."""
    published, fallback = first_believable(_dates(entry), now=now)
    item = Item(
        key=item_key(entry.get("id") or "", SQUARESPACE_GUID),
        title=entry.get("title") or "",
        link=absolute(entry.get("link"), site),
        html=_description(entry),
        categories=[tag.get("term") or "" for tag in entry.get("tags") or ()],
        author=entry.get("author") or "",
        image_url=_image(entry, site),
        date_seed=entry.get("published") or entry.get("updated") or "",
    )
    return release_of(item, site, published, fallback)


def _description(entry: Any) -> str:
    # Squarespace puts the full post in <description>; Atom feeds may use <content>.
    for content in entry.get("content") or ():
        value: str = content.get("value") or ""
        if value:
            return value
    return entry.get("summary") or ""


def _dates(entry: Any) -> Iterator[tuple[str, datetime | None]]:
    """The item's publication date, then its Atom updated date, each as shown to an admin
    and as a datetime (None: not a date)."""
    for key in ("published", "updated"):
        if key not in entry:  # not .get, which maps a missing `updated` to the pubDate
            continue
        parsed = entry.get(f"{key}_parsed")
        shown = f"date “{shorten(one_line(str(entry.get(key))), 40)}”"
        yield shown, from_struct(parsed) if parsed else None


def _image(entry: Any, site: str) -> str | None:
    candidates = [*(entry.get("media_content") or ()), *(entry.get("media_thumbnail") or ())]
    candidates += [
        link
        for link in entry.get("links") or ()
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/")
    ]
    for media in candidates:
        # Squarespace CDN image URLs often have no file extension, so trust `medium` over names.
        if media.get("medium") not in (None, "image"):
            continue
        url = absolute(media.get("url") or media.get("href"), site)
        if url:
            return url
    return None


def _looks_like_html(body: bytes, content_type: str | None) -> bool:
    head = body.lstrip()[:512].lower()
    return (content_type or "").startswith("text/html") or head.startswith(
        (b"<!doctype html", b"<html")
    )
