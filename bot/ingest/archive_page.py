"""One page of the news archive: Squarespace's `?format=json`, read into `Release`s.

The RSS holds only the ~20 newest posts; the collection's JSON pages hold them all, newest
first, about 20 a page, each page pointing to the next by a publication time in epoch
milliseconds (`pagination.nextPageOffset`); tests/data/ has a sample page. Reading a page is
pure and CPU-bound: the backfill (archive.py) fetches the pages and calls this in a thread.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot.ingest.dates import EARLIEST, FUTURE_SLACK, first_believable, from_epoch_ms
from bot.ingest.fields import (
    ITEM_ID,
    Item,
    Reading,
    absolute,
    is_http,
    item_key,
    read_items,
    release_of,
)
from bot.ingest.html_text import shorten
from bot.models import Release


class ArchiveError(Exception):
    """Reading the archive failed; `permanent` when trying again cannot help until fixed."""

    def __init__(
        self, reason: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class ArchivePage:
    """One JSON page: its releases in page order, and the offset of the next page."""

    releases: list[Release]
    next_offset: int | None  # None: no next page, or none to follow (see offset_problem)
    problems: list[str] = field(default_factory=list)  # items skipped or given a fallback
    offset_problem: str | None = None  # why the next page the server named is not followed
    site: str | None = None  # the site's own address (see Parsed.site)


def archive_page_url(archive_url: str, offset: int | None) -> str:
    """The archive URL with `offset` set (or removed for the first page), other params kept."""
    parts = urlsplit(archive_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "offset"]
    if offset is not None:
        query.append(("offset", str(offset)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def parse_archive_page(
    body: bytes, page_url: str, content_type: str | None = None, *, now: float | None = None
) -> ArchivePage:
    """The releases of one `?format=json` page fetched from `page_url`, and the next offset
    (`now` judges dates and offsets).

    Raises ArchiveError for anything that is not a Squarespace collection page; an HTML page
    (the path does not support format=json) or JSON of another shape is `permanent`. One
    hostile item is not a broken page: it is skipped or given a fallback (issue 10).
    """
    if not body.strip():
        raise ArchiveError("empty response body")
    head = body.lstrip()[:512].lower()
    if (content_type or "").startswith("text/html") or head.startswith((b"<!doctype", b"<html")):
        raise ArchiveError(
            "got an HTML page instead of JSON (check ARCHIVE_URL: the news collection's "
            "address ending in ?format=json)",
            permanent=True,
        )
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise ArchiveError(f"response is not valid JSON: {error}") from None
    items = document.get("items") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ArchiveError(
            "JSON without an items list (check ARCHIVE_URL points to the news collection)",
            permanent=True,
        )
    # fullUrl is site-relative; the site's own origin keeps links identical to the RSS's
    # even when the page came through another host.
    website = document.get("website")
    base = website.get("baseUrl") if isinstance(website, dict) else None
    site = base if isinstance(base, str) and is_http(base) else page_url
    when = time.time() if now is None else now
    releases, problems = read_items(items, lambda entry: _release(entry, site, when))
    next_offset, offset_problem = _next_offset(document.get("pagination"), when)
    return ArchivePage(releases, next_offset, problems, offset_problem, site)


def _release(entry: object, site: str, now: float) -> Reading:
    """The release of one JSON item (None: skipped), and what fallback it needed or why it
    was skipped (None: nothing to say)."""
    if not isinstance(entry, dict):
        return None, f"skipped, {_shown(entry)} is not an item"
    published, fallback = first_believable(_dates(entry), now=now)
    fields = _Fields(entry)
    # JSON text fields are HTML-escaped (&amp;, &#39;): decoded once here; the HTML ones are
    # decoded by html_text.paragraphs. Slack escaping happens later, in bot/slack/blocks/common.py.
    item = Item(
        html=fields.text("body") or fields.text("excerpt"),
        link=absolute(fields.text("fullUrl"), site),
        title=html.unescape(fields.text("title")),
        key=item_key(fields.text("id"), ITEM_ID),
        categories=[html.unescape(name) for name in fields.names("categories")],
        author=html.unescape(fields.author()),
        image_url=absolute(fields.text("assetUrl"), site),
        date_seed=published.isoformat() if published else "",
    )
    notes = [f"{wrong}: left out" for wrong in fields.wrong]
    return release_of(
        item, site, published, "; ".join([*notes, *([fallback] if fallback else [])]) or None
    )


class _Fields:
    """One JSON item's fields, read with their types checked: a field of the wrong type (a
    number for a title, a string for the categories) is left out of the release and noted."""

    def __init__(self, entry: dict[str, Any]) -> None:
        self.entry = entry
        self.wrong: list[str] = []

    def text(self, key: str) -> str:
        value = self.entry.get(key)
        if value is not None and not isinstance(value, str):
            self.wrong.append(f"{key} {_shown(value)} is not text")
        return _string(value)

    def names(self, key: str) -> list[str]:
        value = self.entry.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            self.wrong.append(f"{key} {_shown(value)} is not a list of names")
            return []
        return [_string(name) for name in value]

    def author(self) -> str:
        author = self.entry.get("author")
        name = author.get("displayName") if isinstance(author, dict) else None
        if author is not None and not isinstance(name, str | None):
            self.wrong.append(f"author {_shown(author)} has no name as text")
        elif author is not None and not isinstance(author, dict):
            self.wrong.append(f"author {_shown(author)} is not an author")
        return _string(name)


def _dates(entry: dict[str, Any]) -> Iterator[tuple[str, datetime | None]]:
    """`publishOn`, then `addedOn`, each as shown to an admin and as a datetime (None: not a
    date): a release whose dates are both broken is stored undated, as from the RSS."""
    for key in ("publishOn", "addedOn"):
        millis = entry.get(key)
        if millis is None:
            continue
        when = None
        if isinstance(millis, int | float) and not isinstance(millis, bool):
            # Whole seconds, as in the RSS pubDate: the same release must give the same row
            # from either source, or every RSS poll after a backfill would "update" it.
            when = from_epoch_ms(millis)
        yield f"{key} {_shown(millis)}", when


def _next_offset(pagination: object, now: float) -> tuple[int | None, str | None]:
    """`nextPageOffset`, else the offset in `nextPageUrl` (None on the last page), or why the
    offset given cannot be followed. An offset is the publication time, in epoch
    milliseconds, that the next page's releases are older than: anything else (1e20, -5,
    "abc", 1.5) would ask for nonsense, or overflow SQLite's integers when saved."""
    if not isinstance(pagination, dict) or pagination.get("nextPage") is False:
        return None, None
    offset = pagination.get("nextPageOffset")
    if offset is None and isinstance(pagination.get("nextPageUrl"), str):
        offset = dict(parse_qsl(urlsplit(pagination["nextPageUrl"]).query)).get("offset")
    if offset is None:
        return None, "a next page without an offset" if pagination.get("nextPage") else None
    number = _whole_number(offset)
    if number is None:
        return None, f"next-page offset {_shown(offset)} is not a whole number"
    latest = (now + FUTURE_SLACK.total_seconds()) * 1000
    if not EARLIEST.timestamp() * 1000 <= number <= latest:
        return None, f"next-page offset {number} is not a time between {EARLIEST:%Y} and now"
    return number, None


def _whole_number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None  # False for inf and nan too
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,20}", value.strip()):
        return int(value)
    return None


def _shown(value: object) -> str:
    """A JSON value as an admin reads it in a problem, kept short."""
    return shorten(json.dumps(value, ensure_ascii=False, default=str), 40)


# json.loads turns an escaped pair into one character, so a surrogate left over is a lone one,
# which SQLite cannot store (UTF-8 has no encoding for it).
_SURROGATE = re.compile("[\ud800-\udfff]")


def _string(value: object) -> str:
    return _SURROGATE.sub("\ufffd", value) if isinstance(value, str) else ""
