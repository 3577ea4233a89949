"""A release's fields, made alike from an RSS item (rss.py) and a JSON one (archive_page.py).

One post must give the same release from either source (the same id, title, link, categories
and text), or every RSS poll after a backfill would "update" it, or announce it again. So each
source only reads its own format into an `Item`, and the release is made here, once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

from bot.ingest import html_text
from bot.models import Release

# Squarespace's item id: the JSON archive's `id`, and the last part of the RSS guid
# (`websiteId:collectionId:itemId`). It is stable, so it is the identity shared by both.
_HEX_ID = "[0-9a-f]{24}"
ITEM_ID = re.compile(rf"^({_HEX_ID})$", re.IGNORECASE)
SQUARESPACE_GUID = re.compile(rf"^{_HEX_ID}:{_HEX_ID}:({_HEX_ID})$", re.IGNORECASE)

# Longer titles are cut (a whole post pasted into the title must not fill a Slack message).
TITLE_LENGTH = 500
UNTITLED = "(untitled)"
NEITHER_TITLE_NOR_LINK = "skipped, it has neither a title nor a link"
# A poll or an archive page logs at most this many item problems; health keeps the latest few.
LOGGED_PROBLEMS = 5

# What reading one item gives: its release (None: skipped), and what fallback it needed or
# why it was skipped (None: nothing to say).
Reading = tuple[Release | None, str | None]
_Entry = TypeVar("_Entry")


@dataclass(frozen=True)
class Item:
    """One item's fields as its source gives them, entities in plain text decoded."""

    key: str  # the item's own id (see `item_key`), '' when it has none
    title: str
    link: str | None  # absolute http(s) already (see `absolute`)
    html: str  # the post's text
    categories: list[str]
    author: str
    image_url: str | None
    date_seed: str  # the item's date as its source writes it: the identity of last resort


def item_key(value: str, shape: re.Pattern[str]) -> str:
    """`value` without surrounding spaces; its Squarespace item id, lowercased, when it has
    `shape` (ITEM_ID or SQUARESPACE_GUID), so the same post has one id in both sources."""
    value = value.strip()
    match = shape.match(value)
    return match.group(1).lower() if match else value


def release_of(item: Item, site: str, published: datetime | None, fallback: str | None) -> Reading:
    """The release of `item` found on `site`, dated `published`; skipped without a title and
    a link, as there is nothing to announce or find. `fallback` is passed on with it."""
    title = html_text.shorten(one_line(item.title), TITLE_LENGTH)
    if not title and item.link is None:
        return None, NEITHER_TITLE_NOR_LINK
    title = title or UNTITLED
    found = html_text.paragraphs(item.html)  # parsed once for excerpt and body
    release = Release(
        id=identity(item.key, item.link, title, item.date_seed),
        title=title,
        link=item.link or site,
        published=published,
        categories=categories(item.categories),
        author=one_line(item.author) or None,
        excerpt=html_text.excerpt(found),
        body="\n\n".join(found),
        image_url=item.image_url,
    )
    return release, fallback


def identity(key: str, link: str | None, title: str, date: str) -> str:
    """The item's own id, else its link, else a hash of its title and date."""
    if key:
        return key
    if link:
        return link
    seed = f"{title}\n{date}"
    return "sha1:" + hashlib.sha1(seed.encode()).hexdigest()


def categories(names: Iterable[str]) -> tuple[str, ...]:
    """Each name once (the first spelling of each, ignoring case), in order, on one line.
    Squarespace repeats each RSS <category> (see tests/data/sample-feed.rss)."""
    seen: dict[str, str] = {}
    for raw in names:
        name = one_line(raw)
        if name and name.casefold() not in seen:
            seen[name.casefold()] = name
    return tuple(seen.values())


def one_line(value: str) -> str:
    """`value` with every run of white space, line breaks included, made one space."""
    return " ".join(value.split())


def is_http(url: str) -> bool:
    """Whether `url` is an http(s) address with a host: one a member can open."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def absolute(url: str | None, base: str) -> str | None:
    """`url` resolved against `base`, or None unless it ends up an http(s) address."""
    if not url or not url.strip():
        return None
    resolved = urljoin(base, url.strip())
    return resolved if is_http(resolved) else None


def read_items(
    entries: Iterable[_Entry], read: Callable[[_Entry], Reading]
) -> tuple[list[Release], list[str]]:
    """The releases of `entries` in order, and a line for each item skipped or stored with a
    fallback. One bad item is not a broken feed: whatever it holds, the others are read
    (issue 10)."""
    releases: list[Release] = []
    problems: list[str] = []
    for number, entry in enumerate(entries, start=1):
        try:
            release, note = read(entry)
        except Exception as error:
            problems.append(f"item {number}: skipped, unreadable ({error.__class__.__name__})")
            continue
        if release is None:
            problems.append(f"item {number}: {note}")
            continue
        releases.append(release)
        if note:
            problems.append(f"item {number} (“{html_text.shorten(release.title, 60)}”): {note}")
    return releases, problems


def log_problems(log: logging.Logger, source: str, problems: list[str], where: str = "") -> None:
    """A warning for each of the first LOGGED_PROBLEMS `problems` of `source`'s items, and
    one line counting the rest: a feed of a thousand broken items must not flood the log."""
    for problem in problems[:LOGGED_PROBLEMS]:
        log.warning("%s item: %s", source, problem)
    if len(problems) > LOGGED_PROBLEMS:
        log.warning("%s items: %d more problems%s", source, len(problems) - LOGGED_PROBLEMS, where)
