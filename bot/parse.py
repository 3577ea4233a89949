"""Parsing a Squarespace RSS body into `Release`s with feedparser.

CPU-bound: the watcher calls `parse_feed` in a worker thread, off the event loop.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from bot import text
from bot.models import FeedError, Release

# Squarespace guids are `websiteId:collectionId:itemId`; the item part is stable and equals
# the JSON archive's `id`, so it is the identity shared by RSS and the archive.
_SQUARESPACE_GUID = re.compile(r"^[0-9a-f]{24}:[0-9a-f]{24}:([0-9a-f]{24})$", re.IGNORECASE)

# feedparser flags these on perfectly usable feeds (e.g. a local file has no Content-Type).
_HARMLESS_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


def parse_feed(body: bytes, url: str, content_type: str | None = None) -> list[Release]:
    """Every item of the feed `body` fetched from `url`, in feed order.

    Raises FeedError when the body is not a well-formed RSS/Atom feed: an HTML page,
    malformed XML, garbage. A partial parse is never returned, so a broken feed can
    never masquerade as "these are all the releases".
    """
    if not body.strip():
        raise FeedError("empty response body")
    headers = {"content-type": content_type} if content_type else None
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False)
    if not parsed.get("version"):
        if _looks_like_html(body, content_type):
            raise FeedError(
                "got an HTML page instead of a feed (check FEED_URL ends in ?format=rss)"
            )
        raise FeedError("response is not an RSS or Atom feed")
    problem = parsed.get("bozo_exception")
    if parsed.get("bozo") and not isinstance(problem, _HARMLESS_BOZO):
        line = getattr(problem, "getLineNumber", lambda: None)()
        where = f" at line {line}" if line else ""
        raise FeedError(f"malformed feed XML{where}: {problem}")
    site = parsed.feed.get("link") or url
    return [_release(entry, urljoin(url, site)) for entry in parsed.entries]


def _release(entry: Any, site: str) -> Release:
    found = text.paragraphs(_description(entry))  # parsed once for excerpt and body
    link = _absolute(entry.get("link"), site)
    title = text.shorten(_one_line(entry.get("title") or ""), 500) or "(untitled)"
    return Release(
        id=_identity(entry, link, title),
        title=title,
        link=link or site,
        published=_published(entry),
        categories=_categories(entry),
        author=_one_line(entry.get("author") or "") or None,
        excerpt=text.excerpt(found),
        body="\n\n".join(found),
        image_url=_image(entry, site),
    )


def _identity(entry: Any, link: str | None, title: str) -> str:
    """guid (its item part when Squarespace-shaped), else the link, else title + date."""
    guid = (entry.get("id") or "").strip()
    if guid:
        match = _SQUARESPACE_GUID.match(guid)
        return match.group(1).lower() if match else guid
    if link:
        return link
    seed = f"{title}\n{entry.get('published') or entry.get('updated') or ''}"
    return "sha1:" + hashlib.sha1(seed.encode()).hexdigest()


def _description(entry: Any) -> str:
    # Squarespace puts the full post in <description>; Atom feeds may use <content>.
    for content in entry.get("content") or ():
        if content.get("value"):
            return content["value"]
    return entry.get("summary") or ""


def _published(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)


def _categories(entry: Any) -> tuple[str, ...]:
    # Squarespace repeats each <category> (see sample-feed.rss): keep the first of each, in order.
    seen: dict[str, str] = {}
    for tag in entry.get("tags") or ():
        name = _one_line(tag.get("term") or "")
        if name and name.casefold() not in seen:
            seen[name.casefold()] = name
    return tuple(seen.values())


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
        url = _absolute(media.get("url") or media.get("href"), site)
        if url:
            return url
    return None


def _absolute(url: str | None, base: str) -> str | None:
    """`url` resolved against `base`, or None unless it ends up a plain http(s) URL."""
    if not url or not url.strip():
        return None
    resolved = urljoin(base, url.strip())
    return resolved if urlsplit(resolved).scheme in ("http", "https") else None


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _looks_like_html(body: bytes, content_type: str | None) -> bool:
    head = body.lstrip()[:512].lower()
    return (content_type or "").startswith("text/html") or head.startswith(
        (b"<!doctype html", b"<html")
    )
