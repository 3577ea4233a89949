"""What every command shares: failing in one line, the settings, the database."""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
from typing import NoReturn

import click
from dotenv import find_dotenv, load_dotenv

from bot.settings import Settings, SettingsError
from bot.store import SchemaTooNew, Store

log = logging.getLogger("bot")


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
