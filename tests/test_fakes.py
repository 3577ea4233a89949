"""The stand-ins themselves behave like the edges they replace (feed site, Slack Web API)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest.mock import ANY
from urllib.parse import parse_qs

import aiohttp
import feedparser
import pytest
from aiohttp import web
from slack_bolt.app.async_server import AsyncSlackAppServer
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import FileInstallationStore
from slack_sdk.oauth.state_store import FileOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from standins.feed_server import (
    COLLECTION_ID,
    RSS_CONTENT_TYPE,
    WEBSITE_ID,
    Fault,
    FeedServer,
    LoopbackResolver,
    make_item,
    render_archive_page,
    render_rss,
)
from standins.oauth_browser import add_to_slack
from standins.slack_api import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    SCOPES,
    TEAM_ID,
    FakeResponse,
    SlackApi,
)
from standins.slack_process import SlackApiProcess
from standins.slack_requests import (
    SIGNING_SECRET,
    app_uninstalled_body,
    block_action_body,
    home_action_body,
    home_opened_body,
    send_to_slack_app,
    slash_command_body,
    tokens_revoked_body,
    view_submission_body,
)
from tests.conftest import eventually

HOSTILE = "<!channel> & <https://evil.example|isscr.org>"


@pytest.fixture
async def site() -> AsyncIterator[FeedServer]:
    async with FeedServer([make_item(2), make_item(1)]) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def slack() -> AsyncIterator[tuple[SlackApi, AsyncWebClient]]:
    async with SlackApi() as api:
        api.add_channel("C0NEWS")
        yield api, AsyncWebClient(base_url=api.url, token=api.token)


def test_rss_parses_into_the_squarespace_fields() -> None:
    item = make_item(
        7,
        title=HOSTILE,
        categories=["Press Release", "Policy"],
        image_url="https://images.squarespace-cdn.com/content/v1/x/cover?format=1500w",
        html="<p>CDATA end ]]> inside</p>",
    )
    feed = feedparser.parse(render_rss([item, make_item(1, guid="")]))

    assert not feed.bozo
    first, second = feed.entries
    assert first.title == HOSTILE
    assert first.id == f"{WEBSITE_ID}:{COLLECTION_ID}:{7:024x}"
    assert [tag.term for tag in first.tags] == ["Press Release", "Policy"]
    assert first.author == "Kym Kilbourne"
    assert datetime(*first.published_parsed[:6], tzinfo=UTC) == item.published
    assert first.media_content[0]["url"] == item.image_url
    assert first.description == "<p>CDATA end ]]> inside</p>"
    assert "id" not in second  # guid="" omits the element


async def test_etag_and_last_modified_answer_304(
    site: FeedServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(site.url) as first:
        assert first.headers["Content-Type"] == RSS_CONTENT_TYPE
        etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    async with http.get(site.url, headers={"If-None-Match": etag}) as again:
        assert again.status == 304
    async with http.get(site.url, headers={"If-Modified-Since": modified}) as again:
        assert again.status == 304

    site.items.insert(0, make_item(3))  # a new post changes both validators
    async with http.get(site.url, headers={"If-None-Match": etag}) as changed:
        assert changed.status == 200
        assert changed.headers["ETag"] != etag
    async with http.get(site.url, headers={"If-Modified-Since": modified}) as changed:
        assert changed.status == 200
    assert site.requests[1].headers["if-none-match"] == etag


async def test_a_queued_fault_happens_once_then_normal_service(
    site: FeedServer, http: aiohttp.ClientSession
) -> None:
    site.fail_next(Fault.status(503, retry_after=30))

    async with http.get(site.url) as failed:
        assert (failed.status, failed.headers["Retry-After"]) == (503, "30")
    async with http.get(site.url) as served:
        assert served.status == 200
        assert len(feedparser.parse(await served.read()).entries) == 2
    assert [r.status for r in site.requests] == [503, 200]


async def test_huge_body_is_streamed_without_content_length(
    site: FeedServer, http: aiohttp.ClientSession
) -> None:
    size, cap = 20_000_000, 1_000_000
    site.fail_next(Fault.huge(size))

    async with http.get(site.url) as response:
        assert response.content_length is None
        assert response.headers["Transfer-Encoding"] == "chunked"
        received = 0
        async for chunk in response.content.iter_chunked(65_536):
            received += len(chunk)
            if received > cap:
                break  # what a capped client does; leaving the block closes the connection

    assert received > cap
    assert site.requests[0].bytes_sent is not None
    assert site.requests[0].bytes_sent < size


async def test_redirect_is_followed_to_a_working_path(
    site: FeedServer, http: aiohttp.ClientSession
) -> None:
    site.fail_always(Fault.redirect("/news-moved?format=rss", code=301))

    async with http.get(site.url) as response:
        assert response.status == 200
        assert str(response.url).endswith("/news-moved?format=rss")
    with pytest.raises(aiohttp.TooManyRedirects):
        site.fail_next(Fault.redirect_loop())
        await http.get(site.url)


def test_hostile_fields_are_rendered_as_given() -> None:
    item = make_item(3, raw_rss={"pubDate": "0000-00-00 00:00:00"}, raw_json={"publishOn": 1e20})

    assert b"<pubDate>0000-00-00 00:00:00</pubDate>" in render_rss([item])
    [entry] = json.loads(render_archive_page([item]))["items"]
    assert (entry["publishOn"], entry["addedOn"]) == (1e20, 1735999200000)  # 2025-01-04


async def test_fresh_ids_on_every_response_in_rss_and_json(
    site: FeedServer, http: aiohttp.ClientSession
) -> None:
    site.fresh_ids_each_response = True
    guids = []
    for _ in range(2):
        async with http.get(site.url) as response:
            guids.append([e.id for e in feedparser.parse(await response.read()).entries])
        async with http.get(site.json_url) as response:
            guids.append([e["id"] for e in (await response.json())["items"]])

    assert len({guid for some in guids for guid in some}) == 8  # 2 items, 4 responses
    assert make_item(2).item_id not in str(guids)


async def test_another_host_is_another_loopback_address_found_by_the_resolver() -> None:
    async with FeedServer([make_item(1)], host="127.0.0.2") as other:
        resolver = LoopbackResolver({"elsewhere.test": other.host})
        connector = aiohttp.TCPConnector(resolver=resolver)
        async with (
            aiohttp.ClientSession(connector=connector) as http,
            http.get(f"http://elsewhere.test:{other.port}/isscr-news?format=rss") as response,
        ):
            assert response.status == 200
        assert other.base_url.startswith("http://127.0.0.2:")
        assert [request.headers["Host"] for request in other.requests] == [
            f"elsewhere.test:{other.port}"
        ]
    assert resolver.asked == ["elsewhere.test"]


async def test_json_archive_pages_by_offset(site: FeedServer, http: aiohttp.ClientSession) -> None:
    site.items = [make_item(n) for n in range(5, 0, -1)]
    site.page_size = 2
    ids: list[str] = []
    url = site.json_url
    while True:
        async with http.get(url) as response:
            page = await response.json()
        ids += [entry["id"] for entry in page["items"]]
        if not page["pagination"]["nextPage"]:
            break
        url = f"{site.base_url}{page['pagination']['nextPageUrl']}&format=json"

    assert ids == [f"{n:024x}" for n in range(5, 0, -1)]
    assert page["pagination"] == {"nextPage": False}


async def test_posted_metadata_comes_back_from_history(
    slack: tuple[SlackApi, AsyncWebClient],
) -> None:
    api, client = slack
    metadata = {"event_type": "isscr_release", "event_payload": {"guid": "a:b:c"}}

    posted = await client.chat_postMessage(
        channel="C0NEWS", text="hi", metadata=metadata, unfurl_links=False
    )
    with_meta = await client.conversations_history(channel="C0NEWS", include_all_metadata=True)
    without = await client.conversations_history(channel="C0NEWS")

    assert with_meta["messages"][0]["ts"] == posted["ts"]
    assert with_meta["messages"][0]["metadata"] == metadata
    assert with_meta["messages"][0]["bot_id"] == BOT_ID
    assert "metadata" not in without["messages"][0]
    assert api.messages["C0NEWS"][0]["unfurl_links"] is False
    assert api.calls_to("conversations.history")[0].http_method == "GET"


async def test_history_pages_newest_first_with_a_cursor(
    slack: tuple[SlackApi, AsyncWebClient],
) -> None:
    _, client = slack
    for n in range(5):
        await client.chat_postMessage(channel="C0NEWS", text=f"m{n}")

    texts: list[str] = []
    async for page in await client.conversations_history(channel="C0NEWS", limit=2):
        texts += [message["text"] for message in page["messages"]]

    assert texts == ["m4", "m3", "m2", "m1", "m0"]


async def test_rate_limit_answers_429_with_retry_after(
    slack: tuple[SlackApi, AsyncWebClient],
) -> None:
    api, client = slack
    api.fail_next("chat.postMessage", FakeResponse.rate_limited(retry_after=7))

    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel="C0NEWS", text="hi")
    assert refused.value.response.status_code == 429
    assert refused.value.response.headers["Retry-After"] == "7"
    assert refused.value.response["error"] == "ratelimited"
    assert api.messages["C0NEWS"] == []
    await client.chat_postMessage(channel="C0NEWS", text="hi")  # served normally again


async def test_server_error_after_posting_keeps_the_message(
    slack: tuple[SlackApi, AsyncWebClient],
) -> None:
    api, client = slack
    api.fail_next("chat.postMessage", FakeResponse.server_error(503, after_posting=True))

    with pytest.raises(SlackApiError) as failed:
        await client.chat_postMessage(channel="C0NEWS", text="stored anyway")
    assert failed.value.response.status_code == 503
    assert [m["text"] for m in api.messages["C0NEWS"]] == ["stored anyway"]


async def test_not_in_channel_until_joined(slack: tuple[SlackApi, AsyncWebClient]) -> None:
    api, client = slack
    api.add_channel("C0OTHER", member=False)

    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel="C0OTHER", text="hi")
    assert refused.value.response["error"] == "not_in_channel"
    joined = await client.conversations_join(channel="C0OTHER")
    await client.chat_postMessage(channel="C0OTHER", text="hi")

    assert joined["channel"]["is_member"] is True
    assert [m["text"] for m in api.messages["C0OTHER"]] == ["hi"]
    history = await client.conversations_history(channel="C0OTHER")
    assert [m.get("subtype") for m in history["messages"]] == [None, "channel_join"]


async def test_wrong_token_is_invalid_auth(slack: tuple[SlackApi, AsyncWebClient]) -> None:
    api, _ = slack
    stranger = AsyncWebClient(base_url=api.url, token="xoxb-someone-else")

    with pytest.raises(SlackApiError) as refused:
        await stranger.auth_test()
    assert refused.value.response["error"] == "invalid_auth"
    assert api.calls_to("auth.test")[0].headers["authorization"] == "Bearer xoxb-someone-else"


async def test_response_url_posts_are_recorded(
    slack: tuple[SlackApi, AsyncWebClient], http: aiohttp.ClientSession
) -> None:
    api, _ = slack
    body = {"text": "done", "response_type": "ephemeral"}

    async with http.post(api.response_url("r1"), data=json.dumps(body)) as response:
        assert response.status == 200
    assert api.responses == [body]


def _button_message(url: str) -> dict[str, object]:
    button = {"type": "button", "text": {"type": "plain_text", "text": "Read"}, "url": url}
    return {"text": "x", "blocks": [{"type": "actions", "elements": [button]}]}


def _confirmed_share(**confirm: str) -> list[dict[str, object]]:
    """A section whose Share button asks first, with the confirmation's texts as given."""
    texts = {"title": "Share?", "text": "Post it here?", "confirm": "Share", "deny": "Cancel"}
    texts.update(confirm)
    dialog = {
        name: {"type": "mrkdwn" if name == "text" else "plain_text", "text": text}
        for name, text in texts.items()
    }
    button = {"type": "button", "text": {"type": "plain_text", "text": "Share"}, "value": "r1"}
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    return [{**section, "accessory": {**button, "confirm": dialog}}]


@pytest.mark.parametrize(
    ("blocks", "problem"),
    [
        (_button_message("https://x.example/" + "a" * 2990)["blocks"], "url is 3008 characters"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "151"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "acessory": {}}], "know"),
        ([{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}], "twice"),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}] * 11}], "10"),
        (_confirmed_share(title="t" * 101), "confirm.title.text is 101 characters"),
        (_confirmed_share(text="t" * 301), "confirm.text.text is 301 characters"),
        (_confirmed_share(confirm="t" * 31), "confirm.confirm.text is 31 characters"),
        (_confirmed_share(deny="t" * 31), "confirm.deny.text is 31 characters"),
    ],
    ids=[
        "button url",
        "header",
        "unknown property",
        "block_id twice",
        "context elements",
        "confirm title",
        "confirm text",
        "confirm button",
        "confirm deny",
    ],
)
async def test_a_message_slack_would_refuse_as_malformed_is_refused_and_recorded(
    slack: tuple[SlackApi, AsyncWebClient], blocks: list[dict[str, object]], problem: str
) -> None:
    api, client = slack

    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel="C0NEWS", text="x", blocks=blocks)

    assert refused.value.response["error"] == "invalid_blocks"
    [rejection] = api.rejected
    assert rejection.method == "chat.postMessage" and problem in " ".join(rejection.problems)
    assert api.messages["C0NEWS"] == []


async def test_views_slack_would_refuse_get_invalid_arguments(
    slack: tuple[SlackApi, AsyncWebClient],
) -> None:
    api, client = slack
    option = {"text": {"type": "plain_text", "text": "Policy"}, "value": "Policy"}
    select = {
        "type": "multi_static_select",
        "action_id": "categories",
        "options": [option],
        "initial_options": [],
    }
    modal = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Edit route"},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [
            {"type": "input", "label": {"type": "plain_text", "text": "C"}, "element": select}
        ],
    }
    home = {"type": "home", "blocks": [{"type": "divider"}] * 101}

    for call in (
        client.views_open(trigger_id="1.2", view=modal),
        client.views_publish(user_id="U1", view=home),
    ):
        with pytest.raises(SlackApiError) as refused:
            await call
        assert refused.value.response["error"] == "invalid_arguments"
    assert [r.method for r in api.rejected] == ["views.open", "views.publish"]
    assert "initial_options is an empty list" in api.rejected[0].problems[0]
    assert api.modals == [] and api.home_views == {}


async def test_a_response_url_refuses_a_malformed_message_with_a_400(
    slack: tuple[SlackApi, AsyncWebClient], http: aiohttp.ClientSession
) -> None:
    api, _ = slack
    body = {"text": "x", "blocks": [{"type": "divider"}] * 51}

    async with http.post(api.response_url("r1"), data=json.dumps(body)) as response:
        assert (response.status, await response.text()) == (400, "invalid_blocks")
    assert api.responses == [] and [r.method for r in api.rejected] == ["response_url"]


async def test_socket_mode_sockets_can_be_closed_cut_or_asked_to_reconnect(
    slack: tuple[SlackApi, AsyncWebClient], http: aiohttp.ClientSession
) -> None:
    api, _ = slack
    opened = await AsyncWebClient(base_url=api.url).apps_connections_open(app_token=api.app_token)

    async with http.ws_connect(opened["url"]) as socket:
        assert json.loads((await socket.receive()).data)["type"] == "hello"
        await api.ask_to_reconnect()
        assert json.loads((await socket.receive()).data) == {
            "type": "disconnect",
            "reason": "refresh_requested",
        }
        await api.close_sockets(code=1001)
        # A close frame (aiohttp 3.10's server sends 1000 whatever code it is given).
        assert (await socket.receive()).type is aiohttp.WSMsgType.CLOSE

    async with http.ws_connect(opened["url"]) as socket:
        await socket.receive()  # hello
        api.drop_sockets()
        assert (await socket.receive()).type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    await eventually(lambda: not api.socket_connected)


# One app, many workspaces (issue 14): the stand-in's workspaces, OAuth, limits and process.

LAB_A, LAB_B = "T0LABA0001", "T0LABB0001"


@pytest.fixture
async def labs() -> AsyncIterator[tuple[SlackApi, AsyncWebClient, AsyncWebClient]]:
    """Two workspaces besides the default one, a channel and a user in each; a client each."""
    async with SlackApi() as api:
        for team, letter in ((LAB_A, "A"), (LAB_B, "B")):
            api.add_workspace(team, name=f"Lab {letter}")
            api.add_channel(f"C0LAB{letter}", team=team)
            api.add_user(f"U0LAB{letter}", team=team, is_admin=True)
        a, b = (
            AsyncWebClient(base_url=api.url, token=api.workspaces[t].token) for t in (LAB_A, LAB_B)
        )
        yield api, a, b


async def _error_of(call: Awaitable[Any]) -> str:
    with pytest.raises(SlackApiError) as refused:
        await call
    return str(refused.value.response["error"])


async def test_each_token_answers_auth_test_as_its_own_workspace(
    labs: tuple[SlackApi, AsyncWebClient, AsyncWebClient],
) -> None:
    api, a, _ = labs
    default = AsyncWebClient(base_url=api.url, token=api.token)

    lab = await a.auth_test()
    ours = await default.auth_test()

    workspace = api.workspaces[LAB_A]
    assert (lab["team_id"], lab["team"], lab["user_id"], lab["bot_id"]) == (
        LAB_A,
        "Lab A",
        workspace.bot_user_id,
        workspace.bot_id,
    )
    assert lab["url"] == "https://lab-a.slack.com/"
    assert (ours["team_id"], ours["user_id"], ours["bot_id"]) == (TEAM_ID, BOT_USER_ID, BOT_ID)
    assert len({workspace.bot_user_id, api.workspaces[LAB_B].bot_user_id, BOT_USER_ID}) == 3
    assert [call.team for call in api.calls_to("auth.test")] == [LAB_A, TEAM_ID]
    assert workspace.token not in repr(workspace)


async def test_a_workspace_reaches_no_channel_or_user_of_another(
    labs: tuple[SlackApi, AsyncWebClient, AsyncWebClient],
) -> None:
    api, a, _ = labs

    errors = [
        await _error_of(a.chat_postMessage(channel="C0LABB", text="hi")),
        await _error_of(a.conversations_history(channel="C0LABB")),
        await _error_of(a.conversations_join(channel="C0LABB")),
        await _error_of(a.chat_postEphemeral(channel="C0LABB", user="U0LABB", text="hi")),
        await _error_of(a.users_info(user="U0LABB")),
    ]
    own_user = await a.users_info(user="U0LABA")
    await a.chat_postMessage(channel="C0LABA", text="mine")

    assert errors == ["channel_not_found"] * 4 + ["user_not_found"]
    assert own_user["user"]["team_id"] == LAB_A
    assert api.messages["C0LABB"] == []
    assert [m["team"] for m in api.messages["C0LABA"]] == [LAB_A]
    default = AsyncWebClient(base_url=api.url, token=api.token)
    assert await _error_of(default.chat_postMessage(channel="C0LABA", text="x")) == (
        "channel_not_found"
    )


async def test_a_shared_channel_is_in_both_workspaces_and_each_post_names_its_workspace(
    labs: tuple[SlackApi, AsyncWebClient, AsyncWebClient],
) -> None:
    api, a, b = labs
    for team in (LAB_A, LAB_B):
        api.add_channel("C0SHARED", team=team)

    await a.chat_postMessage(channel="C0SHARED", text="from A")
    await b.chat_postMessage(channel="C0SHARED", text="from B")
    seen_by_b = await b.conversations_history(channel="C0SHARED")

    assert [m["text"] for m in api.posted(LAB_A, "C0SHARED")] == ["from A"]
    assert [m["text"] for m in api.posted(LAB_B, "C0SHARED")] == ["from B"]
    assert [m["user"] for m in api.messages["C0SHARED"]] == [
        api.workspaces[LAB_A].bot_user_id,
        api.workspaces[LAB_B].bot_user_id,
    ]
    assert [m["text"] for m in seen_by_b["messages"]] == ["from B", "from A"]


async def test_oauth_v2_access_trades_a_granted_code_once_for_a_new_token_of_its_workspace(
    labs: tuple[SlackApi, AsyncWebClient, AsyncWebClient],
) -> None:
    api, _, _ = labs
    before = api.workspaces[LAB_A].token
    oauth = AsyncWebClient(base_url=api.url)  # as Bolt's flow: no token
    api.grant("code-1", LAB_A, installer="U0ALICE")

    answer = await oauth.oauth_v2_access(
        client_id=api.client_id, client_secret=api.client_secret, code="code-1"
    )

    token = answer["access_token"]
    assert token.startswith("xoxb-") and token not in (before, api.token)
    assert token == api.workspaces[LAB_A].token
    assert {key: answer[key] for key in answer.data if key != "access_token"} == {
        "ok": True,
        "app_id": APP_ID,
        "authed_user": {"id": "U0ALICE"},
        "scope": SCOPES,
        "token_type": "bot",
        "bot_user_id": api.workspaces[LAB_A].bot_user_id,
        "team": {"id": LAB_A, "name": "Lab A"},
        "enterprise": None,
        "is_enterprise_install": False,
    }
    [call] = api.calls_to("oauth.v2.access")
    basic = base64.b64encode(f"{api.client_id}:{api.client_secret}".encode()).decode()
    assert call.headers["Authorization"] == f"Basic {basic}"
    assert (await AsyncWebClient(base_url=api.url, token=token).auth_test())["team_id"] == LAB_A
    # The old token keeps working; the code does not, a second time.
    assert (await AsyncWebClient(base_url=api.url, token=before).auth_test())["team_id"] == LAB_A
    again = oauth.oauth_v2_access(
        client_id=api.client_id, client_secret=api.client_secret, code="code-1"
    )
    assert await _error_of(again) == "invalid_code"
    # Slack also takes the client credentials as parameters.
    api.grant("code-2", "T0NEWLAB01")
    fields = {"client_id": api.client_id, "client_secret": api.client_secret, "code": "code-2"}
    newcomer = await oauth.api_call("oauth.v2.access", data=fields)
    assert newcomer["team"]["id"] == "T0NEWLAB01"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"client_id": "9999.9999"}, "invalid_client_id"),
        ({"client_secret": "wrong"}, "bad_client_secret"),
        ({"code": "never-granted"}, "invalid_code"),
        ({"redirect_uri": "https://elsewhere.example/slack/oauth_redirect"}, "bad_redirect_uri"),
    ],
    ids=["client id", "client secret", "code", "redirect uri"],
)
async def test_oauth_v2_access_refuses_a_wrong_client_code_or_redirect(
    slack: tuple[SlackApi, AsyncWebClient], change: dict[str, str], error: str
) -> None:
    api, _ = slack
    redirect = "https://news.example.org/slack/oauth_redirect"
    api.grant("code-1", LAB_A, redirect_uri=redirect)
    fields = {"client_id": api.client_id, "client_secret": api.client_secret, "code": "code-1"}
    fields["redirect_uri"] = redirect

    refused = AsyncWebClient(base_url=api.url).oauth_v2_access(**{**fields, **change})

    assert await _error_of(refused) == error
    assert LAB_A in api.workspaces and api.calls_to("oauth.v2.access")[0].team is None
    still = await AsyncWebClient(base_url=api.url).oauth_v2_access(**fields)
    assert still["team"]["id"] == LAB_A  # the refused try did not use the code up


async def test_an_org_wide_install_names_the_enterprise_and_no_team(
    slack: tuple[SlackApi, AsyncWebClient],
) -> None:
    api, _ = slack
    api.grant("code-1", LAB_A, enterprise_id="E0ORG0001", is_enterprise_install=True)

    answer = await AsyncWebClient(base_url=api.url).oauth_v2_access(
        client_id=api.client_id, client_secret=api.client_secret, code="code-1"
    )
    identity = await AsyncWebClient(base_url=api.url, token=answer["access_token"]).auth_test()

    assert (answer["team"], answer["enterprise"]["id"], answer["is_enterprise_install"]) == (
        None,
        "E0ORG0001",
        True,
    )
    assert (identity["enterprise_id"], identity["is_enterprise_install"]) == ("E0ORG0001", True)


async def test_a_revoked_workspace_answers_token_revoked_to_each_of_its_tokens(
    labs: tuple[SlackApi, AsyncWebClient, AsyncWebClient],
) -> None:
    api, a, b = labs
    api.grant("code-1", LAB_A)
    oauth = AsyncWebClient(base_url=api.url)
    credentials = {"client_id": api.client_id, "client_secret": api.client_secret}
    newer = (await oauth.oauth_v2_access(**credentials, code="code-1"))["access_token"]

    api.revoke(LAB_A)

    newest = AsyncWebClient(base_url=api.url, token=newer)
    assert await _error_of(a.auth_test()) == "token_revoked"
    assert await _error_of(newest.auth_test()) == "token_revoked"
    assert await _error_of(newest.chat_postMessage(channel="C0LABA", text="x")) == "token_revoked"
    assert api.workspaces[LAB_A].revoked and not api.workspaces[LAB_B].revoked
    assert api.channels_of(LAB_A)["C0LABA"].is_member is False  # the bot left with its token
    assert (await b.auth_test())["team_id"] == LAB_B
    # Reinstalling gives a working token again.
    api.grant("code-2", LAB_A)
    again = (await oauth.oauth_v2_access(**credentials, code="code-2"))["access_token"]
    assert (await AsyncWebClient(base_url=api.url, token=again).auth_test())["team_id"] == LAB_A
    assert not api.workspaces[LAB_A].revoked


async def test_auth_revoke_revokes_the_calling_token_only(
    labs: tuple[SlackApi, AsyncWebClient, AsyncWebClient],
) -> None:
    api, a, b = labs

    tried = await b.auth_revoke(test=True)
    assert (await b.auth_test())["team_id"] == LAB_B  # test mode revokes nothing
    revoked = await b.auth_revoke()

    assert (tried["revoked"], revoked["revoked"]) == (False, True)
    assert await _error_of(b.auth_test()) == "token_revoked"
    assert (await a.auth_test())["team_id"] == LAB_A
    assert api.workspaces[LAB_B].revoked


async def test_a_post_sooner_than_the_channel_interval_gets_429_per_workspace_and_channel(
    labs: tuple[SlackApi, AsyncWebClient, AsyncWebClient],
) -> None:
    api, a, b = labs
    api.per_channel_interval = 0.3
    for team in (LAB_A, LAB_B):
        api.add_channel("C0SHARED", team=team)
    api.add_channel("C0LABA2", team=LAB_A)

    await a.chat_postMessage(channel="C0SHARED", text="1")
    with pytest.raises(SlackApiError) as refused:
        await a.chat_postMessage(channel="C0SHARED", text="too soon")
    await a.chat_postMessage(channel="C0LABA2", text="another channel")
    await b.chat_postMessage(channel="C0SHARED", text="another workspace")
    await asyncio.sleep(0.3)
    await a.chat_postMessage(channel="C0SHARED", text="2")

    assert refused.value.response.status_code == 429
    assert refused.value.response.headers["Retry-After"] == "1"
    assert refused.value.response["error"] == "ratelimited"
    assert [m["text"] for m in api.posted(LAB_A, "C0SHARED")] == ["1", "2"]
    stats = api.stats()
    assert stats["rate_limited"] == 1 and stats["rate_limited_by_team"] == {LAB_A: 1}
    assert stats["posts"][LAB_A]["C0SHARED"]["count"] == 2
    assert stats["posts_total"] == 4


async def test_posts_beyond_a_workspaces_limit_per_minute_get_429_until_one_is_allowed(
    labs: tuple[SlackApi, AsyncWebClient, AsyncWebClient],
) -> None:
    api, a, b = labs
    api.per_workspace_per_minute = 2
    for n in range(3):
        api.add_channel(f"C0A{n}", team=LAB_A)

    await a.chat_postMessage(channel="C0A0", text="1")
    await a.chat_postMessage(channel="C0A1", text="2")
    with pytest.raises(SlackApiError) as refused:
        await a.chat_postMessage(channel="C0A2", text="3")
    await b.chat_postMessage(channel="C0LABB", text="B has its own minute")

    assert refused.value.response.status_code == 429
    assert 59 <= int(refused.value.response.headers["Retry-After"]) <= 60
    assert api.messages["C0A2"] == [] and len(api.messages["C0LABB"]) == 1


async def test_latency_delays_every_answer_without_queueing_them(
    slack: tuple[SlackApi, AsyncWebClient],
) -> None:
    api, client = slack
    api.latency = 0.3

    started = time.monotonic()
    await asyncio.gather(*(client.auth_test() for _ in range(5)))
    took = time.monotonic() - started

    assert 0.3 <= took < 1.0  # five at once, each waiting 0.3 s
    assert api.in_flight_peak == 5


async def test_with_record_calls_off_only_counts_are_kept(
    slack: tuple[SlackApi, AsyncWebClient],
) -> None:
    api, client = slack
    api.record_calls = False

    for n in range(3):
        await client.chat_postMessage(channel="C0NEWS", text=f"m{n}")
    await client.auth_test()

    assert api.calls == []
    assert api.call_counts == {"chat.postMessage": 3, "auth.test": 1}
    assert api.stats()["posts"] == {TEAM_ID: {"C0NEWS": ANY}}
    assert len(api.messages["C0NEWS"]) == 3


async def test_the_stand_in_runs_as_a_process_with_many_workspaces() -> None:
    async with SlackApiProcess(workspaces=1000, per_channel_interval=1, latency=0.01) as process:
        first, second = process.workspaces[0], process.workspaces[1]
        client = AsyncWebClient(base_url=process.url, token=first["token"])
        started = time.time()

        identity = await client.auth_test()
        await client.chat_postMessage(channel=first["channels"][0], text="hi")
        too_soon = await _error_of(client.chat_postMessage(channel=first["channels"][0], text="x"))
        elsewhere = await _error_of(
            client.chat_postMessage(channel=second["channels"][0], text="x")
        )
        admin = await client.users_info(user=first["admin"])
        await process.grant("code-1", "T0NEWLAB01")
        installed = await AsyncWebClient(base_url=process.url).oauth_v2_access(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code="code-1"
        )
        await process.revoke(first["team_id"])
        revoked = await _error_of(client.auth_test())
        stats = await process.stats()

    assert len(process.workspaces) == 1000
    assert [w["team_id"] for w in process.workspaces[:2]] == ["T00000001", "T00000002"]
    assert first["channels"] == ["C00000001A", "C00000001B"]
    assert (identity["team_id"], identity["user_id"]) == ("T00000001", first["bot_user_id"])
    assert (too_soon, elsewhere, revoked) == ("ratelimited", "channel_not_found", "token_revoked")
    assert admin["user"]["is_admin"] is True
    assert installed["team"]["id"] == "T0NEWLAB01"
    posted = stats["posts"]["T00000001"]["C00000001A"]
    assert posted["count"] == 1 and started <= posted["first"] == posted["last"] <= time.time()
    assert (stats["rate_limited"], stats["calls"]["chat.postMessage"]) == (1, 3)
    assert process.process is not None and process.process.returncode is not None


class BoltWithOAuth:
    """A plain Bolt app in distribution mode (not the bot) served over HTTP: what the browser
    helper and the request bodies are checked against. Its listeners note what Bolt made of
    each request: the workspace and the bot token it authorized with."""

    def __init__(self, api: SlackApi, tmp_path: Path, *, render_page: bool, redirect: bool) -> None:
        self.store = FileInstallationStore(base_dir=str(tmp_path / "installations"))
        settings = AsyncOAuthSettings(
            client_id=api.client_id,
            client_secret=api.client_secret,
            scopes=SCOPES.split(","),
            installation_store=self.store,
            state_store=FileOAuthStateStore(expiration_seconds=600, base_dir=str(tmp_path)),
            install_page_rendering_enabled=render_page,
            redirect_uri="https://news.example.org/slack/oauth_redirect" if redirect else None,
        )
        self.app = AsyncApp(
            signing_secret=SIGNING_SECRET,
            client=AsyncWebClient(base_url=api.url),
            oauth_settings=settings,
            process_before_response=True,
        )
        self.seen: list[tuple[str, str | None, str | None, str | None]] = []
        self.app.enable_token_revocation_listeners()
        self.app.command("/isscr-news")(self._noted("command"))
        self.app.action("share")(self._noted("button"))
        self.app.action("home")(self._noted("home button"))
        self.app.view("route")(self._noted("modal"))
        self.app.event("app_home_opened")(self._noted("home opened"))
        self._runner = web.AppRunner(AsyncSlackAppServer(0, "/slack/events", self.app).web_app)
        self.url = ""

    def _noted(self, kind: str) -> Callable[..., Awaitable[None]]:
        async def listener(ack: Any, context: AsyncBoltContext) -> None:
            self.seen.append((kind, context.team_id, context.enterprise_id, context.bot_token))
            await ack()

        return listener

    async def __aenter__(self) -> BoltWithOAuth:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._runner.cleanup()


@pytest.mark.parametrize(
    ("render_page", "redirect"), [(True, False), (False, True)], ids=["install page", "302"]
)
async def test_a_browser_adds_the_app_to_two_workspaces_through_bolts_oauth_flow(
    slack: tuple[SlackApi, AsyncWebClient], tmp_path: Path, render_page: bool, redirect: bool
) -> None:
    api, _ = slack

    async with BoltWithOAuth(api, tmp_path, render_page=render_page, redirect=redirect) as bolt:
        a = await add_to_slack(bolt.url, api, LAB_A)
        b = await add_to_slack(bolt.url, api, LAB_B, installer="U0BOB", enterprise_id="E0ORG0001")
        cancelled = await add_to_slack(bolt.url, api, "T0LABC0001", deny=True)

    assert a[0] == b[0] == 200 and "Thank you!" in a[1]
    assert cancelled[0] == 200 and "access_denied" in cancelled[1]
    found_a = bolt.store.find_installation(enterprise_id=None, team_id=LAB_A)
    found_b = bolt.store.find_installation(enterprise_id="E0ORG0001", team_id=LAB_B)
    assert found_a is not None and found_b is not None
    assert (found_a.bot_token, found_a.bot_id, found_a.user_id) == (
        api.workspaces[LAB_A].token,
        api.workspaces[LAB_A].bot_id,
        "U0INSTALL1",
    )
    assert (found_b.bot_token, found_b.user_id) == (api.workspaces[LAB_B].token, "U0BOB")
    assert bolt.store.find_installation(enterprise_id=None, team_id="T0LABC0001") is None
    exchanged = api.calls_to("oauth.v2.access")
    assert len(exchanged) == 2
    assert all(call.headers["Authorization"].startswith("Basic ") for call in exchanged)
    if redirect:
        assert (
            exchanged[0].params["redirect_uri"] == "https://news.example.org/slack/oauth_redirect"
        )


async def test_bolt_finds_the_workspace_of_every_request_body(
    slack: tuple[SlackApi, AsyncWebClient], tmp_path: Path
) -> None:
    api, _ = slack
    org = "E0ORG0001"

    async with BoltWithOAuth(api, tmp_path, render_page=True, redirect=False) as bolt:
        await add_to_slack(bolt.url, api, LAB_A)
        await add_to_slack(bolt.url, api, LAB_B, enterprise_id=org)
        events = f"{bolt.url}/slack/events"
        bodies = [
            slash_command_body("stem cells", team=LAB_A),
            block_action_body(
                "share", "r1", response_url=api.response_url("r"), team=LAB_B, enterprise_id=org
            ),
            home_action_body("home", user="U0LABA", team=LAB_A),
            view_submission_body(
                "route", user="U0LABB", channel="C0B", team=LAB_B, enterprise_id=org
            ),
        ]
        for body in bodies:
            assert (await send_to_slack_app(events, body))[0] == 200
        bot_b = api.workspaces[LAB_B].bot_user_id
        for body in (
            home_opened_body(LAB_B, "U0LABB", bot_user=bot_b, enterprise_id=org),
            app_uninstalled_body(LAB_A),
            tokens_revoked_body(LAB_B, [bot_b], enterprise_id=org),
        ):
            assert (await send_to_slack_app(events, body, content_type="application/json"))[
                0
            ] == 200

    token_a, token_b = api.workspaces[LAB_A].token, api.workspaces[LAB_B].token
    assert bolt.seen == [
        ("command", LAB_A, None, token_a),
        ("button", LAB_B, org, token_b),
        ("home button", LAB_A, None, token_a),
        ("modal", LAB_B, org, token_b),
        ("home opened", LAB_B, org, token_b),
    ]
    # Bolt's own uninstall listeners deleted what each event named, and nothing else.
    assert bolt.store.find_installation(enterprise_id=None, team_id=LAB_A) is None
    assert bolt.store.find_bot(enterprise_id=org, team_id=LAB_B) is None
    assert bolt.store.find_installation(enterprise_id=org, team_id=LAB_B) is not None  # its user


def test_request_and_event_bodies_carry_their_workspace_where_slack_puts_it() -> None:
    org = "E0ORG0001"
    command = parse_qs(slash_command_body("x", team=LAB_A, enterprise_id=org).decode())
    click = _payload(block_action_body("share", "r1", response_url="-", team=LAB_A))
    home = _payload(home_action_body("home", user="U0LABA", team=LAB_A, enterprise_id=org))
    save = _payload(view_submission_body("route", user="U0LABA", team=LAB_A))

    assert (command["team_id"], command["enterprise_id"]) == ([LAB_A], [org])
    for payload in (click, home, save):
        assert payload["team"]["id"] == payload["user"]["team_id"] == LAB_A
    assert (click["enterprise"], home["enterprise"]["id"]) == (None, org)
    assert home["team"]["enterprise_id"] == org
    assert home["view"]["app_installed_team_id"] == save["view"]["team_id"] == LAB_A


def _payload(body: bytes) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(parse_qs(body.decode())["payload"][0])
    return payload


def test_event_bodies_are_shaped_as_slack_posts_them() -> None:
    opened = json.loads(home_opened_body(LAB_A, "U0LABA", bot_user="U0BOTA"))
    uninstalled = json.loads(app_uninstalled_body(LAB_A))
    revoked = json.loads(tokens_revoked_body(LAB_A, ["U0BOTA"]))

    assert opened["type"] == "event_callback" and opened["team_id"] == LAB_A
    assert opened["authorizations"] == [
        {
            "enterprise_id": None,
            "team_id": LAB_A,
            "user_id": "U0BOTA",
            "is_bot": True,
            "is_enterprise_install": False,
        }
    ]
    assert opened["event"]["type"] == "app_home_opened" and opened["event"]["tab"] == "home"
    assert uninstalled["event"] == {"type": "app_uninstalled"}
    assert revoked["event"] == {
        "type": "tokens_revoked",
        "tokens": {"oauth": [], "bot": ["U0BOTA"]},
    }
    assert "authorizations" not in uninstalled  # as https://api.slack.com/events/app_uninstalled
    assert len({opened["event_id"], uninstalled["event_id"], revoked["event_id"]}) == 3
