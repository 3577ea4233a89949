"""The workspaces of distribution mode: their installations (bot tokens encrypted by the
caller, never here in the clear), the OAuth states of installs under way, and a workspace's
leaving, which takes everything of it but its audit log."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from bot.models import Installation
from bot.store.alerts import forget_alerts
from bot.store.deliveries import FAILED, PENDING, RATE_LIMITED, SENDING
from bot.store.routes import AuditMixin

if TYPE_CHECKING:
    from bot.store import Store

_INSTALLATION = (
    "team, enterprise_id, team_name, app_id, bot_user_id, bot_id, bot_scopes, bot_token, "
    "installer, installed_at"
)
# How many failing workspaces a summary names (the count covers them all).
FAILING_NAMED = 5


def create_installations(store: Store) -> None:
    store.db.table("installations").create(
        {
            "team": str,
            "enterprise_id": str,
            "team_name": str,
            "app_id": str,
            "bot_user_id": str,
            "bot_id": str,
            "bot_scopes": str,
            "bot_token": str,  # encrypted (Fernet): see bot.slack.tokens
            "installer": str,
            "installed_at": float,
            "updated_at": float,
        },
        pk="team",
        not_null={"bot_token", "installed_at"},
        if_not_exists=True,
    )
    store.db.table("oauth_states").create(
        {"state": str, "expires_at": float}, pk="state", not_null={"expires_at"},
        if_not_exists=True,
    )  # fmt: skip


class InstallationsMixin(AuditMixin):
    """Installations, OAuth states and leaving."""

    def save_installation(self, installation: Installation, *, now: float) -> bool:
        """Keep `installation` (a reinstall replaces the token and keeps the workspace's
        routes) and audit it; True when the workspace is new (or back after leaving)."""
        with self.transaction():
            new = self.installation(installation.team) is None
            self.db.execute(
                f"INSERT INTO installations ({_INSTALLATION}, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (team) DO UPDATE SET "
                "enterprise_id = excluded.enterprise_id, team_name = excluded.team_name, "
                "app_id = excluded.app_id, bot_user_id = excluded.bot_user_id, "
                "bot_id = excluded.bot_id, bot_scopes = excluded.bot_scopes, "
                "bot_token = excluded.bot_token, installer = excluded.installer, "
                "updated_at = excluded.updated_at",
                [installation.team, installation.enterprise_id, installation.team_name,
                 installation.app_id, installation.bot_user_id, installation.bot_id,
                 installation.bot_scopes, installation.encrypted_token, installation.installer,
                 now, now],
            )  # fmt: skip
            self.record_change(
                installation.installer or "",
                "install",
                "installed the app" if new else "reinstalled the app",
                now=now,
                team=installation.team,
            )
        return new

    def installation(self, team: str) -> Installation | None:
        row = self.db.execute(
            f"SELECT {_INSTALLATION} FROM installations WHERE team = ?", [team]
        ).fetchone()
        return _installation(row) if row else None

    def installations(self) -> list[Installation]:
        """Every installation, by team (for re-encrypting their tokens)."""
        rows = self.db.execute(f"SELECT {_INSTALLATION} FROM installations ORDER BY team")
        return [_installation(row) for row in rows]

    def replace_tokens(self, replace: Callable[[str], str]) -> int:
        """Every stored token replaced by `replace(token)` (encrypted again under another key),
        in one transaction: a workspace installing meanwhile waits rather than has its new
        token overwritten. How many were replaced."""
        with self.transaction():
            rows = self.db.execute("SELECT team, bot_token FROM installations").fetchall()
            for team, token in rows:
                self.db.execute(
                    "UPDATE installations SET bot_token = ? WHERE team = ?", [replace(token), team]
                )
        return len(rows)

    def leave(
        self,
        team: str,
        *,
        why: str,
        now: float,
        happened_at: float | None = None,
        bot_user_ids: Iterable[str] | None = None,
    ) -> bool:
        """The workspace uninstalled the app, or its token was revoked: its installation,
        routes, deliveries (sent or not) and members' alerts go, in one transaction; the audit
        log keeps that it left, and why. False, with nothing changed, when it is not installed
        (a second event for the same leaving), when it installed again after `happened_at`
        (Slack retries an event for up to an hour), or when its bot is none of `bot_user_ids`."""
        with self.transaction():
            row = self.db.execute(
                "SELECT updated_at, bot_user_id FROM installations WHERE team = ?", [team]
            ).fetchone()
            if row is None:
                return False
            # Slack's event_time is in whole seconds: installed again in a later second.
            if happened_at is not None and row[0] >= happened_at + 1:
                return False
            if bot_user_ids is not None and row[1] not in set(bot_user_ids):
                return False
            gone = self.db.execute("DELETE FROM installations WHERE team = ?", [team]).rowcount
            self.db.execute("DELETE FROM routes WHERE team = ?", [team])
            self.db.execute("DELETE FROM deliveries WHERE team = ?", [team])
            forget_alerts(self, team)
            if gone:
                self.record_change("", "uninstall", why, now=now, team=team)
        return bool(gone)

    def workspaces_summary(self) -> dict[str, Any]:
        """How many workspaces are installed, how many have failing deliveries (given up on,
        or waiting after an error other than a rate limit), and the first few of those."""
        installed = self.db.execute("SELECT count(*) FROM installations").fetchone()[0]
        failing = self.db.execute(
            "SELECT team, count(*), max(last_error) FROM deliveries "
            "WHERE (state = ? OR (state IN (?, ?) AND last_error IS NOT NULL "
            "AND last_error NOT LIKE ?)) AND team IN (SELECT team FROM installations) "
            "GROUP BY team ORDER BY count(*) DESC, team",
            [FAILED, PENDING, SENDING, RATE_LIMITED + "%"],
        ).fetchall()
        return {
            "installed": installed,
            "failing": len(failing),
            "failing_examples": [
                {"team": team, "deliveries": count, "last_error": error}
                for team, count, error in failing[:FAILING_NAMED]
            ],
        }

    # -- OAuth states ---------------------------------------------------------------------

    def use_state(self, state: str, *, expires_at: float, now: float) -> bool:
        """Whether `state` (an install's, valid until `expires_at`) is used for the first
        time; kept until then, so that it is never used twice (expired ones go now)."""
        with self.transaction():
            self.db.execute("DELETE FROM oauth_states WHERE expires_at <= ?", [now])
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO oauth_states (state, expires_at) VALUES (?, ?)",
                [state, expires_at],
            )
        return cursor.rowcount == 1


def _installation(row: tuple[Any, ...]) -> Installation:
    team, enterprise, name, app, user, bot, scopes, token, installer, at = row
    return Installation(team, enterprise, name, app, user, bot, scopes, token, installer, at)
