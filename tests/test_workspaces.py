"""Distribution mode over real HTTP: workspaces add the app through Bolt's OAuth flow (the
Slack stand-in answering oauth.v2.access), each routes its own channels, receives exactly what
it routed, sees and changes only its own configuration, and leaves cleanly."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp
import pytest

from bot.models import SINGLE_WORKSPACE
from bot.settings import Settings
from bot.slack.blocks.admin import REMOVE_ROUTE, SETUP_CHANNEL
from bot.slack.blocks.forms import ROUTE_FORM
from bot.slack.tokens import TokenCipher, new_key
from standins.feed_server import FeedServer, make_item
from standins.oauth_browser import add_to_slack
from standins.slack_api import SlackApi
from standins.slack_requests import (
    app_uninstalled_body,
    home_action_body,
    home_opened_body,
    send_to_slack_app,
    slash_command_body,
    tokens_revoked_body,
    view_submission_body,
)
from tests.conftest import eventually, mrkdwn_texts
from tests.test_bot import InspectedBot, events_url, running

LAB, INSTITUTE = "T0LAB00001", "T0INST0001"
LAB_ADMIN, INSTITUTE_ADMIN, LAB_MEMBER = "U0LABADM01", "U0INSADM01", "U0LABMEM01"
LAB_POLICY, LAB_ALL, INSTITUTE_NEWS = "C0LABPOL01", "C0LABALL01", "C0INSNEWS1"


@pytest.fixture
async def feed() -> AsyncIterator[FeedServer]:
    items = [make_item(2, categories=["Press Release"]), make_item(1, categories=["Policy"])]
    async with FeedServer(items) as server:
        yield server


def distribution(
    make_settings: Callable[..., Settings], slack: SlackApi, **overrides: str
) -> Settings:
    return make_settings(
        SLACK_BOT_TOKEN="",
        ANNOUNCE_CHANNEL="",
        SLACK_CLIENT_ID=slack.client_id,
        SLACK_CLIENT_SECRET=slack.client_secret,
        TOKEN_ENCRYPTION_KEY=new_key(),
        **overrides,
    )


@asynccontextmanager
async def two_workspaces(
    make_settings: Callable[..., Settings], slack: SlackApi
) -> AsyncIterator[InspectedBot]:
    """The bot in distribution mode, the lab and the institute installed through the OAuth
    flow, each with its admin and channels (and the lab a member), no route yet."""
    for team, admin, channels in (
        (LAB, LAB_ADMIN, (LAB_POLICY, LAB_ALL)),
        (INSTITUTE, INSTITUTE_ADMIN, (INSTITUTE_NEWS,)),
    ):
        slack.add_workspace(team)
        slack.add_user(admin, is_admin=True, team=team)
        for channel in channels:
            slack.add_channel(channel, team=team)
    slack.add_user(LAB_MEMBER, team=LAB)
    async with running(distribution(make_settings, slack)) as started:
        await eventually(lambda: started.store.release_count() == 2)
        for team in (LAB, INSTITUTE):
            status, page = await add_to_slack(f"http://127.0.0.1:{started.port}", slack, team)
            assert status == 200, page
        yield started


@pytest.fixture
async def bot(
    make_settings: Callable[..., Settings], slack: SlackApi, feed: FeedServer
) -> AsyncIterator[InspectedBot]:
    async with two_workspaces(make_settings, slack) as started:
        yield started


async def command(bot: InspectedBot, text: str, *, team: str, user: str) -> tuple[int, str]:
    status, answer = await send_to_slack_app(
        events_url(bot), slash_command_body(text, user=user, team=team)
    )
    if not isinstance(answer, dict):
        return status, str(answer)
    return status, "\n".join(mrkdwn_texts(answer.get("blocks", [])))


async def routed_as_asked(bot: InspectedBot) -> None:
    """The lab sends Policy to one channel and everything to another; the institute everything
    to its one channel."""
    for text, team, user in (
        (f"route <#{LAB_POLICY}|policy> Policy", LAB, LAB_ADMIN),
        (f"route <#{LAB_ALL}|all>", LAB, LAB_ADMIN),
        (f"route <#{INSTITUTE_NEWS}|news>", INSTITUTE, INSTITUTE_ADMIN),
    ):
        status, shown = await command(bot, text, team=team, user=user)
        assert (status == 200 and "Routes changed" not in shown) or "<#" in shown, shown


async def test_two_workspaces_install_through_oauth_with_their_tokens_encrypted(
    bot: InspectedBot, slack: SlackApi
) -> None:
    stored = {row.team: row for row in bot.store.installations()}
    assert set(stored) == {LAB, INSTITUTE}
    cipher = TokenCipher(bot.settings.token_keys)
    for team in (LAB, INSTITUTE):
        token = cipher.decrypt(stored[team].encrypted_token)
        assert token == slack.workspaces[team].token  # the one oauth.v2.access granted
        assert token not in stored[team].encrypted_token
        assert stored[team].bot_user_id == slack.workspaces[team].bot_user_id
    assert [c.action for c in bot.store.recent_changes(team=LAB)] == ["install"]
    assert bot.store.routes(team=LAB) == [] and bot.store.routes(team=SINGLE_WORKSPACE) == []


async def test_a_release_lands_exactly_where_each_workspace_routed_it(
    bot: InspectedBot, slack: SlackApi, feed: FeedServer
) -> None:
    await routed_as_asked(bot)
    feed.items.insert(0, make_item(3, categories=["Policy"]))
    feed.items.insert(0, make_item(4, categories=["Statement"]))

    await eventually(lambda: bot.store.delivery_counts(team=None)["sent"] == 5, timeout=15)

    def ids(team: str, channel: str) -> list[str]:
        return [m["metadata"]["event_payload"]["item_id"] for m in slack.posted(team, channel)]

    three, four = make_item(3).item_id, make_item(4).item_id
    assert sorted(ids(LAB, LAB_POLICY)) == [three]
    assert sorted(ids(LAB, LAB_ALL)) == sorted([three, four])
    assert sorted(ids(INSTITUTE, INSTITUTE_NEWS)) == sorted([three, four])
    # Each workspace's posts went out with its own token, and nowhere else.
    assert all(m["team"] == LAB for m in slack.messages[LAB_POLICY] + slack.messages[LAB_ALL])
    assert all(m["team"] == INSTITUTE for m in slack.messages[INSTITUTE_NEWS])


async def test_an_admin_of_one_workspace_cannot_change_anothers_routes(
    bot: InspectedBot, slack: SlackApi
) -> None:
    await routed_as_asked(bot)
    institute_routes = bot.store.routes(team=INSTITUTE)
    institute_audit = bot.store.recent_changes(team=INSTITUTE)

    # A command signed for the institute, by the lab's admin: not a user there.
    status, shown = await command(
        bot, f"unroute <#{INSTITUTE_NEWS}|news>", team=INSTITUTE, user=LAB_ADMIN
    )
    assert status == 200 and "Only workspace admins" in shown
    # From the lab, naming the institute's channel: the lab has no such route.
    status, shown = await command(
        bot, f"unroute <#{INSTITUTE_NEWS}|news>", team=LAB, user=LAB_ADMIN
    )
    assert "has no route" in shown
    # The Home's Remove button, with the institute's channel as its value.
    url = events_url(bot)
    click = home_action_body(REMOVE_ROUTE, INSTITUTE_NEWS, user=LAB_ADMIN, team=LAB)
    assert (await send_to_slack_app(url, click))[0] == 200
    # A forged Edit form moving the institute's route to the lab's channel.
    metadata = json.dumps({"replacing": INSTITUTE_NEWS, "seen": institute_routes[0].updated_at})
    form = view_submission_body(
        ROUTE_FORM, user=LAB_ADMIN, channel=LAB_ALL, private_metadata=metadata, team=LAB
    )
    assert (await send_to_slack_app(url, form))[0] == 200
    # The same form signed for the institute, by the lab's admin.
    form = view_submission_body(
        ROUTE_FORM, user=LAB_ADMIN, channel=INSTITUTE_NEWS, categories=[], team=INSTITUTE
    )
    status, answer = await send_to_slack_app(url, form)
    assert status == 200 and answer["response_action"] == "errors"

    assert bot.store.routes(team=INSTITUTE) == institute_routes
    assert bot.store.recent_changes(team=INSTITUTE) == institute_audit


async def test_each_workspaces_home_shows_only_its_own_routes(
    bot: InspectedBot, slack: SlackApi
) -> None:
    await routed_as_asked(bot)
    url = events_url(bot)
    for team, admin in ((LAB, LAB_ADMIN), (INSTITUTE, INSTITUTE_ADMIN)):
        body = home_opened_body(team, admin, bot_user=slack.workspaces[team].bot_user_id)
        status, _ = await send_to_slack_app(url, body, content_type="application/json")
        assert status == 200
    await eventually(
        lambda: slack.home_of(LAB, LAB_ADMIN) and slack.home_of(INSTITUTE, INSTITUTE_ADMIN)
    )
    lab = json.dumps(slack.home_of(LAB, LAB_ADMIN))
    institute = json.dumps(slack.home_of(INSTITUTE, INSTITUTE_ADMIN))
    assert LAB_POLICY in lab and INSTITUTE_NEWS not in lab
    assert INSTITUTE_NEWS in institute and LAB_POLICY not in institute and LAB_ALL not in institute


async def test_search_answers_members_of_both_workspaces(bot: InspectedBot) -> None:
    for team, user in ((LAB, LAB_MEMBER), (INSTITUTE, INSTITUTE_ADMIN)):
        status, shown = await command(bot, "release", team=team, user=user)
        assert status == 200 and "Release 2" in shown, shown


async def test_uninstalling_one_workspace_stops_only_its_deliveries_and_forgets_it(
    bot: InspectedBot, slack: SlackApi, feed: FeedServer
) -> None:
    await routed_as_asked(bot)
    url = events_url(bot)
    status, _ = await send_to_slack_app(
        url, app_uninstalled_body(LAB), content_type="application/json"
    )
    assert status == 200
    await eventually(lambda: bot.store.installation(LAB) is None)
    assert bot.store.routes(team=LAB) == []
    assert bot.store.recent_changes(team=LAB)[0].action == "uninstall"

    feed.items.insert(0, make_item(3, categories=["Policy"]))
    await eventually(lambda: len(slack.posted(INSTITUTE, INSTITUTE_NEWS)) == 1, timeout=15)
    assert slack.posted(LAB, LAB_POLICY) == [] and slack.posted(LAB, LAB_ALL) == []
    # Requests from the workspace that left are not served as if it were installed.
    status, shown = await command(bot, "routes", team=LAB, user=LAB_ADMIN)
    assert "routes" not in shown.lower() or "could not find" in shown.lower()
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{bot.port}/healthz") as health,
    ):
        report = await health.json()
    assert report["workspaces"]["installed"] == 1

    # Reinstalling starts clean: no routes, the setup card's first hour again.
    status, page = await add_to_slack(f"http://127.0.0.1:{bot.port}", slack, LAB)
    assert status == 200, page
    assert bot.store.installation(LAB) is not None and bot.store.routes(team=LAB) == []


async def test_a_revoked_bot_token_makes_the_workspace_leave(
    bot: InspectedBot, slack: SlackApi
) -> None:
    await routed_as_asked(bot)
    body = tokens_revoked_body(INSTITUTE, [slack.workspaces[INSTITUTE].bot_user_id])
    status, _ = await send_to_slack_app(events_url(bot), body, content_type="application/json")
    assert status == 200
    await eventually(lambda: bot.store.installation(INSTITUTE) is None)
    assert bot.store.routes(team=INSTITUTE) == [] and bot.store.routes(team=LAB)
    # A user token revoked (the bot keeps none) changes nothing.
    body = tokens_revoked_body(LAB, [], user_ids=[LAB_ADMIN])
    assert (await send_to_slack_app(events_url(bot), body, content_type="application/json"))[
        0
    ] == 200
    assert bot.store.installation(LAB) is not None


async def test_an_organisation_wide_install_is_refused_with_a_page_saying_what_to_do(
    bot: InspectedBot, slack: SlackApi
) -> None:
    status, page = await add_to_slack(
        f"http://127.0.0.1:{bot.port}",
        slack,
        "T0ORGWIDE1",
        enterprise_id="E0ORG00001",
        is_enterprise_install=True,
    )
    assert status == 400
    assert "workspace by workspace" in page
    assert {row.team for row in bot.store.installations()} == {LAB, INSTITUTE}
    assert slack.calls_to("auth.revoke")  # the token granted is handed back


async def test_a_forged_or_replayed_install_redirect_stores_nothing(
    bot: InspectedBot, slack: SlackApi
) -> None:
    slack.grant("code-1", "T0FORGED01")
    async with aiohttp.ClientSession() as http:
        for query in ("code=code-1&state=made-up", "code=code-1", "error=access_denied"):
            async with http.get(
                f"http://127.0.0.1:{bot.port}/slack/oauth_redirect?{query}"
            ) as answer:
                assert answer.status in (200, 400, 401)
    assert {row.team for row in bot.store.installations()} == {LAB, INSTITUTE}


async def test_no_token_or_secret_reaches_the_log_even_at_debug(
    bot: InspectedBot, slack: SlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    status, page = await add_to_slack(f"http://127.0.0.1:{bot.port}", slack, "T0THIRD001")
    assert status == 200, page
    token = slack.workspaces["T0THIRD001"].token
    assert bot.store.installation("T0THIRD001") is not None
    logged = caplog.text
    assert token not in logged and slack.client_secret not in logged
    assert all(key not in logged for key in bot.settings.token_keys)
    # Nor in a repr (a traceback's locals): the workspace a request was served in.
    await command(bot, "release", team="T0THIRD001", user="U0INSTALL1")
    assert bot.workspaces is not None
    served = [repr(one) for one in bot.workspaces._by_team.values()]
    assert served and all(token not in shown for shown in served)


async def test_one_workspaces_revoked_token_is_reported_without_failing_the_bot(
    bot: InspectedBot, slack: SlackApi, feed: FeedServer
) -> None:
    await routed_as_asked(bot)
    slack.revoke(INSTITUTE)  # no event: the bot was down when it came, say
    feed.items.insert(0, make_item(3, categories=["Policy"]))

    await eventually(lambda: len(slack.posted(LAB, LAB_ALL)) == 1, timeout=15)
    await eventually(lambda: bot.store.workspaces_summary()["failing"] == 1, timeout=15)
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{bot.port}/healthz") as health,
    ):
        report = await health.json()
        assert health.status == 200
    assert report["ok"] is True
    assert report["workspaces"]["failing_examples"][0]["team"] == INSTITUTE
    assert any("token_revoked" in notice for notice in report["notices"]), report["notices"]
    assert slack.posted(INSTITUTE, INSTITUTE_NEWS) == []


async def test_a_fresh_install_gets_the_setup_card_and_its_choice_routes_only_it(
    bot: InspectedBot, slack: SlackApi, feed: FeedServer
) -> None:
    url = events_url(bot)
    body = home_opened_body(LAB, LAB_ADMIN, bot_user=slack.workspaces[LAB].bot_user_id)
    assert (await send_to_slack_app(url, body, content_type="application/json"))[0] == 200
    await eventually(lambda: slack.home_of(LAB, LAB_ADMIN) is not None)
    assert SETUP_CHANNEL in json.dumps(slack.home_of(LAB, LAB_ADMIN))

    choice = home_action_body(
        SETUP_CHANNEL, user=LAB_ADMIN, selected_conversation=LAB_ALL, team=LAB
    )
    assert (await send_to_slack_app(url, choice))[0] == 200
    await eventually(lambda: bool(bot.store.routes(team=LAB)))
    assert [r.channel for r in bot.store.routes(team=LAB)] == [LAB_ALL]
    assert bot.store.routes(team=INSTITUTE) == []
    # Nothing already published is flooded into the new channel; the next release goes there.
    feed.items.insert(0, make_item(3))
    await eventually(lambda: len(slack.posted(LAB, LAB_ALL)) == 1, timeout=15)
    assert slack.posted(INSTITUTE, INSTITUTE_NEWS) == []


async def test_single_workspace_routes_left_in_the_database_receive_nothing(
    bot: InspectedBot, slack: SlackApi, feed: FeedServer
) -> None:
    """A database single-workspace mode used keeps its routes (team ""): they belong to no
    installation, and distribution mode queues nothing for them."""
    bot.store.save_route(
        "C0OLDNEWS1", [], team=SINGLE_WORKSPACE, by="U1", action="route", detail="", now=1.0
    )
    await routed_as_asked(bot)
    feed.items.insert(0, make_item(3, categories=["Policy"]))
    await eventually(lambda: len(slack.posted(INSTITUTE, INSTITUTE_NEWS)) == 1, timeout=15)
    assert {d["team"] for d in bot.store.delivery_log()} == {LAB, INSTITUTE}


async def test_the_install_link_leads_to_slacks_own_host(
    bot: InspectedBot, slack: SlackApi
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{bot.port}/slack/install") as page,
    ):
        text = await page.text()
    # SLACK_API_URL is the stand-in's: the authorize page is asked of the same host.
    assert f"{slack.base_url}/oauth/v2/authorize?" in text.replace("&amp;", "&")
