"""Posting one delivery: look in history first if it may have gone out, then claim and post.

Rules 1, 2 and 4 of `bot.slack.outbox`:
1. A delivery is marked "sending" (committed) before `chat.postMessage`, and "sent" after.
2. A delivery found "sending" is first looked for in the channel's history (`history`); it is
   posted again only when it is surely not there. When the history cannot be read (the bot was
   removed from the channel, say), the delivery waits and says why: posting blind could post
   twice.
4. A post happens only right after the same transaction that marks it "sending" has found
   the lease still ours (and extended it), and only while at least half of that lease is
   left: a process that was stopped (SIGSTOP, a paused VM) for longer than that wakes to
   find it may have lost the channel, and checks again instead of posting. The request is
   never repeated by the client (not even after a 429): each send passes this check. What is
   left is a stall between the check and the request leaving (connecting included).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Holder, Place, Release
from bot.slack.blocks.announcement import announcement, minimal_announcement
from bot.slack.blocks.shapes import Announcement, json_object
from bot.slack.errors import MALFORMED, Failure, classify
from bot.slack.outbox.group import GroupCommit
from bot.slack.outbox.history import HistoryUnreadable, find_posted
from bot.slack.outbox.schedule import Scheduling
from bot.slack.posting import join
from bot.slack.tokens import WrongKey
from bot.store import SENDING, Delivery, Store

log = logging.getLogger("bot.slack.outbox")  # one logger for the whole outbox

# The client that posts to a workspace (by team ID), or None when it has left.
ClientFor = Callable[[str], Awaitable[AsyncWebClient | None]]


@dataclass(frozen=True)
class Posted:
    """A delivery that is in its channel, to be marked sent: posted now, or `found` there (an
    earlier try's post, whose answer was lost). `ts`: the message's, `note`: how, if unusual."""

    delivery: Delivery
    ts: str | None
    note: str | None = None
    found: bool = False


@dataclass(frozen=True)
class _Claim:
    """A delivery taken for one post: its attempt's number, when, by both clocks (see rule
    4), and what to post."""

    attempt: int
    at: float  # wall clock, as recorded with the lease
    at_monotonic: float
    release: Release | None  # what to post, read right after (None: gone, never posted)


class Sending(Scheduling):
    """Posts one delivery exactly once; `Outbox` sets these attributes."""

    clients: ClientFor
    holder: Holder
    lease_ttl: float
    _claims: GroupCommit[Delivery, tuple[int | None, float, Release | None]]  # _begin_posts
    _sent_marks: GroupCommit[Posted, None]  # see _mark_all_sent
    _lost: set[Place]  # channels found taken by another process
    _last_post: dict[Place, float]  # when each channel was last posted to (monotonic)

    async def _deliver(self, delivery: Delivery) -> Posted | None:
        """Post `delivery`, or find it posted by an earlier try: what to mark sent, if so.
        The caller holds one of the slots (`Outbox._slot`) meanwhile, and marks it after."""
        try:
            client = await self.clients(delivery.team)
        except WrongKey:  # the key was rotated elsewhere, say: wait for it, never give up
            # Not sooner than the longest retry: a restart with the key makes it due at once.
            # Only while the delivery is at the try this process read (rule 5).
            await self.db.write(
                lambda store: store.reschedule(
                    delivery.id,
                    attempt=delivery.attempts,
                    due_at=self.clock() + self.retry_cap,
                    error="the workspace's token cannot be decrypted: the bot lacks its key",
                    outcome_known=delivery.state != SENDING,
                )
            )
            return None
        if client is None:  # it left between queuing and now: its deliveries are going too
            await self.db.write(
                lambda store: store.mark_failed(
                    delivery.id,
                    attempt=delivery.attempts,
                    error="the workspace's installation is gone (uninstalled)",
                    outcome_known=delivery.state != SENDING,
                )
            )
            return None
        if delivery.state == SENDING:
            try:
                ts = await find_posted(client, delivery, self.clock)
            except HistoryUnreadable as unreadable:
                await self._wait_for_history(delivery, unreadable.failure)
                return None
            if ts is not None:
                return Posted(delivery, ts, found=True)
        return await self._post_release(client, delivery)

    async def _post_release(self, client: AsyncWebClient, delivery: Delivery) -> Posted | None:
        """Post, joining a public channel once if need be; a message Slack rejects as malformed
        goes again without its image, then as a minimal message, the reason recorded."""
        channel, where = delivery.channel, delivery.where
        with_image: bool | None = None  # as the release has one, until Slack rejects it
        minimal, joined = False, False
        note: str | None = None
        while True:
            claim = await self._claim(delivery)
            if claim is None:
                return None
            # From here on this try is attempt `claim.attempt`: what it makes of the delivery
            # applies only while no other try began since (see Store.reschedule).
            delivery = replace(delivery, state=SENDING, attempts=claim.attempt)
            if not self._still_ours(claim):
                # Stopped (SIGSTOP, a paused machine) between taking the delivery and posting
                # it: the lease may have lapsed and another process posted it. Look again.
                log.warning(
                    "not posting %s in %s: this process stalled for %.0f s after taking it",
                    delivery.release_id, where, time.monotonic() - claim.at_monotonic,
                )  # fmt: skip
                return None
            release = claim.release
            if release is None:  # impossible through the foreign key, but never post garbage
                await self._release_missing(delivery)
                return None
            if with_image is None:
                with_image = bool(release.image_url)
            self._last_post[delivery.place] = time.monotonic()
            try:
                response = await self._post(client, channel, release, with_image, minimal)
            except (SlackApiError, aiohttp.ClientError, TimeoutError) as error:
                failure = classify(error)
            else:
                return Posted(delivery, response.get("ts"), note)
            if failure.kind is Failure.NOT_IN_CHANNEL and not joined:
                joined = True
                if (await join(client, channel)).failure is None:
                    continue
            elif failure.reason in MALFORMED and with_image:
                # Slack rejects the whole message when it cannot fetch the image.
                log.warning("retrying %s without its image (%s)", release.id, release.image_url)
                with_image = False
                continue
            elif failure.reason in MALFORMED and not minimal:
                note = (
                    f"sent as a minimal message: Slack rejected the announcement ({failure.reason})"
                )
                log.warning("%s in %s: %s", release.id, where, note)
                minimal = True
                continue
            break
        await self._settle(delivery, failure)
        return None

    async def _release_missing(self, delivery: Delivery) -> None:
        await self.db.write(
            lambda store: store.mark_failed(
                delivery.id,
                attempt=delivery.attempts,
                error="release missing from the database",
                outcome_known=True,  # nothing was posted
            )
        )

    async def _mark_sent(self, posted: Posted) -> None:
        """Mark it sent (rule 1), in one transaction with others posted about now."""
        await self._sent_marks(posted)
        delivery = posted.delivery
        if posted.found:
            log.info(
                "found %s already posted in %s (ts %s)",
                delivery.release_id, delivery.where, posted.ts,
            )  # fmt: skip
        else:
            log.info("announced %s in %s", delivery.release_id, delivery.where)

    def _mark_all_sent(self, store: Store, posted: Sequence[Posted]) -> list[None]:
        store.mark_all_sent([(p.delivery.id, p.ts, p.note) for p in posted], now=self.clock())
        return [None] * len(posted)

    async def _claim(self, delivery: Delivery) -> _Claim | None:
        """Mark the delivery sending, if its channel's lease is still ours (rule 4), in a
        transaction with the other posts about to go out (`group`); and read its release."""
        attempt, at, release = await self._claims(delivery)
        if attempt is None:
            log.warning(
                "not posting %s in %s: another process took the channel or the delivery",
                delivery.release_id, delivery.where,
            )  # fmt: skip
            self._lost.add(delivery.place)
            return None
        return _Claim(attempt, at, time.monotonic(), release)

    def _begin_posts(
        self, store: Store, deliveries: Sequence[Delivery]
    ) -> list[tuple[int | None, float, Release | None]]:
        """Each delivery's attempt (None: not ours to post), the wall clock of the transaction
        that marked them, and the release to post, read once for all of its deliveries."""
        now = self.clock()
        owner, ttl = self.holder.owner, self.lease_ttl
        ids = [delivery.id for delivery in deliveries]
        with store.transaction():  # the marks and the releases they post, or neither
            attempts = store.begin_posts(ids, owner=owner, ttl=ttl, now=now)
            taken = [
                d.release_id for d, a in zip(deliveries, attempts, strict=True) if a is not None
            ]
            releases = {release_id: store.release(release_id) for release_id in set(taken)}
        return [
            (attempt, now, None if attempt is None else releases[delivery.release_id])
            for delivery, attempt in zip(deliveries, attempts, strict=True)
        ]

    def _still_ours(self, claim: _Claim) -> bool:
        """Whether at least half of the lease taken with `claim` is left, by both clocks (a
        paused VM's monotonic clock may stand still; a wall clock may be set back)."""
        half = self.lease_ttl / 2
        return time.monotonic() - claim.at_monotonic < half and self.clock() - claim.at < half

    async def _post(
        self,
        client: AsyncWebClient,
        channel: str,
        release: Release,
        with_image: bool,
        minimal: bool,
    ) -> Any:
        message = _message(release, with_image=with_image, minimal=minimal)
        return await client.chat_postMessage(
            channel=channel,
            text=message["text"],
            blocks=message.get("blocks"),  # None: none sent
            metadata=json_object(message["metadata"]),
            unfurl_links=False,
            unfurl_media=False,
        )


@functools.lru_cache(maxsize=8)
def _message(release: Release, *, with_image: bool, minimal: bool) -> Announcement:
    """The announcement of `release`, built once for all the channels it goes to (a release
    edited since is another `Release`, so another message). Never changed by its users."""
    return (
        minimal_announcement(release) if minimal else announcement(release, with_image=with_image)
    )
