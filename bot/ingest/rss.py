"""Parsing a Squarespace RSS body into `Release`s with feedparser.

CPU-bound: the watcher calls `parse_feed` in a worker thread, off the event loop.
"""

from __future__ import annotations

import hashlib
import re
import time
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from bot.ingest import html_text as text
from bot.ingest.dates import date_problem, from_struct
from bot.models import FeedError, Parsed, Release

# Squarespace guids are `websiteId:collectionId:itemId`; the item part is stable and equals
# the JSON archive's `id`, so it is the identity shared by RSS and the archive.
_SQUARESPACE_GUID = re.compile(r"^[0-9a-f]{24}:[0-9a-f]{24}:([0-9a-f]{24})$", re.IGNORECASE)

# feedparser flags these on perfectly usable feeds (e.g. a local file has no Content-Type).
_HARMLESS_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


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
    if parsed.get("bozo") and not isinstance(problem, _HARMLESS_BOZO):
        line = getattr(problem, "getLineNumber", lambda: None)()
        where = f" at line {line}" if line else ""
        raise FeedError(f"malformed feed XML{where}: {problem}")
    site = urljoin(url, parsed.feed.get("link") or url)
    when = time.time() if now is None else now
    releases: list[Release] = []
    problems: list[str] = []
    for number, entry in enumerate(parsed.entries, start=1):
        try:
            release, fallback = _release(entry, site, when)
        except Exception as error:  # whatever one item holds, the others are still read
            problems.append(f"item {number}: skipped, unreadable ({error.__class__.__name__})")
            continue
        if release is None:
            problems.append(f"item {number}: skipped, it has neither a title nor a link")
            continue
        releases.append(release)
        if fallback:
            problems.append(f"item {number} (“{text.shorten(release.title, 60)}”): {fallback}")
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


def _release(entry: Any, site: str, now: float) -> tuple[Release | None, str | None]:
    """The release of one feed item (None: nothing to announce or find, without a title or
    a link), and what fallback it needed (None: none)."""
    found = text.paragraphs(_description(entry))  # parsed once for excerpt and body
    link = _absolute(entry.get("link"), site)
    title = text.shorten(_one_line(entry.get("title") or ""), 500)
    if not title and link is None:
        return None, None
    title = title or "(untitled)"
    published, fallback = _published(entry, now)
    release = Release(
        id=_identity(entry, link, title),
        title=title,
        link=link or site,
        published=published,
        categories=_categories(entry),
        author=_one_line(entry.get("author") or "") or None,
        excerpt=text.excerpt(found),
        body="\n\n".join(found),
        image_url=_image(entry, site),
    )
    return release, fallback


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


def _published(entry: Any, now: float) -> tuple[datetime | None, str | None]:
    """The item's publication date, else its Atom updated date, and the fallback taken when
    neither is believable. A broken date leaves the release undated rather than skipped: its
    title, link and text are sound, members should hear of it and find it, and undated it
    sorts as the oldest, moves no feed window and is never "the newest" of a flood."""
    broken = []
    for key in ("published", "updated"):
        if key not in entry:  # not .get, which maps a missing `updated` to the pubDate
            continue
        parsed = entry.get(f"{key}_parsed")
        when = from_struct(parsed) if parsed else None
        problem = "is not a date" if when is None else date_problem(when, now=now)
        if problem is None:
            return when, None
        broken.append(f"date “{text.shorten(_one_line(str(entry.get(key))), 40)}” {problem}")
    return None, f"{'; '.join(broken)}: stored undated" if broken else None


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
