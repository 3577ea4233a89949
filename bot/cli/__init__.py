"""The `isscr-news-bot` command line: run the bot, poll once, backfill the archive, look at its
health. One module per group of commands: `run`, `poll`, `search`, `maintenance` (status,
backfill, retry-failed), `deploy` (backup, healthcheck) and `workspaces` (new-key, rotate-key,
workspaces: distribution mode); what they share is in `common`."""

from __future__ import annotations

import importlib

import click

from bot import __version__
from bot.cli.platforms import refuse_unsupported_platform

# Each command, by name: the module that holds it, imported only when the command runs (a
# `healthcheck` every 30 s, or `run` on its way to /healthz, has no use for the others).
COMMANDS = {
    "run": ("bot.cli.run", "run"),
    "poll": ("bot.cli.poll", "poll"),
    "status": ("bot.cli.maintenance", "status"),
    "backfill": ("bot.cli.maintenance", "backfill"),
    "retry-failed": ("bot.cli.maintenance", "retry_failed_command"),
    "search": ("bot.cli.search", "search"),
    "backup": ("bot.cli.deploy", "backup"),
    "healthcheck": ("bot.cli.deploy", "healthcheck"),
    "new-key": ("bot.cli.workspaces", "new_key_command"),
    "rotate-key": ("bot.cli.workspaces", "rotate_key"),
    "workspaces": ("bot.cli.workspaces", "workspaces"),
    "forget": ("bot.cli.workspaces", "forget"),
}


class Commands(click.Group):
    """A group whose commands are imported by name when needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # Before the command's module is imported: on Windows, asyncio's own imports fail.
        refuse_unsupported_platform(args[0] if args else None)
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, name = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), name)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=Commands)
@click.version_option(__version__, prog_name="isscr-news-bot")
def main() -> None:
    """ISSCR news in Slack: watches the society's feed and announces new releases."""
