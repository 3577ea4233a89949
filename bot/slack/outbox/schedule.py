"""What a try makes of a delivery: done, retried later with backoff, or given up on.

Rule 5 of `bot.slack.outbox`: what a try makes of a delivery (retry later, give up) applies only
while no other try began since: a process that stalled mid-try cannot undo another's newer
"sending" mark (each write names the attempt it belongs to; see `Store.reschedule`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from bot.backoff import backoff_delay
from bot.database import Database
from bot.slack.errors import Failure, SlackFailure, explain
from bot.store import RATE_LIMITED, UPDATE, Delivery

log = logging.getLogger("bot.slack.outbox")  # one logger for the whole outbox

# However long Slack asks us to wait after a 429, a delivery is tried again within this (and
# the wait is shown in /healthz meanwhile); a second 429 only waits again.
MAX_RETRY_AFTER = 300.0


class Scheduling:
    """The outbox's retry policy; `Outbox` sets these attributes."""

    db: Database
    clock: Callable[[], float]
    retry_base: float
    retry_cap: float
    max_attempts: int
    max_retry_after: float

    def _retry_delay(self, attempt: int) -> float:
        return backoff_delay(attempt, base=self.retry_base, cap=self.retry_cap)

    async def _failed_unexpectedly(self, delivery: Delivery) -> None:
        """A bug met while delivering: try again later, checking history first."""
        await self.db.write(
            lambda store: store.reschedule(
                delivery.id,
                attempt=None,  # whichever try it failed in: this process holds it
                due_at=self.clock() + self._retry_delay(delivery.attempts + 1),
                error="internal error, see the bot's log",
                outcome_known=False,
                count_attempt=True,
            )
        )

    async def _settle(self, delivery: Delivery, failure: SlackFailure) -> None:
        if failure.kind is Failure.PERMANENT or failure.kind is Failure.NOT_IN_CHANNEL:
            error = explain(failure.reason)
            # An update of a message someone deleted since needs nobody: no error for it.
            level = logging.WARNING if delivery.kind == UPDATE else logging.ERROR
            log.log(level, "giving up on %s in %s: %s", delivery.release_id, delivery.where, error)
            await self.db.write(
                lambda store: store.mark_failed(
                    delivery.id, attempt=delivery.attempts, error=error, outcome_known=True
                )
            )
        elif failure.kind is Failure.RATE_LIMITED:
            await self._rate_limited(delivery, failure)
        elif failure.kind is Failure.NEEDS_ADMIN:
            log.error("cannot post to %s: %s", delivery.where, explain(failure.reason))
            await self._retry(delivery, failure, outcome_known=True, give_up=False)
        else:
            await self._retry(delivery, failure, outcome_known=False)

    async def _rate_limited(
        self, delivery: Delivery, failure: SlackFailure, *, outcome_known: bool = True
    ) -> None:
        """Wait as long as Slack asked, up to `max_retry_after`, and say until when.
        `outcome_known`: False while an earlier try may have posted (not looked for yet)."""
        asked = failure.retry_after
        delay = self._retry_delay(delivery.attempts) if asked is None else asked
        delay = min(delay, self.max_retry_after)
        until = datetime.fromtimestamp(self.clock() + delay, UTC).strftime("%H:%M:%S UTC")
        error = f"{RATE_LIMITED}: Slack asked the bot to slow down; trying again at {until}"
        if asked is not None and asked > delay:
            error += f" (Slack asked for {asked:.0f} s)"
        log.warning("rate limited posting %s in %s: %s", delivery.release_id, delivery.where, error)
        await self._reschedule(delivery, delay, error, outcome_known=outcome_known)

    async def _retry(
        self,
        delivery: Delivery,
        failure: SlackFailure,
        *,
        outcome_known: bool,
        give_up: bool = True,
        counted: bool = False,
        error: str | None = None,
    ) -> None:
        # A try that posted counted itself (begin_post); one that only looked does now.
        attempts = delivery.attempts + (1 if counted else 0)
        error = error or explain(failure.reason)
        if give_up and attempts >= self.max_attempts:
            error = f"gave up after {attempts} attempts: {error}"
            log.error("%s in %s: %s", delivery.release_id, delivery.where, error)
            # A last try that may have posted stays unknown: a retry checks history first.
            await self.db.write(
                lambda store: store.mark_failed(
                    delivery.id,
                    attempt=delivery.attempts,
                    error=error,
                    outcome_known=outcome_known,
                )
            )
            return
        delay = self._retry_delay(attempts)
        log.warning(
            "will retry %s in %s in %.1f s: %s",
            delivery.release_id, delivery.where, delay, failure.reason,
        )  # fmt: skip
        await self._reschedule(
            delivery, delay, error, outcome_known=outcome_known, count_attempt=counted
        )

    async def _reschedule(
        self,
        delivery: Delivery,
        delay: float,
        error: str,
        *,
        outcome_known: bool,
        count_attempt: bool = False,
    ) -> None:
        await self.db.write(
            lambda store: store.reschedule(
                delivery.id,
                attempt=delivery.attempts,
                due_at=self.clock() + delay,
                error=error,
                outcome_known=outcome_known,
                count_attempt=count_attempt,
            )
        )

    async def _wait_for_history(self, delivery: Delivery, failure: SlackFailure) -> None:
        """An unreadable history leaves the delivery waiting (rule 2), and says why."""
        if failure.reason in ("not_in_channel", "channel_not_found"):
            error = (
                "cannot read the channel's history to check whether the post already went out "
                f"({failure.reason}): invite the bot back with /invite; it will look, then post "
                "if needed"
            )
        else:
            error = (
                "cannot check the channel's history for an earlier post yet "
                f"({explain(failure.reason)}); waiting rather than posting twice"
            )
        log.warning("%s: %s", delivery.release_id, error)
        await self._retry(delivery, failure, outcome_known=False, counted=True, error=error)
