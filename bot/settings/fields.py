"""One parser per environment variable: its value from the raw mapping (blank values already
removed), or a SettingsError naming the variable and the fix."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from cryptography.fernet import Fernet

from bot.models import CHANNEL_ID, USER_ID
from bot.settings.errors import SettingsError

DEFAULT_FEED_URL = "https://www.isscr.org/isscr-news?format=rss"
DEFAULT_ARCHIVE_URL = "https://www.isscr.org/isscr-news?format=json"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def channel(values: Mapping[str, str], name: str) -> str | None:
    channel = values.get(name)
    if channel is not None and not CHANNEL_ID.match(channel):
        raise SettingsError(
            name,
            f"is {channel!r}, not a channel ID",
            "use the ID (like C0123456789) from channel details → About, not the #name; "
            "or leave it unset and pick the channel on the app's Home in Slack",
        )
    return channel


def log_level(values: Mapping[str, str]) -> str | None:
    typed = values.get("LOG_LEVEL")
    if typed is None:
        return None
    if typed.upper() not in _LOG_LEVELS:
        raise SettingsError("LOG_LEVEL", f"is {typed!r}", f"use one of {', '.join(_LOG_LEVELS)}")
    return typed.upper()


def port(values: Mapping[str, str]) -> int:
    port = int(number(values, "PORT", 3000, minimum=-math.inf, integer=True))
    if not 0 <= port <= 65535:
        raise SettingsError(
            "PORT",
            f"is {port}",
            "use a TCP port number between 1 and 65535 (0: any free port, for tests)",
        )
    return port


def user_ids(values: Mapping[str, str], name: str) -> frozenset[str]:
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


def host_names(values: Mapping[str, str], name: str) -> frozenset[str]:
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


def token(values: Mapping[str, str], name: str, prefix: str, where: str) -> str | None:
    token = values.get(name)
    if token is not None and not token.startswith(prefix):
        # Never echo the value: it may be a real secret pasted into the wrong variable.
        raise SettingsError(name, f"does not start with {prefix}", f"copy the token from {where}")
    return token


def fernet_keys(values: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Fernet keys separated by commas: the first encrypts, every one decrypts (a key being
    rotated out stays listed second until `rotate-key` has re-encrypted with the first)."""
    keys = tuple(part for part in re.split(r"[\s,]+", values.get(name, "")) if part)
    for number, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            # Never echo the value: it is a secret.
            raise SettingsError(
                name,
                f"has a key (number {number}) that is not a Fernet key",
                "run `isscr-news-bot new-key` and use the key it prints (44 characters)",
            ) from None
    return keys


# Where the bot answers Slack's redirect after an install (bot.slack.installations serves it).
REDIRECT_PATH = "/slack/oauth_redirect"


def redirect_uri(values: Mapping[str, str]) -> str | None:
    url = values.get("SLACK_REDIRECT_URI")
    if url is None:
        return None
    fix = f"use your app's Redirect URL, e.g. https://news.example.org{REDIRECT_PATH}"
    parts = split_url("SLACK_REDIRECT_URI", url, fix)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if (parts.scheme != "https" and not (parts.scheme == "http" and local)) or not parts.netloc:
        raise SettingsError("SLACK_REDIRECT_URI", f"is {url!r}, not an https URL", fix)
    if parts.path != REDIRECT_PATH:
        raise SettingsError(
            "SLACK_REDIRECT_URI",
            f"ends in {parts.path or '/'!r}, where the bot does not answer",
            f"end it in {REDIRECT_PATH}, here and in the app's Redirect URLs",
        )
    return url


def split_url(name: str, url: str, fix: str) -> SplitResult:
    """`url`'s parts, or a SettingsError naming `name` when it cannot even be read (an
    unclosed IPv6 bracket, say)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (reading it checks it)
    except ValueError:
        raise SettingsError(name, f"is {url!r}, not a URL", fix) from None
    return parts


def number(
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


def database_path(values: Mapping[str, str]) -> Path:
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


def slack_api_url(values: Mapping[str, str]) -> str:
    url = values.get("SLACK_API_URL", DEFAULT_SLACK_API_URL)
    parts = split_url("SLACK_API_URL", url, f"use {DEFAULT_SLACK_API_URL}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(
            "SLACK_API_URL", f"is {url!r}, not an http(s) URL", f"use {DEFAULT_SLACK_API_URL}"
        )
    return url if url.endswith("/") else url + "/"


def feed_url(values: Mapping[str, str]) -> str:
    url = values.get("FEED_URL", DEFAULT_FEED_URL)
    parts = split_url("FEED_URL", url, f"use a full URL like {DEFAULT_FEED_URL}")
    scheme = parts.scheme
    if scheme in ("http", "https"):
        if not parts.netloc:
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


def archive_url(values: Mapping[str, str], feed_url: str) -> str | None:
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
    parts = split_url("ARCHIVE_URL", url, f"use {DEFAULT_ARCHIVE_URL}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(
            "ARCHIVE_URL", f"is {url!r}, not an http(s) URL", f"use {DEFAULT_ARCHIVE_URL}"
        )
    return url
