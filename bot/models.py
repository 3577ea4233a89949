"""Plain data passed between fetch, parse, store and announce, and every row the store reads."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

# Slack ID shapes: channels (C…, older private ones G…) and users (U…, Enterprise Grid W…).
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
# Any conversation a message can be in: a channel, or a direct message (D…).
CONVERSATION_ID = re.compile(r"^[CDG][A-Z0-9]{6,}$")
# Workspaces (teams, T…).
TEAM_ID = re.compile(r"^T[A-Z0-9]{2,}$")

# The workspace of single-workspace mode (its token in the environment), as rows record it.
# In distribution mode each row names its workspace's team ID instead.
SINGLE_WORKSPACE = ""
# The audit log's author of the day's count of members' alerts saved and removed: members, in
# aggregate (who changed their alerts, and how, is theirs).
MEMBERS = "members"


# What a delivery posts: a release announced in a channel; a release sent to a member whose
# alert it matched (`channel`: their user ID); a digest of the releases collected for a
# channel (`period`: the end of the period it covers; `release_id`: the newest it lists); a
# release a member shared from a search (posted at once, recorded sent, for corrections); an
# update of an earlier message (`target_id`) to a release's `revision`.
ANNOUNCE, ALERT, DIGEST, SHARE, UPDATE = "announce", "alert", "digest", "share", "update"


class Place(NamedTuple):
    """A channel of one workspace: where a delivery goes. Channel IDs alone do not say it: a
    channel shared between two workspaces (Slack Connect) has the same ID in both."""

    team: str
    channel: str


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


@dataclass(frozen=True)
class Delivery:
    id: int
    release_id: str
    channel: str
    state: str
    attempts: int
    due_at: float
    sending_since: float | None  # the first try whose outcome is unknown
    last_error: str | None
    last_attempt_at: float | None = None  # the latest try
    team: str = SINGLE_WORKSPACE
    # What it posts (see bot.store.deliveries: ANNOUNCE, ALERT, DIGEST, SHARE, UPDATE); an
    # alert's `channel` is its member's user ID, and `conversation` their DM, once known.
    kind: str = ANNOUNCE
    conversation: str | None = None
    about: str | None = None  # an alert: the queries it matched (JSON list); a share: who
    target_id: int | None = None  # an update: the delivery whose message it updates
    period: str | None = None  # a digest: the end of the period it covers

    @property
    def place(self) -> Place:
        return Place(self.team, self.channel)

    @property
    def where(self) -> str:
        """The channel, for the log: with its workspace in distribution mode."""
        return f"{self.team}/{self.channel}" if self.team else self.channel


@dataclass(frozen=True)
class Message:
    """A message the bot posted (an announcement, alert, share or digest), as an update of
    it needs it: where it is, its ts, what it was, and what it showed (`releases`: a digest's,
    newest first; else the one release)."""

    delivery: Delivery
    ts: str
    releases: tuple[Release, ...]

    @property
    def conversation(self) -> str:
        return self.delivery.conversation or self.delivery.channel


@dataclass(frozen=True)
class FeedStatus:
    url: str
    validators: Validators
    last_poll_at: float | None
    last_success_at: float | None
    last_error: str | None
    last_error_at: float | None
    failures: int
    # Items of the latest parsed body that were skipped or stored with a fallback.
    bad_items: int = 0
    bad_item_examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class Held:
    """Deliveries held back for an admin: how many releases and posts, and why."""

    releases: int
    posts: int
    reason: str | None


# How a route's channel receives its releases: each as it appears, or in a digest.
IMMEDIATE, DAILY, WEEKLY = "immediate", "daily", "weekly"


@dataclass(frozen=True)
class Schedule:
    """When a route's digest goes out: every day at `hour`, or every week on `weekday` (0 is
    Monday) at `hour`, in the IANA time zone `tz` (see bot/schedule.py)."""

    mode: str  # DAILY or WEEKLY
    hour: int
    tz: str
    weekday: int | None = None  # WEEKLY's


@dataclass(frozen=True)
class Route:
    channel: str
    categories: tuple[str, ...]  # empty: every category
    updated_at: float
    updated_by: str
    team: str = SINGLE_WORKSPACE
    schedule: Schedule | None = None  # None: each release as it appears (IMMEDIATE)


# An alert's words, as the index holds them: for each part (a word, a phrase, its categories),
# the ways a release may match it, each the texts it must all hold, each text a run of words
# that must stand in a row. "embryo" is ((("embryo",),),); "iPSC" is ((("ipsc",),),
# (("induc", "pluripot", "stem", "cell"),)): the acronym, or its long form as a phrase.
Text = tuple[str, ...]
Words = tuple[tuple[tuple[Text, ...], ...], ...]


@dataclass(frozen=True)
class Alert:
    """A member's saved query (see bot.store.alerts): theirs alone."""

    id: int
    team: str
    user_id: str
    query: str  # as the member sees it, in canonical form
    match: str | None  # `words` as FTS5 (the record of what it means); None: no words
    authors: tuple[str, ...]  # parts of author names, folded (any of them); () for any author
    words: Words  # what a release must hold of the index's words, as matching reads them
    created_at: float
    paused: str | None = None  # why its member cannot be messaged (Slack's error)
    paused_at: float | None = None


@dataclass(frozen=True)
class Change:
    at: float
    user_id: str
    action: str
    detail: str


@dataclass(frozen=True)
class Installation:
    """A workspace that installed the app (distribution mode), as the store keeps it: the bot
    token still encrypted (see `bot.slack.tokens`)."""

    team: str
    enterprise_id: str | None
    team_name: str | None
    app_id: str | None
    bot_user_id: str | None
    bot_id: str | None
    bot_scopes: str | None
    encrypted_token: str = field(repr=False)
    installer: str | None
    installed_at: float


@dataclass(frozen=True)
class Holder:
    """A process that may hold leases. Besides the host and PID, its boot and PID namespace say
    whether that PID can be looked up from another process at all."""

    owner: str  # unique to one Outbox of one process
    host: str
    pid: int
    boot_id: str | None = None
    pid_ns: str | None = None
    started: int | None = None  # the process's start time, in clock ticks after boot


@dataclass(frozen=True)
class Lease:
    """Who may post to a channel, until when."""

    holder: Holder
    expires_at: float


# How an archive walk ends when nothing went wrong; any other stop reason is worth a notice.
NORMAL_ENDS = ("last page", "empty page")


@dataclass(frozen=True)
class ArchiveStatus:
    url: str
    state: str
    next_offset: int | None  # where an unfinished walk resumes; None: at the first page
    pages: int
    stored: int
    recent: int  # releases left to the feed watcher
    started_at: float | None
    finished_at: float | None
    last_error: str | None
    last_error_at: float | None
    failures: int  # failed runs in a row
    planned: bool  # a walk was asked for (plan_archive) or started, at some point
    bad_items: int = 0  # items of this walk skipped or stored with a fallback
    bad_item_examples: tuple[str, ...] = ()  # the latest few
    stop_reason: str | None = None  # why the last walk ended (see NORMAL_ENDS)


@dataclass
class SlackConnection:
    """Whether the Socket Mode connection is up, since when, and the last reason it was not."""

    connected: bool = False
    since: float = field(default_factory=time.time)
    last_error: str | None = None

    def up(self) -> None:
        if not self.connected:
            self.connected, self.since = True, time.time()

    def down(self, reason: str) -> None:
        if self.connected:
            self.connected, self.since = False, time.time()
        self.last_error = reason
