"""The `isscr-news-bot` command line: run the bot, poll once, backfill the archive, look at its
health. One module per group of commands: `run`, `poll`, `search`, `maintenance` (status,
backfill, retry-failed) and `deploy` (backup, healthcheck); what they share is in `common`."""

from __future__ import annotations

import click

from bot import __version__
from bot.cli import deploy, maintenance, poll, run, search


@click.group()
@click.version_option(__version__, prog_name="isscr-news-bot")
def main() -> None:
    """ISSCR news in Slack: watches the society's feed and announces new releases."""
    deploy.refuse_unsupported_platform(click.get_current_context().invoked_subcommand)


# Each module's commands (imported as modules: three of them share their command's name).
for command in (
    run.run,
    poll.poll,
    maintenance.status,
    maintenance.backfill,
    maintenance.retry_failed_command,
    search.search,
    deploy.backup,
    deploy.healthcheck,
):
    main.add_command(command)
