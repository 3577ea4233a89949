"""`run`: the Slack app, the feed watcher and the announcer, until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import click

from bot.cli.common import fail, load_settings, log, log_warnings, open_store
from bot.settings import Settings, SettingsError
from bot.starting import Starting

HOST = "0.0.0.0"  # every interface: a container's port is reached from outside it


@click.command()
@click.option(
    "--mode",
    type=click.Choice(["auto", "http", "socket"]),
    default="auto",
    show_default=True,
    help="How Slack reaches the bot; auto means Socket Mode when SLACK_APP_TOKEN is set.",
)
def run(mode: str) -> None:
    """Run the Slack app, the feed watcher and the announcer until SIGTERM."""
    # Nothing is logged until the bot has started: a start-up that fails (the database, the
    # port) says so in one line, with nothing before it.
    settings = load_settings(
        require_slack=True, serve=True, mode=mode, warn=False, log_level="INFO"
    )
    # The port first: /healthz says "starting" while the schema is ensured (an upgrade can
    # take a minute) and the rest of the bot is imported (a third of a second).
    starting = None
    if not settings.socket_mode or settings.port_is_explicit:
        try:
            starting = Starting(HOST, settings.port)
        except SettingsError as error:
            fail(error)
    from bot.cli.workspaces import check_keys  # imported once the port answers

    store = open_store(settings)  # the schema, ensured before anything starts
    try:
        check_keys(settings, store)
    finally:
        store.close()
    asyncio.run(_run(settings, starting))


async def _run(settings: Settings, starting: Starting | None) -> None:
    from bot.runtime import Bot  # imported once the port answers (see `run`)

    bot = Bot(settings, host=HOST, starting=starting)

    def started() -> None:
        log_warnings(settings)
        how = "Socket Mode" if settings.socket_mode else "HTTP mode"
        if settings.distribution:
            how += ", distribution mode (many workspaces)"
        if bot.port is not None:
            how += f", port {bot.port}"
        log.info("started in %s; feed %s every %gs", how, settings.feed_url, settings.poll_interval)

    try:
        await bot.run_forever(on_started=started)
    except SettingsError as error:  # found only when starting, e.g. PORT already taken
        await bot.stop()
        fail(error)
    # Stopped, and everything of ours is closed. asyncio looks host names up in worker
    # threads that nothing can cancel, and would wait for them before exiting: with a DNS
    # server that does not answer, that is its timeout (10 s or more), not the 10 s promised.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
