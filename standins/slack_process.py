"""The Slack stand-in in a process of its own, for a benchmark whose bot must not share a CPU
core's event loop with the Slack it talks to.

    python -m standins.slack_process --workspaces 1000 --latency 0.02 --per-channel-interval 1

(`python -m standins.slack_api` runs the same.) It prints two lines on stdout, then serves until
SIGTERM or SIGINT:

    http://127.0.0.1:PORT/api/
    {"url": ..., "workspaces": [{"team_id", "name", "token", "bot_user_id", "bot_id",
     "channels": [...], "admin": ...}, ...]}

Workspace n (from 1) is T<n:08d> with channels C<n:08d>A, C<n:08d>B, ... (the bot a member of
each) and one workspace admin UA<n:08d>. GET /_stand_in/stats answers SlackApi.stats();
POST /_stand_in/grant and /_stand_in/revoke install into and uninstall from a workspace.
`SlackApiProcess` runs it from a benchmark or a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any, Self

import aiohttp

from standins.slack_api import SlackApi


def workspace_ids(n: int, channels: int) -> dict[str, Any]:
    """The IDs of generated workspace n (from 1), as the JSON line lists them."""
    return {
        "team_id": f"T{n:08d}",
        "name": f"Lab {n}",
        "channels": [f"C{n:08d}{chr(ord('A') + k)}" for k in range(channels)],
        "admin": f"UA{n:08d}",
    }


def populate(api: SlackApi, workspaces: int, channels: int) -> list[dict[str, Any]]:
    """Add `workspaces` workspaces, each with its channels and an admin; return their IDs and
    tokens."""
    listed = []
    for n in range(1, workspaces + 1):
        ids = workspace_ids(n, channels)
        workspace = api.add_workspace(ids["team_id"], name=ids["name"])
        for channel in ids["channels"]:
            api.add_channel(channel, team=workspace.team_id)
        api.add_user(ids["admin"], is_admin=True, team=workspace.team_id)
        listed.append(
            {
                **ids,
                "token": workspace.token,
                "bot_user_id": workspace.bot_user_id,
                "bot_id": workspace.bot_id,
            }
        )
    return listed


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m standins.slack_process",
        description="Serve the Slack stand-in with many workspaces; print its URL and tokens.",
    )
    parser.add_argument("--port", type=int, default=0, help="0: any free port (default)")
    parser.add_argument("--workspaces", type=int, default=1)
    parser.add_argument("--channels", type=int, default=2, help="channels per workspace")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--per-channel-interval", type=float, default=None)
    parser.add_argument("--per-workspace-per-minute", type=int, default=None)
    parser.add_argument(
        "--record-calls", action="store_true", help="keep every call (memory grows with them)"
    )
    return parser.parse_args(argv)


async def serve(argv: list[str] | None = None) -> None:
    arguments = _arguments(argv)
    api = SlackApi()
    api.latency = arguments.latency
    api.per_channel_interval = arguments.per_channel_interval
    api.per_workspace_per_minute = arguments.per_workspace_per_minute
    api.record_calls = arguments.record_calls
    listed = populate(api, arguments.workspaces, arguments.channels)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await api.start(port=arguments.port)
    try:
        print(api.url, flush=True)
        print(json.dumps({"url": api.url, "workspaces": listed}), flush=True)
        await stopping.wait()
    finally:
        await api.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(argv))


class SlackApiProcess:
    """`python -m standins.slack_process` as a child process: `async with` starts it and reads
    its URL and workspaces; `stats()`, `grant()` and `revoke()` talk to it over HTTP."""

    def __init__(
        self,
        *,
        workspaces: int = 1,
        channels: int = 2,
        latency: float = 0.0,
        per_channel_interval: float | None = None,
        per_workspace_per_minute: int | None = None,
        port: int = 0,
    ) -> None:
        self._argv = ["--workspaces", str(workspaces), "--channels", str(channels)]
        self._argv += ["--latency", str(latency), "--port", str(port)]
        if per_channel_interval is not None:
            self._argv += ["--per-channel-interval", str(per_channel_interval)]
        if per_workspace_per_minute is not None:
            self._argv += ["--per-workspace-per-minute", str(per_workspace_per_minute)]
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""  # the Web API's base URL, for AsyncWebClient(base_url=...)
        self.workspaces: list[dict[str, Any]] = []
        self._http: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        return self.url.removesuffix("/api/")

    async def __aenter__(self) -> Self:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "standins.slack_process", *self._argv,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,  # the JSON line of 1,000 workspaces is ~300 KB
        )  # fmt: skip
        try:
            assert self.process.stdout is not None
            await self.process.stdout.readline()  # the URL alone, for a person reading
            line = await self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"the Slack stand-in exited with {await self.process.wait()}")
            started = json.loads(line)
        except BaseException:
            # `async with` will not stop it. SIGKILL: a child blocked writing to the pipe never
            # gets to run its SIGTERM handler; then read the pipe to its end, which wait() needs.
            self.process.kill()
            await self.process.communicate()
            raise
        self.url, self.workspaces = started["url"], started["workspaces"]
        self._http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._http is not None:
            await self._http.close()
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()

    async def stats(self) -> dict[str, Any]:
        """SlackApi.stats() of the child."""
        stats: dict[str, Any] = await self._call("GET", "stats")
        return stats

    async def grant(self, code: str, team_id: str, **options: Any) -> None:
        """SlackApi.grant in the child: `code` becomes exchangeable for a token of team_id."""
        await self._call("POST", "grant", {"code": code, "team_id": team_id, **options})

    async def revoke(self, team_id: str) -> None:
        await self._call("POST", "revoke", {"team_id": team_id})

    async def _call(self, verb: str, name: str, body: Any = None) -> Any:
        assert self._http is not None, "use `async with`"
        url = f"{self.base_url}/_stand_in/{name}"
        async with self._http.request(verb, url, json=body) as response:
            response.raise_for_status()
            return await response.json()


if __name__ == "__main__":
    main()
