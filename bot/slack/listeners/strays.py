"""Buttons only the bot's messages carry (an alert preview's Save and Cancel, a search result's
Share, a search's pages), clicked where there is no message: on the Home or in a modal.

Slack never sends such a click (those buttons are on no view), but a member can sign one by
hand. It has no response_url, the only way those buttons' listeners answer, and Bolt would log
an error with a traceback for each and answer 404. Here it is acknowledged, changes nothing
and is answered as any button value no button of ours carries: in a small modal, with one
line in the log and no traceback.
"""

from __future__ import annotations

import logging
import re

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.slack.blocks.alerts import CANCEL_ALERT, SAVE_ALERT
from bot.slack.blocks.search import PAGE_ACTION_PREFIX, SHARE_ACTION_ID
from bot.slack.listeners.home import NOT_OURS, tell
from bot.slack.listeners.payloads import Action, ActionBody
from bot.slack.workspaces import Workspaces

log = logging.getLogger(__name__)

# The action IDs of the buttons that are answered through their message's response_url.
ON_MESSAGES_ONLY = re.compile(
    f"^({re.escape(SAVE_ALERT)}|{re.escape(CANCEL_ALERT)}|{re.escape(SHARE_ACTION_ID)}"
    f"|{re.escape(PAGE_ACTION_PREFIX)}.*)$"
)


async def _without_message(body: ActionBody) -> bool:
    return not body.get("response_url")


def register(app: AsyncApp, workspaces: Workspaces) -> None:
    """Register before the listeners of those buttons: Bolt runs the first that matches."""

    @app.action(ON_MESSAGES_ONLY, matchers=[_without_message])
    async def stray_click(
        ack: AsyncAck, action: Action, body: ActionBody, context: AsyncBoltContext
    ) -> None:
        await ack()
        log.info(
            "a click of %.40r by %.20r came from no message (forged?); nothing done",
            action["action_id"],
            body["user"]["id"],
        )
        await tell(workspaces.of(context), body, NOT_OURS)
