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

from bot.models import Holder, Message, Place, Release
from bot.slack.blocks.posts import corrected, post_message
from bot.slack.blocks.shapes import Announcement, json_object
from bot.slack.errors import MALFORMED, RECIPIENT_GONE, Failure, SlackFailure, classify
from bot.slack.outbox.group import GroupCommit
from bot.slack.outbox.history import HistoryUnreadable, find_posted
from bot.slack.outbox.schedule import Scheduling
from bot.slack.posting import join
from bot.slack.tokens import WrongKey
from bot.store import ALERT, ANNOUNCE, DIGEST, SENDING, SHARE, UPDATE, Delivery, Store

log = logging.getLogger("bot.slack.outbox")  # one logger for the whole outbox

# The client that posts to a workspace (by team ID), or None when it has left.
ClientFor = Callable[[str], Awaitable[AsyncWebClient | None]]


@dataclass(frozen=True)
class Posted:
    """A delivery that is in its channel, to be marked sent: posted now, or `found` there (an
    earlier try's post, whose answer was lost). `ts`: the message's, `note`: how, if unusual;
    `conversation`: where it is, when not the delivery's channel (an alert's DM)."""

    delivery: Delivery
    ts: str | None
    note: str | None = None
    found: bool = False
    conversation: str | None = None


@dataclass(frozen=True)
class Content:
    """What a delivery shows, read in the transaction that claims it: its releases (a
    digest's, newest first; else one), and for an update the message it updates."""

    releases: tuple[Release, ...]
    message: Message | None = None


@dataclass(frozen=True)
class _Claim:
    """A delivery taken for one post: its attempt's number, when, by both clocks (see rule
    4), and what to post."""

    attempt: int
    at: float  # wall clock, as recorded with the lease
    at_monotonic: float
    content: Content | None  # what to post, read right after (None: gone, never posted)


class Sending(Scheduling):
    """Posts one delivery exactly once; `Outbox` sets these attributes."""

    clients: ClientFor
    holder: Holder
    lease_ttl: float
    _claims: GroupCommit[Delivery, tuple[int | None, float, Content | None]]  # _begin_posts
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
        conversation = delivery.channel
        if delivery.kind == ALERT:  # to a member: the app's DM with them
            opened = await self._open_dm(client, delivery)
            if opened is None:
                return None
            conversation = opened
        # An update found "sending" is made again: the same edit twice shows once.
        if delivery.state == SENDING and delivery.kind != UPDATE:
            try:
                ts = await find_posted(client, delivery, conversation, self.clock)
            except HistoryUnreadable as unreadable:
                await self._wait_for_history(delivery, unreadable.failure)
                return None
            if ts is not None:
                return Posted(
                    delivery, ts, found=True, conversation=_if_other(conversation, delivery)
                )
        return await self._post_release(client, delivery, conversation)

    async def _open_dm(self, client: AsyncWebClient, delivery: Delivery) -> str | None:
        """The app's DM with an alert's member (`conversations.open` answers the same one each
        time); None when it cannot be had now, the delivery then settled."""
        try:
            answer = await client.conversations_open(users=delivery.channel)
            conversation = (answer.get("channel") or {}).get("id")
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as error:
            failure = classify(error)
        else:
            if isinstance(conversation, str) and conversation:
                return conversation
            failure = SlackFailure(Failure.UNKNOWN, "conversations.open named no conversation")
        if failure.code in RECIPIENT_GONE:
            await self._unreachable(delivery, failure)
        elif failure.kind is Failure.RATE_LIMITED:
            # As long as Slack asks, never counted as a failed try: a release matching
            # thousands of members' alerts opens thousands of DMs, and 429s are expected.
            await self._rate_limited(delivery, failure, outcome_known=delivery.state != SENDING)
        else:
            # Nothing was posted by this try; an earlier one's outcome stays as unknown as it was.
            await self._retry(
                delivery,
                failure,
                outcome_known=delivery.state != SENDING,
                counted=True,
                give_up=failure.kind is not Failure.NEEDS_ADMIN,
            )
        return None

    async def _unreachable(self, delivery: Delivery, failure: SlackFailure) -> None:
        """An alert's member cannot be messaged (gone from the workspace, or the app may not
        write to them): this delivery is given up on and their alerts paused, quietly, so
        that nothing piles up; their next alert command resumes them."""
        why = f"{failure.reason}: the member cannot receive direct messages from the app"
        log.info("alerts to %s paused: %s", delivery.where, failure.reason)
        now = self.clock()

        def give_up(store: Store) -> None:
            with store.transaction():
                store.mark_failed(
                    delivery.id,
                    attempt=delivery.attempts,
                    error=why,
                    outcome_known=delivery.state != SENDING,
                )
                store.pause_alerts(team=delivery.team, user=delivery.channel, why=why, now=now)

        await self.db.write(give_up)

    async def _post_release(
        self, client: AsyncWebClient, delivery: Delivery, conversation: str
    ) -> Posted | None:
        """Post (or, for an update, edit), joining a public channel once if need be; a message
        Slack rejects as malformed goes again without its image, then as a minimal message, the
        reason recorded."""
        where = delivery.where
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
            content = claim.content
            if content is None:  # gone since it was queued: never post garbage
                await self._release_missing(delivery)
                return None
            if with_image is None:
                with_image = bool(content.releases[0].image_url)
            self._last_post[delivery.place] = time.monotonic()
            try:
                response = await self._send(
                    client, delivery, conversation, content, with_image, minimal
                )
            except (SlackApiError, aiohttp.ClientError, TimeoutError) as error:
                failure = classify(error)
            else:
                posted_in = response.get("channel")
                return Posted(
                    delivery,
                    response.get("ts"),
                    note,
                    conversation=_if_other(
                        posted_in if isinstance(posted_in, str) else conversation, delivery
                    ),
                )
            if delivery.kind == ALERT and failure.code in RECIPIENT_GONE:
                await self._unreachable(delivery, failure)
                return None
            if failure.kind is Failure.NOT_IN_CHANNEL and not joined:
                joined = True
                if (await join(client, conversation)).failure is None:
                    continue
            elif failure.reason in MALFORMED and with_image:
                # Slack rejects the whole message when it cannot fetch the image.
                log.warning(
                    "retrying %s without its image (%s)",
                    delivery.release_id, content.releases[0].image_url,
                )  # fmt: skip
                with_image = False
                continue
            elif failure.reason in MALFORMED and not minimal:
                note = (
                    f"sent as a minimal message: Slack rejected the announcement ({failure.reason})"
                )
                log.warning("%s in %s: %s", delivery.release_id, where, note)
                minimal = True
                continue
            break
        await self._settle(delivery, failure)
        return None

    async def _release_missing(self, delivery: Delivery) -> None:
        error = (
            "the message to update is gone"
            if delivery.kind == UPDATE
            else "release missing from the database"
        )
        await self.db.write(
            lambda store: store.mark_failed(
                delivery.id,
                attempt=delivery.attempts,
                error=error,
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
            log.info("%s %s in %s", _DID[delivery.kind], delivery.release_id, delivery.where)

    def _mark_all_sent(self, store: Store, posted: Sequence[Posted]) -> list[None]:
        store.mark_all_sent(
            [(p.delivery.id, p.ts, p.note, p.conversation) for p in posted], now=self.clock()
        )
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
    ) -> list[tuple[int | None, float, Content | None]]:
        """Each delivery's attempt (None: not ours to post), the wall clock of the transaction
        that marked them, and what to post, a release read once for all of its deliveries."""
        now = self.clock()
        owner, ttl = self.holder.owner, self.lease_ttl
        ids = [delivery.id for delivery in deliveries]
        read: dict[str, Content | None] = {}

        def content(delivery: Delivery) -> Content | None:
            if delivery.kind == DIGEST:
                releases = store.digest_releases(delivery.id)
                return Content(tuple(releases)) if releases else None
            if delivery.kind == UPDATE:
                message = store.message(delivery.target_id) if delivery.target_id else None
                return Content(message.releases, message) if message else None
            if delivery.release_id not in read:
                release = store.release(delivery.release_id)
                read[delivery.release_id] = Content((release,)) if release else None
            return read[delivery.release_id]

        with store.transaction():  # the marks and what they post, or neither
            attempts = store.begin_posts(ids, owner=owner, ttl=ttl, now=now)
            contents = [
                None if attempt is None else content(delivery)
                for delivery, attempt in zip(deliveries, attempts, strict=True)
            ]
        return [(attempt, now, what) for attempt, what in zip(attempts, contents, strict=True)]

    def _still_ours(self, claim: _Claim) -> bool:
        """Whether at least half of the lease taken with `claim` is left, by both clocks (a
        paused VM's monotonic clock may stand still; a wall clock may be set back)."""
        half = self.lease_ttl / 2
        return time.monotonic() - claim.at_monotonic < half and self.clock() - claim.at < half

    async def _send(
        self,
        client: AsyncWebClient,
        delivery: Delivery,
        conversation: str,
        content: Content,
        with_image: bool,
        minimal: bool,
    ) -> Any:
        """`chat.postMessage` of the delivery's message, or for an update `chat.update` of the
        message it corrects, rebuilt from the release as it is now."""
        if content.message is not None:  # an update
            target = content.message.delivery
            message = corrected(
                _message(
                    target.kind, content.releases, target.about, target.period,
                    with_image=with_image, minimal=minimal,
                ),
                delivery.about,
                self.clock(),
            )  # fmt: skip
            return await client.chat_update(
                channel=conversation,
                ts=content.message.ts,
                text=message["text"],
                blocks=message["blocks"],
                metadata=json_object(message["metadata"]),
            )
        message = _message(
            delivery.kind, content.releases, delivery.about, delivery.period,
            with_image=with_image, minimal=minimal,
        )  # fmt: skip
        return await client.chat_postMessage(
            channel=conversation,
            text=message["text"],
            blocks=message.get("blocks"),  # None: none sent
            metadata=json_object(message["metadata"]),
            unfurl_links=False,
            unfurl_media=False,
        )


# How the log says a delivery of each kind went out.
_DID = {
    ANNOUNCE: "announced",
    ALERT: "sent the alert of",
    DIGEST: "posted the digest ending with",
    SHARE: "shared",
    UPDATE: "updated the message of",
}


def _if_other(conversation: str, delivery: Delivery) -> str | None:
    """`conversation` when it is not the delivery's channel (an alert's DM), else None."""
    return None if conversation == delivery.channel else conversation


@functools.lru_cache(maxsize=8)
def _message(
    kind: str,
    releases: tuple[Release, ...],
    about: str | None,
    period: str | None,
    *,
    with_image: bool,
    minimal: bool,
) -> Announcement:
    """A delivery's message, built once for all the channels it goes to (a release edited
    since is another `Release`, so another message). Never changed by its users."""
    return post_message(
        kind, releases, about=about, period=period, with_image=with_image, minimal=minimal
    )
