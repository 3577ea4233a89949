"""Form submissions: the Add / Edit route form and the test announcement form.

Slack waits 3 s for a form's answer and then shows the admin a generic error, whatever the
bot did meanwhile. So a submission is answered quickly: the form's own values are checked
first, then the user's rights (asked of Slack again, with a time limit), then the route is
saved; problems are shown in the form, next to the field, and nothing is saved. What needs
Slack after that (joining the channel, posting the test) happens once the form has closed, and
its outcome is shown at the top of the admin's App Home, where the form was opened.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.database import DatabaseBusy
from bot.listeners.admin import BUSY, AdminCommands
from bot.listeners.home import Home
from bot.models import Release
from bot.outbox import Failure, classify, explain
from bot.posting import post_joining
from bot.routes import RouteError, Routes, resolve_categories

log = logging.getLogger(__name__)

CHANNEL, CATEGORIES = blocks.CHANNEL_FIELD, blocks.CATEGORIES_FIELD
# How long a submission waits for Slack to say whether the user is an admin, and for the
# database (another process may hold its lock): together they stay within Slack's 3 s.
RIGHTS_CHECK_WITHIN = 1.5
FORM_READ_WITHIN = 0.5
FORM_WRITE_WITHIN = 0.8


def register(app: AsyncApp, admin: AdminCommands, home: Home, poster: AsyncWebClient) -> None:
    """`poster` posts the test announcement: a client that never repeats a request that may
    have reached Slack (`bot.app.posting_client`), so a dropped connection is not a second
    post."""

    @app.view(blocks.ROUTE_FORM)
    async def save_route(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        channel = _channel(view)
        if channel is None:
            missing = "Choose the channel that should receive these releases."
            await ack(response_action="errors", errors={CHANNEL: missing})
            return
        values = view.get("state", {}).get("values", {})
        chosen = values.get(CATEGORIES, {}).get(CATEGORIES, {}).get("selected_options") or []
        try:
            known = await admin.db.read(lambda store: store.categories(), within=FORM_READ_WITHIN)
            categories = resolve_categories([option["value"] for option in chosen], known)
        except DatabaseBusy:
            await ack(response_action="errors", errors={CHANNEL: _short(BUSY)})
            return
        except RouteError as error:
            await ack(response_action="errors", errors={CATEGORIES: _short(str(error))})
            return
        replacing, seen = blocks.read_route_form_metadata(view.get("private_metadata") or "")
        if not await _allowed(admin, ack, user):
            return
        try:
            await admin.db.write(
                lambda store: Routes(store).set(
                    channel, categories, by=user, replacing=replacing, seen=seen
                ),
                within=FORM_WRITE_WITHIN,
            )
        except DatabaseBusy:
            await ack(response_action="errors", errors={CHANNEL: _short(BUSY)})
            return
        except RouteError as error:
            await ack(response_action="errors", errors={CHANNEL: _short(str(error))})
            return
        await ack()
        membership = await admin.join(channel)
        notice = f"Route saved: <#{channel}> receives {blocks.categories_text(categories)}."
        await home.after_change(user, notice=f"{notice} {membership}" if membership else notice)

    @app.view(blocks.TRIAL_FORM)
    async def send_trial(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        channel = _channel(view)
        if channel is None:
            await ack(response_action="errors", errors={CHANNEL: "Choose a channel."})
            return
        try:
            latest = await admin.db.read(
                lambda store: store.latest_releases(1), within=FORM_READ_WITHIN
            )
        except DatabaseBusy:
            await ack(response_action="errors", errors={CHANNEL: _short(BUSY)})
            return
        if not latest:
            await ack(response_action="errors", errors={CHANNEL: "No release is stored yet."})
            return
        if not await _allowed(admin, ack, user):
            return
        await ack()
        notice = await _post_trial(poster, channel, latest[0], user)
        if notice is not None:
            await home.publish(user, is_admin=True, notice=notice)
            return
        try:
            await admin.db.write(
                lambda store: store.record_change(
                    user, "test", f"{channel}: test announcement", now=time.time()
                )
            )
        except sqlite3.Error as error:  # posted all the same: say so, log why it is unrecorded
            log.warning("the test announcement in %s was not recorded: %s", channel, error)
        await home.after_change(user, notice=f"Test announcement posted in <#{channel}>.")


def _channel(view: dict[str, Any]) -> str | None:
    values = view.get("state", {}).get("values", {})
    return values.get(CHANNEL, {}).get(CHANNEL, {}).get("selected_conversation") or None


async def _allowed(admin: AdminCommands, ack: AsyncAck, user: str) -> bool:
    """Whether `user` may submit the form; if not, the form is answered with why."""
    refusal = await admin.check.refusal(user, within=RIGHTS_CHECK_WITHIN)
    if refusal is None:
        return True
    await ack(response_action="errors", errors={CHANNEL: _short(refusal)})
    return False


async def _post_trial(
    poster: AsyncWebClient, channel: str, release: Release, user: str
) -> str | None:
    """Post the test announcement; None when posted, else what to tell the admin (mrkdwn)."""
    try:
        await post_joining(
            poster,
            {
                "channel": channel,
                "text": f"Test: {blocks.announcement_text(release)}",
                "blocks": blocks.trial_blocks(release, user),
                "unfurl_links": False,
                "unfurl_media": False,
            },
        )
        return None
    except Exception as error:
        failure = classify(error)
    log.warning("test announcement in %s failed: %s", channel, failure.reason)
    if failure.kind is Failure.UNKNOWN:
        return (
            f"Slack did not answer when I posted the test announcement in <#{channel}>: it may "
            "be there. Look before sending another."
        )
    reason = blocks.escape(explain(failure.reason))
    return f"The test announcement could not be posted in <#{channel}> ({reason})."


def _short(text: str) -> str:
    """Slack shows at most 150 characters under a field."""
    return text if len(text) <= 150 else text[:149] + "…"
