"""Distribution mode against what an independent audit tried (each of these failed before its
fix): late uninstall events, a flooded install page, admins polling a failing feed, advice
naming settings, tokens the key cannot read, redirect URLs the bot does not serve, Bolt's own
OAuth pages in single-workspace mode, a dropped code exchange, and single-workspace mode's
channels posted in parallel. Over real HTTP against the stand-ins; settings as `run` reads
them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from bot.settings import Settings
from bot.settings.errors import SettingsError
from bot.slack.tokens import TokenCipher, new_key
from standins.feed_server import Fault, FeedServer, make_item
from standins.oauth_browser import add_to_slack
from standins.slack_api import FakeResponse, SlackApi
from standins.slack_requests import (
    CHANNEL,
    app_uninstalled_body,
    send_to_slack_app,
    slash_command_body,
)
from tests.conftest import eventually
from tests.test_bot import InspectedBot, events_url, running
from tests.test_workspaces import (
    INSTITUTE,
    INSTITUTE_ADMIN,
    LAB,
    LAB_ADMIN,
    LAB_ALL,
    command,
    distribution,
    routed_as_asked,
    two_workspaces,
)


@pytest.fixture
async def feed() -> AsyncIterator[FeedServer]:
    items = [make_item(2, categories=["Press Release"]), make_item(1, categories=["Policy"])]
    async with FeedServer(items) as server:
        yield server


@pytest.fixture
async def bot(
    make_settings: Callable[..., Settings], slack: SlackApi, feed: FeedServer
) -> AsyncIterator[InspectedBot]:
    async with two_workspaces(make_settings, slack) as started:
        yield started


async def _command(bot: InspectedBot, text: str, *, team: str, user: str) -> str:
    status, shown = await command(bot, text, team=team, user=user)
    assert status == 200
    return shown


async def test_a_late_app_uninstalled_does_not_undo_a_reinstall_made_after_it(
    bot: InspectedBot, slack: SlackApi
) -> None:
    """Slack retries an event the bot did not acknowledge (the bot was restarting) for up to
    an hour. The workspace uninstalled at 12:00, reinstalled at 12:02 and routed a channel;
    the retry of the 12:00 app_uninstalled then arrives: it must not remove the new
    installation."""
    body = json.loads(app_uninstalled_body(LAB))  # its event_time: now, in whole seconds
    await send_to_slack_app(
        events_url(bot), json.dumps(body).encode(), content_type="application/json"
    )
    await eventually(lambda: bot.store.installation(LAB) is None)
    await asyncio.sleep(1.1)  # event_time counts whole seconds: the reinstall is in a later one
    # Reinstalled since, and routed again.
    status, page = await add_to_slack(f"http://127.0.0.1:{bot.port}", slack, LAB)
    assert status == 200, page
    await _command(bot, f"route <#{LAB_ALL}|all>", team=LAB, user=LAB_ADMIN)
    assert bot.store.routes(team=LAB)

    # Slack's retry of the old event (X-Slack-Retry-Num: 2), same event_id and event_time.
    retried = json.dumps(body).encode()
    status, _ = await send_to_slack_app(events_url(bot), retried, content_type="application/json")
    assert status == 200
    await asyncio.sleep(0.5)
    assert bot.store.installation(LAB) is not None, "the reinstall was undone by a stale event"
    assert bot.store.routes(team=LAB), "the routes made after the reinstall were deleted"


async def test_a_stranger_flooding_the_install_page_does_not_lock_out_every_real_install(
    bot: InspectedBot, slack: SlackApi
) -> None:
    """The install page is open to the internet: a loop of GETs (no cookie kept, nothing
    signed) writes nothing, and a real install goes through during it."""
    url = f"http://127.0.0.1:{bot.port}/slack/install"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:

        async def view() -> int:
            async with http.get(url, allow_redirects=False) as page:
                await page.read()
                return page.status

        statuses: list[int] = []
        for _ in range(21):
            statuses += await asyncio.gather(*(view() for _ in range(50)))
    assert set(statuses) == {200}
    assert bot.store.db.execute("SELECT count(*) FROM oauth_states").fetchone()[0] == 2
    slack.add_workspace("T0VICTIM01")
    status, _ = await add_to_slack(f"http://127.0.0.1:{bot.port}", slack, "T0VICTIM01")
    assert status == 200, f"a real install is refused for 10 minutes: {status}"


async def test_an_admin_of_any_workspace_cannot_make_the_bot_ignore_the_feeds_retry_after(
    bot: InspectedBot, feed: FeedServer, slack: SlackApi
) -> None:
    """In distribution mode anyone can be an admin (of a workspace of their own, installed
    through the public page). The society's site asked for an hour's pause (429, Retry-After);
    `/isscr-news poll` from that admin must not cut it short, once per command."""
    feed.fail_always(Fault.status(429, retry_after=3600))
    await bot.watcher.poll_once()  # the site answers 429: the watcher now waits an hour
    await asyncio.sleep(0.3)
    before = len(feed.requests)
    for _ in range(10):
        await _command(bot, "poll", team=INSTITUTE, user=INSTITUTE_ADMIN)
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    assert len(feed.requests) - before <= 1, (
        f"{len(feed.requests) - before} requests to a site that asked for an hour's pause"
    )


async def test_a_workspaces_admins_are_not_told_to_fix_an_environment_variable(
    bot: InspectedBot, slack: SlackApi, feed: FeedServer
) -> None:
    """A workspace whose token Slack answers invalid_auth (revoked some time ago): its admins
    read the reason in `/isscr-news status`; SLACK_BOT_TOKEN is no setting of theirs (and
    not one distribution mode has)."""
    await routed_as_asked(bot)
    slack.fail_next("chat.postMessage", FakeResponse.error("invalid_auth"), times=50)
    feed.items.insert(0, make_item(3, categories=["Policy"]))
    await eventually(
        lambda: any(d["last_error"] for d in bot.store.delivery_log() if d["team"] == INSTITUTE),
        timeout=15,
    )
    shown = await _command(bot, "status", team=INSTITUTE, user=INSTITUTE_ADMIN)
    assert "invalid_auth" in shown or "token" in shown, shown
    assert "SLACK_BOT_TOKEN" not in shown, shown


async def test_tokens_the_key_cannot_decrypt_keep_their_posts_waiting_and_fail_healthz(
    bot: InspectedBot, slack: SlackApi, feed: FeedServer
) -> None:
    """`rotate-key` run before the bot was restarted with the new key (or a second replica
    still on the old key): the running bot can read no workspace's token. The deliveries wait
    (nothing is given up on) and /healthz says why, naming the setting."""
    await routed_as_asked(bot)
    rotated = TokenCipher([new_key(), *bot.settings.token_keys])
    bot.store.replace_tokens(rotated.rotate)
    feed.items.insert(0, make_item(3, categories=["Policy"]))
    await eventually(
        lambda: (
            [d["last_error"] for d in bot.store.delivery_log()]
            == ["the workspace's token cannot be decrypted: the bot lacks its key"] * 3
        ),
        timeout=15,
    )
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{bot.port}/healthz") as health,
    ):
        report = await health.json()
        assert health.status == 503
    assert not report["ok"] and report["deliveries"]["failed"] == 0
    assert any("TOKEN_ENCRYPTION_KEY cannot decrypt" in line for line in report["problems"])
    assert all(key not in json.dumps(report) for key in bot.settings.token_keys)


def test_a_redirect_uri_the_bot_does_not_serve_is_a_settings_error(
    make_settings: Callable[..., Settings], slack: SlackApi
) -> None:
    """The bot answers Slack's redirect at /slack/oauth_redirect only: a Redirect URL with
    another path sends every installer to a 404 after they approved the app."""
    with pytest.raises(SettingsError, match="SLACK_REDIRECT_URI"):
        distribution(
            make_settings, slack, SLACK_REDIRECT_URI="https://news.example.org/slack/oauth/callback"
        )


async def test_single_workspace_mode_serves_no_install_page_whatever_the_environment_holds(
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SLACK_CLIENT_ID= and SLACK_CLIENT_SECRET= left empty (compose's env_file, a systemd
    EnvironmentFile): the settings read single-workspace mode, but Bolt reads the environment
    itself, turns its own OAuth flow on (file-based stores under $HOME), and the server now
    publishes it: each anonymous GET writes a file, without limit."""
    monkeypatch.setenv("SLACK_CLIENT_ID", "")
    monkeypatch.setenv("SLACK_CLIENT_SECRET", "")
    settings = make_settings()
    assert not settings.distribution
    async with running(settings) as bot, aiohttp.ClientSession() as http:
        # (Not /slack/install itself: on main each GET leaves a file in the tester's $HOME.)
        url = f"http://127.0.0.1:{bot.port}/slack/oauth_redirect?error=access_denied"
        async with http.get(url) as page:
            status = page.status
    assert status == 404, "Bolt's own OAuth flow is served in single-workspace mode"


async def test_an_install_whose_code_exchange_meets_a_dropped_connection_gets_a_page(
    bot: InspectedBot, slack: SlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack unreachable for a moment while the code is exchanged: the person is shown a page
    saying to try again, not aiohttp's bare 500, and the log has no traceback."""
    slack.add_workspace("T0UNLUCKY1")
    slack.fail_next("oauth.v2.access", FakeResponse.disconnect(), times=5)
    status, page = await add_to_slack(f"http://127.0.0.1:{bot.port}", slack, "T0UNLUCKY1")
    assert "Internal Server Error" not in page, (status, page)
    assert "Traceback" not in caplog.text


async def test_single_workspace_mode_posts_to_every_channel_at_once_as_before(
    make_settings: Callable[..., Settings], slack: SlackApi, feed: FeedServer
) -> None:
    """Single-workspace mode, a release routed to four channels, and Slack slow to answer the
    first two posts (3 s each): before issue 14 the other channels' posts went out at once,
    channels in parallel. The cap of 2 posts in flight per workspace makes them wait."""
    channels = [CHANNEL, "C0SECOND01", "C0THIRD001", "C0FOURTH01"]
    for channel in channels[1:]:
        slack.add_channel(channel)
    slack.add_user("U0ADMIN001", is_admin=True)
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 2)
        for channel in channels[1:]:
            body = slash_command_body(f"route <#{channel}|x>", user="U0ADMIN001")
            assert (await send_to_slack_app(events_url(bot), body))[0] == 200
        slack.fail_next("chat.postMessage", FakeResponse.timeout(3), times=2)
        feed.items.insert(0, make_item(3))
        await eventually(lambda: len(slack.calls_to("chat.postMessage")) >= 2)
        # The two other channels are posted to while the first two wait for Slack.
        await eventually(lambda: len(slack.calls_to("chat.postMessage")) == 4, timeout=1.5)


def test_a_malformed_redirect_uri_is_one_line_not_a_traceback(
    make_settings: Callable[..., Settings], slack: SlackApi
) -> None:
    """urlsplit raises ValueError on an unclosed IPv6 bracket; the settings must turn it into
    the one-line SettingsError (FEED_URL, ARCHIVE_URL and SLACK_API_URL have the same gap)."""
    with pytest.raises(SettingsError, match="SLACK_REDIRECT_URI"):
        distribution(make_settings, slack, SLACK_REDIRECT_URI="https://[::1/slack/oauth_redirect")
