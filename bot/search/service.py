"""Searches off the event loop: `Search` on a thread of its own with its own connection, so
that no search can hold up the event loop (and with it Slack's 3-second acknowledgements)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from time import monotonic

from bot.database import DatabaseBusy, Worker
from bot.search.engine import PAGE_SIZE, Search, SearchError
from bot.search.results import Results
from bot.store import Store

log = logging.getLogger(__name__)

QUEUE_WITHIN = 5.0  # seconds a search may wait for earlier ones before answering "busy"
BUSY_WAIT = 2.0  # seconds a search waits for another process's lock on the database
# What the search connection keeps of the archive in memory: the index's structure, its
# b-trees' upper pages and the common words' postings, so that a search after the OS has
# dropped its cache (memory needed elsewhere) reads a handful of pages from disk, not dozens.
CACHE_MB = 32
BUSY = (
    "The archive is busy just now (other searches, or another program using the database). "
    "Please try again in a minute."
)


class SearchService:
    """Runs `Search` on one worker thread of the database's kind (`bot.database.Worker`).

    A search that cannot start within `within` seconds (earlier searches ahead of it) or get
    the database within BUSY_WAIT (another process holding it in a way readers must wait for)
    answers that the archive is busy, rather than leaving the member without an answer."""

    def __init__(
        self, database_path: Path, *, page_size: int = PAGE_SIZE, within: float = QUEUE_WITHIN
    ) -> None:
        self.database_path = database_path
        self.page_size = page_size
        self.within = within
        # One worker: searches take milliseconds, and one connection must not be shared by
        # two threads at once.
        self._worker = Worker(database_path, "search", BUSY_WAIT, cache_mb=CACHE_MB)
        self._search: Search | None = None  # used on the worker's thread only

    async def run(self, text: str, page: int = 1) -> Results:
        try:
            return await self._worker.run(
                lambda store: self._search_on(store).run(text, page), monotonic() + self.within
            )
        except DatabaseBusy:
            raise SearchError(BUSY) from None
        except sqlite3.Error as error:  # opening the store: `Search` turns its own errors
            log.error("cannot open %s for searching: %s", self.database_path, error)
            raise SearchError(
                "The archive could not be opened just now; please try again in a minute."
            ) from None

    def _search_on(self, store: Store) -> Search:
        if self._search is None or self._search.store is not store:
            self._search = Search(store, page_size=self.page_size)
        return self._search

    def close(self) -> None:
        """Finish the search in progress, then close the connection."""
        self._worker.close()
