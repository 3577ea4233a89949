"""Start-up refusals of the real `isscr-news-bot` process: settings that would lose data or
leak secrets, a database of a newer version, and read-only commands run in the wrong place."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.store import SCHEMA_VERSION, Store
from tests.conftest import SIGNING_SECRET, bot_env
from tests.test_process import run_cli

BOT_TOKEN = "xoxb-1111-2222-secretbot"
APP_TOKEN = "xapp-1-A111-333-secretapp"


def test_settings_never_show_a_token_or_the_signing_secret(tmp_path: Path) -> None:
    env = bot_env(tmp_path, None, None, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN)
    settings = Settings.from_env(env)

    for shown in (repr(settings), str(settings), f"{settings}", repr([settings])):
        assert "announce_channel='C0NEWS0001'" in shown  # the rest is still there
        for secret in (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET):
            assert secret not in shown


@pytest.mark.parametrize(
    "database",
    [
        ":memory:",
        "file::memory:",
        "file:bot?mode=memory&cache=shared",
        "file::memory:?cache=shared",
    ],
)
@pytest.mark.parametrize("command", ["run", "poll"])
async def test_an_in_memory_database_is_refused_with_one_line(
    tmp_path: Path, database: str, command: str
) -> None:
    env = bot_env(tmp_path, None, None, DATABASE_PATH=database, LOG_LEVEL=None, POLL_INTERVAL=None)

    code, out, err = await run_cli(command, env=env, cwd=tmp_path)

    assert (code, out) == (2, "")
    assert err == (
        f"isscr-news-bot: DATABASE_PATH is {database!r}, an in-memory database that loses every "
        "release and delivery at exit: name a file on a persistent disk, e.g. "
        "/data/isscr-news.db\n"
    )
    assert os.listdir(tmp_path) == []  # not even a file named like the URI


def newer_database(path: Path) -> bytes:
    """A database as a newer version of the bot leaves it; returns its bytes."""
    store = Store(path)
    store.ensure_schema()
    store.close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.execute("PRAGMA journal_mode = DELETE")  # all of it in the one file
    db.close()
    return path.read_bytes()


@pytest.mark.parametrize(
    "command",
    [
        ["run"],
        ["poll"],
        ["poll", "--dry-run"],
        ["status"],
        ["retry-failed"],
        ["search", "stem"],
        ["backfill", "--pause", "0"],
        ["backup", "copy.db"],
    ],
    ids=" ".join,
)
async def test_a_database_of_a_newer_version_is_refused_by_every_command(
    tmp_path: Path, command: list[str]
) -> None:
    database = tmp_path / "bot.db"
    before = newer_database(database)
    # Nothing listens there: a command that went on would fail differently.
    env = bot_env(
        tmp_path,
        None,
        None,
        LOG_LEVEL=None,
        POLL_INTERVAL=None,
        ARCHIVE_URL="http://127.0.0.1:9/news",
    )

    code, out, err = await run_cli(*command, env=env, cwd=tmp_path)

    assert (code, out) == (2, "")
    assert err == (
        f"isscr-news-bot: DATABASE_PATH {database} was written by a newer version of "
        f"isscr-news-bot (schema version {SCHEMA_VERSION + 1}, this version knows up to "
        f"{SCHEMA_VERSION}): upgrade isscr-news-bot, or point DATABASE_PATH to another file\n"
    )
    assert database.read_bytes() == before


@pytest.mark.parametrize(
    "command", [["status"], ["retry-failed"], ["search", "stem"]], ids=" ".join
)
async def test_a_command_run_where_there_is_no_database_says_where_it_looked(
    tmp_path: Path, command: list[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = bot_env(tmp_path, None, None, LOG_LEVEL=None, POLL_INTERVAL=None)
    del env["DATABASE_PATH"]  # the default: isscr-news.db in the working directory

    code, out, err = await run_cli(*command, env=env, cwd=elsewhere)

    assert (code, out) == (2, "")
    assert err == (
        f"isscr-news-bot: DATABASE_PATH points to {elsewhere / 'isscr-news.db'}, which does not "
        "exist: run this where the bot runs, or set DATABASE_PATH to the bot's database (`run`, "
        "`poll` and `backfill` create it)\n"
    )
    assert os.listdir(elsewhere) == []


async def test_status_reads_the_database_without_changing_it(tmp_path: Path) -> None:
    database = tmp_path / "bot.db"
    store = Store(database)
    store.ensure_schema()
    store.close()
    db = sqlite3.connect(database)
    # As an older version of the bot left it: opening it for writing would upgrade it.
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    db.execute("PRAGMA journal_mode = DELETE")
    db.close()
    before = hashlib.sha256(database.read_bytes()).hexdigest()

    code, out, err = await run_cli(
        "status",
        env=bot_env(tmp_path, None, None, LOG_LEVEL=None, POLL_INTERVAL=None),
        cwd=tmp_path,
    )

    assert (code, err) == (0, ""), err
    assert '"releases": 0' in out
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before
    assert os.listdir(tmp_path) == ["bot.db"]
