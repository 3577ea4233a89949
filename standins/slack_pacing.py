"""Slack's rate limits on chat.postMessage, as the Slack stand-in applies them, and the count of
what it accepted and refused, for a fan-out over many workspaces.

Slack allows about one message per second per channel ("short bursts above that are allowed",
https://api.slack.com/methods/chat.postMessage#rate_limiting) and counts its Web API tiers per
workspace, per app (https://api.slack.com/apis/rate-limits). The stand-in is strict: a post
sooner than the interval is refused, with no burst. Every look-up is by key, so a run of
thousands of posts costs the same per post as a run of ten.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict, deque
from dataclasses import dataclass


@dataclass
class ChannelPosts:
    """One workspace's accepted posts in one channel: how many, first and last (time.time())."""

    count: int = 0
    first: float = 0.0
    last: float = 0.0


class Pacing:
    """When a workspace's next post to a channel is allowed, and what was posted or refused."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], float] = {}  # (team, channel) -> time.monotonic()
        self._minute: defaultdict[str, deque[float]] = defaultdict(deque)  # team -> posts' times
        self.posts: dict[tuple[str, str], ChannelPosts] = {}
        self.refused: Counter[str] = Counter()  # team -> 429s answered

    def retry_after(
        self,
        team: str,
        channel: str,
        now: float,
        *,
        per_channel_interval: float | None,
        per_workspace_per_minute: int | None,
    ) -> int | None:
        """Seconds to wait (the Retry-After of a 429) if a post now is refused, else None."""
        waits: list[float] = []
        if per_channel_interval is not None:
            last = self._last.get((team, channel))
            if last is not None and now - last < per_channel_interval:
                waits.append(last + per_channel_interval - now)
        if per_workspace_per_minute is not None:
            recent = self._recent(team, now)
            if len(recent) >= per_workspace_per_minute:
                waits.append(recent[0] + 60 - now)
        if not waits:
            return None
        self.refused[team] += 1
        # Slack's Retry-After is whole seconds, never 0 for a refusal.
        return max(1, math.ceil(max(waits)))

    def accepted(self, team: str, channel: str, now: float, wall: float) -> None:
        """Count a stored post; the next one is paced from `now` (time.monotonic())."""
        self._last[team, channel] = now
        self._recent(team, now).append(now)
        posts = self.posts.get((team, channel))
        if posts is None:
            posts = self.posts[team, channel] = ChannelPosts(first=wall)
        posts.count += 1
        posts.last = wall

    def _recent(self, team: str, now: float) -> deque[float]:
        """The workspace's accepted posts of the last minute (older ones are dropped here)."""
        recent = self._minute[team]
        while recent and recent[0] <= now - 60:
            recent.popleft()
        return recent
