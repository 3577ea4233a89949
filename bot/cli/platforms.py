"""The platforms the bot runs on: checked before any command that writes."""

from __future__ import annotations

import sys

from bot.cli.common import fail

# The commands that write, the database or a backup. Native Windows is not supported: `run`
# would fail obscurely there (asyncio has no signal handlers on Windows), and nothing of the
# bot is tested there. Docker and WSL run it on Linux.
WRITING_COMMANDS = frozenset({"run", "poll", "backfill", "retry-failed", "backup"})


def platform_problem(command: str | None, platform: str) -> str | None:
    """Why `command` does not run on `platform` (a `sys.platform` value), or None."""
    if platform == "win32" and command in WRITING_COMMANDS:
        return (
            f"`{command}` does not run on Windows itself: run the bot with Docker "
            "(docker compose up) or inside WSL, see docs/deploy.md"
        )
    return None


def refuse_unsupported_platform(command: str | None) -> None:
    problem = platform_problem(command, sys.platform)
    if problem is not None:
        fail(problem)
