"""`poll`: the feed once, stored and posted, or only previewed (`--dry-run`)."""

from __future__ import annotations

import asyncio
import sqlite3
import sys

import click

from bot.cli.common import database_problem, fail, load_settings, open_store
from bot.cli.terminal import terminal_text
from bot.cli.workspaces import check_keys
from bot.ingest.feed import open_session
from bot.ingest.watcher import FLOOD_THRESHOLD, Outcome, fetch_releases, plan_poll
from bot.models import FeedError, Release, Validators
from bot.runtime import build_core
from bot.settings import Settings
from bot.store import Store


@click.command()
@click.option("--dry-run", is_flag=True, help="Print what would be announced; change nothing.")
@click.option("--all", "show_all", is_flag=True, help="With --dry-run: print every release.")
@click.option(
    "--store-only",
    is_flag=True,
    help="Store the feed (to search it) but post nothing; needs no Slack token.",
)
def poll(dry_run: bool, show_all: bool, store_only: bool) -> None:
    """Poll the feed once. Without --dry-run, store it and post what is due, then exit."""
    if dry_run and store_only:
        fail("--dry-run changes nothing and --store-only stores: choose one of them")
    settings = load_settings(require_slack=not (dry_run or store_only))
    try:
        code = asyncio.run(
            _dry_run(settings, show_all) if dry_run else _poll(settings, post=not store_only)
        )
    except sqlite3.Error as error:  # e.g. DATABASE_PATH is another program's database
        fail(database_problem(settings, error))
    sys.exit(code)


async def _dry_run(settings: Settings, show_all: bool) -> int:
    # A dry run never creates or changes the database.
    if settings.database_path.exists():
        store = open_store(settings, read_only=True)
    else:
        store = Store(":memory:")
        store.ensure_schema()
    async with open_session() as session:
        try:
            # No stored validators: always fetch and parse the whole feed.
            fetched = await fetch_releases(
                session, settings.feed_url, Validators(), allowed_hosts=settings.feed_allowed_hosts
            )
        except FeedError as error:
            click.echo(f"The feed could not be read: {error.failure.reason}", err=True)
            return 1
    parsed = fetched.parsed
    assert parsed is not None
    plan = plan_poll(store, parsed, settings.announce_existing)
    store.close()
    click.echo(
        f"{len(plan.releases)} releases in the feed, {len(plan.new)} not yet stored; "
        f"{len(plan.to_announce)} would be announced"
        + (" (first poll: the rest become the baseline)" if plan.first_poll else "")
        + (
            f", {len(plan.held)} held for an admin (more than {FLOOD_THRESHOLD} new at once)"
            if plan.held
            else ""
        )
        + "."
    )
    for problem in parsed.problems:
        click.echo(f"Malformed feed item: {problem}", err=True)
    shown = sorted(plan.releases, key=_newest_first) if show_all else plan.to_announce
    if not shown and plan.first_poll and plan.releases:
        click.echo("Use --all to preview every release, or set ANNOUNCE_EXISTING.")
    for release in shown:
        click.echo()
        click.echo(terminal_text(release))
    return 0


async def _poll(settings: Settings, *, post: bool = True) -> int:
    """Store the feed; with `post`, also post what is due. Without, what is due waits in the
    outbox for a running bot: nothing is announced from here, nor lost."""
    store = open_store(settings)  # the schema, ensured before anything starts
    try:
        check_keys(settings, store)
    finally:
        store.close()
    async with open_session() as session:
        core = build_core(settings, session)
        try:
            result = await core.watcher.poll_once()
            if post:
                await core.db.write(core.digests.make_due)  # cron-style hosting has no other
                await core.outbox.drain()
            counts, held, stored = await core.db.read(
                lambda store: (
                    store.delivery_counts(team=None),
                    store.held(team=None),
                    store.release_count(),
                )
            )
        finally:
            await asyncio.to_thread(core.db.close)
    if result.outcome is Outcome.FAILED:
        click.echo(f"Poll failed: {result.failure.reason if result.failure else '?'}", err=True)
        return 1
    waiting = counts["pending"] + counts["sending"]
    if post:
        click.echo(
            f"Feed {result.outcome.value}; deliveries: {counts['sent']} sent, "
            f"{waiting} waiting, {counts['failed']} failed"
            + (f", {counts['held']} held for an admin (see status)" if held.posts else "")
            + "."
        )
    else:
        click.echo(
            f"Feed {result.outcome.value}; {stored:,} release{'' if stored == 1 else 's'} "
            "stored, nothing posted"
            + (f" ({waiting} announcements wait for the running bot)" if waiting else "")
            + "."
        )
    for problem in result.problems:
        click.echo(f"Malformed feed item: {problem}", err=True)
    return 0


def _newest_first(release: Release) -> float:
    return -(release.published.timestamp() if release.published else float("-inf"))
