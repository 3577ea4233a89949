"""Memory of a process serving searches: a fresh child that opens the archive as the bot does
(`bot.search.service.SearchService`: one worker thread, its own `Store`, opened on the first
search) and serves the measured query mix, one search at a time, as the bot's event loop
hands them to it. Its RSS is read from /proc/self/status: once its modules are imported, once
the service is built (idle: the bot's search thread before its first search), after the first
search, and at the end with the peak (VmHWM) and the split of the resident pages into
anonymous memory (Python's and SQLite's heaps) and file pages (mapped files: the database
under `PRAGMA mmap_size`, and the shared libraries).

Run by `measure_memory`; as a script it is that child: `python memory.py DATABASE < texts.json`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bot.search.engine import SearchError
from bot.search.grammar import QueryError
from bot.search.service import SearchService

STATUS_FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem")


def read_status(pid: int | str = "self") -> dict[str, int]:
    """The memory lines of /proc/<pid>/status, in bytes."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in STATUS_FIELDS:
                values[name] = int(value.split()[0]) * 1024  # "12345 kB"
    return values


@dataclass(frozen=True)
class Memory:
    searches: int
    imported: dict[str, int]  # read_status() once the modules are imported
    idle: dict[str, int]  # once the SearchService is built
    after_first: dict[str, int]  # after its first search
    end: dict[str, int]  # after the last search; VmHWM is the peak of the whole run


def measure_memory(path: Path, texts: list[str]) -> Memory:
    """Serve `texts` in a fresh child process; its memory at each step."""
    done = subprocess.run(
        [sys.executable, __file__, str(path)],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"the memory child failed:\n{done.stderr}")
    return Memory(**json.loads(done.stdout))


def _serve(path: Path, texts: list[str]) -> None:
    imported = read_status()
    service = SearchService(path)
    idle = read_status()

    async def search(text: str) -> None:
        # A QueryError or SearchError is answered with a hint or a "try again": served too.
        with contextlib.suppress(QueryError, SearchError):
            await service.run(text)

    async def serve() -> dict[str, int]:
        await search(texts[0])
        after_first = read_status()
        for text in texts[1:]:
            await search(text)
        return after_first

    after_first = asyncio.run(serve())
    end = read_status()
    service.close()
    print(json.dumps({"searches": len(texts), "imported": imported, "idle": idle,
                      "after_first": after_first, "end": end}))  # fmt: skip


if __name__ == "__main__":
    _serve(Path(sys.argv[1]), json.loads(sys.stdin.read()))
