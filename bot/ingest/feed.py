"""Fetching the feed: a polite conditional GET with hard limits on time, size and redirects.

Redirects are followed here, not by aiohttp, so that each `Location` is checked before it is
asked for: only within the site asked (its host, with or without `www.`) or to a host the
operator allows (FEED_ALLOWED_HOSTS), never from https down to http. Followed blindly, a
redirect to another host had its content announced as ISSCR news (issue 10).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import aiohttp

from bot import USER_AGENT
from bot.backoff import retry_after_seconds
from bot.models import FeedError, Fetched, Validators

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=90, connect=15, sock_connect=15, sock_read=30)
_ACCEPT = "application/rss+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"


def open_session(timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT) -> aiohttp.ClientSession:
    """The HTTP session used for every feed request: our User-Agent, our timeouts."""
    return aiohttp.ClientSession(
        timeout=timeout,
        headers={"User-Agent": USER_AGENT, "Accept": _ACCEPT},
        # A compressed body is checked against the cap after decompression too, so a
        # "zip bomb" gets no further than a plain huge body.
        auto_decompress=True,
    )


def is_remote(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https")


def site_host(host: str) -> str:
    """A host name as a site: `www.isscr.org` and `isscr.org` are one site."""
    return host.lower().rstrip(".").removeprefix("www.")


def redirect_problem(
    origin: str, previous: str, target: str, allowed_hosts: frozenset[str]
) -> str | None:
    """Why a redirect from `previous` to `target`, on the way from `origin` (the address
    asked for), is not followed; None when it is: within `origin`'s site or to an allowed
    host, and never from https down to http."""
    end = urlsplit(target)
    shown = target if len(target) <= 200 else target[:199] + "…"
    if end.scheme not in ("http", "https") or not end.hostname:
        return f"redirected to {shown}, which is not an http(s) address: not followed"
    if urlsplit(previous).scheme == "https" and end.scheme == "http":
        return (
            f"redirected from https to plain http ({shown}): not followed, as what comes "
            "back could have been changed on the way"
        )
    site = site_host(urlsplit(origin).hostname or "")
    if site_host(end.hostname) in {site, *map(site_host, allowed_hosts)}:
        return None
    return (
        f"redirected to another host, {end.hostname} ({shown}): not followed; if that host "
        "is the society's, add it to FEED_ALLOWED_HOSTS"
    )


async def fetch_feed(
    session: aiohttp.ClientSession,
    url: str,
    validators: Validators,
    *,
    max_bytes: int = MAX_BODY_BYTES,
    allowed_hosts: frozenset[str] = frozenset(),
) -> Fetched:
    """GET `url`, sending the stored validators; `Fetched.body` is None on 304 Not Modified.
    Redirects are followed within `url`'s site and to `allowed_hosts` only.

    Raises FeedError for every way the fetch can fail, with a reason fit for an admin.
    """
    if not is_remote(url):
        return await asyncio.to_thread(_read_file, Path(url), max_bytes)
    headers = {}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    target = url
    try:
        for _ in range(MAX_REDIRECTS + 1):
            fetched = await _get(session, target, headers, validators, max_bytes)
            if isinstance(fetched, Fetched):
                return fetched
            try:
                location = urljoin(target, fetched)
                problem = redirect_problem(url, target, location, allowed_hosts)
            except ValueError:  # e.g. an unclosed [ of an IPv6 address
                raise FeedError(f"redirected to {fetched[:200]!r}, not an address") from None
            if problem is not None:
                raise FeedError(problem)
            target = location
    except TimeoutError:
        raise FeedError("timed out waiting for the feed server") from None
    except aiohttp.ClientPayloadError as error:
        raise FeedError(f"response body broken off: {error}") from None
    except aiohttp.ClientError as error:
        raise FeedError(f"network error: {error.__class__.__name__}: {error}") from None
    raise FeedError(f"more than {MAX_REDIRECTS} redirects")


async def _get(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    validators: Validators,
    max_bytes: int,
) -> Fetched | str:
    """One GET of `url`: what it fetched, or the Location it redirects to."""
    async with session.get(url, headers=headers, allow_redirects=False) as response:
        if response.status in _REDIRECTS:
            location = response.headers.get("Location")
            if not location:
                raise FeedError(f"HTTP {response.status} redirect without a Location")
            return location
        if response.status == 304:
            return Fetched(body=None, url=str(response.url), validators=validators)
        if response.status != 200:
            raise FeedError(
                f"HTTP {response.status} {response.reason or ''}".strip(),
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                status=response.status,
            )
        body = await _read_capped(response, max_bytes)
        return Fetched(
            body=body,
            url=str(response.url),
            content_type=response.headers.get("Content-Type"),
            validators=Validators(
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
                body_hash=body_hash(body),
            ),
        )


# Squarespace opens every feed with `<!--Generated by Site-Server … on <now>-->`, so the raw
# bytes differ on every request even when nothing changed.
_LEADING_COMMENTS = re.compile(rb"\A\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)+", re.DOTALL)


def body_hash(body: bytes) -> str:
    """A hash of what the feed says, ignoring the comments before the document element."""
    match = _LEADING_COMMENTS.match(body[:4096])
    return hashlib.sha256(body[match.end() :] if match else body).hexdigest()


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise FeedError(f"body of {declared} bytes is over the {max_bytes}-byte limit")
    chunks: list[bytes] = []
    size = 0
    # Count while streaming: a server that sends no Content-Length (or lies) is cut off
    # as soon as it passes the cap, without buffering the rest.
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise FeedError(f"body is over the {max_bytes}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _read_file(path: Path, max_bytes: int) -> Fetched:
    try:
        with path.open("rb") as file:
            body = file.read(max_bytes + 1)
    except OSError as error:
        raise FeedError(f"cannot read {path}: {error.strerror}") from None
    if len(body) > max_bytes:
        raise FeedError(f"{path} is over the {max_bytes}-byte limit")
    return Fetched(body=body, url=path.as_uri(), validators=Validators(body_hash=body_hash(body)))
