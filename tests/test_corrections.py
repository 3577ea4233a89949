"""Corrections follow the release: when the feed changes a release's title, excerpt,
categories or image after it was posted, every message of it (announcements, shares, alerts) is
updated in place, once per change, through the outbox. The real bot against the stand-ins."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from bot.models import SINGLE_WORKSPACE
from bot.settings import Settings
from standins.feed_server import FeedServer, make_item
from standins.slack_api import SlackApi
from standins.slack_requests import block_action_body, home_action_body, send_to_slack_app
from tests.conftest import CHANNEL, eventually
from tests.test_alert_delivery import MEMBER, queue_alert
from tests.test_bot import events_url, running
from tests.test_home import open_home


def text_of(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks", []), ensure_ascii=False) + message.get("text", "")


def share_body(slack: SlackApi, release: str) -> bytes:
    """MEMBER pressing Share on `release` in a search made in #talk."""
    return block_action_body(
        "share_release", release, response_url=slack.response_url(MEMBER), user=MEMBER,
        channel="C0TALK0001",
    )  # fmt: skip


async def polls_after(feed: FeedServer, count: int = 2) -> None:
    """Wait for `count` more polls of the feed: the bot has seen what it serves now."""
    seen = len(feed.requests)
    await eventually(lambda: len(feed.requests) >= seen + count)


async def test_a_corrected_title_updates_the_channel_post_once_per_change(
    make_settings: Callable[..., Settings], feed: FeedServer, slack: SlackApi
) -> None:
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        feed.items.insert(0, make_item(4, title="Stem cell guidlines"))
        await eventually(lambda: len(slack.messages[CHANNEL]) == 1)
        posted = slack.messages[CHANNEL][0]

        feed.items[0] = make_item(4, title="Stem cell guidelines")
        await eventually(lambda: posted.get("updates") == 1)
        await polls_after(feed, 3)  # the same corrected feed, polled again: no second update
        await asyncio.sleep(0.3)

        assert posted.get("updates") == 1
        assert "Stem cell guidelines" in text_of(posted)
        assert "guidlines" not in text_of(posted)
        assert "Updated" in json.dumps(posted["blocks"][-1])
        assert "title" in json.dumps(posted["blocks"][-1])
        assert len(slack.messages[CHANNEL]) == 1  # updated in place, never posted again
        # Its metadata still lets a restart recognise it as the announcement of release 4.
        assert posted["metadata"]["event_payload"]["item_id"] == make_item(4).item_id

        feed.items[0] = make_item(4, title="Stem cell guidelines (2026)")
        await eventually(lambda: posted.get("updates") == 2)
        assert "(2026)" in text_of(posted)


async def test_a_change_members_never_saw_updates_nothing(
    make_settings: Callable[..., Settings], feed: FeedServer, slack: SlackApi
) -> None:
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        feed.items.insert(0, make_item(4))
        await eventually(lambda: len(slack.messages[CHANNEL]) == 1)
        # The body beyond the excerpt's paragraph: searchable text, not shown in the post.
        html = make_item(4).html + "<p>A third paragraph added later.</p>"
        feed.items[0] = make_item(4, html=html)
        await eventually(
            lambda: "third paragraph" in (bot.store.release(make_item(4).item_id)).body
        )
        await polls_after(feed)

    assert not slack.calls_to("chat.update")


async def test_a_release_whose_categories_change_is_updated_where_it_was_posted_not_rerouted(
    make_settings: Callable[..., Settings], feed: FeedServer, slack: SlackApi
) -> None:
    slack.add_channel("C0POLICY01")
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        bot.store.save_route(
            "C0POLICY01", ["Policy"], team=SINGLE_WORKSPACE, by="U0ADMIN001", action="route",
            detail="C0POLICY01", now=1.0,
        )  # fmt: skip
        feed.items.insert(0, make_item(4))  # a Press Release: the channel taking all only
        await eventually(lambda: len(slack.messages[CHANNEL]) == 1)
        feed.items[0] = make_item(4, categories=["Press Release", "Policy"])
        await eventually(lambda: slack.messages[CHANNEL][0].get("updates") == 1)
        await polls_after(feed)

    assert "Policy" in text_of(slack.messages[CHANNEL][0])
    assert slack.messages["C0POLICY01"] == []


async def test_a_shared_release_is_updated_too(
    make_settings: Callable[..., Settings], feed: FeedServer, slack: SlackApi
) -> None:
    slack.add_channel("C0TALK0001")
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        release = make_item(2).item_id
        body = share_body(slack, release)
        status, _ = await send_to_slack_app(events_url(bot), body)
        assert status == 200
        await eventually(lambda: len(slack.messages["C0TALK0001"]) == 1)
        shared = slack.messages["C0TALK0001"][0]
        await eventually(lambda: any(d["kind"] == "share" for d in kinds(bot)))

        feed.items[1] = make_item(2, title="Release 2, corrected")
        await eventually(lambda: shared.get("updates") == 1)

    assert "Release 2, corrected" in text_of(shared)
    assert f"<@{MEMBER}>" in text_of(shared)  # still says who shared it
    # Not an announcement's metadata: a restart never takes the share for its own post.
    assert shared["metadata"]["event_type"] != "isscr_news_item"


async def test_a_release_corrected_while_a_share_of_it_is_on_its_way_is_corrected_after(
    make_settings: Callable[..., Settings], feed: FeedServer, slack: SlackApi
) -> None:
    slack.add_channel("C0TALK0001")
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        release = make_item(2).item_id
        body = share_body(slack, release)
        slack.post_delay = 3.0  # the share is in the channel, its answer 3 s on its way
        pressed = asyncio.create_task(send_to_slack_app(events_url(bot), body))
        await eventually(lambda: len(slack.messages["C0TALK0001"]) == 1)
        shared = slack.messages["C0TALK0001"][0]
        feed.items[1] = make_item(2, title="Release 2, corrected")
        await eventually(lambda: bot.store.release(release).title == "Release 2, corrected")
        assert not any(d["kind"] == "share" for d in kinds(bot))  # not recorded yet
        slack.post_delay = 0.0
        assert (await pressed)[0] == 200
        await eventually(lambda: any(d["kind"] == "share" for d in kinds(bot)))

        await eventually(lambda: shared.get("updates") == 1)

    assert "Release 2, corrected" in text_of(shared)


def kinds(bot: Any) -> list[dict[str, Any]]:
    return list(bot.store.db.query("SELECT kind, state, ts, channel FROM deliveries"))


async def test_an_alert_sent_to_a_member_is_updated_in_their_dm(
    make_settings: Callable[..., Settings], feed: FeedServer, slack: SlackApi
) -> None:
    slack.add_user(MEMBER)
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        queue_alert(bot, 3)
        await eventually(lambda: len(slack.dms(MEMBER)) == 1)
        dm = slack.dms(MEMBER)[0]
        await eventually(lambda: bot.store.delivery_log()[-1]["state"] == "sent")

        feed.items[0] = make_item(3, title="Release 3, corrected")
        await eventually(lambda: dm.get("updates") == 1)
        await polls_after(feed)

    assert "Release 3, corrected" in text_of(dm)
    assert "“release”" in text_of(dm)  # still names the alert it matched
    assert dm.get("updates") == 1
    assert slack.messages[CHANNEL] == []  # an old release: announced nowhere else


async def test_a_correction_while_the_post_is_on_its_way_is_applied_after_it(
    make_settings: Callable[..., Settings], feed: FeedServer, slack: SlackApi
) -> None:
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        slack.post_delay = 3.0  # stored in the channel, answered 3 s later
        feed.items.insert(0, make_item(4))
        await eventually(lambda: len(slack.messages[CHANNEL]) == 1)
        posted = slack.messages[CHANNEL][0]
        feed.items[0] = make_item(4, title="Fixed title")
        release = make_item(4).item_id
        await eventually(lambda: bot.store.release(release).title == "Fixed title")
        assert "Fixed title" not in text_of(posted)  # posted before the correction came
        slack.post_delay = 0.0
        await eventually(lambda: posted.get("updates") == 1)

    assert "Fixed title" in text_of(posted)


async def test_a_correction_of_a_deleted_message_gives_up_quietly(
    make_settings: Callable[..., Settings],
    feed: FeedServer,
    slack: SlackApi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        feed.items.insert(0, make_item(4))
        await eventually(lambda: len(slack.messages[CHANNEL]) == 1)
        await eventually(lambda: bot.store.delivery_log()[0]["state"] == "sent")
        slack.messages[CHANNEL].clear()  # someone deleted the announcement
        feed.items[0] = make_item(4, title="Release 4, corrected")
        await eventually(lambda: any(d["state"] == "failed" for d in bot.store.delivery_log()))
        report = await bot.report()

    assert [call.params.get("ts") for call in slack.calls_to("chat.update")]
    assert report["ok"], report
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("answer", ["update", "leave"])
async def test_many_releases_changed_at_once_wait_for_an_admin_before_any_message_is_edited(
    answer: str, make_settings: Callable[..., Settings], feed: FeedServer, slack: SlackApi
) -> None:
    admin = "U0ADMIN001"
    slack.add_user(admin, is_admin=True)
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        for batch in (range(4, 10), range(10, 16)):  # 12 posts, no batch a flood
            feed.items[:0] = [make_item(n) for n in reversed(batch)]
            await eventually(lambda b=batch: len(slack.messages[CHANNEL]) == b[-1] - 3)
        await eventually(lambda: not bot.store.channels_with_work())
        # The site breaks every title at once.
        feed.items[:12] = [make_item(n, title=f"undefined {n}") for n in range(15, 3, -1)]
        await eventually(lambda: bot.store.held(team="", corrections=True).posts == 12)
        await polls_after(feed)
        report = await bot.report()
        home = await open_home(bot, slack, admin)
        assert not slack.calls_to("chat.update")
        assert not report["ok"]
        assert any("Corrections of 12 releases held" in p for p in report["problems"])
        assert "Update them" in home and "Leave them" in home

        action = "admin_apply_corrections" if answer == "update" else "admin_skip_corrections"
        status, _ = await send_to_slack_app(events_url(bot), home_action_body(action, user=admin))
        assert status == 200
        if answer == "update":
            await eventually(lambda: len(slack.calls_to("chat.update")) == 12)
        else:
            await eventually(lambda: bot.store.held(team="", corrections=True).posts == 0)
            await asyncio.sleep(0.5)
        report = await bot.report()
        changes = bot.store.recent_changes(1, team="")

    edited = [m for m in slack.messages[CHANNEL] if m.get("updates")]
    assert len(edited) == (12 if answer == "update" else 0)
    assert report["ok"], report
    assert changes[0].user_id == admin
