"""The `isscr-news-bot` command line: run the bot, poll once, backfill the archive, look at its
health."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import sqlite3
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import NoReturn

import click
from dotenv import find_dotenv, load_dotenv

from bot import __version__
from bot.backup import BackupError, back_up, target_path
from bot.database import Database
from bot.health import of_settings
from bot.ingest.archive import Backfill, BackfillResult
from bot.ingest.archive_page import ArchiveError
from bot.ingest.feed import open_session
from bot.ingest.watcher import FLOOD_THRESHOLD, Outcome, fetch_releases, plan_poll
from bot.models import FeedError, Release, Validators
from bot.runtime import Bot, build_core
from bot.search.engine import Results, Search, SearchError
from bot.search.grammar import QueryError, is_help
from bot.search.marks import MARK_CLOSE, MARK_OPEN
from bot.settings import Settings, SettingsError
from bot.slack import blocks
from bot.slack.admin import retry_failed
from bot.store import SchemaTooNew, Store

log = logging.getLogger("bot")

CLI_PAGE_SIZE = 10  # results per page of `search`: a terminal has room for more than Slack


def fail(message: object) -> NoReturn:
    """Stop with one line on stderr (a line per problem) and exit code 2: the operator's fix is
    in the message."""
    for line in str(message).splitlines() or [""]:
        click.echo(f"isscr-news-bot: {line}", err=True)
    sys.exit(2)


def load_settings(
    *,
    require_slack: bool = False,
    serve: bool = False,
    mode: str = "auto",
    require_archive: bool = False,
    warn: bool = True,
    log_level: str = "WARNING",
) -> Settings:
    """Settings from the environment and `.env`; each problem is a line, and the exit code 2.
    `warn=False` leaves logging the questionable values to the caller. `log_level` unless
    LOG_LEVEL is set: a one-shot command prints its own summary, only warnings besides."""
    # Real environment variables win over the file, as deploy platforms expect.
    load_dotenv(find_dotenv(usecwd=True), override=False)
    try:
        settings = Settings.from_env(
            os.environ,
            mode=mode,
            require_slack=require_slack,
            serve=serve,
            require_archive=require_archive,
        )
    except SettingsError as error:
        fail(error)
    logging.basicConfig(
        level=settings.log_level or log_level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    if warn:
        log_warnings(settings)
    return settings


def log_warnings(settings: Settings) -> None:
    for warning in settings.warnings():
        log.warning(warning)


def open_store(settings: Settings, *, read_only: bool = False, create: bool = True) -> Store:
    """The database, schema ensured unless `read_only`; a missing file (unless `create`), an
    unusable one or one of a newer version exits with one line and code 2."""
    path = settings.database_path
    if not (create and not read_only) and not path.exists():
        fail(
            f"DATABASE_PATH points to {path.resolve()}, which does not exist: run this where "
            "the bot runs, or set DATABASE_PATH to the bot's database (`run`, `poll` and "
            "`backfill` create it)"
        )
    try:
        store = Store(path, read_only=read_only, create=create)
        if not read_only:
            store.ensure_schema()
    except SchemaTooNew as error:
        fail(
            f"DATABASE_PATH {path} was written by a newer version of isscr-news-bot ({error}): "
            "upgrade isscr-news-bot, or point DATABASE_PATH to another file"
        )
    except sqlite3.Error as error:
        fail(database_problem(settings, error))
    return store


def database_problem(settings: Settings, error: sqlite3.Error) -> str:
    return (
        f"DATABASE_PATH {settings.database_path} cannot be used ({error}): "
        "point it to a writable SQLite file on a persistent disk"
    )


@click.group()
@click.version_option(__version__, prog_name="isscr-news-bot")
def main() -> None:
    """ISSCR news in Slack: watches the society's feed and announces new releases."""
    refuse_unsupported_platform(click.get_current_context().invoked_subcommand)


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
    # Nothing is logged until the bot has started: a start-up that fails (the database, the
    # port) says so in one line, with nothing before it.
    settings = load_settings(
        require_slack=True, serve=True, mode=mode, warn=False, log_level="INFO"
    )
    open_store(settings).close()  # the schema, ensured before anything starts
    asyncio.run(_run(settings))


async def _run(settings: Settings) -> None:
    bot = Bot(settings)

    def started() -> None:
        log_warnings(settings)
        how = "Socket Mode" if settings.socket_mode else "HTTP mode"
        if bot.port is not None:
            how += f", port {bot.port}"
        log.info("started in %s; feed %s every %gs", how, settings.feed_url, settings.poll_interval)

    try:
        await bot.run_forever(on_started=started)
    except SettingsError as error:  # found only when starting, e.g. PORT already taken
        await bot.stop()
        fail(error)
    # Stopped, and everything of ours is closed. asyncio looks host names up in worker
    # threads that nothing can cancel, and would wait for them before exiting: with a DNS
    # server that does not answer, that is its timeout (10 s or more), not the 10 s promised.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@main.command()
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
            _, parsed, _ = await fetch_releases(
                session, settings.feed_url, Validators(), allowed_hosts=settings.feed_allowed_hosts
            )
        except FeedError as error:
            click.echo(f"The feed could not be read: {error.failure.reason}", err=True)
            return 1
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
    open_store(settings).close()  # the schema, ensured before anything starts
    async with open_session() as session:
        core = build_core(settings, session)
        try:
            result = await core.watcher.poll_once()
            if post:
                await core.outbox.drain()
            counts, held, stored = await core.db.read(
                lambda store: (store.delivery_counts(), store.held(), store.release_count())
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


@main.command()
def status() -> None:
    """Print the feed's, the archive backfill's and the outbox's health as JSON."""
    settings = load_settings()
    # Read-only: looking at the health changes nothing, and never creates a database.
    store = open_store(settings, read_only=True)
    try:
        report = of_settings(store, settings)
    except sqlite3.Error as error:  # e.g. a database the bot has not upgraded yet
        fail(database_problem(settings, error))
    finally:
        store.close()
    click.echo(json.dumps(report, indent=2))


@main.command()
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
    bar = (
        click.progressbar(
            itertools.count(),
            label="Archive pages",
            show_pos=True,
            item_show_func=_progress_text,
        )
        if sys.stdout.isatty()
        else contextlib.nullcontext()
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


@main.command("retry-failed")
def retry_failed_command() -> None:
    """Queue failed deliveries again (after fixing a channel or the token)."""
    settings = load_settings()
    store = open_store(settings, create=False)
    count = retry_failed(store)
    store.close()
    click.echo(f"{count} failed deliveries queued again; a running bot posts them shortly.")


# A query word may start with "-" (`search -nih`): only --page and --help are options here.
@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("words", nargs=-1, type=click.UNPROCESSED)
# Any number: a page before the first shows the first, past the last the last, as in Slack.
@click.option("--page", default=1, show_default=True, type=int)
def search(words: tuple[str, ...], page: int) -> None:
    """Search the stored releases, as /isscr-news does (try: search help).

    WORDS use the same grammar: words, "quoted phrases", category:NAME, author:NAME,
    after:YYYY-MM-DD, before:YYYY-MM-DD. Exit status 1 when nothing matches, 2 when the
    query cannot run.
    """
    text = " ".join(words)
    if is_help(text):
        click.echo(search_usage())
        return
    settings = load_settings()
    store = open_store(settings, create=False)
    try:
        results = Search(store, page_size=CLI_PAGE_SIZE).run(text, page)
    except QueryError as error:
        fail(f"{error.problem} Try: {error.example.replace('`', '')}")
    except SearchError as error:
        fail(error)
    finally:
        store.close()
    click.echo(_results_heading(results))
    if results.note:
        click.echo(results.note)
    for number, found in enumerate(results.found, start=(results.page - 1) * CLI_PAGE_SIZE + 1):
        click.echo()
        click.echo(terminal_text(found.release, number=number, marked=found.marked_excerpt))
    for hint in results.hints:
        click.echo(f"  - {hint}")
    if results.query.is_empty and not results.total:
        click.echo("  - Nothing is stored yet: isscr-news-bot backfill imports the archive.")
    if results.has_next:
        click.echo(f"\nMore: add --page {results.page + 1}")
    sys.exit(0 if results.total else 1)


def search_usage() -> str:
    """`search help`: the slash command's usage and examples, for the terminal."""
    lines = blocks.usage_lines("isscr-news-bot search", latest=CLI_PAGE_SIZE)
    lines.append(
        f"--page N shows later pages of {CLI_PAGE_SIZE}. Exit status: 1 when nothing matches, "
        "2 when the query cannot run."
    )
    return blocks.plain_text("\n".join(lines))


def _results_heading(results: Results) -> str:
    heading = results.heading()
    if results.page_label:
        heading += f", {results.page_label}"
    return heading + ("." if results.total or results.query.is_empty else ":")


def terminal_text(release: Release, *, number: int | None = None, marked: str | None = None) -> str:
    """An announcement as plain text for a terminal."""
    when = release.published.strftime("%Y-%m-%d %H:%M UTC") if release.published else "undated"
    details = [", ".join(release.categories), when, release.author or ""]
    lines = [
        click.style(f"{number}. " if number else "", bold=True)
        + click.style(release.title, bold=True),
        "  " + "  |  ".join(part for part in details if part),
        f"  {release.link}",
    ]
    if release.image_url:
        lines.append(f"  image: {release.image_url}")
    if marked:
        # Matched words in bold on a terminal; click drops the styling when piped.
        lines.append("  " + _bold_marks(marked))
    elif release.excerpt:
        lines.append(f"  {release.excerpt}")
    return "\n".join(lines)


def _bold_marks(text: str) -> str:
    parts = text.replace(MARK_CLOSE, MARK_OPEN).split(MARK_OPEN)
    return "".join(click.style(part, bold=True) if i % 2 else part for i, part in enumerate(parts))


def _newest_first(release: Release) -> float:
    return -(release.published.timestamp() if release.published else float("-inf"))


# -- deployment: backup, the container's health check, platforms -------------------------------


@main.command()
@click.argument("path")
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
def backup(path: str, force: bool) -> None:
    """Copy the bot's database to PATH, safely while the bot runs.

    PATH may be a folder: the copy is then named after the date and time (UTC). The copy is
    checked before it is written to PATH; an existing PATH is replaced only with --force.
    """
    settings = load_settings(warn=False)
    database = settings.database_path.absolute()
    store = open_store(settings, read_only=True)
    try:
        # A final slash means a folder, which Path() would forget.
        folder = path.endswith(("/", os.sep))
        target = target_path(Path(path), database, force=force, folder=folder)
        made = back_up(store, target, force=force, permissions_of=database)
    except BackupError as error:
        fail(error)
    except KeyboardInterrupt:
        fail("backup interrupted; nothing was written to PATH")
    finally:
        store.close()
    click.echo(made.summary(database))


# Docker waits 10 s for a health check by default; /healthz answers within 2 s.
HEALTHCHECK_TIMEOUT = 5.0


@main.command()
def healthcheck() -> None:
    """Ask the running bot's /healthz: exit 0 when it answers 200, 1 otherwise, with why.

    For a container's health check, where there is no curl. It asks port PORT on this machine;
    in Socket Mode the bot serves /healthz only when PORT is set.
    """
    # Exit 1, never 2, whatever fails: Docker reserves 2 in health checks.
    load_dotenv(find_dotenv(usecwd=True), override=False)
    try:
        port = Settings.from_env(os.environ).port
    except SettingsError as error:
        click.echo(f"isscr-news-bot: not healthy: {error}", err=True)
        sys.exit(1)
    healthy, line = probe_health(port)
    click.echo(f"isscr-news-bot: {line}", err=not healthy)
    sys.exit(0 if healthy else 1)


def probe_health(port: int, *, timeout: float = HEALTHCHECK_TIMEOUT) -> tuple[bool, str]:
    """GET http://127.0.0.1:PORT/healthz: whether it answered 200, and one line saying so or
    saying why not (the report's problems, when the bot gave them)."""
    url = f"http://127.0.0.1:{port}/healthz"
    # No proxy: an HTTP_PROXY set for the bot's container must not carry a loopback request.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return True, f"healthy ({url} answered {response.status})"
    except urllib.error.HTTPError as error:
        with error:
            try:
                problems = json.loads(error.read())["problems"]
            except (ValueError, KeyError, TypeError, OSError):
                problems = []
        why = "; ".join(str(problem) for problem in problems) or f"{url} answered {error.code}"
        return False, f"not healthy: {why}"
    except urllib.error.URLError as error:
        reason = error.reason
    except OSError as error:  # a timeout while reading the answer
        reason = error
    if isinstance(reason, TimeoutError):
        return False, f"not healthy: {url} did not answer within {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return False, (
            f"not healthy: nothing answers at {url}: is the bot running, with PORT={port}? "
            "(in Socket Mode, /healthz is served only when PORT is set)"
        )
    return False, f"not healthy: {url} cannot be reached ({reason})"


# The commands that write, the database or a backup. Native Windows is not supported: `run`
# would fail obscurely there (asyncio has no signal handlers on Windows), and nothing of the
# bot is tested there. Docker and WSL run it on Linux.
WRITING_COMMANDS = frozenset({"run", "poll", "backfill", "retry-failed", "backup"})


def platform_problem(command: str | None, platform: str) -> str | None:
    """Why `command` does not run on `platform` (a `sys.platform` value), or None."""
    if platform == "win32" and command in WRITING_COMMANDS:
        return (
            f"`{command}` does not run on Windows itself: run the bot with Docker "
            "(docker compose up) or inside WSL, see docs/deploy.md"
        )
    return None


def refuse_unsupported_platform(command: str | None) -> None:
    problem = platform_problem(command, sys.platform)
    if problem is not None:
        fail(problem)
