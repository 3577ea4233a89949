"""The news archive: Squarespace's `?format=json` pages, walked back to the first release.

The RSS holds only the ~20 newest posts; the collection's JSON pages hold them all, newest
first, about 20 a page, each page pointing to the next by a publication time in epoch
milliseconds (`pagination.nextPageOffset`); tests/data/ has a sample page.

`parse_archive_page` is pure; `Backfill` fetches (politely: our User-Agent, a pause between
pages, retries with backoff, `Retry-After` honoured), parses and stores page by page. Each
page's releases and the offset of the next page are committed in one transaction, so a walk
interrupted at any moment — even by kill -9 — resumes where it stopped and stores nothing twice.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import html
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import aiohttp

from bot.backoff import backoff_delay
from bot.database import Database
from bot.ingest import html_text as text
from bot.ingest.dates import EARLIEST, FUTURE_SLACK, date_problem, from_epoch_ms
from bot.ingest.feed import fetch_feed
from bot.ingest.identity import recognise
from bot.models import FeedError, Release, Validators
from bot.store import Store

log = logging.getLogger(__name__)

# Releases published within this long before the last successful RSS poll are left to the
# feed watcher: it announces what is not stored yet, so storing them here could silence an
# announcement. The margin covers a post published just before a poll but not yet in the RSS.
# So are releases newer than the oldest one in the RSS at that poll: one of those not stored
# yet is new to the RSS too (e.g. backdated), and the watcher will announce it.
RECENT_MARGIN = 24 * 3600
# However long a server asks us to wait between two tries of one page, this is the most we
# wait in place; beyond it the walk stops (progress kept) and resumes later.
MAX_PAGE_WAIT = 300.0

# The item id is the last part of the RSS guid (rss.py lowercases it there too).
_ITEM_ID = re.compile(r"^[0-9a-f]{24}$", re.IGNORECASE)
# HTTP answers that will not change by asking again.
_PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 406, 410, 414, 451})
# A walk logs at most this many item problems a page; health keeps the latest few.
_LOGGED_PROBLEMS = 5
# How a walk ends when the archive is read to its end.
NORMAL_ENDS = ("last page", "empty page")


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


@dataclass(frozen=True)
class BackfillResult:
    """What one run of `Backfill` did (running totals while it runs)."""

    resumed_from: int | None = None  # the saved offset this run started at, if any
    pages: int = 0
    stored: int = 0  # releases new to the database
    already_stored: int = 0
    left_to_watcher: int = 0  # too recent: see RECENT_MARGIN
    reached: datetime | None = None  # the oldest publication date seen so far
    bad_items: int = 0  # items skipped or stored with a fallback
    finished: bool = False
    # Why the walk ended: one of NORMAL_ENDS, or what stopped it early (a repeated offset…).
    stop_reason: str | None = None

    def summary(self) -> str:
        """One line for a person: what was stored, what was left alone, what went wrong."""
        line = (
            f"{self.stored} new releases stored from {self.pages} pages"
            f"{f' (resumed at offset {self.resumed_from})' if self.resumed_from else ''}; "
            f"{self.already_stored} already stored"
        )
        if self.left_to_watcher:
            line += f"; {self.left_to_watcher} recent releases left to the feed watcher"
        if self.bad_items:
            line += f"; {self.bad_items} malformed items skipped or stored undated (see status)"
        if self.stop_reason not in (None, *NORMAL_ENDS):
            line += f"; stopped early: {self.stop_reason}"
        return line + "."


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
    site = base if isinstance(base, str) and _is_http(base) else page_url
    when = time.time() if now is None else now
    releases: list[Release] = []
    problems: list[str] = []
    for number, entry in enumerate(items, start=1):
        if not isinstance(entry, dict):
            problems.append(f"item {number}: skipped, {_shown(entry)} is not an item")
            continue
        try:
            release, note = _release(entry, site, when)
        except Exception as error:  # whatever one item holds, the others are still read
            problems.append(f"item {number}: skipped, unreadable ({error.__class__.__name__})")
            continue
        if release is None:
            problems.append(f"item {number}: {note}")
            continue
        releases.append(release)
        if note:
            problems.append(f"item {number} (“{text.shorten(release.title, 60)}”): {note}")
    next_offset, offset_problem = _next_offset(document.get("pagination"), when)
    return ArchivePage(releases, next_offset, problems, offset_problem, site)


def _release(entry: dict[str, Any], site: str, now: float) -> tuple[Release | None, str | None]:
    """The release of one JSON item (None: skipped), and what fallback it needed or why it
    was skipped (None: nothing to say)."""
    item = _Item(entry)
    # JSON text fields are HTML-escaped (&amp;, &#39;): decoded once here; the HTML ones are
    # decoded by text.paragraphs. Slack escaping happens later, in blocks.py.
    found = text.paragraphs(item.text("body") or item.text("excerpt"))
    link = _absolute(item.text("fullUrl"), site)
    title = text.shorten(_one_line(html.unescape(item.text("title"))), 500)
    if not title and link is None:
        return None, "skipped, it has neither a title nor a link"
    title = title or "(untitled)"
    published, fallback = _published(entry, now)
    release = Release(
        id=_identity(item.text("id"), link, title, published),
        title=title,
        link=link or site,
        published=published,
        categories=_categories(item.names("categories")),
        author=_one_line(html.unescape(item.author())) or None,
        excerpt=text.excerpt(found),
        body="\n\n".join(found),
        image_url=_absolute(item.text("assetUrl"), site),
    )
    notes = [f"{wrong}: left out" for wrong in item.wrong]
    return release, "; ".join([*notes, *([fallback] if fallback else [])]) or None


class _Item:
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


def _identity(item_id: str, link: str | None, title: str, when: datetime | None) -> str:
    """The same identity rss.py gives the RSS item: the item id, else link, else a hash."""
    item_id = item_id.strip()
    if item_id:
        return item_id.lower() if _ITEM_ID.match(item_id) else item_id
    if link:
        return link
    seed = f"{title}\n{when.isoformat() if when else ''}"
    return "sha1:" + hashlib.sha1(seed.encode()).hexdigest()


def _published(entry: dict[str, Any], now: float) -> tuple[datetime | None, str | None]:
    """`publishOn`, else `addedOn`, and the fallback taken when neither is believable: the
    release is stored undated then, as from the RSS (rss.py says why)."""
    broken = []
    for key in ("publishOn", "addedOn"):
        millis = entry.get(key)
        if millis is None:
            continue
        when = None
        if isinstance(millis, int | float) and not isinstance(millis, bool):
            # Whole seconds, as in the RSS pubDate: the same release must give the same row
            # from either source, or every RSS poll after a backfill would "update" it.
            when = from_epoch_ms(millis)
        problem = "is not a date" if when is None else date_problem(when, now=now)
        if problem is None:
            return when, None
        broken.append(f"{key} {_shown(millis)} {problem}")
    return None, f"{'; '.join(broken)}: stored undated" if broken else None


def _categories(names: list[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for raw in names:
        name = _one_line(html.unescape(raw))
        if name and name.casefold() not in seen:
            seen[name.casefold()] = name
    return tuple(seen.values())


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
    return text.shorten(json.dumps(value, ensure_ascii=False, default=str), 40)


# json.loads turns an escaped pair into one character, so a surrogate left over is a lone one,
# which SQLite cannot store (UTF-8 has no encoding for it).
_SURROGATE = re.compile("[\ud800-\udfff]")


def _string(value: object) -> str:
    return _SURROGATE.sub("\ufffd", value) if isinstance(value, str) else ""


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _is_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _absolute(url: str, base: str) -> str | None:
    if not url.strip():
        return None
    resolved = urljoin(base, url.strip())
    return resolved if _is_http(resolved) else None


class Backfill:
    """Walks the archive from the saved offset (or the first page) to its end, storing what
    the database lacks. Never queues an announcement."""

    def __init__(
        self,
        db: Database,
        session: aiohttp.ClientSession,
        *,
        archive_url: str,
        pause: float = 1.0,
        attempts: int = 4,
        retry_base: float = 2.0,
        retry_cap: float = 60.0,
        on_page: Callable[[BackfillResult], None] = lambda progress: None,
        clock: Callable[[], float] = time.time,
        allowed_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.db = db
        self.session = session
        self.archive_url = archive_url
        self.pause = pause
        self.attempts = attempts
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.on_page = on_page
        self.clock = clock
        # Hosts besides the archive's own site that a redirect may lead to (FEED_ALLOWED_HOSTS).
        self.allowed_hosts = allowed_hosts

    async def run(self) -> BackfillResult:
        """Walk to the end. Raises ArchiveError once a page has failed every attempt (or
        permanently); the failure is recorded and the next run resumes at that page."""
        offset = await self.db.write(
            lambda store: store.start_archive(self.archive_url, now=self.clock())
        )
        result = BackfillResult(resumed_from=offset)
        if offset is not None:
            log.info("archive backfill resuming at offset %d", offset)
        seen: set[int | None] = set()
        while True:
            seen.add(offset)
            page = await self._fetch_page(archive_page_url(self.archive_url, offset))
            stop_reason = None
            if not page.releases and not page.problems:
                stop_reason = "empty page"
            elif page.offset_problem is not None:
                stop_reason = f"the next page cannot be asked for: {page.offset_problem}"
            elif page.next_offset is None:
                stop_reason = "last page"
            elif page.next_offset in seen:
                # A server that points back to a page already read would keep us forever.
                stop_reason = f"repeated offset {page.next_offset}"
            elif offset is not None and page.next_offset > offset:
                # Each page goes back in time; one that does not could keep us going forever.
                stop_reason = (
                    f"next-page offset {page.next_offset} is not older than this page's {offset}"
                )
            if stop_reason not in (None, *NORMAL_ENDS):
                log.warning("archive walk stopped at offset %s: %s", offset, stop_reason)
            result = await self.db.write(
                functools.partial(self._save, page, result, offset=offset, stop_reason=stop_reason)
            )
            self.on_page(result)
            if result.finished:
                if result.stored:
                    # Written page by page, the index is in many pieces; one piece makes every
                    # search read one b-tree per word (about a third faster on a big archive).
                    await self.db.write(lambda store: store.tidy_search_index())
                return result
            offset = page.next_offset
            await asyncio.sleep(self.pause)

    def _save(
        self,
        page: ArchivePage,
        so_far: BackfillResult,
        store: Store,
        *,
        offset: int | None,
        stop_reason: str | None,
    ) -> BackfillResult:
        now = self.clock()
        finished = stop_reason is not None
        stored = already = recent = 0
        where = "first page" if offset is None else f"page at offset {offset}"
        problems = [f"{where}, {problem}" for problem in page.problems]
        # One transaction: the page's releases and the next offset land together, so a kill
        # between pages loses nothing and a kill during one re-reads only that page.
        with store.transaction():
            # Read inside the transaction: a poll that succeeded a moment ago counts.
            cutoff = self._recent_cutoff(store)
            recognised = recognise(store, page.releases, site=page.site)
            known = recognised.known
            # This page's releases are older than its offset; as the walk goes on, older
            # still than each dated one read.
            older_than = offset / 1000 if offset is not None else None
            for release in recognised.releases:
                if release.published is not None:
                    seconds = release.published.timestamp()
                    older_than = seconds if older_than is None else min(older_than, seconds)
                if release.id in known:
                    # The RSS (or an earlier walk) stored it: its row is at least as good.
                    already += 1
                elif cutoff is not None and (
                    release.published.timestamp() > cutoff
                    if release.published is not None
                    # Undated (its date broken): the watcher's only while the walk is still
                    # among releases the feed may show; past them, it is an old one.
                    else older_than is None or older_than > cutoff
                ):
                    recent += 1
                else:
                    store.save_release(release, source="archive", now=now)
                    known.add(release.id)
                    stored += 1
            store.record_archive_page(
                self.archive_url,
                next_offset=None if finished else page.next_offset,
                stored=stored,
                recent=recent,
                finished=finished,
                problems=problems,
                stop_reason=stop_reason,
                now=now,
            )
        for problem in problems[:_LOGGED_PROBLEMS]:
            log.warning("archive item: %s", problem)
        if len(problems) > _LOGGED_PROBLEMS:
            log.warning(
                "archive items: %d more problems on this page", len(problems) - _LOGGED_PROBLEMS
            )
        dates = [release.published for release in page.releases]
        reached = min(filter(None, [*dates, so_far.reached]), default=None)
        log.debug(
            "archive page %d: %d releases, %d stored", so_far.pages + 1, len(page.releases), stored
        )
        return replace(
            so_far,
            pages=so_far.pages + 1,
            stored=so_far.stored + stored,
            already_stored=so_far.already_stored + already,
            left_to_watcher=so_far.left_to_watcher + recent,
            bad_items=so_far.bad_items + len(problems),
            reached=reached,
            finished=finished,
            stop_reason=stop_reason,
        )

    def _recent_cutoff(self, store: Store) -> float | None:
        """Releases published after this are left to the watcher; None before any poll (the
        first poll only sets a baseline, it announces nothing new)."""
        last_poll = store.latest_poll_success()
        if last_poll is None:
            return None
        window = store.feed_window_start()
        cutoff = last_poll - RECENT_MARGIN
        return min(cutoff, window) if window is not None else cutoff

    async def _fetch_page(self, url: str) -> ArchivePage:
        """One page, tried up to `attempts` times on 429s, 5xx, timeouts and network errors."""
        attempt = 0
        while True:
            attempt += 1
            try:
                # No validators: every page is needed whole, whatever was fetched before.
                fetched = await fetch_feed(
                    self.session, url, Validators(), allowed_hosts=self.allowed_hosts
                )
                if fetched.body is None:
                    raise ArchiveError("unexpected 304 Not Modified")
                return await asyncio.to_thread(
                    parse_archive_page,
                    fetched.body,
                    fetched.url,
                    fetched.content_type,
                    now=self.clock(),
                )
            except FeedError as error:
                problem = ArchiveError(
                    error.failure.reason,
                    permanent=error.status in _PERMANENT_STATUSES,
                    retry_after=error.failure.retry_after,
                )
            except ArchiveError as error:
                problem = error
            wait = backoff_delay(attempt, base=self.retry_base, cap=self.retry_cap)
            if problem.retry_after is not None:
                wait = max(wait, problem.retry_after)
            if problem.permanent or attempt >= self.attempts or wait > MAX_PAGE_WAIT:
                tries = f"after {attempt} attempts" if attempt > 1 else "not retried"
                reason = f"{problem.reason} (page {url}, {tries})"
                await self.db.write(
                    lambda store, reason=reason: store.record_archive_failure(
                        self.archive_url, reason, now=self.clock()
                    )
                )
                raise ArchiveError(
                    reason, permanent=problem.permanent, retry_after=problem.retry_after
                )
            log.warning(
                "archive page failed (%s); attempt %d of %d in %.1f s",
                problem.reason,
                attempt + 1,
                self.attempts,
                wait,
            )
            await asyncio.sleep(wait)
