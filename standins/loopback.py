"""What both stand-ins share: an aiohttp application served on a free loopback port for as
long as a test needs it (`async with`)."""

from __future__ import annotations

import ssl
from typing import Self

from aiohttp import web


class LoopbackServer:
    """Serves an application on a free port of `host` (or the one asked for); `start`/`stop`,
    or `async with`."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    async def start(self) -> None:
        raise NotImplementedError

    async def _listen(
        self,
        app: web.Application,
        host: str,
        ssl_context: ssl.SSLContext | None = None,
        *,
        port: int = 0,
    ) -> None:
        # A short shutdown timeout: stop() must not wait for a request kept sleeping by a
        # fault under test.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port, ssl_context=ssl_context).start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._port
