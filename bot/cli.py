"""The `isscr-news-bot` command line: run the bot, poll once, look at its health."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import sys
import time
from typing import NoReturn

import click
from dotenv import find_dotenv, load_dotenv

from bot import __version__
from bot.app import posting_client
from bot.feed import open_session
from bot.health import health
from bot.models import FeedError, Release, Validators
from bot.outbox import Outbox
from bot.routes import Router
from bot.runtime import Bot
from bot.settings import Settings, SettingsError
from bot.store import Store
from bot.watcher import Outcome, Watcher, plan_poll

log = logging.getLogger("bot")


def fail(message: object) -> NoReturn:
    """Stop with one line on stderr and exit code 2: the operator's fix is in the message."""
    click.echo(f"isscr-news-bot: {message}", err=True)
    sys.exit(2)


def load_settings(
    *, require_slack: bool = False, serve: bool = False, mode: str = "auto"
) -> Settings:
    """Settings from the environment and `.env`; a problem exits with one line and code 2."""
    # Real environment variables win over the file, as deploy platforms expect.
    load_dotenv(find_dotenv(usecwd=True), override=False)
    try:
        settings = Settings.from_env(os.environ).in_mode(mode)
        if require_slack:
            settings.require_slack(serve=serve)
    except SettingsError as error:
        fail(error)
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    for warning in settings.warnings():
        log.warning(warning)
    return settings


def open_store(settings: Settings, *, read_only: bool = False) -> Store:
    """The database, schema ensured; an unusable file exits with one line and code 2."""
    try:
        store = Store(settings.database_path, read_only=read_only)
        if not read_only:
            store.ensure_schema()
    except sqlite3.Error as error:
        fail(
            f"DATABASE_PATH {settings.database_path} cannot be used ({error}): "
            "point it to a writable SQLite file on a persistent disk"
        )
    return store


@click.group()
@click.version_option(__version__, prog_name="isscr-news-bot")
def main() -> None:
    """ISSCR news in Slack: watches the society's feed and announces new releases."""


@main.command()
@click.option(
    "--mode",
    type=click.Choice(["auto", "http", "socket"]),
    default="auto",
    show_default=True,
    help="How Slack reaches the bot; auto means Socket Mode when SLACK_APP_TOKEN is set.",
)
def run(mode: str) -> None:
    """Run the Slack app, the feed watcher and the announcer until SIGTERM."""
    settings = load_settings(require_slack=True, serve=True, mode=mode)
    how = "Socket Mode" if settings.socket_mode else f"HTTP mode on port {settings.port}"
    log.info("starting in %s; feed %s every %gs", how, settings.feed_url, settings.poll_interval)
    asyncio.run(_run(settings))


async def _run(settings: Settings) -> None:
    bot = Bot(settings, open_store(settings))
    try:
        await bot.run_forever()
    except SettingsError as error:  # found only when starting, e.g. PORT already taken
        await bot.stop()
        fail(error)


@main.command()
@click.option("--dry-run", is_flag=True, help="Print what would be announced; change nothing.")
@click.option("--all", "show_all", is_flag=True, help="With --dry-run: print every release.")
def poll(dry_run: bool, show_all: bool) -> None:
    """Poll the feed once. Without --dry-run, store it and post what is due, then exit."""
    settings = load_settings(require_slack=not dry_run)
    code = asyncio.run(_dry_run(settings, show_all) if dry_run else _poll(settings))
    sys.exit(code)


async def _dry_run(settings: Settings, show_all: bool) -> int:
    # A dry run never creates or changes the database.
    if settings.database_path.exists():
        store = open_store(settings, read_only=True)
    else:
        store = Store(":memory:")
        store.ensure_schema()
    async with open_session() as session:
        watcher = Watcher(
            store,
            session,
            feed_url=settings.feed_url,
            channels_for=lambda release: [],
            poll_interval=settings.poll_interval,
        )
        try:
            # No stored validators: always fetch and parse the whole feed.
            _, releases, _ = await watcher.fetch_releases(Validators())
        except FeedError as error:
            click.echo(f"The feed could not be read: {error.failure.reason}", err=True)
            return 1
    assert releases is not None
    plan = plan_poll(store, releases, settings.announce_existing)
    store.close()
    click.echo(
        f"{len(plan.releases)} releases in the feed, {len(plan.new)} not yet stored; "
        f"{len(plan.to_announce)} would be announced"
        + (" (first poll: the rest become the baseline)" if plan.first_poll else "")
        + "."
    )
    shown = sorted(plan.releases, key=_newest_first) if show_all else plan.to_announce
    if not shown and plan.first_poll and plan.releases:
        click.echo("Use --all to preview every release, or set ANNOUNCE_EXISTING.")
    for release in shown:
        click.echo()
        click.echo(terminal_text(release))
    return 0


async def _poll(settings: Settings) -> int:
    store = open_store(settings)
    outbox = Outbox(store, posting_client(settings))
    async with open_session() as session:
        watcher = Watcher(
            store,
            session,
            feed_url=settings.feed_url,
            channels_for=Router(settings).channels_for,
            poll_interval=settings.poll_interval,
            announce_existing=settings.announce_existing,
        )
        result = await watcher.poll_once()
    await outbox.drain()
    counts = store.delivery_counts()
    store.close()
    if result.outcome is Outcome.FAILED:
        click.echo(f"Poll failed: {result.failure.reason if result.failure else '?'}", err=True)
        return 1
    click.echo(
        f"Feed {result.outcome.value}; deliveries: {counts['sent']} sent, "
        f"{counts['pending'] + counts['sending']} waiting, {counts['failed']} failed."
    )
    return 0


@main.command()
def status() -> None:
    """Print the feed's and the outbox's health as JSON."""
    settings = load_settings()
    store = open_store(settings)
    click.echo(json.dumps(health(store, settings.feed_url), indent=2))
    store.close()


@main.command("retry-failed")
def retry_failed() -> None:
    """Queue failed deliveries again (after fixing a channel or the token)."""
    settings = load_settings()
    store = open_store(settings)
    count = store.retry_failed(now=time.time())
    store.close()
    click.echo(f"{count} failed deliveries queued again; a running bot posts them shortly.")


def terminal_text(release: Release) -> str:
    """An announcement as plain text for a terminal."""
    when = release.published.strftime("%Y-%m-%d %H:%M UTC") if release.published else "undated"
    details = [", ".join(release.categories), when, release.author or ""]
    lines = [
        release.title,
        "  " + "  |  ".join(part for part in details if part),
        f"  {release.link}",
    ]
    if release.image_url:
        lines.append(f"  image: {release.image_url}")
    if release.excerpt:
        lines.append(f"  {release.excerpt}")
    return "\n".join(lines)


def _newest_first(release: Release) -> float:
    return -(release.published.timestamp() if release.published else float("-inf"))
