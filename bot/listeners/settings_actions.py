"""The App Home's admin buttons: Add route, Edit, Remove, Poll now, Send a test announcement,
Retry failed deliveries, and Announce them / Discard them for announcements held after a flood.

Each click asks Slack again whether the user is an admin; a refused click changes nothing,
says why in a small modal and shows the user the members' Home.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.admins import CHANGE, POLL
from bot.database import DatabaseBusy
from bot.listeners.admin import BUSY, READ_WITHIN, WRITE_WITHIN, AdminCommands
from bot.listeners.home import Home
from bot.routes import Routes
from bot.store import Store

log = logging.getLogger(__name__)


def register(app: AsyncApp, admin: AdminCommands, home: Home) -> None:
    async def allowed(body: dict[str, Any], wanted: str = CHANGE) -> bool:
        user_id = body["user"]["id"]
        refusal = await admin.check.refusal(user_id, wanted=wanted)
        if refusal is None:
            return True
        # A click on the Home has no message to answer in; a modal is how Slack lets us reply.
        try:
            await admin.client.views_open(
                trigger_id=body["trigger_id"],
                view=blocks.result_form("Nothing changed", blocks.escape(refusal)),
            )
        except Exception as error:  # the member's Home below still drops the buttons
            log.warning("views.open for %s failed: %s", user_id, error.__class__.__name__)
        await home.publish(user_id, is_admin=False)
        return False

    async def busy(body: dict[str, Any]) -> None:
        """Tell the admin that the database did not answer in time and nothing changed."""
        try:
            await admin.client.views_open(
                trigger_id=body["trigger_id"],
                view=blocks.result_form("Nothing changed", blocks.escape(BUSY)),
            )
        except Exception as error:
            log.warning("views.open failed: %s", error.__class__.__name__)

    @app.action(blocks.ADD_ROUTE)
    async def add_route(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        if not await allowed(body):
            return
        try:
            known = await admin.db.read(lambda store: store.categories(), within=READ_WITHIN)
        except DatabaseBusy:
            await busy(body)
            return
        await client.views_open(trigger_id=body["trigger_id"], view=blocks.route_form(known))

    @app.action(blocks.EDIT_ROUTE)
    async def edit_route(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        user = body["user"]["id"]
        if not await allowed(body):
            return
        try:
            routes, known = await admin.db.read(
                lambda store: (store.routes(), store.categories()), within=READ_WITHIN
            )
        except DatabaseBusy:
            await busy(body)
            return
        route = next((r for r in routes if r.channel == action.get("value")), None)
        if route is None:  # removed meanwhile, e.g. by another admin
            await home.publish(user, is_admin=True)
            return
        await client.views_open(trigger_id=body["trigger_id"], view=blocks.route_form(known, route))

    @app.action(blocks.REMOVE_ROUTE)
    async def remove_route(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        if not await allowed(body):
            return
        channel = action.get("value") or ""

        def remove(store: Store) -> None:
            if any(route.channel == channel for route in store.routes()):
                Routes(store).unroute(channel, [], by=user)

        try:
            await admin.db.write(remove, within=WRITE_WITHIN)
        except DatabaseBusy:
            await busy(body)
            return
        await home.after_change(user)

    @app.action(blocks.POLL_NOW)
    async def poll_now(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        if not await allowed(body, POLL):
            return
        try:
            await admin.db.write(
                lambda store: store.record_change(
                    user, "poll", "feed polled on request", now=time.time()
                ),
                within=WRITE_WITHIN,
            )
        except DatabaseBusy:
            await busy(body)
            return
        admin.controls.poll_now()
        await home.after_change(user)

    @app.action(blocks.RETRY_FAILED)
    async def retry_failed(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        if not await allowed(body):
            return

        def retry(store: Store) -> int:
            with store.transaction():
                count = store.retry_failed(now=time.time())
                if count:
                    what = f"{count} failed {'delivery' if count == 1 else 'deliveries'}"
                    store.record_change(user, "retry", f"{what} queued again", now=time.time())
            return count

        try:
            count = await admin.db.write(retry, within=WRITE_WITHIN)
        except DatabaseBusy:
            await busy(body)
            return
        if count:
            admin.controls.deliver_now()
        await home.after_change(user)

    @app.action(blocks.ANNOUNCE_HELD)
    async def announce_held(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        if not await allowed(body):
            return
        try:
            announced = await admin.db.write(
                lambda store: store.announce_held(by=user, now=time.time()), within=WRITE_WITHIN
            )
        except DatabaseBusy:
            await busy(body)
            return
        if announced:
            admin.controls.deliver_now()
        await home.after_change(user)

    @app.action(blocks.DISCARD_HELD)
    async def discard_held(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        if not await allowed(body):
            return
        try:
            await admin.db.write(
                lambda store: store.discard_held(by=user, now=time.time()), within=WRITE_WITHIN
            )
        except DatabaseBusy:
            await busy(body)
            return
        await home.after_change(user)

    @app.action(blocks.SEND_TRIAL)
    async def send_trial(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        if await allowed(body):
            await client.views_open(trigger_id=body["trigger_id"], view=blocks.trial_form())
