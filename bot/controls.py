"""Hooks from Slack requests into the running bot (set once its parts have started)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Controls:
    poll_now: Callable[[], None] = field(default=lambda: None)
    deliver_now: Callable[[], None] = field(default=lambda: None)  # wake the outbox
