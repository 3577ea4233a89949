"""Backup, restore and upgrade of the bot's database: `isscr-news-bot backup` while a real bot
process writes, a bot started on a restored copy, a bot started on a database of an older
version."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.backup import back_up
from bot.models import Release
from bot.store import SCHEMA_VERSION, Store
from standins.feed_server import FeedServer, make_item
from standins.slack_api import SlackApi
from tests.conftest import CHANNEL, bot_env, eventually, newest_first, posted_ids
from tests.test_process import BotProcess, child_env, run_cli

LONG_HTML = "<p>" + "A long paragraph of the release, about stem cells and policy. " * 400 + "</p>"


def release(n: int) -> Release:
    return Release(
        id=f"r{n}",
        title=f"Release {n}",
        link=f"https://www.isscr.org/isscr-news/release-{n}",
        published=datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=n),
        categories=("Policy",),
        excerpt=f"Release number {n}.",
        body=LONG_HTML,
    )


def release_ids(database: Path) -> set[str]:
    with sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True) as db:
        return {row[0] for row in db.execute("SELECT id FROM releases")}


def integrity(database: Path) -> list[str]:
    with sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True) as db:
        return [row[0] for row in db.execute("PRAGMA integrity_check")]


def test_a_backup_copies_one_moment_and_never_holds_up_the_writer_meanwhile(
    tmp_path: Path,
) -> None:
    database = tmp_path / "bot.db"
    bot = Store(database)
    bot.ensure_schema()
    for n in range(200):
        bot.save_release(release(n), source="feed", now=0)
    # Another connection, as the bot's is: it gives up after 0.2 s if the backup locks it out.
    writer = Store(database, busy_timeout=0.2)
    waits: list[float] = []

    def write_meanwhile(remaining: int, total: int) -> None:
        if remaining and len(waits) < 5:
            started = time.monotonic()
            writer.save_release(release(1000 + len(waits)), source="feed", now=0)
            waits.append(time.monotonic() - started)

    source = Store(database, read_only=True)
    made = back_up(source, tmp_path / "copy.db", pages=16, on_step=write_meanwhile)
    source.close()

    assert len(waits) == 5 and max(waits) < 0.2, waits
    # The copy is the database as it was when the backup began: the writes made meanwhile
    # neither started it over nor slipped into it.
    assert release_ids(made.path) == {f"r{n}" for n in range(200)}
    assert made.releases == 200
    assert integrity(made.path) == ["ok"]
    assert len(release_ids(database)) == 205
    # One self-contained file: no -wal of its own to carry along.
    with sqlite3.connect(made.path) as copy:
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert sorted(os.listdir(tmp_path)) == ["bot.db", "bot.db-shm", "bot.db-wal", "copy.db"]
    writer.close()
    bot.close()


async def test_backups_taken_while_the_bot_stores_a_big_feed_hold_all_it_had_committed(
    tmp_path: Path, slack: SlackApi, processes: list[BotProcess]
) -> None:
    async with FeedServer(newest_first(*range(1, 151), html=LONG_HTML)) as feed:
        env = bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO")
        bot = await BotProcess(env, tmp_path).start()
        processes.append(bot)
        database = tmp_path / "bot.db"

        async def grow() -> None:
            # The site publishes a release every few tenths of a second; the bot polls every
            # second and stores (and announces) each.
            for n in range(151, 400):
                feed.items = newest_first(*range(1, n + 1), html=LONG_HTML)
                await asyncio.sleep(0.3)

        growing = asyncio.create_task(grow())
        try:
            counts = []
            for attempt in range(3):
                committed = release_ids(database)
                counts.append(len(committed))
                code, out, err = await run_cli(
                    "backup", f"copy-{attempt}.db", env=env, cwd=tmp_path
                )
                assert (code, err) == (0, ""), err
                copy = tmp_path / f"copy-{attempt}.db"
                assert out.startswith(f"Backed up {len(release_ids(copy)):,} releases ("), out
                assert integrity(copy) == ["ok"]
                assert committed <= release_ids(copy)
                await asyncio.sleep(1)
        finally:
            growing.cancel()
        assert counts[-1] > counts[0] >= 20  # the bot went on storing (the archive, new ones)
        assert await bot.healthy()
        assert bot.process is not None and bot.process.returncode is None
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".partial")]


async def test_a_bot_started_on_a_restored_backup_announces_nothing_again(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO")
    database = tmp_path / "bot.db"
    first = await BotProcess(env, tmp_path).start()
    processes.append(first)
    feed.items = newest_first(1, 2, 3, 4, 5, 6)
    await eventually(lambda: len(slack.messages[CHANNEL]) == 3, timeout=30)
    await eventually(lambda: _sent(database) == 3)

    (tmp_path / "backups").mkdir()
    code, out, err = await run_cli("backup", "backups", env=env, cwd=tmp_path)
    assert (code, err) == (0, ""), err
    [backup] = (tmp_path / "backups").iterdir()
    assert re.fullmatch(r"bot-\d{8}-\d{6}\.db", backup.name), backup.name
    assert out == (
        f"Backed up 6 releases ({backup.stat().st_size / 1e6:.1f} MB) to {backup}. To restore: "
        f"stop the bot, delete {database}-wal and {database}-shm if they exist, copy the backup "
        f"to {database}, and start the bot.\n"
    )

    # The disk is lost: the bot dies with it, and the backup is restored as the line says.
    await first.kill()
    for name in ("bot.db", "bot.db-wal", "bot.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    shutil.copyfile(backup, database)
    feed.items = newest_first(1, 2, 3, 4, 5, 6, 7)
    restored = await BotProcess(env, tmp_path).start()
    processes.append(restored)
    await eventually(lambda: len(slack.messages[CHANNEL]) >= 4, timeout=30)
    await asyncio.sleep(2)  # a second announcement of 4, 5 or 6 would come meanwhile

    assert posted_ids(slack) == [make_item(n).item_id for n in (4, 5, 6, 7)]
    assert slack.calls_to("conversations.history") == []  # nothing to look up: all recorded


def _sent(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return db.execute("SELECT count(*) FROM deliveries WHERE state = 'sent'").fetchone()[0]


async def test_a_database_of_an_older_version_is_upgraded_at_start_and_nothing_is_sent_twice(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    env = bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO")
    database = tmp_path / "bot.db"
    older = await BotProcess(env, tmp_path).start()
    processes.append(older)
    feed.items = newest_first(1, 2, 3, 4)
    await eventually(lambda: _sent(database) == 1, timeout=30)
    assert await older.terminate() == 0
    # As the previous schema left it: rowids oldest lowest (see Store.ensure_schema), and
    # without the columns added since.
    with sqlite3.connect(database) as db:
        db.execute("UPDATE releases SET rowid = -rowid")
        db.execute("ALTER TABLE deliveries DROP COLUMN note")
        db.execute("PRAGMA user_version = 2")

    feed.items = newest_first(1, 2, 3, 4, 5)
    upgraded = await BotProcess(env, tmp_path).start()
    processes.append(upgraded)
    await eventually(lambda: len(slack.messages[CHANNEL]) >= 2, timeout=30)
    await asyncio.sleep(2)

    assert posted_ids(slack) == [make_item(4).item_id, make_item(5).item_id]
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert "note" in {row[1] for row in db.execute("PRAGMA table_info(deliveries)")}
    code, out, _ = await run_cli("search", "release", env=env, cwd=tmp_path)
    assert code == 0 and out.startswith("5 releases match “release”"), out


async def test_a_backup_that_cannot_be_made_says_why_in_one_line_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    env = bot_env(tmp_path, None, None, LOG_LEVEL=None)
    database = tmp_path / "bot.db"

    code, out, err = await run_cli("backup", "copy.db", env=env, cwd=tmp_path)
    assert (code, out) == (2, "")
    assert err.startswith(f"isscr-news-bot: DATABASE_PATH points to {database}, which does not "), (
        err
    )

    store = Store(database)
    store.ensure_schema()
    store.save_release(release(1), source="feed", now=0)
    store.close()
    (tmp_path / "copy.db").write_text("an older backup")
    (tmp_path / "file").write_text("not a folder")
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    refusals = {
        "copy.db": f"{tmp_path / 'copy.db'} exists already: choose a new name, or add --force to "
        "replace it",
        "nowhere/copy.db": f"the folder {tmp_path / 'nowhere'} does not exist: create it, or "
        "choose another PATH",
        "file/copy.db": f"the folder {tmp_path / 'file'} is not a folder: create it, or choose "
        "another PATH",
        # A final slash names a folder: never a file called "backups".
        "backups/": f"the folder {tmp_path / 'backups'} does not exist: create it, or choose "
        "another PATH",
        "file/": f"the folder {tmp_path / 'file'} is not a folder: create it, or choose another "
        "PATH",
        "bot.db": f"{database} is the bot's database itself: back it up to another file",
        "bot.db-wal": f"{database}-wal is the bot's database itself: back it up to another file",
        "read-only/copy.db": f"cannot write in {read_only} (Read-only file system): choose a "
        "folder you can write to",
    }
    for path, expected in refusals.items():
        command = ["backup", path, *(["--force"] if path.startswith("bot.db") else [])]
        if path.startswith("read-only"):  # even root cannot write there
            code, out, err = await _on_read_only(read_only, command, env=env, cwd=tmp_path)
        else:
            code, out, err = await run_cli(*command, env=env, cwd=tmp_path)
        assert (code, out, err) == (2, "", f"isscr-news-bot: {expected}\n"), path
    assert (tmp_path / "copy.db").read_text() == "an older backup"
    assert release_ids(database) == {"r1"}

    code, out, err = await run_cli("backup", "copy.db", "--force", env=env, cwd=tmp_path)
    assert (code, err) == (0, "")
    assert release_ids(tmp_path / "copy.db") == {"r1"}
    assert sorted(os.listdir(tmp_path)) == [
        "bot.db", "bot.db-shm", "bot.db-wal", "copy.db", "file", "read-only"
    ]  # fmt: skip
    assert os.listdir(read_only) == []


async def _on_read_only(
    folder: Path, command: list[str], *, env: dict[str, str], cwd: Path
) -> tuple[int, str, str]:
    """`run_cli(*command)` in a mount namespace where `folder` is mounted read-only."""
    script = f'mount --bind -o ro "{folder}" "{folder}" && exec "$0" -m bot "$@"'
    process = await asyncio.create_subprocess_exec(
        "unshare", "--mount", "sh", "-c", script, sys.executable, *command,
        cwd=cwd, env=child_env(env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
