"""The App Home: its opening, and its admin buttons: the setup card's channel, Add route, Edit,
Remove, Poll now, Send a test announcement, Retry failed deliveries, Announce them / Discard
them for announcements held after a flood, and the pages of routes.

Each click asks Slack again whether the user is an admin; a refused click changes nothing,
says why in a small modal and shows the user the members' Home. A button's value is checked as
strictly as the slash command's text: a value no button of ours carries changes nothing and
is answered in the same kind of modal. So is a database too busy to answer in time.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import TypeVar

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.database import DatabaseBusy
from bot.models import CHANNEL_ID
from bot.routes import RouteError
from bot.slack import route_text
from bot.slack.admin import BUSY, READ_WITHIN, Admin
from bot.slack.blocks.admin import (
    ADD_ROUTE,
    ANNOUNCE_HELD,
    APPLY_CORRECTIONS,
    DISCARD_HELD,
    EDIT_ROUTE,
    POLL_NOW,
    REMOVE_ROUTE,
    RETRY_FAILED,
    ROUTES_NEXT,
    ROUTES_PREVIOUS,
    SEND_TRIAL,
    SETUP_CHANNEL,
    SKIP_CORRECTIONS,
)
from bot.slack.blocks.common import escape
from bot.slack.blocks.forms import result_form, route_form, trial_form
from bot.slack.blocks.home import read_route_page
from bot.slack.blocks.shapes import json_object
from bot.slack.listeners.payloads import Action, ActionBody, HomeOpened
from bot.slack.rights import CHANGE, POLL
from bot.slack.workspaces import Workspace, Workspaces

log = logging.getLogger(__name__)

T = TypeVar("T")


class Told(Enum):
    """Nothing was done, and the user was told why."""

    TOLD = "told"


TOLD = Told.TOLD

NOT_OURS = (
    "That button is not one this app made (or it is from an older version), so nothing was "
    "changed. Open the Home tab again and use its buttons."
)


async def tell(ws: Workspace, body: ActionBody, text: str) -> None:
    """Answer a click in a small modal that says nothing changed, and why (`text`, plain): a
    click on the Home has no message to answer in."""
    try:
        await ws.admin.client.views_open(
            trigger_id=body["trigger_id"],
            view=json_object(result_form("Nothing changed", escape(text))),
        )
    except Exception as error:
        log.warning("views.open for %s failed: %s", body["user"]["id"], type(error).__name__)


# Long, but a list of short handlers under Bolt's decorators that share these services: it reads
# best whole. Each works in the workspace Bolt authorized the request for (`Workspaces.of`).
def register(app: AsyncApp, workspaces: Workspaces) -> None:
    async def allowed(ws: Workspace, body: ActionBody, wanted: str = CHANGE) -> bool:
        user_id = body["user"]["id"]
        refusal = await ws.admin.check.refusal(user_id, wanted=wanted)
        if refusal is None:
            return True
        await tell(ws, body, refusal)
        await ws.home.publish(user_id, is_admin=False)  # the members' Home drops the buttons
        return False

    async def allowed_channel(ws: Workspace, body: ActionBody, value: object) -> str | None:
        """`value` when it is a channel ID (as our menus and buttons send) and the user an
        admin; None once the user has been told why not."""
        if not isinstance(value, str) or not CHANNEL_ID.fullmatch(value):
            await tell(ws, body, NOT_OURS)
            return None
        return value if await allowed(ws, body) else None

    async def as_admin(
        ws: Workspace,
        body: ActionBody,
        work: Callable[[str], Awaitable[T]],
        wanted: str = CHANGE,
    ) -> T | Told:
        """`work(user)` when the user is an admin; TOLD once they have been told why not (not
        an admin, or a database too busy to answer in time)."""
        if not await allowed(ws, body, wanted):
            return TOLD
        try:
            return await work(body["user"]["id"])
        except DatabaseBusy:
            await tell(ws, body, BUSY)
            return TOLD

    def admin_button(
        work: Callable[[Admin, str], Awaitable[None]], wanted: str = CHANGE
    ) -> Callable[[AsyncAck, ActionBody, AsyncBoltContext], Awaitable[None]]:
        """The listener of a button that does `work` as an admin, then refreshes the Homes."""

        async def pressed(ack: AsyncAck, body: ActionBody, context: AsyncBoltContext) -> None:
            await ack()
            ws = workspaces.of(context)
            done = await as_admin(ws, body, lambda user: work(ws.admin, user), wanted)
            if done is not TOLD:
                await ws.home.after_change(body["user"]["id"])

        return pressed

    @app.event("app_home_opened")
    async def app_home_opened(event: HomeOpened, context: AsyncBoltContext) -> None:
        # Bolt acks events before this runs; the Messages tab also sends this event.
        if event.get("tab", "home") != "home":
            return
        await workspaces.of(context).home.publish(event["user"])

    @app.action(ADD_ROUTE)
    async def add_route(ack: AsyncAck, body: ActionBody, context: AsyncBoltContext) -> None:
        await ack()
        ws = workspaces.of(context)
        if not await allowed(ws, body):
            return
        try:
            known = await ws.admin.db.read(lambda store: store.categories(), within=READ_WITHIN)
        except DatabaseBusy:
            await tell(ws, body, BUSY)
            return
        await ws.admin.client.views_open(
            trigger_id=body["trigger_id"], view=json_object(route_form(known))
        )

    @app.action(EDIT_ROUTE)
    async def edit_route(
        ack: AsyncAck, body: ActionBody, action: Action, context: AsyncBoltContext
    ) -> None:
        await ack()
        ws = workspaces.of(context)
        user = body["user"]["id"]
        channel = await allowed_channel(ws, body, action.get("value"))
        if channel is None:
            return
        try:
            routes, known = await ws.admin.db.read(
                lambda store: (store.routes(team=ws.team), store.categories()),
                within=READ_WITHIN,
            )
        except DatabaseBusy:
            await tell(ws, body, BUSY)
            return
        route = next((r for r in routes if r.channel == channel), None)
        if route is None:  # removed meanwhile (by another admin), or of no route of ours
            await ws.home.publish(user, is_admin=True)
            return
        await ws.admin.client.views_open(
            trigger_id=body["trigger_id"], view=json_object(route_form(known, route))
        )

    @app.action(REMOVE_ROUTE)
    async def remove_route(
        ack: AsyncAck, body: ActionBody, action: Action, context: AsyncBoltContext
    ) -> None:
        await ack()
        ws = workspaces.of(context)
        channel = action.get("value")
        if not isinstance(channel, str):
            await tell(ws, body, NOT_OURS)
            return
        ours = await as_admin(ws, body, lambda user: ws.admin.remove_route(user, channel))
        if ours is False:
            await tell(ws, body, NOT_OURS)
        elif ours is True:
            await ws.home.after_change(body["user"]["id"])

    @app.action(re.compile(f"^({ROUTES_PREVIOUS}|{ROUTES_NEXT})$"))
    async def turn_route_page(
        ack: AsyncAck, body: ActionBody, action: Action, context: AsyncBoltContext
    ) -> None:
        await ack()
        ws = workspaces.of(context)
        value = action.get("value")
        page = read_route_page(value) if isinstance(value, str) else None
        if page is None:
            await tell(ws, body, NOT_OURS)
            return
        # Slack is asked again whether the user is an admin: a member gets the members' Home.
        await ws.home.publish(body["user"]["id"], route_page=page)

    @app.action(SETUP_CHANNEL)
    async def choose_first_channel(
        ack: AsyncAck, body: ActionBody, action: Action, context: AsyncBoltContext
    ) -> None:
        await ack()
        ws = workspaces.of(context)
        user = body["user"]["id"]
        channel = await allowed_channel(ws, body, action.get("selected_conversation"))
        if channel is None:
            return
        try:
            notice = await ws.admin.first_route(user, channel)
        except RouteError as error:
            await ws.home.publish(user, is_admin=True, notice=route_text.explain(error))
            return
        except DatabaseBusy:
            await tell(ws, body, BUSY)
            return
        await ws.home.after_change(user, notice=notice)

    app.action(POLL_NOW)(admin_button(Admin.poll, POLL))
    app.action(RETRY_FAILED)(admin_button(Admin.retry_failed))
    app.action(ANNOUNCE_HELD)(admin_button(Admin.announce_held))
    app.action(DISCARD_HELD)(admin_button(Admin.discard_held))
    app.action(APPLY_CORRECTIONS)(admin_button(Admin.apply_held_corrections))
    app.action(SKIP_CORRECTIONS)(admin_button(Admin.skip_held_corrections))

    @app.action(SEND_TRIAL)
    async def send_trial(ack: AsyncAck, body: ActionBody, context: AsyncBoltContext) -> None:
        await ack()
        ws = workspaces.of(context)
        if await allowed(ws, body):
            await ws.admin.client.views_open(
                trigger_id=body["trigger_id"], view=json_object(trial_form())
            )
