"""When a route's digests go out: the period boundaries of a daily or weekly schedule in its
time zone, what admins type to set one, and how one is said.

Pure arithmetic on `Schedule` (bot/models.py): no database, no Slack, no clock of its own.

A period ends at its boundary: the schedule's hour, on every day (daily) or on its weekday
(weekly), in its time zone. A digest covers the releases collected up to a boundary, and is
keyed by that boundary as an ISO string with its offset, so that one period has one key
whichever process computes it (see bot/digests.py). On a day whose clocks change, the hour is
taken as its first occurrence: an hour that happens twice (clocks going back) is the earlier
one, and an hour that does not exist (clocks going forward) is the moment the clocks jump
over it; either way each day has exactly one boundary.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.models import DAILY, IMMEDIATE, WEEKLY, Route, Schedule

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# The zone of a schedule set by someone whose own is unknown (Slack did not say).
FALLBACK_TZ = "UTC"
# What the examples in answers name the channel.
EXAMPLE = "digest #channel"

_IMMEDIATE_WORDS = frozenset({"immediate", "immediately", "instant", "off", "none", "now"})
_FILLER = frozenset({"on", "at", "every", "each", "digest", "digests"})
# 9, 9:00, 09:00, 9.00, 17h, 9am, 9 am, 9:00pm
_TIME = re.compile(r"^(\d{1,2})(?:[:.h](\d{2})?)?\s*(am|pm|a\.m\.|p\.m\.)?$", re.IGNORECASE)


class ScheduleError(ValueError):
    """What an admin typed is no schedule: `problem` says why, `example` what to type
    instead (after the slash command's name)."""

    def __init__(self, problem: str, example: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.example = example


def zone(name: str) -> ZoneInfo | None:
    """The IANA time zone `name` ("Europe/Berlin"), or None when there is none of that name."""
    return _zone(name) if isinstance(name, str) and 0 < len(name) <= 64 else None


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except Exception:  # not found, a path, a malformed name: all mean "no such zone"
        return None


def is_valid(schedule: Schedule) -> bool:
    """Whether `schedule` can be kept (a hand-edited row may hold anything)."""
    return (
        schedule.mode in (DAILY, WEEKLY)
        and isinstance(schedule.hour, int)
        and 0 <= schedule.hour <= 23
        and zone(schedule.tz) is not None
        and (
            schedule.mode == DAILY
            or (isinstance(schedule.weekday, int) and 0 <= schedule.weekday <= 6)
        )
    )


def boundary_on(schedule: Schedule, day: date) -> datetime:
    """The moment `schedule`'s hour comes on `day` (its first occurrence, see above), in its
    time zone. Raises ValueError for a time zone that does not exist."""
    tz = zone(schedule.tz)
    if tz is None:
        raise ValueError(f"no time zone {schedule.tz!r}")
    # fold=0: an hour that happens twice is its first time; an hour skipped is read with the
    # offset before the jump, which is the instant the clocks jump.
    wall = datetime(day.year, day.month, day.day, schedule.hour, tzinfo=tz)
    return datetime.fromtimestamp(wall.timestamp(), tz)


def _days(schedule: Schedule, around: float) -> list[date]:
    """The days near `around` on which `schedule` has a boundary, oldest first (a week and a
    day either side: enough for any offset)."""
    tz = zone(schedule.tz)
    if tz is None:
        raise ValueError(f"no time zone {schedule.tz!r}")
    today = datetime.fromtimestamp(around, tz).date()
    days = [today + timedelta(days=offset) for offset in range(-8, 9)]
    if schedule.mode == WEEKLY:
        return [day for day in days if day.weekday() == schedule.weekday]
    return days


def latest_boundary(schedule: Schedule, now: float) -> datetime:
    """The last boundary of `schedule` at or before `now` (seconds since the epoch)."""
    return max(
        boundary
        for day in _days(schedule, now)
        if (boundary := boundary_on(schedule, day)).timestamp() <= now
    )


def next_boundary(schedule: Schedule, now: float) -> datetime:
    """The first boundary of `schedule` after `now`."""
    return min(
        boundary
        for day in _days(schedule, now)
        if (boundary := boundary_on(schedule, day)).timestamp() > now
    )


def next_digest(routes: Iterable[Route], now: float) -> datetime | None:
    """When the first of `routes`' next digests is due (None: none of them has a valid
    schedule)."""
    due = [
        next_boundary(route.schedule, now)
        for route in routes
        if route.schedule is not None and is_valid(route.schedule)
    ]
    return min(due) if due else None


def period_key(boundary: datetime) -> str:
    """A digest's key: its boundary as an ISO string with its offset
    ("2026-03-02T09:00:00+01:00")."""
    return boundary.isoformat(timespec="seconds")


def closing_key(now: float, tz: str) -> str:
    """The key of the last digest a route sends when it stops collecting (switched to
    immediate), at `now`: with microseconds, so never the key of a scheduled period."""
    return datetime.fromtimestamp(now, zone(tz) or UTC).isoformat(timespec="microseconds")


def describe(schedule: Schedule) -> str:
    """ "weekly digest, Mondays at 09:00 (Europe/Berlin)", "daily digest at 17:00 (UTC)"."""
    if not is_valid(schedule):  # a hand-edited row: said, never a crash
        return "digest whose schedule cannot be followed (set it again)"
    at = f"{schedule.hour:02d}:00 ({schedule.tz})"
    if schedule.mode == WEEKLY and schedule.weekday is not None:
        return f"weekly digest, {DAYS[schedule.weekday]}s at {at}"
    return f"daily digest at {at}"


def read_schedule(text: str, *, tz: str) -> Schedule | None:
    """What an admin typed after the channel ("weekly monday 9:00", "daily 17:00",
    "immediate") as a schedule in `tz` (None: immediate). Raises ScheduleError, saying what to
    type instead, for anything else."""
    words = [word for word in _words(text) if word not in _FILLER]
    if not words:
        raise ScheduleError(
            "Say how the channel should receive news: immediate, daily or weekly.",
            f"{EXAMPLE} weekly monday 9:00",
        )
    mode, rest = words[0], words[1:]
    if mode in _IMMEDIATE_WORDS:
        if rest:
            raise ScheduleError(
                f"“{mode}” takes nothing after it: leave out “{' '.join(rest)}”.",
                f"{EXAMPLE} immediate",
            )
        return None
    if mode in ("weekly", "week"):
        return _weekly(rest, tz)
    if mode in ("daily", "day"):
        return _daily(rest, tz)
    if _day(mode) is not None or _time(mode) is not None:  # "monday 9:00": weekly meant
        raise ScheduleError(
            "Start with how often: immediate, daily or weekly.", f"{EXAMPLE} weekly {text.strip()}"
        )
    raise ScheduleError(
        f"“{mode}” is not a way to receive news: use immediate, daily or weekly.",
        f"{EXAMPLE} daily 17:00",
    )


def _weekly(words: list[str], tz: str) -> Schedule:
    days = [(word, _day(word)) for word in words]
    hours = [(word, _time(word)) for word in words]
    weekday = next((day for _, day in days if day is not None), None)
    hour = next((hour for _, hour in hours if hour is not None), None)
    example = f"{EXAMPLE} weekly {DAYS[weekday or 0].lower()} {_shown(hour)}"
    for (word, day), (_, found) in zip(days, hours, strict=True):
        if day is None and found is None:
            raise ScheduleError(_not_understood(word, weekly=True), example)
    if sum(day is not None for _, day in days) > 1:
        raise ScheduleError("A weekly digest goes out on one day: name only one.", example)
    if sum(found is not None for _, found in hours) > 1:
        raise ScheduleError("A digest goes out at one hour: name only one.", example)
    if weekday is None:
        raise ScheduleError("A weekly digest needs a day of the week.", example)
    if hour is None:
        raise ScheduleError("A weekly digest needs an hour.", example)
    return Schedule(WEEKLY, hour, tz, weekday)


def _daily(words: list[str], tz: str) -> Schedule:
    hours = [(word, _time(word)) for word in words]
    hour = next((hour for _, hour in hours if hour is not None), None)
    example = f"{EXAMPLE} daily {_shown(hour)}"
    for word, found in hours:
        if found is not None:
            continue
        if _day(word) is not None:
            raise ScheduleError(
                f"A daily digest goes out every day: leave out “{word}”, or make it weekly.",
                example,
            )
        raise ScheduleError(_not_understood(word, weekly=False), example)
    if len(hours) > 1:
        raise ScheduleError("A digest goes out at one hour: name only one.", example)
    if hour is None:
        raise ScheduleError("A daily digest needs an hour.", example)
    return Schedule(DAILY, hour, tz)


def _not_understood(word: str, *, weekly: bool) -> str:
    """Why `word` is neither a day nor an hour, and what was perhaps meant."""
    shown = word[:40]
    if _TIME_LIKE.match(word):
        # A time `_time` refused for its minutes, written any way it reads ("9.30", "9:30pm").
        match = _TIME.match(word)
        hour = _time(match[1] + (match[3] or "")) if match and match[2] else None
        if hour is not None:
            return (
                f"Digests go out on the hour: use {hour}:00 or {(hour + 1) % 24}:00 "
                f"rather than {shown}."
            )
        return f"“{shown}” is not an hour of the day: use 0:00 to 23:00."
    if weekly:
        close = difflib.get_close_matches(word, [day.lower() for day in DAYS], n=1, cutoff=0.6)
        if close:
            return f"“{shown}” is not a day of the week. Did you mean {close[0].capitalize()}?"
        return f"“{shown}” is neither a day of the week nor an hour."
    return f"“{shown}” is not an hour of the day."


_TIME_LIKE = re.compile(r"^\d")


def _words(text: str) -> list[str]:
    """`text` as lowercase words, an "am"/"pm" kept with the number before it."""
    words: list[str] = []
    for word in text.casefold().replace(",", " ").split():
        if word in ("am", "pm", "a.m.", "p.m.") and words and words[-1][-1:].isdigit():
            words[-1] += word
        else:
            words.append(word)
    return words


def _day(word: str) -> int | None:
    """The weekday (0 is Monday) `word` names: "monday", "mondays", "mon"."""
    word = word.removesuffix("s") if len(word) > 4 else word
    for number, name in enumerate(DAYS):
        if word == name.lower() or (len(word) >= 3 and name.lower().startswith(word)):
            return number
    return None


def _time(word: str) -> int | None:
    """The hour `word` names on the hour ("9", "9:00", "17h", "9am"), or None."""
    if word in ("noon", "midday"):
        return 12
    if word == "midnight":
        return 0
    match = _TIME.match(word)
    if match is None:
        return None
    hour, minutes, half = int(match[1]), match[2], (match[3] or "").replace(".", "").lower()
    if minutes is not None and int(minutes) != 0:
        return None
    if half:
        if not 1 <= hour <= 12:
            return None
        return hour % 12 + (12 if half == "pm" else 0)
    return hour if hour < 24 else None


def _shown(hour: int | None) -> str:
    return f"{9 if hour is None else hour}:00"


def mode_of(schedule: Schedule | None) -> str:
    """IMMEDIATE, DAILY or WEEKLY."""
    return IMMEDIATE if schedule is None else schedule.mode


def delivery_words(schedule: Schedule | None) -> str:
    """How a route's channel receives news, as words that follow "gets": "a weekly digest,
    Mondays at 09:00 (Europe/Berlin)", "each release as it appears"."""
    return "each release as it appears" if schedule is None else f"a {describe(schedule)}"
