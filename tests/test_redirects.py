"""Redirects of the feed and the archive: followed within the site or to hosts the operator
allows, never to another host nor from https down to http, and no request ever goes there."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.database import Database
from bot.ingest.archive import Backfill
from bot.ingest.archive_page import ArchiveError
from bot.ingest.watcher import Outcome, Watcher
from bot.models import SINGLE_WORKSPACE, Place
from bot.runtime import Bot
from bot.settings import Settings, SettingsError
from bot.store import Store
from standins.feed_server import FEED_PATH, Fault, FeedServer, LoopbackResolver, make_item
from standins.slack_api import SlackApi
from tests.conftest import CHANNEL, bot_env, eventually, newest_first

# The society's site and a stranger's, on this machine: the stranger listens on another
# loopback address, so "another host" is another host to the bot and to the kernel.
SITE_HOSTS = {"isscr.test": "127.0.0.1", "www.isscr.test": "127.0.0.1"}
ELSEWHERE = "elsewhere.test"


@pytest.fixture
async def stranger() -> AsyncIterator[FeedServer]:
    """Another site, with releases of its own, which must never be asked for anything."""
    async with FeedServer(newest_first(901, 902), host="127.0.0.2") as server:
        yield server


@pytest.fixture
async def resolver(stranger: FeedServer) -> LoopbackResolver:
    return LoopbackResolver({**SITE_HOSTS, ELSEWHERE: stranger.host})


@pytest.fixture
async def session(resolver: LoopbackResolver) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(resolver=resolver)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=5)
    ) as opened:
        yield opened


def site_url(server: FeedServer, host: str = "isscr.test", fmt: str = "rss") -> str:
    return f"http://{host}:{server.port}{FEED_PATH}?format={fmt}"


def watcher_for(
    db: Database, session: aiohttp.ClientSession, url: str, **options: object
) -> Watcher:
    return Watcher(
        db,
        session,
        feed_url=url,
        channels_for=lambda store, release: [Place(SINGLE_WORKSPACE, CHANNEL)],
        poll_interval=300,
        **options,  # type: ignore[arg-type]
    )


async def test_a_redirect_within_the_site_is_followed_with_or_without_www(
    store: Store, db: Database, session: aiohttp.ClientSession, feed: FeedServer
) -> None:
    feed.fail_next(Fault.redirect(site_url(feed, "www.isscr.test")))
    result = await watcher_for(db, session, site_url(feed)).poll_once()
    assert result.outcome is Outcome.UPDATED
    assert store.release_count() == 3

    # And back: www.isscr.test to isscr.test is the same site too.
    feed.items.insert(0, make_item(4))
    feed.fail_next(Fault.redirect(site_url(feed)))
    again = await watcher_for(db, session, site_url(feed, "www.isscr.test")).poll_once()
    assert again.outcome is Outcome.UPDATED
    assert store.release_count() == 4
    hosts = [request.headers["Host"].split(":")[0] for request in feed.requests]
    assert hosts == ["isscr.test", "www.isscr.test", "www.isscr.test", "isscr.test"]


async def test_a_redirect_to_another_host_is_refused_before_any_request_goes_there(
    store: Store,
    db: Database,
    session: aiohttp.ClientSession,
    feed: FeedServer,
    stranger: FeedServer,
    resolver: LoopbackResolver,
) -> None:
    watcher = watcher_for(db, session, site_url(feed))
    await watcher.poll_once()  # the baseline
    elsewhere = site_url(stranger, ELSEWHERE)
    feed.fail_always(Fault.redirect(elsewhere, code=301))

    result = await watcher.poll_once()

    assert result.outcome is Outcome.FAILED
    assert result.failure is not None
    assert result.failure.reason == (
        f"redirected to another host, {ELSEWHERE} ({elsewhere}): not followed; if that host is "
        "the society's, add it to FEED_ALLOWED_HOSTS"
    )
    assert store.feed_status(site_url(feed)).last_error == result.failure.reason
    assert stranger.requests == []
    assert ELSEWHERE not in resolver.asked  # not even looked up
    assert store.release_count() == 3
    assert store.delivery_log() == []


async def test_a_host_the_operator_allows_is_followed(
    store: Store,
    db: Database,
    session: aiohttp.ClientSession,
    feed: FeedServer,
    stranger: FeedServer,
) -> None:
    watcher = watcher_for(db, session, site_url(feed), allowed_hosts=frozenset({ELSEWHERE}))
    feed.fail_always(Fault.redirect(site_url(stranger, ELSEWHERE)))

    result = await watcher.poll_once()

    assert result.outcome is Outcome.UPDATED
    assert len(stranger.requests) == 1
    assert store.release(make_item(901).item_id) is not None


async def test_an_archive_redirect_to_another_host_fails_the_page_and_asks_it_nothing(
    store: Store,
    db: Database,
    session: aiohttp.ClientSession,
    feed: FeedServer,
    stranger: FeedServer,
) -> None:
    feed.fail_always(Fault.redirect(site_url(stranger, ELSEWHERE, "json")), json_only=True)
    walk = Backfill(db, session, archive_url=site_url(feed, fmt="json"), pause=0, retry_base=0.01)

    with pytest.raises(ArchiveError) as raised:
        await walk.run()

    assert raised.value.reason.startswith(f"redirected to another host, {ELSEWHERE} (")
    assert "FEED_ALLOWED_HOSTS" in raised.value.reason
    assert stranger.requests == []
    assert store.release_count() == 0
    status = store.archive_status(site_url(feed, fmt="json"))
    assert (status.state, status.last_error) == ("failed", raised.value.reason)


# -- https ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made for this run."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_a_redirect_from_https_down_to_http_is_refused(
    store: Store, db: Database, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    async with (
        FeedServer(newest_first(1, 2, 3), ssl_context=serving) as secure,
        FeedServer(newest_first(7, 8)) as plain,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trusting)) as session,
    ):
        watcher = watcher_for(db, session, secure.url)
        assert (await watcher.poll_once()).outcome is Outcome.UPDATED  # https itself works
        secure.fail_always(Fault.redirect(plain.url))  # the same host, over plain http

        result = await watcher.poll_once()

    assert result.outcome is Outcome.FAILED
    assert result.failure is not None
    assert result.failure.reason.startswith(
        f"redirected from https to plain http ({plain.url}): not followed"
    )
    assert plain.requests == []
    assert store.release_count() == 3


# -- the setting, in the running bot --------------------------------------------------------


def test_feed_allowed_hosts_is_checked_with_one_line_naming_it(tmp_path: Path) -> None:
    env = {"DATABASE_PATH": str(tmp_path / "x.db")}
    allowed = Settings.from_env({**env, "FEED_ALLOWED_HOSTS": "News.ISSCR.org, cdn.isscr.org."})
    assert allowed.feed_allowed_hosts == {"news.isscr.org", "cdn.isscr.org"}
    assert Settings.from_env(env).feed_allowed_hosts == frozenset()
    for wrong in ("https://cdn.isscr.org", "cdn.isscr.org:8443", "isscr.org/news", "a..b"):
        with pytest.raises(SettingsError) as raised:
            Settings.from_env({**env, "FEED_ALLOWED_HOSTS": f"isscr.org, {wrong}"})
        assert str(raised.value) == (
            f"FEED_ALLOWED_HOSTS has {wrong!r}, not a host name: list host names only (like "
            "cdn.isscr.org: no https://, path or port), separated by commas"
        )


@pytest.mark.parametrize("allowed", [None, "127.0.0.2"])
async def test_the_bot_follows_a_redirect_to_another_host_only_when_allowed(
    tmp_path: Path,
    feed: FeedServer,
    stranger: FeedServer,
    slack: SlackApi,
    allowed: str | None,
) -> None:
    feed.fail_always(Fault.redirect(stranger.url))
    settings = Settings.from_env(bot_env(tmp_path, feed, slack, FEED_ALLOWED_HOSTS=allowed))
    store = Store(settings.database_path)
    store.ensure_schema()
    bot = Bot(settings, host="127.0.0.1")
    await bot.start()
    try:
        if allowed:
            await eventually(lambda: store.release_count() == 2)
            assert store.release(make_item(901).item_id) is not None
        else:
            await eventually(lambda: store.feed_status(feed.url).failures >= 2)
            assert "add it to FEED_ALLOWED_HOSTS" in (store.feed_status(feed.url).last_error or "")
            assert stranger.requests == []
            assert store.release_count() == 0
    finally:
        await bot.stop()
