"""When to try again: exponential backoff with jitter, the servers' Retry-After, and waiting
for whichever comes first of a time and some events."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Seconds to wait before retry number `attempt` (1 for the first retry).

    Doubles from `base` up to `cap`; "equal jitter" (half fixed, half random) spreads retries
    out without ever collapsing to zero the way full jitter can.
    """
    ceiling: float = min(cap, base * 2.0 ** min(max(attempt, 1) - 1, 32))
    return ceiling / 2 + random.random() * ceiling / 2


def retry_after_seconds(value: object, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header, given as seconds or as an HTTP date (RFC 9110);
    None when it is missing or neither."""
    if value is None:
        return None
    text = str(value).strip()
    with contextlib.suppress(ValueError):  # not a number: perhaps a date
        seconds = float(text)
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)


async def wait_any(*events: asyncio.Event, seconds: float) -> None:
    """Until one of `events` is set, or `seconds` have passed."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
