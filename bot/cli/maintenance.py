"""Looking after the data: `status`, `backfill` (the archive) and `retry-failed`."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sqlite3
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from bot.cli.common import database_problem, fail, load_settings, open_store
from bot.database import Database
from bot.health import everyone, of_settings
from bot.ingest.archive import Backfill, BackfillResult
from bot.ingest.archive_page import ArchiveError
from bot.ingest.feed import open_session

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar


@click.command()
def status() -> None:
    """Print the feed's, the archive backfill's and the outbox's health as JSON."""
    settings = load_settings()
    # Read-only: looking at the health changes nothing, and never creates a database.
    store = open_store(settings, read_only=True)
    try:
        report = of_settings(store, settings, team=everyone(settings))
    except sqlite3.Error as error:  # e.g. a database the bot has not upgraded yet
        fail(database_problem(settings, error))
    finally:
        store.close()
    click.echo(json.dumps(report, indent=2))


@click.command()
@click.option(
    "--pause",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="Wait between archive pages, to be polite to isscr.org.",
)
def backfill(pause: float) -> None:
    """Import every past release from the news archive, announcing none of them.

    Safe to run again: nothing is stored twice. When interrupted (Ctrl-C, a crash, the site
    failing), the next run resumes where this one stopped.
    """
    settings = load_settings(require_archive=True)
    assert settings.archive_url is not None  # else load_settings has said so
    open_store(settings).close()  # the schema, ensured before anything starts
    db = Database(settings.database_path)
    try:
        code = asyncio.run(_backfill(db, settings.archive_url, pause, settings.feed_allowed_hosts))
    except KeyboardInterrupt:
        click.echo("Backfill interrupted; progress is saved: run it again to resume.", err=True)
        code = 130
    finally:
        db.close()
    sys.exit(code)


async def _backfill(
    db: Database, archive_url: str, pause: float, allowed_hosts: frozenset[str]
) -> int:
    progress = BackfillResult()
    # A progress bar only for a person at a terminal; the summary line is printed in any case.
    # The number of pages is unknown until the last one, so the bar counts pages.
    # The items shown are the pages' BackfillResults (_progress_text); the count only runs on.
    bar: contextlib.AbstractContextManager[ProgressBar[Any] | None] = contextlib.nullcontext()
    if sys.stdout.isatty():
        bar = click.progressbar(
            itertools.count(), label="Archive pages", show_pos=True, item_show_func=_progress_text
        )
    with bar as shown:

        def on_page(result: BackfillResult) -> None:
            nonlocal progress
            progress = result
            if shown is not None:
                shown.update(1, result)

        failed: ArchiveError | None = None
        async with open_session() as session:
            walk = Backfill(
                db,
                session,
                archive_url=archive_url,
                pause=pause,
                on_page=on_page,
                allowed_hosts=allowed_hosts,
            )
            try:
                await walk.run()
            except ArchiveError as error:
                failed = error  # reported once the bar is finished, on a line of its own
    if failed is not None:
        click.echo(
            f"Backfill stopped: {failed.reason}. So far {progress.summary()} "
            + (
                "Fix ARCHIVE_URL and run it again."
                if failed.permanent
                else "Progress is saved: run it again to resume."
            ),
            err=True,
        )
        return 1
    click.echo(f"Backfill done: {progress.summary()}")
    return 0


def _progress_text(result: object) -> str | None:
    if not isinstance(result, BackfillResult):
        return None
    reached = f", back to {result.reached:%Y-%m-%d}" if result.reached else ""
    return f"{result.stored} stored{reached}"


@click.command("retry-failed")
def retry_failed_command() -> None:
    """Queue failed deliveries again (after fixing a channel or the token)."""
    settings = load_settings()
    store = open_store(settings, create=False)
    count = store.retry_failed(team=None, now=time.time())
    store.close()
    click.echo(f"{count} failed deliveries queued again; a running bot posts them shortly.")
