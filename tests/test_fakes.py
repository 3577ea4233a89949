"""The stand-ins themselves behave like the edges they replace (feed site, Slack Web API)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import feedparser
import pytest
from slack_sdk.errors import SlackApiError
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
from standins.slack_api import BOT_ID, FakeResponse, SlackApi
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
