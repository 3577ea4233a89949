"""The App Home's admin buttons: Add route, Edit, Remove, Poll now, Send a test announcement,
Retry failed deliveries, and the pages of routes.

Each click asks Slack again whether the user is an admin; a refused click changes nothing,
says why in a small modal and shows the user the members' Home. A button's value is checked as
strictly as the slash command's text: a value no button of ours carries changes nothing and
is answered in the same kind of modal.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.admins import CHANGE, POLL
from bot.listeners.admin import AdminCommands
from bot.listeners.home import Home
from bot.models import CHANNEL_ID

log = logging.getLogger(__name__)

NOT_OURS = (
    "That button is not one this app made (or it is from an older version), so nothing was "
    "changed. Open the Home tab again and use its buttons."
)


def register(app: AsyncApp, admin: AdminCommands, home: Home) -> None:
    async def tell(body: dict[str, Any], text: str) -> None:
        """Answer a click in a small modal: a click on the Home has no message to answer in."""
        try:
            await admin.client.views_open(
                trigger_id=body["trigger_id"],
                view=blocks.result_form("Nothing changed", blocks.escape(text)),
            )
        except Exception as error:
            log.warning("views.open for %s failed: %s", body["user"]["id"], type(error).__name__)

    async def allowed(body: dict[str, Any], wanted: str = CHANGE) -> bool:
        user_id = body["user"]["id"]
        refusal = await admin.check.refusal(user_id, wanted=wanted)
        if refusal is None:
            return True
        await tell(body, refusal)
        await home.publish(user_id, is_admin=False)  # the members' Home drops the buttons
        return False

    def route_channel(action: dict[str, Any], *, stored: bool = False) -> str | None:
        """The channel an Edit or Remove button names: a channel ID; for Remove (`stored`)
        also the exact channel of a stored route, so a route an older version saved from a
        forged form can still be removed. None for anything else."""
        value = action.get("value")
        if not isinstance(value, str):
            return None
        if CHANNEL_ID.fullmatch(value):
            return value
        if stored and any(route.channel == value for route in admin.store.routes()):
            return value
        return None

    @app.action(blocks.ADD_ROUTE)
    async def add_route(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        if await allowed(body):
            form = blocks.route_form(admin.store.categories())
            await client.views_open(trigger_id=body["trigger_id"], view=form)

    @app.action(blocks.EDIT_ROUTE)
    async def edit_route(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        user = body["user"]["id"]
        channel = route_channel(action)
        if channel is None:
            await tell(body, NOT_OURS)
            return
        if not await allowed(body):
            return
        route = next((r for r in admin.store.routes() if r.channel == channel), None)
        if route is None:  # removed meanwhile, e.g. by another admin
            await home.publish(user, is_admin=True)
            return
        form = blocks.route_form(admin.store.categories(), route)
        await client.views_open(trigger_id=body["trigger_id"], view=form)

    @app.action(blocks.REMOVE_ROUTE)
    async def remove_route(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        channel = route_channel(action, stored=True)
        if channel is None:
            await tell(body, NOT_OURS)
            return
        if not await allowed(body):
            return
        if any(route.channel == channel for route in admin.store.routes()):
            admin.routes.unroute(channel, [], by=user)
        await home.after_change(user)

    @app.action(re.compile(f"^({blocks.ROUTES_PREVIOUS}|{blocks.ROUTES_NEXT})$"))
    async def turn_route_page(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        value = action.get("value")
        page = blocks.read_route_page(value) if isinstance(value, str) else None
        if page is None:
            await tell(body, NOT_OURS)
            return
        # Slack is asked again whether the user is an admin: a member gets the members' Home.
        await home.publish(body["user"]["id"], route_page=page)

    @app.action(blocks.POLL_NOW)
    async def poll_now(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        if not await allowed(body, POLL):
            return
        admin.controls.poll_now()
        admin.store.record_change(user, "poll", "feed polled on request", now=time.time())
        await home.after_change(user)

    @app.action(blocks.RETRY_FAILED)
    async def retry_failed(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        if not await allowed(body):
            return
        count = admin.store.retry_failed(now=time.time())
        if count:
            admin.store.record_change(
                user,
                "retry",
                f"{count} failed {'delivery' if count == 1 else 'deliveries'} queued again",
                now=time.time(),
            )
            admin.controls.deliver_now()
        await home.after_change(user)

    @app.action(blocks.SEND_TRIAL)
    async def send_trial(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        if await allowed(body):
            await client.views_open(trigger_id=body["trigger_id"], view=blocks.trial_form())
