"""Deployment: `backup`, the container's `healthcheck`, and the platforms the bot runs on."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import click
from dotenv import find_dotenv, load_dotenv

from bot.backup import BackupError, back_up, target_path
from bot.cli.common import fail, load_settings, open_store
from bot.settings import Settings, SettingsError


@click.command()
@click.argument("path")
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
def backup(path: str, force: bool) -> None:
    """Copy the bot's database to PATH, safely while the bot runs.

    PATH may be a folder: the copy is then named after the date and time (UTC). The copy is
    checked before it is written to PATH; an existing PATH is replaced only with --force.
    """
    settings = load_settings(warn=False)
    database = settings.database_path.absolute()
    store = open_store(settings, read_only=True)
    try:
        # A final slash means a folder, which Path() would forget.
        folder = path.endswith(("/", os.sep))
        target = target_path(Path(path), database, force=force, folder=folder)
        made = back_up(store, target, force=force, permissions_of=database)
    except BackupError as error:
        fail(error)
    except KeyboardInterrupt:
        fail("backup interrupted; nothing was written to PATH")
    finally:
        store.close()
    click.echo(made.summary(database))


# Docker waits 10 s for a health check by default; /healthz answers within 2 s.
HEALTHCHECK_TIMEOUT = 5.0


@click.command()
def healthcheck() -> None:
    """Ask the running bot's /healthz: exit 0 when it answers 200, 1 otherwise, with why.

    For a container's health check, where there is no curl. It asks port PORT on this machine;
    in Socket Mode the bot serves /healthz only when PORT is set.
    """
    # Exit 1, never 2, whatever fails: Docker reserves 2 in health checks.
    load_dotenv(find_dotenv(usecwd=True), override=False)
    try:
        port = Settings.from_env(os.environ).port
    except SettingsError as error:
        click.echo(f"isscr-news-bot: not healthy: {error}", err=True)
        sys.exit(1)
    healthy, line = probe_health(port)
    click.echo(f"isscr-news-bot: {line}", err=not healthy)
    sys.exit(0 if healthy else 1)


def probe_health(port: int, *, timeout: float = HEALTHCHECK_TIMEOUT) -> tuple[bool, str]:
    """GET http://127.0.0.1:PORT/healthz: whether it answered 200, and one line saying so or
    saying why not (the report's problems, when the bot gave them)."""
    url = f"http://127.0.0.1:{port}/healthz"
    # No proxy: an HTTP_PROXY set for the bot's container must not carry a loopback request.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return True, f"healthy ({url} answered {response.status})"
    except urllib.error.HTTPError as error:
        with error:
            try:
                problems = json.loads(error.read())["problems"]
            except (ValueError, KeyError, TypeError, OSError):
                problems = []
        why = "; ".join(str(problem) for problem in problems) or f"{url} answered {error.code}"
        return False, f"not healthy: {why}"
    except urllib.error.URLError as error:
        reason = error.reason
    except OSError as error:  # a timeout while reading the answer
        reason = error
    if isinstance(reason, TimeoutError):
        return False, f"not healthy: {url} did not answer within {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return False, (
            f"not healthy: nothing answers at {url}: is the bot running, with PORT={port}? "
            "(in Socket Mode, /healthz is served only when PORT is set)"
        )
    return False, f"not healthy: {url} cannot be reached ({reason})"
