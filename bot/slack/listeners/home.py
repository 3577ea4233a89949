"""The App Home's admin buttons: the setup card's channel, Add route, Edit, Remove, Poll now,
Send a test announcement, Retry failed deliveries, Announce them / Discard them for
announcements held after a flood, and the pages of routes.

Each click asks Slack again whether the user is an admin; a refused click changes nothing,
says why in a small modal and shows the user the members' Home. A button's value is checked as
strictly as the slash command's text: a value no button of ours carries changes nothing and
is answered in the same kind of modal. So is a database too busy to answer in time.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.database import DatabaseBusy
from bot.models import CHANNEL_ID
from bot.routes import RouteError, Routes
from bot.slack import blocks
from bot.slack.admin import BUSY, READ_WITHIN, WRITE_WITHIN, AdminCommands
from bot.slack.home import Home
from bot.slack.rights import CHANGE, POLL
from bot.store import Store

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

    async def allowed_channel(body: dict[str, Any], value: Any) -> str | None:
        """`value` when it is a channel ID (as our menus and buttons send) and the user an
        admin; None once the user has been told why not."""
        if not isinstance(value, str) or not CHANNEL_ID.fullmatch(value):
            await tell(body, NOT_OURS)
            return None
        return value if await allowed(body) else None

    @app.action(blocks.ADD_ROUTE)
    async def add_route(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        if not await allowed(body):
            return
        try:
            known = await admin.db.read(lambda store: store.categories(), within=READ_WITHIN)
        except DatabaseBusy:
            await tell(body, BUSY)
            return
        await client.views_open(trigger_id=body["trigger_id"], view=blocks.route_form(known))

    @app.action(blocks.EDIT_ROUTE)
    async def edit_route(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        user = body["user"]["id"]
        channel = await allowed_channel(body, action.get("value"))
        if channel is None:
            return
        try:
            routes, known = await admin.db.read(
                lambda store: (store.routes(), store.categories()), within=READ_WITHIN
            )
        except DatabaseBusy:
            await tell(body, BUSY)
            return
        route = next((r for r in routes if r.channel == channel), None)
        if route is None:  # removed meanwhile, e.g. by another admin
            await home.publish(user, is_admin=True)
            return
        await client.views_open(trigger_id=body["trigger_id"], view=blocks.route_form(known, route))

    @app.action(blocks.REMOVE_ROUTE)
    async def remove_route(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        channel = action.get("value")
        if not isinstance(channel, str):
            await tell(body, NOT_OURS)
            return
        if not await allowed(body):
            return

        def remove(store: Store) -> bool:
            """Whether `channel` is one a Remove button may name: a channel ID, or the exact
            channel of a stored route (one an older version saved from a forged form)."""
            stored = any(route.channel == channel for route in store.routes())
            if stored:
                Routes(store).unroute(channel, [], by=user)
            return stored or CHANNEL_ID.fullmatch(channel) is not None

        try:
            ours = await admin.db.write(remove, within=WRITE_WITHIN)
        except DatabaseBusy:
            await tell(body, BUSY)
            return
        if not ours:
            await tell(body, NOT_OURS)
            return
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

    @app.action(blocks.SETUP_CHANNEL)
    async def choose_first_channel(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        await ack()
        user = body["user"]["id"]
        channel = await allowed_channel(body, action.get("selected_conversation"))
        if channel is None:
            return
        try:
            await admin.db.write(
                lambda store: Routes(store).first(channel, by=user), within=WRITE_WITHIN
            )
        except RouteError as error:
            await home.publish(user, is_admin=True, notice=str(error))
            return
        except DatabaseBusy:
            await tell(body, BUSY)
            return
        membership = await admin.join(channel)
        notice = (
            f"Set up: new ISSCR releases will be announced in <#{channel}>. Send a test "
            "announcement to see one now."
        )
        await home.after_change(user, notice=f"{notice} {membership}" if membership else notice)

    @app.action(blocks.POLL_NOW)
    async def poll_now(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        if not await allowed(body, POLL):
            return
        try:
            await admin.db.write(
                lambda store: store.record_change(
                    user, "poll", "asked for a feed poll", now=time.time()
                ),
                within=WRITE_WITHIN,
            )
        except DatabaseBusy:
            await tell(body, BUSY)
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
                    store.record_change(user, "retry", f"retried {what}", now=time.time())
            return count

        try:
            count = await admin.db.write(retry, within=WRITE_WITHIN)
        except DatabaseBusy:
            await tell(body, BUSY)
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
            await tell(body, BUSY)
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
            await tell(body, BUSY)
            return
        await home.after_change(user)

    @app.action(blocks.SEND_TRIAL)
    async def send_trial(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        if await allowed(body):
            await client.views_open(trigger_id=body["trigger_id"], view=blocks.trial_form())
