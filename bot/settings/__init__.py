"""Configuration, read once from the environment (and a `.env` file) into one frozen object.

Nothing else in the bot reads `os.environ`. Every problem found is reported at once, in one
`SettingsError` whose lines each name a variable and the fix; the CLI prints them and exits with
code 2, so an operator fixes them all in one round.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot.models import CHANNEL_ID, USER_ID

DEFAULT_FEED_URL = "https://www.isscr.org/isscr-news?format=rss"
DEFAULT_ARCHIVE_URL = "https://www.isscr.org/isscr-news?format=json"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
MIN_QUIET_POLL_INTERVAL = 60
DEFAULT_DELIVERY_LEASE = 60.0

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


_T = TypeVar("_T")


class SettingsError(Exception):
    """Missing or malformed settings; each line of `str()` names one variable and its fix."""

    def __init__(self, variable: str, problem: str, fix: str) -> None:
        self.variables: tuple[str, ...] = (variable,)
        self.lines: tuple[str, ...] = (f"{variable} {problem}: {fix}",)
        super().__init__(self.lines[0])

    @property
    def variable(self) -> str:
        return self.variables[0]

    @classmethod
    def combined(cls, errors: Sequence[SettingsError]) -> SettingsError:
        """All of `errors` as one, a line each, in the order they were found."""
        error = cls.__new__(cls)
        error.variables = tuple(name for each in errors for name in each.variables)
        error.lines = tuple(line for each in errors for line in each.lines)
        Exception.__init__(error, "\n".join(error.lines))
        return error


class _Problems:
    """Collects every settings problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.found: list[SettingsError] = []

    def check(self, read: Callable[[], _T], fallback: _T) -> _T:
        """`read()`, or `fallback` once its problem is noted: the other checks still run."""
        try:
            return read()
        except SettingsError as error:
            self.found.append(error)
            return fallback

    def reported(self, variable: str) -> bool:
        return any(variable in error.variables for error in self.found)

    def raise_any(self) -> None:
        if self.found:
            raise SettingsError.combined(self.found)


@dataclass(frozen=True)
class Settings:
    # Secrets stay out of repr() and str(): settings end up in logs and tracebacks.
    slack_bot_token: str | None = field(repr=False)
    slack_app_token: str | None = field(repr=False)
    slack_signing_secret: str | None = field(repr=False)
    slack_api_url: str
    feed_url: str
    database_path: Path
    poll_interval: float
    announce_channel: str | None
    announce_existing: int
    port: int
    port_is_explicit: bool
    # None: the command's own default (INFO for `run`; one-shot commands print a summary).
    log_level: str | None
    # The news collection's JSON pages, for the backfill; None when FEED_URL is a local file
    # and ARCHIVE_URL is unset (there is no archive to read then).
    archive_url: str | None = None
    # Users who may configure the bot besides the workspace's admins and owners.
    admin_user_ids: frozenset[str] = frozenset()
    # How long a process stalled while holding channels keeps them from another process.
    delivery_lease: float = DEFAULT_DELIVERY_LEASE
    # Hosts a redirect of the feed or the archive may lead to, besides their own site.
    feed_allowed_hosts: frozenset[str] = frozenset()

    @property
    def socket_mode(self) -> bool:
        """Socket Mode is chosen by the presence of an app-level token."""
        return self.slack_app_token is not None

    def warnings(self) -> list[str]:
        """Accepted but questionable values, logged once logging is set up."""
        if self.poll_interval < MIN_QUIET_POLL_INTERVAL:
            return [
                f"POLL_INTERVAL={self.poll_interval:g} is below {MIN_QUIET_POLL_INTERVAL} seconds: "
                "fine for tests, impolite to isscr.org"
            ]
        return []

    def in_mode(self, mode: str) -> Settings:
        """These settings for a forced connection mode: "http", "socket", or "auto" (by token)."""
        if mode == "http":
            return replace(self, slack_app_token=None)
        if mode == "socket" and self.slack_app_token is None:
            raise SettingsError(
                "SLACK_APP_TOKEN",
                "is not set but Socket Mode was asked for",
                "create an app-level token with connections:write under Basic Information "
                "→ App-Level Tokens",
            )
        return self

    def require_slack(self, *, serve: bool = True) -> None:
        """Check what posting (and, with `serve`, answering Slack's requests) needs, on top of
        the format checks `from_env` already made."""
        problems = _Problems()
        self._require_slack(problems, serve=serve)
        problems.raise_any()

    def _require_slack(self, problems: _Problems, *, serve: bool) -> None:
        if self.slack_bot_token is None and not problems.reported("SLACK_BOT_TOKEN"):
            problems.found.append(
                SettingsError(
                    "SLACK_BOT_TOKEN",
                    "is not set",
                    "copy the Bot User OAuth Token (xoxb-…) from your app's OAuth & Permissions "
                    "page",
                )
            )
        if (
            serve
            and not self.socket_mode
            and self.slack_signing_secret is None
            and not problems.reported("SLACK_APP_TOKEN")
        ):
            problems.found.append(
                SettingsError(
                    "SLACK_SIGNING_SECRET",
                    "is not set",
                    "copy it from your app's Basic Information page, "
                    "or set SLACK_APP_TOKEN to use Socket Mode instead",
                )
            )

    def _require_archive(self, problems: _Problems) -> None:
        if self.archive_url is None and not (
            problems.reported("FEED_URL") or problems.reported("ARCHIVE_URL")
        ):
            problems.found.append(
                SettingsError(
                    "ARCHIVE_URL",
                    "is not set and FEED_URL is a local file, so there is no archive to read",
                    f"set ARCHIVE_URL, e.g. to {DEFAULT_ARCHIVE_URL}",
                )
            )

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        mode: str = "auto",
        require_slack: bool = False,
        serve: bool = False,
        require_archive: bool = False,
    ) -> Settings:
        """Parse and validate every variable (blank values count as unset), then what `mode`,
        `require_slack` and `require_archive` need; every problem found is in the one
        SettingsError raised."""
        values = {k: v.strip() for k, v in env.items() if v is not None and v.strip()}
        problems = _Problems()
        check = problems.check

        bot_token = check(
            lambda: _token(
                values, "SLACK_BOT_TOKEN", "xoxb-", "your app's OAuth & Permissions page"
            ),
            None,
        )
        app_token = check(
            lambda: _token(
                values, "SLACK_APP_TOKEN", "xapp-", "Basic Information → App-Level Tokens"
            ),
            None,
        )
        feed_url = check(lambda: _feed_url(values), DEFAULT_FEED_URL)
        settings = cls(
            slack_bot_token=bot_token,
            slack_app_token=app_token,
            slack_signing_secret=values.get("SLACK_SIGNING_SECRET"),
            slack_api_url=check(lambda: _slack_api_url(values), DEFAULT_SLACK_API_URL),
            feed_url=feed_url,
            database_path=check(lambda: _database_path(values), Path("isscr-news.db")),
            poll_interval=check(lambda: _number(values, "POLL_INTERVAL", 300, minimum=1), 300.0),
            announce_channel=check(lambda: _channel(values, "ANNOUNCE_CHANNEL"), None),
            announce_existing=int(
                check(lambda: _number(values, "ANNOUNCE_EXISTING", 0, minimum=0, integer=True), 0.0)
            ),
            port=check(lambda: _port(values), 3000),
            port_is_explicit="PORT" in values,
            log_level=check(lambda: _log_level(values), None),
            archive_url=check(lambda: _archive_url(values, feed_url), None),
            admin_user_ids=check(lambda: _user_ids(values, "ADMIN_USER_IDS"), frozenset()),
            delivery_lease=check(
                lambda: _number(
                    values, "DELIVERY_LEASE_SECONDS", DEFAULT_DELIVERY_LEASE, minimum=2
                ),
                DEFAULT_DELIVERY_LEASE,
            ),
            feed_allowed_hosts=check(
                lambda: _host_names(values, "FEED_ALLOWED_HOSTS"), frozenset()
            ),
        )
        if not problems.reported("SLACK_APP_TOKEN"):
            settings = check(lambda: settings.in_mode(mode), settings)
        if require_slack:
            settings._require_slack(problems, serve=serve)
        if require_archive:
            settings._require_archive(problems)
        problems.raise_any()
        return settings


def _channel(values: Mapping[str, str], name: str) -> str | None:
    channel = values.get(name)
    if channel is not None and not CHANNEL_ID.match(channel):
        raise SettingsError(
            name,
            f"is {channel!r}, not a channel ID",
            "use the ID (like C0123456789) from channel details → About, not the #name; "
            "or leave it unset and pick the channel on the app's Home in Slack",
        )
    return channel


def _log_level(values: Mapping[str, str]) -> str | None:
    typed = values.get("LOG_LEVEL")
    if typed is None:
        return None
    if typed.upper() not in _LOG_LEVELS:
        raise SettingsError("LOG_LEVEL", f"is {typed!r}", f"use one of {', '.join(_LOG_LEVELS)}")
    return typed.upper()


def _port(values: Mapping[str, str]) -> int:
    port = int(_number(values, "PORT", 3000, minimum=-math.inf, integer=True))
    if not 0 <= port <= 65535:
        raise SettingsError(
            "PORT",
            f"is {port}",
            "use a TCP port number between 1 and 65535 (0: any free port, for tests)",
        )
    return port


def _user_ids(values: Mapping[str, str], name: str) -> frozenset[str]:
    ids = [part for part in re.split(r"[\s,]+", values.get(name, "")) if part]
    wrong = [part for part in ids if not USER_ID.match(part)]
    if wrong:
        raise SettingsError(
            name,
            f"has {wrong[0]!r}, not a user ID",
            "list member IDs (like U0123ABCD, from a profile's ⋮ → Copy member ID), "
            "separated by commas",
        )
    return frozenset(ids)


# A DNS name (letters, digits, hyphens, dots) or an IPv4 address: what a URL's host can be.
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def _host_names(values: Mapping[str, str], name: str) -> frozenset[str]:
    typed = [part for part in re.split(r"[\s,]+", values.get(name, "")) if part]
    hosts = [part.lower().rstrip(".") for part in typed]  # a final dot is DNS's root
    wrong = [raw for raw, host in zip(typed, hosts, strict=True) if not _HOST_NAME.match(host)]
    if wrong:
        raise SettingsError(
            name,
            f"has {wrong[0]!r}, not a host name",
            "list host names only (like cdn.isscr.org: no https://, path or port), "
            "separated by commas",
        )
    return frozenset(hosts)


def _token(values: Mapping[str, str], name: str, prefix: str, where: str) -> str | None:
    token = values.get(name)
    if token is not None and not token.startswith(prefix):
        # Never echo the value: it may be a real secret pasted into the wrong variable.
        raise SettingsError(name, f"does not start with {prefix}", f"copy the token from {where}")
    return token


def _number(
    values: Mapping[str, str], name: str, default: float, *, minimum: float, integer: bool = False
) -> float:
    raw = values.get(name)
    if raw is None:
        return default
    try:
        number = int(raw) if integer else float(raw)
        if not math.isfinite(number):  # float() reads "inf" and "nan" too
            raise ValueError(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise SettingsError(
            name, f"is {raw!r}, not {kind}", f"set it like {name}={default}"
        ) from None
    if number < minimum:
        raise SettingsError(name, f"is {raw}", f"use a value of at least {minimum}")
    return number


def _database_path(values: Mapping[str, str]) -> Path:
    raw = values.get("DATABASE_PATH", "isscr-news.db")
    if _in_memory(raw):
        raise SettingsError(
            "DATABASE_PATH",
            f"is {raw!r}, an in-memory database that loses every release and delivery at exit",
            "name a file on a persistent disk, e.g. /data/isscr-news.db",
        )
    if raw.startswith("file:"):
        # The store opens DATABASE_PATH as a file name, never as an SQLite URI.
        raise SettingsError(
            "DATABASE_PATH", f"is {raw!r}, a URI", "name the file itself, e.g. /data/isscr-news.db"
        )
    path = Path(raw).expanduser()
    if path.is_dir():
        raise SettingsError(
            "DATABASE_PATH",
            f"is the directory {path}",
            f"name a file, e.g. {path / 'isscr-news.db'}",
        )
    if not path.parent.is_dir():
        raise SettingsError(
            "DATABASE_PATH",
            f"is in {path.parent}, which does not exist",
            "create that directory (on a persistent disk) or choose another path",
        )
    return path


def _in_memory(raw: str) -> bool:
    """SQLite's in-memory names: ":memory:", and URIs like "file::memory:" or "…?mode=memory"."""
    if raw == ":memory:":
        return True
    if not raw.startswith("file:"):
        return False
    name, _, query = raw.removeprefix("file:").partition("?")
    return name == ":memory:" or ("mode", "memory") in parse_qsl(query, keep_blank_values=True)


def _slack_api_url(values: Mapping[str, str]) -> str:
    url = values.get("SLACK_API_URL", DEFAULT_SLACK_API_URL)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(
            "SLACK_API_URL", f"is {url!r}, not an http(s) URL", f"use {DEFAULT_SLACK_API_URL}"
        )
    return url if url.endswith("/") else url + "/"


def _feed_url(values: Mapping[str, str]) -> str:
    url = values.get("FEED_URL", DEFAULT_FEED_URL)
    scheme = urlsplit(url).scheme
    if scheme in ("http", "https"):
        if not urlsplit(url).netloc:
            raise SettingsError(
                "FEED_URL", f"is {url!r}", f"use a full URL like {DEFAULT_FEED_URL}"
            )
        return url
    # Anything else is a local file, for trying the bot offline.
    path = Path(url.removeprefix("file://")) if scheme in ("", "file") else None
    if path is None or not path.is_file():
        raise SettingsError(
            "FEED_URL",
            f"is {url!r}, neither an http(s) URL nor an existing file",
            f"use {DEFAULT_FEED_URL} or the path of a saved RSS file",
        )
    return str(path.resolve())


def _archive_url(values: Mapping[str, str], feed_url: str) -> str | None:
    url = values.get("ARCHIVE_URL")
    if url is None:
        parts = urlsplit(feed_url)
        if parts.scheme not in ("http", "https"):
            return None  # a local feed file has no archive beside it
        # Squarespace serves every collection as JSON at the same address (SOURCE.md).
        query = parse_qsl(parts.query, keep_blank_values=True)
        if any(key == "format" for key, _ in query):
            query = [(key, "json" if key == "format" else value) for key, value in query]
        else:
            query.append(("format", "json"))
        return urlunsplit(parts._replace(query=urlencode(query)))
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(
            "ARCHIVE_URL", f"is {url!r}, not an http(s) URL", f"use {DEFAULT_ARCHIVE_URL}"
        )
    return url
