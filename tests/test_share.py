"""Share on a search result, clicked by one member or several: signed block_actions requests
into the real Bolt app, against the loopback Slack stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.runtime import Bot
from bot.settings import Settings
from standins.feed_server import FeedServer, make_item
from standins.slack_api import FakeResponse, SlackApi
from standins.slack_requests import block_action_body, send_to_slack_app, slash_command_body
from tests.conftest import CHANNEL, eventually
from tests.test_bot import events_url, running

RELEASE = make_item(2).item_id
FIRST, SECOND = "U0MEMBER01", "U0MEMBER02"


@pytest.fixture
async def bot(make_settings: Callable[..., Settings], feed: FeedServer) -> AsyncIterator[Bot]:
    async with running(make_settings()) as started:
        await eventually(lambda: started.store.release_count() == 3)
        yield started


async def share(bot: Bot, slack: SlackApi, user: str) -> None:
    """`user` presses Share; their answers, if any, go to the response URL named after them."""
    body = block_action_body(
        "share_release", RELEASE, response_url=slack.response_url(user), user=user
    )
    status, _ = await send_to_slack_app(events_url(bot), body)
    assert status == 200


def shared_by(slack: SlackApi) -> list[str]:
    return [message["blocks"][-1]["elements"][0]["text"] for message in slack.messages[CHANNEL]]


async def test_a_second_member_sharing_the_same_release_is_told_whose_post_is_there(
    bot: Bot, slack: SlackApi
) -> None:
    slack.post_delay = 0.3  # the first post is still on its way when the others click

    await share(bot, slack, FIRST)
    await share(bot, slack, FIRST)  # a double click
    await share(bot, slack, SECOND)
    await share(bot, slack, SECOND)  # a double click too
    await eventually(lambda: len(slack.responses) == 1)

    assert slack.responses == [
        {
            "replace_original": False,
            "text": "<@U0MEMBER01> shared this release here a moment ago.",
        }
    ]
    assert shared_by(slack) == ["Shared by <@U0MEMBER01>"]
    assert len(slack.calls_to("chat.postMessage")) == 1


async def test_when_the_first_share_fails_a_second_members_share_is_posted(
    bot: Bot, slack: SlackApi
) -> None:
    # The second member clicks while the first post is on its way to failing.
    failing = FakeResponse(body={"ok": False, "error": "is_archived"}, delay=0.3)
    slack.fail_next("chat.postMessage", failing)

    await share(bot, slack, FIRST)
    await share(bot, slack, SECOND)
    await eventually(lambda: len(slack.messages[CHANNEL]) == 1)
    await eventually(lambda: len(slack.responses) == 1)

    assert shared_by(slack) == ["Shared by <@U0MEMBER02>"]
    [answer] = slack.responses
    assert answer["text"].startswith("Sharing failed")


async def test_a_share_whose_answer_is_lost_is_not_posted_again(bot: Bot, slack: SlackApi) -> None:
    slack.fail_next("chat.postMessage", FakeResponse.disconnect(after_posting=True))

    await share(bot, slack, FIRST)
    await eventually(lambda: len(slack.responses) == 1)

    assert shared_by(slack) == ["Shared by <@U0MEMBER01>"]  # Slack has it once
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert slack.responses[0]["text"] == (
        "Slack did not answer in time; look in the channel before pressing Share again."
    )


def share_confirmations(answer: dict[str, Any]) -> dict[str, Any]:
    """The confirmation each Share button of a search answer asks, by release."""
    return {
        block["accessory"]["value"]: block["accessory"].get("confirm")
        for block in answer["blocks"]
        if block.get("accessory", {}).get("action_id") == "share_release"
    }


async def test_share_asks_before_it_posts_naming_the_channel(bot: Bot) -> None:
    in_channel = slash_command_body("release")
    in_a_dm = in_channel.replace(f"channel_id={CHANNEL}".encode(), b"channel_id=D0DIRECT01")

    asked = []
    for body in (in_channel, in_a_dm):
        status, answer = await send_to_slack_app(events_url(bot), body)
        assert status == 200
        asked.append(share_confirmations(answer)[RELEASE])

    where = [f"<#{CHANNEL}>", "this conversation"]
    assert asked == [
        {
            "title": {"type": "plain_text", "text": "Share this release?"},
            "text": {
                "type": "mrkdwn",
                "text": f"Post *Release 2* in {channel}, where everyone can see it?",
            },
            "confirm": {"type": "plain_text", "text": "Share"},
            "deny": {"type": "plain_text", "text": "Cancel"},
        }
        for channel in where
    ]
