"""Which publication dates the bot believes, for the RSS and the JSON archive alike.

A release's date orders search results and rowids (`store.release_key`), marks where the feed's
window starts (what the archive backfill leaves to the watcher) and picks the newest releases of
a flood. So a date Python cannot represent (`0000-00-00`, year 10000), one from before the web
or one far in the future must never get that far: it would crash the poll, or quietly make
every archive release "recent" (a window starting in 1800) or the newest of everything.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

# The web opened to the public in 1991 (the ISSCR itself dates from 2002): nothing published on
# a web site is older.
EARLIEST = datetime(1991, 1, 1, tzinfo=UTC)
# A post is dated when it is published, so its date is not after now; a day covers a wrong
# time zone on either side and clocks that disagree.
FUTURE_SLACK = timedelta(days=1)


def date_problem(when: datetime, *, now: float) -> str | None:
    """Why `when` cannot be a release's publication date; None when it can."""
    if when < EARLIEST:
        return "is before the web existed"
    if when > datetime.fromtimestamp(now, UTC) + FUTURE_SLACK:
        return "is in the future"
    return None


def first_believable(
    dates: Iterable[tuple[str, datetime | None]], *, now: float
) -> tuple[datetime | None, str | None]:
    """The first of an item's `dates` (each as shown to an admin, and as a datetime or None
    when it is not one) that can be its publication date, and the fallback taken when none
    can. A broken date leaves the release undated rather than skipped: its title, link and
    text are sound, members should hear of it and find it, and undated it sorts as the
    oldest, moves no feed window and is never "the newest" of a flood."""
    broken = []
    for shown, when in dates:
        problem = "is not a date" if when is None else date_problem(when, now=now)
        if problem is None:
            return when, None
        broken.append(f"{shown} {problem}")
    return None, f"{'; '.join(broken)}: stored undated" if broken else None


def from_struct(parsed: time.struct_time) -> datetime | None:
    """A UTC struct_time (feedparser's `*_parsed`) as a datetime; None when Python cannot
    represent it (year 0 or 10000: feedparser normalises `0000-00-00` to year -1)."""
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def from_epoch_ms(millis: float) -> datetime | None:
    """Epoch milliseconds (the archive's `publishOn`), in whole seconds as the RSS gives them;
    None when Python cannot represent it."""
    try:
        return datetime.fromtimestamp(int(millis // 1000), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
