"""What Slack requests may ask of the running bot (its parts, handed in when it is built), and
how long a request may keep Slack waiting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Controls:
    poll_now: Callable[[], None]  # the watcher's
    deliver_now: Callable[[], None]  # wake the outbox
    # Problems only the running process knows of, for the health report (see bot.health).
    live_problems: Callable[[], list[str]]
    # Slack waits 3 s for the ack; an answer not ready within this follows through
    # response_url (a search takes milliseconds; a change waits for a busy database).
    answer_in_ack_within: float = 0.8
