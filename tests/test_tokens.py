"""Distribution mode's tokens at rest and its workspaces in the store: encrypted under
TOKEN_ENCRYPTION_KEY, the key checked at start, rotated by `rotate-key`; a workspace's
installing, leaving and the OAuth states of installs under way."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from bot.cli import main
from bot.database import Database
from bot.models import Installation, Place, Release
from bot.routes import RouteError, Routes
from bot.slack.installations import SignedStates
from bot.slack.tokens import TokenCipher, WrongKey
from bot.store import FAILED, Store
from tests.conftest import bot_env

KEY, OLD_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()
TOKEN = "xoxb-1-team-one-secret"


def installation(team: str, token: str, *, key: str = KEY, name: str = "Lab") -> Installation:
    return Installation(
        team=team,
        enterprise_id=None,
        team_name=name,
        app_id="A1",
        bot_user_id="UBOT",
        bot_id="BBOT",
        bot_scopes="chat:write,commands",
        encrypted_token=TokenCipher([key]).encrypt(token),
        installer="UINSTALL",
        installed_at=1.0,
    )


def distribution_env(tmp_path: Path, keys: str) -> dict[str, str]:
    env = bot_env(tmp_path, None, None, SLACK_BOT_TOKEN=None, ANNOUNCE_CHANNEL=None)  # type: ignore[arg-type]
    return {
        **env,
        "SLACK_CLIENT_ID": "1111.2222",
        "SLACK_CLIENT_SECRET": "client-secret",
        "TOKEN_ENCRYPTION_KEY": keys,
    }


def test_a_token_is_stored_encrypted_and_only_its_keys_read_it() -> None:
    cipher = TokenCipher([KEY])
    stored = cipher.encrypt(TOKEN)
    assert TOKEN not in stored and "team-one" not in stored
    assert cipher.decrypt(stored) == TOKEN
    with pytest.raises(WrongKey):
        TokenCipher([OLD_KEY]).decrypt(stored)
    # A key being rotated out still decrypts; the first one encrypts.
    both = TokenCipher([OLD_KEY, KEY])
    assert both.decrypt(stored) == TOKEN
    assert TokenCipher([OLD_KEY]).decrypt(both.rotate(stored)) == TOKEN
    assert KEY not in repr(cipher) and "hidden" in repr(cipher)


def test_the_database_holds_no_token_in_the_clear(tmp_path: Path) -> None:
    store = Store(tmp_path / "bot.db")
    store.ensure_schema()
    store.save_installation(installation("T1", TOKEN), now=1.0)
    store.close()
    assert TOKEN.encode() not in (tmp_path / "bot.db").read_bytes()
    assert TOKEN.encode() not in b"".join(
        p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("bot.db")
    )


def test_installing_again_keeps_the_routes_and_leaving_takes_all_but_the_audit(
    store: Store,
) -> None:
    store.save_release(Release("r1", "Embryo news", "https://x/1"), source="rss", now=1.0)
    assert store.save_installation(installation("T1", TOKEN), now=1.0) is True
    assert store.save_installation(installation("T2", "xoxb-2"), now=1.0) is True
    store.save_route("C1", [], team="T1", by="U1", action="route", detail="C1: routed", now=2.0)
    store.save_route("C1", [], team="T2", by="U2", action="route", detail="C1: routed", now=2.0)
    store.add_delivery("r1", Place("T1", "C1"), now=3.0)
    store.add_delivery("r1", Place("T2", "C1"), now=3.0)
    assert store.save_installation(installation("T1", "xoxb-new"), now=4.0) is False
    assert [r.channel for r in store.routes(team="T1")] == ["C1"]

    assert store.leave("T1", why="uninstalled the app", now=5.0) is True
    assert store.leave("T1", why="uninstalled the app", now=6.0) is False  # said once

    assert store.installation("T1") is None and store.routes(team="T1") == []
    assert [(d["team"], d["channel"]) for d in store.delivery_log()] == [("T2", "C1")]
    assert [(c.action, c.detail) for c in store.recent_changes(team="T1")] == [
        ("uninstall", "uninstalled the app"),
        ("install", "reinstalled the app"),
        ("route", "C1: routed"),
        ("install", "installed the app"),
    ]
    assert store.routes(team="T2") and store.installation("T2") is not None
    # Back again: a clean start, its history kept.
    assert store.save_installation(installation("T1", TOKEN), now=7.0) is True
    assert store.routes(team="T1") == []


def test_the_summary_counts_workspaces_and_names_the_failing_few(store: Store) -> None:
    store.save_release(Release("r1", "Embryo news", "https://x/1"), source="rss", now=1.0)
    for n in range(8):
        store.save_installation(installation(f"T{n}", f"xoxb-{n}"), now=1.0)
        store.add_delivery("r1", Place(f"T{n}", "C1"), now=1.0)
    for n in range(6):
        [row] = [d for d in store.delivery_log() if d["team"] == f"T{n}"]
        store.mark_failed(row["id"], attempt=None, error="token_revoked", outcome_known=True)
    summary = store.workspaces_summary()
    assert (summary["installed"], summary["failing"]) == (8, 6)
    assert len(summary["failing_examples"]) == 5
    assert summary["failing_examples"][0] == {
        "team": "T0", "deliveries": 1, "last_error": "token_revoked"
    }  # fmt: skip
    assert store.delivery_counts(team=None)[FAILED] == 6
    assert store.delivery_counts(team="T7")[FAILED] == 0


def test_an_install_state_is_used_once_and_forgotten_once_expired(store: Store) -> None:
    assert store.use_state("s1", expires_at=100.0, now=1.0)
    assert not store.use_state("s1", expires_at=100.0, now=2.0)  # once
    assert store.use_state("s2", expires_at=5.0, now=2.0)
    assert store.db.execute("SELECT count(*) FROM oauth_states").fetchone()[0] == 2
    assert store.use_state("s3", expires_at=100.0, now=6.0)
    # What expired is gone: the table holds only states that could still be replayed.
    assert [row[0] for row in store.db.execute("SELECT state FROM oauth_states")] == ["s1", "s3"]


async def test_a_signed_state_is_accepted_once_and_a_forged_or_expired_one_never(
    db: Database,
) -> None:
    states = SignedStates(db, "client-secret")
    state = await states.async_issue()
    assert await states.async_consume(state)
    assert not await states.async_consume(state)  # replayed
    nonce, expires, signature = (await states.async_issue()).split(".")
    assert not await states.async_consume(f"{nonce}.{int(expires) + 3600}.{signature}")
    assert not await states.async_consume(f"other.{expires}.{signature}")
    assert not await states.async_consume(await SignedStates(db, "another").async_issue())
    past = f"{nonce}.{int(time.time()) - 1}"
    assert not await states.async_consume(f"{past}.{states._sign(past)}")
    assert not await states.async_consume("") and not await states.async_consume("a.b")
    assert "client-secret" not in repr(states)


def test_new_key_prints_a_fresh_fernet_key() -> None:
    first = CliRunner().invoke(main, ["new-key"])
    second = CliRunner().invoke(main, ["new-key"])
    assert first.exit_code == 0 and first.output != second.output
    Fernet(first.output.strip())


def test_rotate_key_encrypts_every_token_again_with_the_first_key(tmp_path: Path) -> None:
    store = Store(tmp_path / "bot.db")
    store.ensure_schema()
    store.save_installation(installation("T1", TOKEN, key=OLD_KEY), now=1.0)
    store.save_installation(installation("T2", "xoxb-2", key=OLD_KEY), now=1.0)
    store.close()

    result = CliRunner().invoke(
        main, ["rotate-key"], env=distribution_env(tmp_path, f"{KEY},{OLD_KEY}")
    )

    assert result.exit_code == 0, result.output
    assert "2 workspaces" in result.output
    store = Store(tmp_path / "bot.db")
    new = TokenCipher([KEY])
    assert [new.decrypt(row.encrypted_token) for row in store.installations()] == [
        TOKEN, "xoxb-2"
    ]  # fmt: skip
    store.close()


@pytest.mark.parametrize("command", [["run"], ["poll"], ["rotate-key"]])
def test_a_key_that_does_not_decrypt_the_stored_tokens_stops_the_bot_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    store = Store(tmp_path / "bot.db")
    store.ensure_schema()
    store.save_installation(installation("T1", TOKEN, key=OLD_KEY), now=1.0)
    store.close()

    result = CliRunner().invoke(main, command, env=distribution_env(tmp_path, KEY))

    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("isscr-news-bot: TOKEN_ENCRYPTION_KEY does not decrypt the tokens")
    assert "1 of the 1 workspaces" in line and KEY not in line and OLD_KEY not in line


def test_workspaces_lists_each_installation_with_its_routes_and_deliveries(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "bot.db")
    store.ensure_schema()
    store.save_installation(installation("T1", TOKEN, name="Stem Lab"), now=1.0)
    store.save_route("C1", [], team="T1", by="U1", action="route", detail="C1", now=2.0)
    store.close()

    result = CliRunner().invoke(main, ["workspaces"], env=distribution_env(tmp_path, KEY))

    assert result.exit_code == 0, result.output
    assert '"team": "T1"' in result.output and '"name": "Stem Lab"' in result.output
    assert '"routes": 1' in result.output and TOKEN not in result.output


def test_the_store_refuses_a_second_route_for_the_same_workspace_and_channel(
    store: Store,
) -> None:
    store.save_route("C1", ["A"], team="T1", by="U1", action="route", detail="C1", now=1.0)
    store.save_route("C1", ["B"], team="T1", by="U1", action="route", detail="C1", now=2.0)
    assert [r.categories for r in store.routes(team="T1")] == [("B",)]
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute("INSERT INTO routes (team, channel, categories) VALUES ('T1', 'C1', '[]')")


def test_forget_removes_a_workspace_that_left_unheard_and_refuses_what_is_not_one(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "bot.db")
    store.ensure_schema()
    store.save_installation(installation("T0LAB00001", TOKEN), now=1.0)
    store.save_route("C1", [], team="T0LAB00001", by="U1", action="route", detail="C1", now=2.0)
    store.close()
    env = distribution_env(tmp_path, KEY)

    done = CliRunner().invoke(main, ["forget", "T0LAB00001"], env=env)
    again = CliRunner().invoke(main, ["forget", "T0LAB00001"], env=env)
    wrong = CliRunner().invoke(main, ["forget", "general"], env=env)

    assert done.exit_code == 0 and "Forgot T0LAB00001" in done.output
    assert again.exit_code == 2 and "T0LAB00001 is not installed" in again.output
    assert wrong.exit_code == 2 and "not a workspace ID" in wrong.output
    store = Store(tmp_path / "bot.db")
    assert store.installation("T0LAB00001") is None and store.routes(team="T0LAB00001") == []
    assert store.recent_changes(team="T0LAB00001")[0].detail == "forgotten by the operator"
    store.close()


def test_a_route_cannot_be_saved_for_a_workspace_that_has_left(store: Store) -> None:
    """A request authorized just before its workspace left must not leave a route behind
    for a reinstall to find."""
    store.save_installation(installation("T0LAB00001", TOKEN), now=1.0)
    routes = Routes(store, team="T0LAB00001")
    routes.route("C1", [], by="U1")
    store.leave("T0LAB00001", why="uninstalled", now=2.0)
    with pytest.raises(RouteError, match="removed the app"):
        routes.route("C2", [], by="U1")
    with pytest.raises(RouteError, match="removed the app"):
        routes.first("C2", by="U1")
    assert store.routes(team="T0LAB00001") == []
