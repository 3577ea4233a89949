"""Group commit: the outbox's per-post writes ("sending" before a post, "sent" after) made by
many channels' workers at about the same time go to the database together, one transaction and
one fsync for all of them, instead of one each.

No write waits for company: the first request is written at once; those that arrive while it
is being written go together in the next one. Each caller gets its own result, or the
exception of the transaction it was part of, only once that transaction committed (or failed):
a caller that goes on to post does so after its "sending" mark is durable (rule 1 of
`bot.slack.outbox`).

Why, measured with benchmarks/fanout.py (a release to 2,000 channels, Slack answering in 20 ms,
16 posts in flight): with a transaction per mark the single writer thread was busy for 2.6 s
of a 4.3 s fan-out, each post waiting its turn behind the others' marks. Sending and sent marks
each have their own group: one transaction for both (tried) made each post wait for the sent
marks' share of the work too, and the fan-out took 5 to 10% longer.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from bot.database import Database
from bot.store import Store

In = TypeVar("In")
Out = TypeVar("Out")


class GroupCommit(Generic[In, Out]):
    """`await group(request)`: `write(store, requests)` of every request waiting, on the
    database's writer thread; `write` makes its changes in one transaction and returns one
    result per request, in order."""

    def __init__(self, db: Database, write: Callable[[Store, Sequence[In]], Sequence[Out]]) -> None:
        self.db = db
        self.write = write
        self._waiting: list[tuple[In, asyncio.Future[Out]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def __call__(self, request: In) -> Out:
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_all())
        # A caller cancelled meanwhile leaves its request in the transaction (as a write
        # already on the writer thread would be): the outbox's rules hold either way.
        return await future

    async def _write_all(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            requests = [request for request, _ in group]
            try:
                results = await self.db.write(functools.partial(self._write, requests))
            except Exception as error:
                for _, future in group:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), result in zip(group, results, strict=True):
                if not future.done():
                    future.set_result(result)

    def _write(self, requests: Sequence[In], store: Store) -> Sequence[Out]:
        results = self.write(store, requests)
        if len(results) != len(requests):
            raise RuntimeError(f"{len(results)} results for {len(requests)} requests")
        return results
