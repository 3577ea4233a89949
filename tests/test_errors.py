"""`classify` and `explain` on what slack_sdk really raises: each failure is produced by a real
AsyncWebClient call to the Slack stand-in, so the tests read Slack's answers as the bot does."""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.errors import MALFORMED, Failure, SlackFailure, classify, explain
from standins.slack_api import FakeResponse, SlackApi
from standins.slack_requests import CHANNEL


async def failure_of(
    slack: SlackApi,
    answer: FakeResponse | None = None,
    *,
    times: int = 1,
    channel: str = CHANNEL,
    token: str | None = None,
    timeout: int = 5,
    blocks: list[dict[str, Any]] | None = None,
) -> SlackFailure:
    """What a chat.postMessage that fails (with `answer`, or by itself) means, per `classify`."""
    if answer is not None:
        slack.fail_next("chat.postMessage", answer, times=times)
    client = AsyncWebClient(base_url=slack.url, token=token or slack.token, timeout=timeout)
    with pytest.raises(Exception) as caught:
        await client.chat_postMessage(channel=channel, text="A release", blocks=blocks)
    return classify(caught.value)


# -- rate limits -------------------------------------------------------------------------------


async def test_a_429_is_a_rate_limit_that_waits_the_retry_after_seconds(slack: SlackApi) -> None:
    failure = await failure_of(slack, FakeResponse.rate_limited(retry_after=7))
    assert failure.kind is Failure.RATE_LIMITED
    assert failure.retry_after == 7
    assert "slow down" in explain(failure.reason)


async def test_a_retry_after_given_as_an_http_date_is_read_as_seconds_from_now(
    slack: SlackApi,
) -> None:
    when = formatdate(time.time() + 30, usegmt=True)
    answer = FakeResponse(
        status=429, body={"ok": False, "error": "ratelimited"}, headers=(("Retry-After", when),)
    )
    failure = await failure_of(slack, answer)
    assert failure.kind is Failure.RATE_LIMITED
    assert failure.retry_after is not None and 25 <= failure.retry_after <= 31


async def test_a_429_from_slack_s_edge_without_an_error_code_is_still_a_rate_limit(
    slack: SlackApi,
) -> None:
    answer = FakeResponse(
        status=429, body="<html>Too Many Requests</html>", headers=(("Retry-After", "3"),)
    )
    failure = await failure_of(slack, answer)
    assert (failure.kind, failure.retry_after) == (Failure.RATE_LIMITED, 3)


async def test_ratelimited_without_a_429_or_retry_after_is_still_a_rate_limit(
    slack: SlackApi,
) -> None:
    failure = await failure_of(slack, FakeResponse.error("ratelimited"))
    assert (failure.kind, failure.retry_after) == (Failure.RATE_LIMITED, None)


# -- tokens and scopes: an admin must act --------------------------------------------------------


async def test_a_wrong_token_needs_an_admin_who_is_told_to_reinstall_or_replace_it(
    slack: SlackApi,
) -> None:
    failure = await failure_of(slack, token="xoxb-not-the-bots-token")
    assert (failure.kind, failure.code) == (Failure.NEEDS_ADMIN, "invalid_auth")
    # Read by a workspace's admins too (its Home): no setting's name.
    assert "reinstall the app" in explain(failure.reason)
    assert "SLACK_" not in explain(failure.reason)


@pytest.mark.parametrize(
    "code",
    ["not_authed", "account_inactive", "token_revoked", "token_expired", "missing_scope",
     "no_permission", "not_allowed_token_type", "team_access_not_granted"],
)  # fmt: skip
async def test_a_token_or_scope_problem_needs_an_admin(slack: SlackApi, code: str) -> None:
    failure = await failure_of(slack, FakeResponse.error(code))
    assert (failure.kind, failure.code, failure.reason) == (Failure.NEEDS_ADMIN, code, code)


@pytest.mark.parametrize("code", ["token_revoked", "account_inactive", "missing_scope"])
def test_an_uninstalled_app_or_a_missing_scope_is_explained_as_a_reinstall(code: str) -> None:
    assert explain(code).startswith(f"{code}: ")
    assert "reinstall" in explain(code)


# -- channels ----------------------------------------------------------------------------------


async def test_a_public_channel_the_bot_is_not_in_is_joined_then_retried(slack: SlackApi) -> None:
    slack.add_channel("C0OUTSIDE1", name="outside", member=False)
    failure = await failure_of(slack, channel="C0OUTSIDE1")
    assert (failure.kind, failure.code) == (Failure.NOT_IN_CHANNEL, "not_in_channel")
    assert "/invite" in explain(failure.reason)


@pytest.mark.parametrize("private", [False, True])
async def test_a_missing_or_private_channel_is_permanent_and_says_why(
    slack: SlackApi, private: bool
) -> None:
    if private:
        slack.add_channel("C0PRIVATE1", name="private", private=True, member=False)
    failure = await failure_of(slack, channel="C0PRIVATE1")
    assert (failure.kind, failure.code) == (Failure.PERMANENT, "channel_not_found")
    assert "deleted" in explain(failure.reason) and "private" in explain(failure.reason)


async def test_an_archived_channel_is_permanent_and_says_so(slack: SlackApi) -> None:
    slack.add_channel("C0ARCHIVE1", name="old-news", archived=True)
    failure = await failure_of(slack, channel="C0ARCHIVE1")
    assert (failure.kind, failure.code) == (Failure.PERMANENT, "is_archived")
    assert explain(failure.reason) == "is_archived: the channel is archived"


# -- malformed messages --------------------------------------------------------------------------


async def test_blocks_slack_cannot_show_are_a_permanent_malformed_message(
    slack: SlackApi,
) -> None:
    too_many = [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 51
    failure = await failure_of(slack, blocks=too_many)
    slack.rejected.clear()  # sent on purpose
    assert (failure.kind, failure.code) == (Failure.PERMANENT, "invalid_blocks")
    assert failure.code in MALFORMED


@pytest.mark.parametrize("code", ["msg_too_long", "invalid_arguments", "invalid_blocks_format"])
async def test_a_message_slack_refuses_as_built_is_permanent_and_malformed(
    slack: SlackApi, code: str
) -> None:
    failure = await failure_of(slack, FakeResponse.error(code))
    assert (failure.kind, failure.code) == (Failure.PERMANENT, code)
    assert code in MALFORMED


def test_channel_and_token_problems_are_not_taken_for_a_malformed_message() -> None:
    for code in ("channel_not_found", "is_archived", "not_in_channel", "invalid_auth"):
        assert code not in MALFORMED


async def test_an_error_code_nobody_knows_is_permanent_and_explained_as_itself(
    slack: SlackApi,
) -> None:
    failure = await failure_of(slack, FakeResponse.error("restricted_action_new_policy"))
    assert (failure.kind, failure.code) == (Failure.PERMANENT, "restricted_action_new_policy")
    assert explain(failure.reason) == "restricted_action_new_policy"


# -- outcomes unknown: the post may have happened ----------------------------------------------


async def test_a_dropped_connection_is_an_unknown_outcome_named_after_the_error(
    slack: SlackApi,
) -> None:
    # slack_sdk retries a disconnect once by itself: drop both.
    failure = await failure_of(slack, FakeResponse.disconnect(), times=2)
    assert failure.kind is Failure.UNKNOWN
    assert failure.reason.startswith("ServerDisconnectedError")
    assert failure.code is None


async def test_a_timeout_is_an_unknown_outcome_with_a_clean_reason(slack: SlackApi) -> None:
    failure = await failure_of(slack, FakeResponse.timeout(3), timeout=1)
    assert failure.kind is Failure.UNKNOWN
    assert failure.reason == "TimeoutError"  # no dangling ": " for an error without a message


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_an_html_5xx_from_slack_s_edge_is_an_unknown_outcome(
    slack: SlackApi, status: int
) -> None:
    failure = await failure_of(slack, FakeResponse.server_error(status))
    assert (failure.kind, failure.reason, failure.code) == (
        Failure.UNKNOWN,
        f"HTTP {status}",
        None,
    )


async def test_a_5xx_with_slack_s_error_code_keeps_the_code(slack: SlackApi) -> None:
    failure = await failure_of(slack, FakeResponse.server_error(500, json_body=True))
    assert (failure.kind, failure.reason, failure.code) == (
        Failure.UNKNOWN,
        "HTTP 500 internal_error",
        "internal_error",
    )


@pytest.mark.parametrize(
    "code", ["internal_error", "fatal_error", "request_timeout", "service_unavailable"]
)
async def test_slack_s_own_failures_at_http_200_are_unknown_outcomes(
    slack: SlackApi, code: str
) -> None:
    failure = await failure_of(slack, FakeResponse.error(code))
    assert (failure.kind, failure.code) == (Failure.UNKNOWN, code)


async def test_a_refusal_without_an_error_code_is_an_unknown_outcome(slack: SlackApi) -> None:
    failure = await failure_of(slack, FakeResponse(body={"ok": False}))
    assert (failure.kind, failure.code) == (Failure.UNKNOWN, None)
    assert "HTTP 200" in failure.reason
