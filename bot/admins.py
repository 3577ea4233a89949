"""Who may configure the bot: the workspace's admins and owners, and ADMIN_USER_IDS.

Asked of Slack (`users.info`) on every admin command, button and form, never cached: rights
taken away in Slack are taken away here at once.
"""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

REFUSAL = (
    "Only workspace admins and owners can change where ISSCR news is announced; nothing was "
    "changed. Ask one of them, or ask whoever runs the bot to add your member ID to "
    "ADMIN_USER_IDS."
)
UNCHECKED = (
    "I couldn't check your admin rights just now (Slack did not answer), so nothing was "
    "changed. Please try again in a minute."
)


class AdminCheck:
    def __init__(self, client: AsyncWebClient, extra_admins: frozenset[str]) -> None:
        self.client = client
        self.extra_admins = extra_admins

    async def refusal(self, user_id: str) -> str | None:
        """None when `user_id` may configure the bot, else the polite answer to show them."""
        if user_id in self.extra_admins:
            return None
        try:
            answer = await self.client.users_info(user=user_id)
        except Exception as error:
            log.warning("users.info for %s failed: %s", user_id, error.__class__.__name__)
            return UNCHECKED
        user = answer.get("user") or {}
        if user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"):
            return None
        return REFUSAL
