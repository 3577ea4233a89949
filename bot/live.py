"""What only the running process knows of its health, the database being what may fail: whether
Slack confirmed the bot token, whether the database takes writes, whether Socket Mode is up."""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.backoff import backoff_delay
from bot.database import WriteFailure
from bot.health import iso
from bot.models import SlackConnection
from bot.slack.app import Identity
from bot.slack.errors import Failure, classify, explain

log = logging.getLogger(__name__)


class TokenCheck:
    """Learns who the bot is from Slack at start; `problem` says why Slack has not confirmed
    the bot token: it refused it, or cannot be reached yet."""

    def __init__(self, client: AsyncWebClient, identity: Identity) -> None:
        self.client = client
        self.identity = identity
        self.problem: str | None = None

    async def run(self) -> None:
        """Learn who the bot is from Slack (auth.test), trying again while Slack cannot be
        reached. A bad token is reported, not fatal: the feed is still watched and stored, and
        announcements wait in the outbox until the token is fixed."""
        attempt = 0
        while True:
            try:
                auth = await self.client.auth_test()
            except SlackApiError as error:
                failure = classify(error)
                if failure.kind in (Failure.NEEDS_ADMIN, Failure.PERMANENT):  # Slack said no
                    log.error(
                        "Slack rejected SLACK_BOT_TOKEN (%s); announcements will wait",
                        explain(failure.reason),
                    )
                    self.problem = (
                        f"Slack rejected SLACK_BOT_TOKEN at start-up ({explain(failure.reason)}); "
                        "announcements wait until it is fixed"
                    )
                    return
                reason = failure.reason
            except Exception as error:
                reason = classify(error).reason
            else:
                break
            attempt += 1
            delay = backoff_delay(attempt, base=5, cap=300)
            log.warning("cannot reach Slack yet (%s); trying again in %.0f s", reason, delay)
            self.problem = f"Slack cannot be reached ({reason}); trying again"
            await asyncio.sleep(delay)
        self.problem = None
        self.identity.learn(auth.data if isinstance(auth.data, dict) else {})
        log.info("connected to Slack workspace %s as %s", auth.get("team"), auth.get("user"))


def live_problems(
    write_failure: WriteFailure | None,
    token_problem: str | None,
    connection: SlackConnection | None,
) -> list[str]:
    """Problems the database does not record: it may be what fails."""
    problems = []
    if write_failure is not None:
        why = (
            "another program holds it"
            if "locked" in write_failure.reason
            else "is the disk full, or the file read-only?"
        )
        problems.append(
            f"The database cannot be written since {iso(write_failure.since)}: "
            f"{write_failure.reason} ({why}); nothing new can be stored or marked posted meanwhile"
        )
    if token_problem is not None:
        problems.append(token_problem)
    if connection is not None and not connection.connected:
        problems.append(
            f"Slack's Socket Mode connection is down since {iso(connection.since)}"
            + (f": {connection.last_error}" if connection.last_error else "")
            + "; requests from Slack cannot reach the bot meanwhile"
        )
    return problems
