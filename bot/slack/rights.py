"""Who may configure the bot: the workspace's admins and owners, and ADMIN_USER_IDS.

Asked of Slack (`users.info`) on every admin command, button and form, never cached: rights
taken away in Slack are taken away here at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

# What a refused member wanted to do, for the refusal's first sentence.
CHANGE = "change where ISSCR news is announced; nothing was changed"
SEE = "see where ISSCR news goes and how the bot is doing"
POLL = "have the feed polled on request; it was not polled"

UNCHECKED = (
    "I couldn't check your admin rights just now (Slack did not answer), so nothing was "
    "changed. Please try again in a minute."
)
# Fits under a form's field (150 characters), where a form's answer must come within 3 s.
SLOW = (
    "Slack did not answer in time, so I could not check your admin rights and nothing was "
    "saved. Please submit again."
)


def refusal_text(wanted: str = CHANGE) -> str:
    """The polite refusal for a member who `wanted` something only admins may do."""
    return (
        f"Only workspace admins and owners can {wanted}. Ask one of them, or ask whoever runs "
        "the bot to make you an admin of ISSCR News."
    )


@dataclass(frozen=True)
class Verdict:
    """Whether a member may configure the bot (`refusal` None) or what to tell them, and,
    when asked for, their time zone as their Slack profile gives it (IANA; None: unknown)."""

    refusal: str | None
    tz: str | None = None


class AdminCheck:
    def __init__(self, client: AsyncWebClient, extra_admins: frozenset[str]) -> None:
        self.client = client
        self.extra_admins = extra_admins

    async def refusal(
        self, user_id: str, *, wanted: str = CHANGE, within: float | None = None
    ) -> str | None:
        """None when `user_id` may configure the bot, else the polite answer to show them.

        `within`: seconds to wait for Slack (the client's own timeout and retries otherwise);
        past it the answer is SLOW, and the user is asked to try again.
        """
        return (await self.verdict(user_id, wanted=wanted, within=within)).refusal

    async def verdict(
        self,
        user_id: str,
        *,
        wanted: str = CHANGE,
        within: float | None = None,
        with_tz: bool = False,
    ) -> Verdict:
        """`refusal`, and with `with_tz` the member's time zone (a digest's hour is theirs):
        from the same users.info, asked of Slack also for ADMIN_USER_IDS then (whose rights
        need no asking; their time zone unknown if Slack does not answer)."""
        if user_id in self.extra_admins and not with_tz:
            return Verdict(None)
        try:
            answer = await asyncio.wait_for(self.client.users_info(user=user_id), within)
        except TimeoutError:
            log.warning("users.info for %s took over %s s", user_id, within)
            return Verdict(None if user_id in self.extra_admins else SLOW)
        except SlackApiError as error:
            if user_id in self.extra_admins:
                return Verdict(None)
            if error.response.get("error") == "user_not_found":
                # Not a user of this workspace (a request signed for another's): no rights.
                return Verdict(refusal_text(wanted))
            log.warning("users.info for %s failed: %s", user_id, error.response.get("error"))
            return Verdict(UNCHECKED)
        except Exception as error:
            log.warning("users.info for %s failed: %s", user_id, error.__class__.__name__)
            return Verdict(None if user_id in self.extra_admins else UNCHECKED)
        user = answer.get("user") or {}
        tz = user.get("tz") if isinstance(user.get("tz"), str) else None
        if user_id in self.extra_admins or (
            user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner")
        ):
            return Verdict(None, tz)
        return Verdict(refusal_text(wanted))
