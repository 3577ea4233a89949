"""The digest scheduler: at each period's boundary, what a digest route collected becomes one
digest, for the outbox to post.

Exactly once per period, across restarts, crashes and two bot processes on one database:
every look (at start, then at each boundary and at least once a minute) takes, for each
digest route, the latest boundary at or before now, and asks the store to make that period's
digest (`Store.make_digest`): one transaction that finds no digest of that period yet, turns
the releases collected until the boundary into one pending DIGEST delivery and marks them
DIGESTED. A second process, or a restart, finds that digest and makes nothing; the unique
index `digests_once` forbids a second one whatever happens. A period with nothing collected
gets no digest. Only the latest boundary is looked at: a bot that was down over three weekly
boundaries makes one digest at start, of all it had collected, not three. Releases collected
after a boundary (a poll between the boundary and the look) wait for the next period.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime

from bot.backoff import wait_any
from bot.database import Database
from bot.models import Place, Route, Schedule
from bot.schedule import is_valid, latest_boundary, next_boundary, period_key
from bot.store import Store

log = logging.getLogger(__name__)

# The longest wait between two looks: a boundary is normally woken at exactly, but a clock
# set forward, or a route scheduled meanwhile, is noticed within this.
LOOK_EVERY = 60.0


class DigestScheduler:
    """Makes the digests that are due, in one process of the bot (any number may run)."""

    def __init__(
        self,
        db: Database,
        *,
        distribution: bool,
        on_made: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        interval: float = LOOK_EVERY,
    ) -> None:
        """`distribution`: the routes are those of the installed workspaces (else of
        single-workspace mode's one), as the router reads them; `on_made`: digests were
        made (the outbox's wake)."""
        self.db = db
        self.distribution = distribution
        self.on_made = on_made
        self.clock = clock
        self.interval = interval
        self._look_now = asyncio.Event()
        self._invalid: set[Place] = set()  # routes whose schedule was logged as unusable

    def look_now(self) -> None:
        """Look for due digests at once (a test's clock moved, say)."""
        self._look_now.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Look at start, then at each boundary (at least every `interval` seconds), until
        `stop` is set."""
        while not stop.is_set():
            self._look_now.clear()
            next_at = None
            try:
                made, next_at = await self.db.write(self.make_due)
                if made:
                    self.on_made()
            except sqlite3.Error as error:  # locked, full: the next look tries again
                log.warning("digests not made: the database: %s", error)
            except Exception:  # a bug must not stop the digests for good
                log.exception("digests not made")
            wait = self.interval
            if next_at is not None:
                wait = min(wait, max(0.0, next_at - self.clock()))
            await wait_any(stop, self._look_now, seconds=wait)

    def make_due(self, store: Store) -> tuple[list[int], float | None]:
        """Make the digest of each digest route's latest period that has none yet and has
        releases collected; the ids of those made, and when the next boundary comes.

        One read finds the channels with releases collected, and only those whose oldest is
        from before its latest boundary try a transaction; boundaries are reckoned once per
        distinct schedule (many routes share few)."""
        now = self.clock()
        routes = [
            route
            for route in store.digest_routes(distribution=self.distribution)
            if self._usable(route)
        ]
        oldest = store.collected_since()
        latest: dict[Schedule, datetime] = {}
        made: list[int] = []
        for route in routes:
            place = Place(route.team, route.channel)
            if route.schedule is None or place not in oldest:
                continue
            if route.schedule not in latest:
                latest[route.schedule] = latest_boundary(route.schedule, now)
            boundary = latest[route.schedule]
            if oldest[place] > boundary.timestamp():
                continue  # all collected after it: for the next period
            period = period_key(boundary)
            digest = store.make_digest(place, period=period, up_to=boundary.timestamp(), now=now)
            if digest is not None:
                made.append(digest)
                where = f"{route.team}/{route.channel}" if route.team else route.channel
                log.info("digest %s made for %s (the period to %s)", digest, where, period)
        schedules = {route.schedule for route in routes if route.schedule is not None}
        coming = [next_boundary(schedule, now).timestamp() for schedule in schedules]
        return made, min(coming, default=None)

    def _usable(self, route: Route) -> bool:
        """Whether `route`'s schedule can be followed; one that cannot (a hand-edited row)
        is logged once and skipped."""
        place = Place(route.team, route.channel)
        if route.schedule is not None and is_valid(route.schedule):
            self._invalid.discard(place)
            return True
        if place not in self._invalid:
            self._invalid.add(place)
            log.warning(
                "the digest schedule of %s cannot be followed (%r): set it again with the "
                "digest command",
                route.channel,
                route.schedule,
            )
        return False
