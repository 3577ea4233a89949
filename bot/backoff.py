"""Exponential backoff with jitter, shared by the feed watcher and the outbox."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Seconds to wait before retry number `attempt` (1 for the first retry).

    Doubles from `base` up to `cap`; "equal jitter" (half fixed, half random) spreads retries
    out without ever collapsing to zero the way full jitter can.
    """
    ceiling = min(cap, base * 2 ** min(max(attempt, 1) - 1, 32))
    return ceiling / 2 + random.random() * ceiling / 2
