"""Hooks from Slack requests into the running bot (set once its parts have started), and how
long a request may keep Slack waiting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Controls:
    poll_now: Callable[[], None] = field(default=lambda: None)
    deliver_now: Callable[[], None] = field(default=lambda: None)  # wake the outbox
    # Problems only the running process knows of, for the health report (see bot.health).
    live_problems: Callable[[], list[str]] = field(default=list)
    # Slack waits 3 s for the ack; an answer not ready within this follows through
    # response_url (a search takes milliseconds; a change waits for a busy database).
    answer_in_ack_within: float = 0.8
