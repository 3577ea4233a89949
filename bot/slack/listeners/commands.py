"""`/isscr-news`: the slash command members type to search the archive (and admins to
configure it, members to manage their alerts)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext

from bot.search.engine import SearchError
from bot.search.grammar import QueryError, is_help
from bot.search.results import Results
from bot.search.service import SearchService
from bot.slack.admin import Admin, is_admin_command
from bot.slack.alerts import AlertAnswers, is_alert_command
from bot.slack.blocks.common import fallback_text, text_blocks
from bot.slack.blocks.search import (
    admin_help_blocks,
    help_blocks,
    problem_blocks,
    search_blocks,
    search_text,
)
from bot.slack.blocks.shapes import Message
from bot.slack.controls import Controls
from bot.slack.home import Home
from bot.slack.markup import COMMAND, from_slack
from bot.slack.rights import SEE
from bot.slack.workspaces import Workspaces

log = logging.getLogger(__name__)


def register(
    app: AsyncApp, search: SearchService, workspaces: Workspaces, controls: Controls
) -> None:
    @app.command(COMMAND)
    async def isscr_news(
        ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        ws = workspaces.of(context)
        admin, home = ws.admin, ws.home
        raw = (command.get("text") or "").strip()
        name = command.get("command") or COMMAND
        user = command.get("user_id") or ""
        if is_help(raw):
            await answer_help(ack, respond, admin, user, name, within=controls.answer_in_ack_within)
            return
        if is_alert_command(raw):
            work = answer_alerts(AlertAnswers(ws.admin.db, ws.team), user, raw)
            waiting = ":hourglass_flowing_sand: Working on it…"
        elif is_admin_command(raw):
            # The raw text: channels arrive as <#C123|name>, which the search would flatten.
            work = answer_admin(admin, home, user, raw)
            waiting = ":hourglass_flowing_sand: Working on it…"
        else:
            work = answer(search, from_slack(raw).strip(), 1, name, command.get("channel_id"))
            waiting = ":mag: Searching the ISSCR archive…"
        await answer_in_time(
            ack, respond, work, waiting=waiting, within=controls.answer_in_ack_within
        )


async def answer_admin(admin: Admin, home: Home, user: str, text: str) -> Message:
    """The answer to an admin command, once the admin's Home shows what it changed."""
    try:
        answer, changed = await admin.answer(user, text)
    except Exception:  # a bug, a full disk: the admin still gets an answer, and the log the error
        log.exception("the admin command %r failed", _verb(text))
        problem = (
            "That command hit an error in the bot, so it may not have been done; the error is "
            f"in the bot's log. `{COMMAND} routes` shows where news goes now."
        )
        return {"text": fallback_text(problem), "blocks": text_blocks(problem)}
    if changed:
        try:
            await home.after_change(user)
        except Exception:  # done: the answer says so; the Homes are right at their next opening
            log.exception("the Homes were not refreshed after the admin command %r", _verb(text))
    return answer


async def answer_alerts(alerts: AlertAnswers, user: str, text: str) -> Message:
    """The answer to an alert command (see `is_alert_command`), whatever happens."""
    try:
        return await alerts.command(user, text)
    except Exception:  # a bug, a full disk: the member still gets an answer, the admins a log
        # The command's first word only: a member's query is theirs, never logged.
        log.exception("the alert command %r failed", _verb(text))
        problem = (
            "That hit an error in the bot, which is logged for its admins, so your alerts may "
            f"not have changed. `{COMMAND} alerts` shows them."
        )
        return {"text": fallback_text(problem), "blocks": text_blocks(problem)}


def _verb(text: str) -> str:
    """A command's first word, cut short (it goes to the log)."""
    words = text.split(maxsplit=1)
    return words[0][:20].casefold() if words else ""


async def answer_in_time(
    ack: AsyncAck,
    respond: AsyncRespond,
    work: Awaitable[Message],
    *,
    waiting: str,
    within: float,
) -> None:
    """Answer in the ack when `work` is done `within` seconds, else ack and answer right after."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=within)
    if done:
        await ack(**task.result())
        return
    await ack(text=waiting)
    # A new message below the ack: Slack does not let a slash command's response_url replace
    # the ack's message (slackapi/bolt-python#1268), and might drop the answer if asked to.
    await respond(replace_original=False, **await task)


async def answer_help(
    ack: AsyncAck,
    respond: AsyncRespond,
    admin: Admin,
    user: str,
    command: str,
    *,
    within: float,
) -> None:
    """The usage of `command`, with the admin commands for an admin. Whether `user` is one is
    asked of Slack as for an admin command; a member never waits for that past `within`: their
    help comes in the ack, and an admin whose answer came too late gets the admin commands in
    a second message."""
    check = asyncio.ensure_future(admin.check.refusal(user, wanted=SEE))
    done, _ = await asyncio.wait({check}, timeout=within)
    is_admin = bool(done) and check.result() is None
    await ack(
        text=fallback_text(f"How to use {command}"),
        blocks=help_blocks(command, admin=is_admin),
    )
    if not done and await check is None:
        await respond(
            replace_original=False,
            text=fallback_text(f"Admin commands of {command}"),
            blocks=admin_help_blocks(command),
        )


async def answer(
    search: SearchService, text: str, page: int, command: str, channel: str | None = None
) -> Message:
    """The ephemeral message answering `text`: results, or a hint saying what to change.
    `channel`: where the search was made, which its Share buttons name."""
    try:
        results: Results = await search.run(text, page)
    except QueryError as error:
        return {
            "text": fallback_text(error.problem),  # it quotes what the member typed
            "blocks": problem_blocks(error.problem, error.example, command=command),
        }
    except SearchError as error:
        return {
            "text": fallback_text(str(error)),
            "blocks": problem_blocks(str(error), command=command),
        }
    except Exception:  # a bug must still get the member an answer, and the admin a log line
        log.exception("search for %r failed", text)
        problem = (
            "This search hit an error in the bot, which is logged for its admins. "
            "Please try again, perhaps with other words."
        )
        return {"text": problem, "blocks": problem_blocks(problem, command=command)}
    return {
        "text": search_text(results),
        "blocks": search_blocks(results, command, channel),
    }
