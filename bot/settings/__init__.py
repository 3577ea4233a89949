"""Configuration, read once from the environment (and a `.env` file) into one frozen object.

Nothing else in the bot reads `os.environ`. Every problem found is reported at once, in one
`SettingsError` whose lines each name a variable and the fix; the CLI prints them and exits with
code 2, so an operator fixes them all in one round. Each variable's parser is in `fields`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.settings import fields
from bot.settings.errors import Problems, SettingsError
from bot.settings.fields import DEFAULT_ARCHIVE_URL, DEFAULT_FEED_URL, DEFAULT_SLACK_API_URL

__all__ = ["Settings", "SettingsError"]

MIN_QUIET_POLL_INTERVAL = 60
DEFAULT_DELIVERY_LEASE = 60.0


@dataclass(frozen=True)
class Settings:
    # Secrets stay out of repr() and str(): settings end up in logs and tracebacks.
    slack_bot_token: str | None = field(repr=False)
    slack_app_token: str | None = field(repr=False)
    slack_signing_secret: str | None = field(repr=False)
    slack_api_url: str
    feed_url: str
    database_path: Path
    poll_interval: float
    announce_channel: str | None
    announce_existing: int
    port: int
    port_is_explicit: bool
    # None: the command's own default (INFO for `run`; one-shot commands print a summary).
    log_level: str | None
    # The news collection's JSON pages, for the backfill; None when FEED_URL is a local file
    # and ARCHIVE_URL is unset (there is no archive to read then).
    archive_url: str | None = None
    # Users who may configure the bot besides the workspace's admins and owners.
    admin_user_ids: frozenset[str] = frozenset()
    # How long a process stalled while holding channels keeps them from another process.
    delivery_lease: float = DEFAULT_DELIVERY_LEASE
    # Hosts a redirect of the feed or the archive may lead to, besides their own site.
    feed_allowed_hosts: frozenset[str] = frozenset()
    # Distribution mode (one installation, many workspaces): the app's OAuth credentials, the
    # keys the workspaces' tokens are encrypted with (the first encrypts), and the Redirect URL
    # when the app lists several.
    slack_client_id: str | None = None
    slack_client_secret: str | None = field(default=None, repr=False)
    token_keys: tuple[str, ...] = field(default=(), repr=False)
    slack_redirect_uri: str | None = None

    @property
    def socket_mode(self) -> bool:
        """Socket Mode is chosen by the presence of an app-level token."""
        return self.slack_app_token is not None

    @property
    def distribution(self) -> bool:
        """Distribution mode is chosen by the app's OAuth credentials: workspaces install the
        app with "Add to Slack", each with its own token, kept in the database."""
        return self.slack_client_id is not None or self.slack_client_secret is not None

    def warnings(self) -> list[str]:
        """Accepted but questionable values, logged once logging is set up."""
        if self.poll_interval < MIN_QUIET_POLL_INTERVAL:
            return [
                f"POLL_INTERVAL={self.poll_interval:g} is below {MIN_QUIET_POLL_INTERVAL} seconds: "
                "fine for tests, impolite to isscr.org"
            ]
        return []

    def in_mode(self, mode: str) -> Settings:
        """These settings for a forced connection mode: "http", "socket", or "auto" (by token)."""
        if mode == "http":
            return replace(self, slack_app_token=None)
        if mode == "socket" and self.distribution:
            raise SettingsError(
                "SLACK_CLIENT_ID",
                "is set, and distribution mode runs over HTTP, not Socket Mode",
                "drop --mode socket, or unset SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to serve "
                "one workspace",
            )
        if mode == "socket" and self.slack_app_token is None:
            raise SettingsError(
                "SLACK_APP_TOKEN",
                "is not set but Socket Mode was asked for",
                "create an app-level token with connections:write under Basic Information "
                "→ App-Level Tokens",
            )
        return self

    def require_slack(self, *, serve: bool = True) -> None:
        """Check what posting (and, with `serve`, answering Slack's requests) needs, on top of
        the format checks `from_env` already made."""
        problems = Problems()
        self._require_slack(problems, serve=serve)
        problems.raise_any()

    def _require_slack(self, problems: Problems, *, serve: bool) -> None:
        if self.distribution:
            self._require_distribution(problems, serve=serve)
            return
        if self.slack_bot_token is None and not problems.reported("SLACK_BOT_TOKEN"):
            problems.found.append(
                SettingsError(
                    "SLACK_BOT_TOKEN",
                    "is not set",
                    "copy the Bot User OAuth Token (xoxb-…) from your app's OAuth & Permissions "
                    "page",
                )
            )
        if (
            serve
            and not self.socket_mode
            and self.slack_signing_secret is None
            and not problems.reported("SLACK_APP_TOKEN")
        ):
            problems.found.append(
                SettingsError(
                    "SLACK_SIGNING_SECRET",
                    "is not set",
                    "copy it from your app's Basic Information page, "
                    "or set SLACK_APP_TOKEN to use Socket Mode instead",
                )
            )

    def _require_distribution(self, problems: Problems, *, serve: bool) -> None:
        """What distribution mode needs: the workspaces' tokens are read from the database,
        decrypted with TOKEN_ENCRYPTION_KEY, and Slack's requests must be signed."""
        if not self.token_keys and not problems.reported("TOKEN_ENCRYPTION_KEY"):
            problems.found.append(
                SettingsError(
                    "TOKEN_ENCRYPTION_KEY",
                    "is not set, and distribution mode keeps each workspace's token encrypted",
                    "run `isscr-news-bot new-key` and set it to the key printed",
                )
            )
        if serve and self.slack_signing_secret is None:
            problems.found.append(
                SettingsError(
                    "SLACK_SIGNING_SECRET",
                    "is not set",
                    "copy it from your app's Basic Information page (App Credentials)",
                )
            )

    def _check_mode(self, problems: Problems) -> None:
        """Settings that cannot work together: each a line saying which to unset."""
        if not self.distribution:
            return
        for name, value in (
            ("SLACK_CLIENT_ID", self.slack_client_id),
            ("SLACK_CLIENT_SECRET", self.slack_client_secret),
        ):
            if value is None:
                problems.found.append(
                    SettingsError(
                        name,
                        "is not set, but its pair is",
                        "copy both from your app's Basic Information page (App Credentials) "
                        "for distribution mode, or unset both for one workspace",
                    )
                )
        single_only = (
            ("SLACK_APP_TOKEN", self.slack_app_token,
             "distribution mode runs over HTTP, each workspace's requests signed"),
            ("SLACK_BOT_TOKEN", self.slack_bot_token,
             "in distribution mode each workspace's token comes from its installation"),
            ("ANNOUNCE_CHANNEL", self.announce_channel,
             "in distribution mode each workspace's admins pick their channels on the Home"),
            ("ADMIN_USER_IDS", ",".join(sorted(self.admin_user_ids)) or None,
             "in distribution mode each workspace's admins and owners configure it"),
        )  # fmt: skip
        if self.slack_client_id is None or self.slack_client_secret is None:
            return  # half a pair is a slip more likely than a choice of mode: said above
        for name, value, why in single_only:
            if value is not None and not problems.reported(name):
                problems.found.append(
                    SettingsError(
                        name,
                        "is set together with SLACK_CLIENT_ID and SLACK_CLIENT_SECRET",
                        f"{why}: unset {name}, or unset both of those for one workspace",
                    )
                )

    def _require_archive(self, problems: Problems) -> None:
        if self.archive_url is None and not (
            problems.reported("FEED_URL") or problems.reported("ARCHIVE_URL")
        ):
            problems.found.append(
                SettingsError(
                    "ARCHIVE_URL",
                    "is not set and FEED_URL is a local file, so there is no archive to read",
                    f"set ARCHIVE_URL, e.g. to {DEFAULT_ARCHIVE_URL}",
                )
            )

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        mode: str = "auto",
        require_slack: bool = False,
        serve: bool = False,
        require_archive: bool = False,
    ) -> Settings:
        """Parse and validate every variable (blank values count as unset), then what `mode`,
        `require_slack` and `require_archive` need; every problem found is in the one
        SettingsError raised. One keyword per setting, in one place: it reads best whole."""
        values = {k: v.strip() for k, v in env.items() if v is not None and v.strip()}
        problems = Problems()
        check = problems.check

        bot_token = check(
            lambda: fields.token(
                values, "SLACK_BOT_TOKEN", "xoxb-", "your app's OAuth & Permissions page"
            ),
            None,
        )
        app_token = check(
            lambda: fields.token(
                values, "SLACK_APP_TOKEN", "xapp-", "Basic Information → App-Level Tokens"
            ),
            None,
        )
        feed_url = check(lambda: fields.feed_url(values), DEFAULT_FEED_URL)
        settings = cls(
            slack_bot_token=bot_token,
            slack_app_token=app_token,
            slack_signing_secret=values.get("SLACK_SIGNING_SECRET"),
            slack_api_url=check(lambda: fields.slack_api_url(values), DEFAULT_SLACK_API_URL),
            feed_url=feed_url,
            database_path=check(lambda: fields.database_path(values), Path("isscr-news.db")),
            poll_interval=check(
                lambda: fields.number(values, "POLL_INTERVAL", 300, minimum=1), 300.0
            ),
            announce_channel=check(lambda: fields.channel(values, "ANNOUNCE_CHANNEL"), None),
            announce_existing=int(
                check(
                    lambda: fields.number(values, "ANNOUNCE_EXISTING", 0, minimum=0, integer=True),
                    0.0,
                )
            ),
            port=check(lambda: fields.port(values), 3000),
            port_is_explicit="PORT" in values,
            log_level=check(lambda: fields.log_level(values), None),
            archive_url=check(lambda: fields.archive_url(values, feed_url), None),
            admin_user_ids=check(lambda: fields.user_ids(values, "ADMIN_USER_IDS"), frozenset()),
            delivery_lease=check(
                lambda: fields.number(
                    values, "DELIVERY_LEASE_SECONDS", DEFAULT_DELIVERY_LEASE, minimum=2
                ),
                DEFAULT_DELIVERY_LEASE,
            ),
            feed_allowed_hosts=check(
                lambda: fields.host_names(values, "FEED_ALLOWED_HOSTS"), frozenset()
            ),
            slack_client_id=values.get("SLACK_CLIENT_ID"),
            slack_client_secret=values.get("SLACK_CLIENT_SECRET"),
            token_keys=check(lambda: fields.fernet_keys(values, "TOKEN_ENCRYPTION_KEY"), ()),
            slack_redirect_uri=check(lambda: fields.redirect_uri(values), None),
        )
        settings._check_mode(problems)
        if not problems.reported("SLACK_APP_TOKEN"):
            settings = check(lambda: settings.in_mode(mode), settings)
        if require_slack:
            settings._require_slack(problems, serve=serve)
        if require_archive:
            settings._require_archive(problems)
        problems.raise_any()
        return settings
