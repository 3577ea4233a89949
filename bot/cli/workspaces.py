"""Distribution mode: `new-key` (a TOKEN_ENCRYPTION_KEY), `rotate-key` (the stored tokens
encrypted again with the first key), `workspaces` (who installed the app, and how their
deliveries go) and `forget` (a workspace that left unheard)."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import NoReturn

import click

from bot.cli.common import database_problem, fail, load_settings, open_store
from bot.health import iso
from bot.models import TEAM_ID
from bot.settings import Settings
from bot.slack.tokens import TokenCipher, WrongKey, new_key, unreadable
from bot.store import Store


@click.command("new-key")
def new_key_command() -> None:
    """Print a new key for TOKEN_ENCRYPTION_KEY (distribution mode)."""
    click.echo(new_key())


@click.command("rotate-key")
def rotate_key() -> None:
    """Encrypt every stored token again with TOKEN_ENCRYPTION_KEY's first key.

    To rotate: set TOKEN_ENCRYPTION_KEY to the new key, a comma, and the old key, and restart
    the bot with it; run this; then drop the old key. Safe to run again.
    """
    settings = _distribution_settings()
    cipher = TokenCipher(settings.token_keys)
    store = open_store(settings, create=False)
    try:
        rotated = store.replace_tokens(cipher.rotate)
    except WrongKey:
        stored = store.installations()
        _wrong_key(settings, unreadable(cipher, stored), len(stored))
    except sqlite3.Error as error:
        fail(database_problem(settings, error))
    finally:
        store.close()
    click.echo(f"Re-encrypted the tokens of {rotated} workspaces with the first key.")


@click.command()
@click.argument("team")
def forget(team: str) -> None:
    """Forget workspace TEAM (its ID, like T0123ABCD): its token, routes and deliveries.

    For a workspace that left while the bot could not hear it (a restored backup, say); its
    audit log keeps that it was forgotten. It can add the app again at any time.
    """
    settings = _distribution_settings(keys=False)
    if not TEAM_ID.fullmatch(team):
        fail(f"{team!r} is not a workspace ID: `isscr-news-bot workspaces` lists them (T…)")
    store = open_store(settings, create=False)
    try:
        gone = store.leave(team, why="forgotten by the operator", now=time.time())
    except sqlite3.Error as error:
        fail(database_problem(settings, error))
    finally:
        store.close()
    if not gone:
        fail(f"{team} is not installed: `isscr-news-bot workspaces` lists those that are")
    click.echo(
        f"Forgot {team}: its token, routes and deliveries are gone; a running bot stops "
        "posting there at once."
    )


@click.command()
def workspaces() -> None:
    """List the workspaces that installed the app, with their deliveries, as JSON."""
    settings = _distribution_settings(keys=False)
    store = open_store(settings, read_only=True)
    try:
        click.echo(json.dumps(listing(store), indent=2))
    except sqlite3.Error as error:
        fail(database_problem(settings, error))
    finally:
        store.close()


def listing(store: Store) -> list[dict[str, object]]:
    totals = store.delivery_counts_by_team()
    routes: dict[str, int] = {}
    for route in store.every_route():
        routes[route.team] = routes.get(route.team, 0) + 1
    return [
        {
            "team": row.team,
            "name": row.team_name,
            "installed": iso(row.installed_at),
            "installed_by": row.installer,
            "routes": routes.get(row.team, 0),
            "deliveries": totals.get(row.team, {"waiting": 0, "sent": 0, "failed": 0}),
        }
        for row in store.installations()
    ]


def check_keys(settings: Settings, store: Store) -> None:
    """At start: every stored token must be decrypted by TOKEN_ENCRYPTION_KEY, or the bot
    stops in one line (a wrong key would leave those workspaces silent)."""
    if not settings.distribution or not settings.token_keys:
        return
    stored = store.installations()
    teams = unreadable(TokenCipher(settings.token_keys), stored)
    if teams:
        _wrong_key(settings, teams, len(stored))


def _wrong_key(settings: Settings, teams: list[str], total: int) -> NoReturn:
    fail(
        f"TOKEN_ENCRYPTION_KEY does not decrypt the tokens of {len(teams)} of the {total} "
        f"workspaces in {settings.database_path} (e.g. {teams[0]}): set the key they were "
        "encrypted with (while rotating, the new key first and the old one after a comma)"
    )


def _distribution_settings(*, keys: bool = True) -> Settings:
    settings = load_settings(require_slack=keys)
    if not settings.distribution:
        fail(
            "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are not set: workspaces and their keys "
            'are those of distribution mode (see the README, "Offer the app to many '
            'workspaces")'
        )
    return settings
