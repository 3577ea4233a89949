"""The Slack error taxonomy: what a failed Web API call means (`classify`), and what an admin
can do about it (`explain`). Pure, so every caller reads Slack's answers the same way."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from slack_sdk.errors import SlackApiError

from bot.backoff import retry_after_seconds


class Failure(Enum):
    RATE_LIMITED = "rate limited"  # Slack refused it: not posted, wait Retry-After
    UNKNOWN = "unknown outcome"  # maybe posted: look in history before trying again
    NOT_IN_CHANNEL = "not in channel"  # join, then try again
    NEEDS_ADMIN = "needs an admin"  # token or scope problem: keep it, report it, retry slowly
    PERMANENT = "permanent"  # this post can never succeed as it is


_UNKNOWN_ERRORS = {"internal_error", "fatal_error", "request_timeout", "service_unavailable"}
_ADMIN_ERRORS = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "missing_scope",
    "no_permission",
    "not_allowed_token_type",
    "team_access_not_granted",
    "ekm_access_denied",
    "org_login_required",
}


@dataclass(frozen=True)
class SlackFailure:
    kind: Failure
    reason: str
    retry_after: float | None = None
    code: str | None = None  # Slack's own error code, when it answered with one


def classify(error: Exception) -> SlackFailure:
    """What a failed Web API call means for the delivery (or for whatever else was asked)."""
    if not isinstance(error, SlackApiError):
        # Network errors and timeouts: the request may have reached Slack.
        return SlackFailure(Failure.UNKNOWN, f"{error.__class__.__name__}: {error}".rstrip(": "))
    response = error.response
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    data = getattr(response, "data", None)
    code = data.get("error") if isinstance(data, dict) else None
    headers = getattr(response, "headers", None) or {}
    retry_after = retry_after_seconds(headers.get("Retry-After") or headers.get("retry-after"))
    if status == 429 or code == "ratelimited":
        return SlackFailure(Failure.RATE_LIMITED, "ratelimited", retry_after, code)
    if status is not None and status >= 500:
        return SlackFailure(
            Failure.UNKNOWN, f"HTTP {status}{f' {code}' if code else ''}", code=code
        )
    if code in _UNKNOWN_ERRORS:
        return SlackFailure(Failure.UNKNOWN, code, code=code)
    if code == "not_in_channel":
        return SlackFailure(Failure.NOT_IN_CHANNEL, code, code=code)
    if code in _ADMIN_ERRORS:
        return SlackFailure(Failure.NEEDS_ADMIN, code, code=code)
    if code is None:
        return SlackFailure(Failure.UNKNOWN, f"unexpected answer (HTTP {status})")
    return SlackFailure(Failure.PERMANENT, code, code=code)


_UNINSTALLED = "the app was uninstalled or its token revoked; reinstall it in the workspace"
_ADVICE = {
    "channel_not_found": "the channel was deleted, or it is private and the bot is not in it",
    "is_archived": "the channel is archived",
    "not_in_channel": "the channel is private: invite the bot with /invite",
    "invalid_auth": "the bot's token is wrong or was revoked; reinstall the app, or give the "
    "bot its new token",
    "token_revoked": _UNINSTALLED,
    "account_inactive": _UNINSTALLED,
    "missing_scope": "the app lacks a scope; reinstall it from the manifest",
    "ratelimited": "Slack asked the bot to slow down",
}
# Slack's answers to a message it cannot show as built: the announcement is sent again without
# its image, then as a minimal message (see `bot.slack.outbox`).
MALFORMED = frozenset(
    {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "invalid_attachments",
     "too_many_attachments", "invalid_arguments"}
)  # fmt: skip


# Slack's answers when a member cannot be sent a direct message by the app: they left the
# workspace (deactivated), cannot be found or seen, or are a bot.
RECIPIENT_GONE = frozenset(
    {"user_not_found", "user_disabled", "user_not_visible", "cannot_dm_bot",
     "messages_tab_disabled"}
)  # fmt: skip


def explain(reason: str) -> str:
    """The error code with what an admin can do about it."""
    advice = _ADVICE.get(reason)
    return f"{reason}: {advice}" if advice else reason
