"""What the Docker image does, without Docker: start the `isscr-news-bot` installed beside this
Python (by `.ci/run`, from requirements.lock, as the image installs it; not this checkout's
code) with the image's settings, against the loopback stand-ins of Slack and the feed; wait
until its own health check passes, as Docker's HEALTHCHECK runs it; stop it with SIGTERM, as
`docker stop` does, and expect exit 0.

    .venv/bin/python .ci/smoke.py
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the stand-ins, from standins/; never the bot itself

from standins.feed_server import FeedServer, make_item  # noqa: E402
from standins.slack_api import SlackApi  # noqa: E402

CHANNEL = "C0NEWS0001"
PROGRAM = Path(sys.executable).with_name("isscr-news-bot")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def command(*args: str, env: dict[str, str], cwd: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *args, env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode().strip()


async def main() -> None:
    async with FeedServer([make_item(2), make_item(1)]) as feed, SlackApi() as slack:
        slack.add_channel(CHANNEL, name="isscr-news")
        with tempfile.TemporaryDirectory() as data:
            env = {
                "PATH": os.environ.get("PATH", ""),
                "DATABASE_PATH": f"{data}/isscr-news.db",  # as the image sets them
                "PORT": str(free_port()),
                "SLACK_BOT_TOKEN": slack.token,
                "SLACK_SIGNING_SECRET": "smoke-test-secret",
                "SLACK_API_URL": slack.url,
                "FEED_URL": feed.url,
                "ANNOUNCE_CHANNEL": CHANNEL,
            }
            code, where = await command(
                sys.executable, "-c", "import bot; print(bot.__file__)", env=env, cwd=data
            )
            assert code == 0 and "site-packages" in where, where  # the installed bot
            bot = await asyncio.create_subprocess_exec(PROGRAM, "run", env=env, cwd=data)
            try:
                deadline = time.monotonic() + 60
                while True:
                    code, said = await command(PROGRAM, "healthcheck", env=env, cwd=data)
                    if code == 0:
                        break
                    assert bot.returncode is None, f"the bot exited with {bot.returncode}"
                    assert time.monotonic() < deadline, said
                    await asyncio.sleep(0.5)
                print(said)
                started = time.monotonic()
                bot.send_signal(signal.SIGTERM)
                stopped = await asyncio.wait_for(bot.wait(), 15)
                assert stopped == 0, f"exit {stopped} after SIGTERM"
                print(f"stopped by SIGTERM in {time.monotonic() - started:.1f} s, exit 0")
            finally:
                if bot.returncode is None:
                    bot.kill()
                    await bot.wait()


if __name__ == "__main__":
    asyncio.run(main())
