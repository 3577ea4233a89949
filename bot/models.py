"""Plain data passed between fetch, parse, store and announce."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

# Slack ID shapes: channels (C…, older private ones G…) and users (U…, Enterprise Grid W…).
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
# Any conversation a message can be in: a channel, or a direct message (D…).
CONVERSATION_ID = re.compile(r"^[CDG][A-Z0-9]{6,}$")


@dataclass(frozen=True)
class Release:
    """One ISSCR news post, as the bot stores and announces it."""

    id: str
    title: str
    link: str
    published: datetime | None = None
    categories: tuple[str, ...] = ()
    author: str | None = None
    excerpt: str = ""
    body: str = ""  # the whole post as plain text, kept for search
    image_url: str | None = None


@dataclass(frozen=True)
class FeedFailure:
    """Why a poll failed; `retry_after` is the server's own wish, in seconds, when it sent one."""

    reason: str
    retry_after: float | None = None


class FeedError(Exception):
    """A fetch or parse failure that the watcher records and retries."""

    def __init__(
        self, reason: str, retry_after: float | None = None, *, status: int | None = None
    ) -> None:
        super().__init__(reason)
        self.failure = FeedFailure(reason, retry_after)
        self.status = status  # the HTTP status, when the server answered with an error


@dataclass(frozen=True)
class Validators:
    """What a conditional GET sends back to the server, and the hash of the last body."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None


@dataclass(frozen=True)
class Fetched:
    """A feed body, or `body=None` when the server answered 304 Not Modified."""

    body: bytes | None
    url: str
    content_type: str | None = None
    validators: Validators = field(default_factory=Validators)


@dataclass(frozen=True)
class Found:
    """One search result: the release and its text with the matched words marked."""

    release: Release
    marked_excerpt: str | None = None  # None when nothing in the excerpt or body matched


@dataclass(frozen=True)
class Parsed:
    """A feed body's releases in feed order, one line for each item skipped or stored with a
    fallback, and the site's own address (a release linking there has no link of its own)."""

    releases: list[Release]
    problems: list[str] = field(default_factory=list)
    site: str | None = None
