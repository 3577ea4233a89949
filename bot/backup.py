"""`isscr-news-bot backup`: a consistent copy of the live database, safe while the bot runs.

Crash rules: the copy is written to a hidden temporary file beside PATH, checked, and only then
renamed to PATH, so PATH is either absent (or as it was) or a whole, checked copy; a crash
leaves at most a hidden `.NAME.*.partial` file. The bot is never stopped nor slowed by more than
the disk's reads: see `Store.copy_to`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.store import BACKUP_PAGES, Store

# SQLite's own files beside a database: never a place for a backup.
_COMPANIONS = ("", "-wal", "-shm", "-journal")


class BackupError(Exception):
    """Why no backup was made; `str()` is the one line shown to the operator."""


@dataclass(frozen=True)
class Backup:
    path: Path
    releases: int
    size: int  # bytes

    def summary(self, database: Path) -> str:
        """One line: what was copied, and how to put it back."""
        releases = f"{self.releases:,} release{'' if self.releases == 1 else 's'}"
        return (
            f"Backed up {releases} ({self.size / 1e6:.1f} MB) to {self.path}. To restore: stop "
            f"the bot, delete {database}-wal and {database}-shm if they exist, copy the backup "
            f"to {database}, and start the bot."
        )


def target_path(
    path: Path, database: Path, *, force: bool, folder: bool = False, now: float | None = None
) -> Path:
    """Where the backup goes: PATH, or a dated file inside PATH when it is a folder (or typed
    as one, `folder`). Refuses a PATH that exists (unless `force`), whose folder does not, or
    that is the database itself."""
    if folder and not path.is_dir():
        problem = "is not a folder" if path.exists() else "does not exist"
        raise BackupError(
            f"the folder {path.absolute()} {problem}: create it, or choose another PATH"
        )
    if path.is_dir():
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
        path = path / f"{database.stem}-{stamp}.db"
    path = path.absolute()
    if any(_same_file(path, Path(f"{database}{end}")) for end in _COMPANIONS):
        raise BackupError(f"{path} is the bot's database itself: back it up to another file")
    if not path.parent.is_dir():
        problem = "is not a folder" if path.parent.exists() else "does not exist"
        raise BackupError(f"the folder {path.parent} {problem}: create it, or choose another PATH")
    if path.exists() and not force:
        raise BackupError(f"{path} exists already: choose a new name, or add --force to replace it")
    return path


def back_up(
    source: Store,
    path: Path,
    *,
    force: bool = False,
    permissions_of: Path | None = None,
    pages: int = BACKUP_PAGES,
    on_step: Callable[[int, int], object] | None = None,
) -> Backup:
    """Copy `source` (opened read-only) to the file `path` (see `target_path`), check the copy
    and rename it into place, with the permissions of the file `permissions_of` (the database:
    a copy as private as the original) or else only its owner's. `pages` and `on_step` as for
    `Store.copy_to`."""
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    except OSError as error:
        raise BackupError(
            f"cannot write in {path.parent} ({error.strerror}): choose a folder you can write to"
        ) from None
    os.close(handle)
    partial = Path(name)
    try:
        try:
            source.copy_to(partial, pages=pages, on_step=on_step)
            copy = Store(partial, read_only=True)
            try:
                problems, releases = copy.integrity_problems(), copy.release_count()
            finally:
                copy.close()
        except sqlite3.Error as error:
            raise BackupError(
                f"the backup could not be written to {path.parent} ({error}); "
                "nothing was written to PATH"
            ) from None
        if problems:
            raise BackupError(
                f"the copy failed SQLite's integrity check ({problems[0]}): the database itself "
                "may be damaged; nothing was written to PATH"
            )
        if path.exists() and not force:  # made while we copied
            raise BackupError(
                f"{path} exists already: choose a new name, or add --force to replace it"
            )
        size = partial.stat().st_size
        try:
            if permissions_of is not None:
                os.chmod(partial, permissions_of.stat().st_mode & 0o777)
            os.replace(partial, path)
        except OSError as error:
            raise BackupError(f"cannot write {path} ({error.strerror})") from None
        _sync_folder(path.parent)  # the rename itself survives a power cut
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        with contextlib.suppress(FileNotFoundError):
            Path(f"{partial}-journal").unlink()
    return Backup(path, releases, size)


def _same_file(one: Path, other: Path) -> bool:
    try:
        return one.samefile(other)
    except OSError:  # either does not exist
        return one.resolve() == other.resolve()


def _sync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # a system that cannot open folders (Windows) cannot sync them either
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems refuse to sync a folder; the data itself is synced
    finally:
        os.close(descriptor)
