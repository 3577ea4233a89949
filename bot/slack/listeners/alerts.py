"""A member's alerts from buttons and the Home's form: Save and Cancel on a preview, Remove
(on a list or the Home), Resume, and "Alert me about…" with its two-step form (a query, then
what it matches and Save alert).

Each works for the member who clicked, in the workspace Bolt authorized: a button's value or a
form's metadata only names a query or one of their alerts (see `bot.slack.alerts`).
"""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext

from bot.database import DatabaseBusy
from bot.search.grammar import QueryError
from bot.slack.admin import BUSY
from bot.slack.alerts import AlertAnswers, saved_text
from bot.slack.blocks.alerts import (
    ALERT_FORM,
    ALERT_PREVIEW,
    CANCEL_ALERT,
    NEW_ALERT,
    QUERY_FIELD,
    REMOVE_ALERT,
    RESUME_ALERTS,
    SAVE_ALERT,
    alert_form,
    alert_preview_form,
    removed_note,
)
from bot.slack.blocks.common import escape, text_blocks
from bot.slack.blocks.forms import result_form
from bot.slack.blocks.shapes import json_object
from bot.slack.listeners.home import tell
from bot.slack.listeners.payloads import Action, ActionBody, SubmissionBody, SubmittedView
from bot.slack.workspaces import Workspace, Workspaces

log = logging.getLogger(__name__)

# Slack shows at most this many characters under a form's field.
FIELD_ERROR = 150


# Long, but a list of short handlers under Bolt's decorators that share these services: it reads
# best whole.
def register(app: AsyncApp, workspaces: Workspaces) -> None:
    def answers(context: AsyncBoltContext) -> tuple[Workspace, AlertAnswers]:
        ws = workspaces.of(context)
        return ws, AlertAnswers(ws.admin.db, ws.team)

    @app.action(SAVE_ALERT)
    async def save(
        ack: AsyncAck,
        respond: AsyncRespond,
        action: Action,
        body: ActionBody,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        _, alerts = answers(context)
        answer = await alerts.save_answer(body["user"]["id"], action.get("value") or "")
        await respond(replace_original=True, **answer)

    @app.action(CANCEL_ALERT)
    async def cancel(ack: AsyncAck, respond: AsyncRespond) -> None:
        await ack()
        note = "Not saved: no alert was made."
        await respond(replace_original=True, text=note, blocks=text_blocks(note))

    @app.action(REMOVE_ALERT)
    async def remove(
        ack: AsyncAck,
        respond: AsyncRespond,
        action: Action,
        body: ActionBody,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        ws, alerts = answers(context)
        user = body["user"]["id"]
        if body.get("container", {}).get("type") == "message":  # a list answering a command
            answer = await alerts.remove_answer(user, action.get("value"))
            await respond(replace_original=True, **answer)
            return
        try:  # the Home's
            removed = await alerts.remove(user, action.get("value"))
        except DatabaseBusy:
            await tell(ws, body, BUSY)
            return
        if removed.alert is None:
            await tell(ws, body, removed_note(None))
        await ws.home.publish(user)

    @app.action(RESUME_ALERTS)
    async def resume(ack: AsyncAck, body: ActionBody, context: AsyncBoltContext) -> None:
        await ack()
        ws, alerts = answers(context)
        try:
            await alerts.resume(body["user"]["id"])
        except DatabaseBusy:
            await tell(ws, body, BUSY)
            return
        await ws.home.publish(body["user"]["id"])

    @app.action(NEW_ALERT)
    async def new_alert(ack: AsyncAck, body: ActionBody, context: AsyncBoltContext) -> None:
        await ack()
        ws = workspaces.of(context)
        await ws.admin.client.views_open(
            trigger_id=body["trigger_id"], view=json_object(alert_form())
        )

    @app.view(ALERT_FORM)
    async def preview_form(
        ack: AsyncAck, body: SubmissionBody, view: SubmittedView, context: AsyncBoltContext
    ) -> None:
        _, alerts = answers(context)
        typed = _typed(view)
        try:
            previewed = await alerts.preview(body["user"]["id"], typed)
        except QueryError as error:
            await ack(response_action="errors", errors={QUERY_FIELD: _short(str(error))})
            return
        except DatabaseBusy:
            await ack(response_action="errors", errors={QUERY_FIELD: _short(BUSY)})
            return
        form = alert_preview_form(
            previewed.preview, previewed.mine.alerts, full=previewed.mine.full
        )
        await ack(response_action="update", view=json_object(form))

    @app.view(ALERT_PREVIEW)
    async def save_form(
        ack: AsyncAck, body: SubmissionBody, view: SubmittedView, context: AsyncBoltContext
    ) -> None:
        ws, alerts = answers(context)
        user = body["user"]["id"]
        try:
            saved = await alerts.save(user, view.get("private_metadata") or "")
        except QueryError as error:  # metadata no form of ours wrote
            form = result_form("Not saved", escape(str(error)))
            await ack(response_action="update", view=json_object(form))
            return
        except DatabaseBusy:
            form = result_form("Not saved", escape(BUSY))
            await ack(response_action="update", view=json_object(form))
            return
        title = "Alert saved" if saved.created else "Not saved"
        await ack(response_action="update", view=json_object(result_form(title, saved_text(saved))))
        await ws.home.publish(user)


def _typed(view: SubmittedView) -> str:
    """The query typed in the Home's form (anything else, in a forged one: nothing)."""
    field = view["state"]["values"].get(QUERY_FIELD, {}).get(QUERY_FIELD, {})
    value = field.get("value")
    return value if isinstance(value, str) else ""


def _short(text: str) -> str:
    return text if len(text) <= FIELD_ERROR else text[: FIELD_ERROR - 1] + "…"
