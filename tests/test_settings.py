"""The settings parser on its own: what each variable accepts and refuses, the defaults, and how
problems are reported (every one at once, a line each naming the variable and the fix, never a
secret)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError

BOT_TOKEN = "xoxb-1111-2222-bot-secret"
APP_TOKEN = "xapp-1-A111-app-secret"
SIGNING = "0123456789abcdef-signing-secret"


def parse(**env: str) -> Settings:
    return Settings.from_env(env)


def refused(**env: str) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    return caught.value


def only_line(error: SettingsError, variable: str) -> str:
    """The one line of `error`, which must be about `variable` alone."""
    assert error.variables == (variable,), error.lines
    (line,) = error.lines
    assert line.startswith(f"{variable} "), line
    return line


# -- defaults and blank values ---------------------------------------------------------------


def test_an_empty_environment_gives_the_documented_defaults() -> None:
    settings = parse()
    assert settings.feed_url == "https://www.isscr.org/isscr-news?format=rss"
    assert settings.archive_url == "https://www.isscr.org/isscr-news?format=json"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.database_path == Path("isscr-news.db")
    assert settings.poll_interval == 300
    assert settings.announce_channel is None
    assert settings.announce_existing == 0
    assert (settings.port, settings.port_is_explicit) == (3000, False)
    assert settings.log_level is None
    assert settings.admin_user_ids == frozenset()
    assert settings.delivery_lease == 60
    assert settings.feed_allowed_hosts == frozenset()
    assert settings.slack_bot_token is None
    assert not settings.socket_mode
    assert settings.warnings() == []


def test_blank_values_count_as_unset() -> None:
    settings = parse(
        SLACK_BOT_TOKEN="",
        SLACK_APP_TOKEN="   ",
        POLL_INTERVAL=" ",
        PORT="",
        ANNOUNCE_CHANNEL="\t",
        LOG_LEVEL="",
        FEED_URL=" ",
    )
    assert settings == parse()
    assert not settings.port_is_explicit


def test_values_are_read_without_surrounding_whitespace() -> None:
    settings = parse(SLACK_BOT_TOKEN=f"  {BOT_TOKEN}\n", ANNOUNCE_CHANNEL=" C0123456789 ")
    assert settings.slack_bot_token == BOT_TOKEN
    assert settings.announce_channel == "C0123456789"


# -- tokens and secrets ------------------------------------------------------------------------


def test_an_app_token_chooses_socket_mode() -> None:
    settings = parse(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN)
    assert settings.slack_app_token == APP_TOKEN
    assert settings.socket_mode


@pytest.mark.parametrize(
    ("variable", "value", "prefix"),
    [
        ("SLACK_BOT_TOKEN", APP_TOKEN, "xoxb-"),
        ("SLACK_BOT_TOKEN", "xoxp-user-token-secret", "xoxb-"),
        ("SLACK_APP_TOKEN", BOT_TOKEN, "xapp-"),
    ],
)
def test_a_token_of_the_wrong_kind_is_refused_without_echoing_it(
    variable: str, value: str, prefix: str
) -> None:
    line = only_line(refused(**{variable: value}), variable)
    assert prefix in line
    assert "secret" not in line and value not in line


def test_secrets_are_never_in_the_settings_repr_or_str() -> None:
    settings = parse(
        SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET=SIGNING
    )
    assert settings.slack_signing_secret == SIGNING
    for shown in (repr(settings), str(settings)):
        assert "secret" not in shown
        assert "poll_interval=300" in shown


def test_secrets_are_never_in_an_error_about_other_variables() -> None:
    error = refused(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN="not-an-app-token-secret",
        SLACK_SIGNING_SECRET=SIGNING,
        PORT="http",
    )
    assert error.variables == ("SLACK_APP_TOKEN", "PORT")
    assert "secret" not in str(error)


# -- numbers -----------------------------------------------------------------------------------


def test_poll_interval_takes_seconds_as_a_number_of_at_least_one() -> None:
    assert parse(POLL_INTERVAL="90").poll_interval == 90
    assert parse(POLL_INTERVAL="1.5").poll_interval == 1.5
    assert "at least 1" in only_line(refused(POLL_INTERVAL="0.5"), "POLL_INTERVAL")
    for wrong in ("five", "5m", "inf", "nan"):
        line = only_line(refused(POLL_INTERVAL=wrong), "POLL_INTERVAL")
        assert "not a number" in line and "POLL_INTERVAL=300" in line


def test_a_poll_interval_under_a_minute_is_accepted_with_a_warning() -> None:
    (warning,) = parse(POLL_INTERVAL="30").warnings()
    assert warning.startswith("POLL_INTERVAL=30 ")
    assert parse(POLL_INTERVAL="60").warnings() == []


def test_announce_existing_takes_a_whole_number_not_below_zero() -> None:
    assert parse(ANNOUNCE_EXISTING="5").announce_existing == 5
    assert parse(ANNOUNCE_EXISTING="0").announce_existing == 0
    assert "whole number" in only_line(refused(ANNOUNCE_EXISTING="2.5"), "ANNOUNCE_EXISTING")
    assert "at least 0" in only_line(refused(ANNOUNCE_EXISTING="-1"), "ANNOUNCE_EXISTING")


def test_port_takes_a_tcp_port_or_zero_and_remembers_it_was_set() -> None:
    assert (parse(PORT="8080").port, parse(PORT="8080").port_is_explicit) == (8080, True)
    assert parse(PORT="0").port == 0
    assert parse(PORT="65535").port == 65535
    for wrong in ("65536", "-1"):
        assert "between 1 and 65535" in only_line(refused(PORT=wrong), "PORT")
    assert "whole number" in only_line(refused(PORT="30a0"), "PORT")


def test_the_delivery_lease_is_at_least_two_seconds() -> None:
    assert parse(DELIVERY_LEASE_SECONDS="2").delivery_lease == 2
    assert parse(DELIVERY_LEASE_SECONDS="90.5").delivery_lease == 90.5
    assert "at least 2" in only_line(refused(DELIVERY_LEASE_SECONDS="1"), "DELIVERY_LEASE_SECONDS")


# -- names and lists ---------------------------------------------------------------------------


def test_log_level_is_one_of_logging_s_names_in_any_case() -> None:
    assert parse(LOG_LEVEL="debug").log_level == "DEBUG"
    assert parse(LOG_LEVEL="Warning").log_level == "WARNING"
    line = only_line(refused(LOG_LEVEL="verbose"), "LOG_LEVEL")
    assert "'verbose'" in line
    assert all(level in line for level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))


def test_announce_channel_takes_a_channel_id_not_a_name() -> None:
    assert parse(ANNOUNCE_CHANNEL="C0123456789").announce_channel == "C0123456789"
    assert parse(ANNOUNCE_CHANNEL="G0123456789").announce_channel == "G0123456789"
    for wrong in ("#isscr-news", "isscr-news", "U0123456789", "c0123456789"):
        line = only_line(refused(ANNOUNCE_CHANNEL=wrong), "ANNOUNCE_CHANNEL")
        assert "channel ID" in line and "C0123456789" in line


def test_admin_user_ids_are_member_ids_separated_by_commas_or_spaces() -> None:
    settings = parse(ADMIN_USER_IDS="U0123ABCD, W0456EFGH,,U0789 ")
    assert settings.admin_user_ids == {"U0123ABCD", "W0456EFGH", "U0789"}
    line = only_line(refused(ADMIN_USER_IDS="U0123ABCD,@alice"), "ADMIN_USER_IDS")
    assert "'@alice'" in line and "member ID" in line


def test_feed_allowed_hosts_are_bare_host_names_compared_in_lower_case() -> None:
    settings = parse(FEED_ALLOWED_HOSTS="CDN.isscr.org., static1.squarespace.com 10.0.0.7")
    assert settings.feed_allowed_hosts == {
        "cdn.isscr.org",
        "static1.squarespace.com",
        "10.0.0.7",
    }
    for wrong in ("https://cdn.isscr.org", "cdn.isscr.org:443", "cdn.isscr.org/news", "a_b.org"):
        line = only_line(refused(FEED_ALLOWED_HOSTS=wrong), "FEED_ALLOWED_HOSTS")
        assert repr(wrong) in line and "host name" in line


# -- paths and addresses -----------------------------------------------------------------------


def test_database_path_names_a_file_in_an_existing_directory(tmp_path: Path) -> None:
    assert parse(DATABASE_PATH=str(tmp_path / "bot.db")).database_path == tmp_path / "bot.db"
    home = parse(DATABASE_PATH="~/bot.db").database_path
    assert home == Path.home() / "bot.db"
    assert "directory" in only_line(refused(DATABASE_PATH=str(tmp_path)), "DATABASE_PATH")
    missing = str(tmp_path / "nowhere" / "bot.db")
    assert "does not exist" in only_line(refused(DATABASE_PATH=missing), "DATABASE_PATH")


@pytest.mark.parametrize(
    "memory", [":memory:", "file::memory:", "file:bot.db?mode=memory", "file::memory:?cache=shared"]
)
def test_an_in_memory_database_is_refused(memory: str) -> None:
    assert "in-memory" in only_line(refused(DATABASE_PATH=memory), "DATABASE_PATH")


def test_an_sqlite_uri_is_refused_as_a_database_path() -> None:
    assert "URI" in only_line(refused(DATABASE_PATH="file:bot.db"), "DATABASE_PATH")


def test_slack_api_url_is_an_http_url_ending_in_a_slash() -> None:
    gov = parse(SLACK_API_URL="https://slack-gov.com/api")
    assert gov.slack_api_url == "https://slack-gov.com/api/"
    assert parse(SLACK_API_URL="http://127.0.0.1:9/api/").slack_api_url == "http://127.0.0.1:9/api/"
    for wrong in ("slack.com/api", "ftp://slack.com/api/", "https://"):
        assert "http(s)" in only_line(refused(SLACK_API_URL=wrong), "SLACK_API_URL")


def test_a_feed_url_gives_the_archive_beside_it_in_json() -> None:
    assert parse(FEED_URL="https://example.org/news?format=rss").archive_url == (
        "https://example.org/news?format=json"
    )
    assert parse(FEED_URL="https://example.org/news?page=2").archive_url == (
        "https://example.org/news?page=2&format=json"
    )
    explicit = parse(FEED_URL="https://example.org/news", ARCHIVE_URL="https://x.org/a")
    assert explicit.archive_url == "https://x.org/a"
    assert "http(s)" in only_line(refused(ARCHIVE_URL="x.org/a"), "ARCHIVE_URL")


def test_a_local_feed_file_is_read_by_its_absolute_path_and_has_no_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "feed.rss").write_text("<rss/>")
    monkeypatch.chdir(tmp_path)
    for given in ("feed.rss", f"file://{tmp_path / 'feed.rss'}"):
        settings = parse(FEED_URL=given)
        assert settings.feed_url == str(tmp_path / "feed.rss")
        assert settings.archive_url is None


@pytest.mark.parametrize("wrong", ["missing.rss", "ftp://isscr.org/feed", "https://"])
def test_a_feed_url_that_is_neither_a_web_address_nor_a_file_is_refused(
    wrong: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    line = only_line(refused(FEED_URL=wrong), "FEED_URL")
    assert repr(wrong) in line and "https://www.isscr.org/isscr-news?format=rss" in line


# -- what a command needs ------------------------------------------------------------------------


def test_every_problem_is_reported_at_once_a_line_each_in_the_order_of_the_variables() -> None:
    error = refused(
        SLACK_BOT_TOKEN="bot-token",
        POLL_INTERVAL="often",
        ANNOUNCE_CHANNEL="#news",
        PORT="99999",
        LOG_LEVEL="loud",
        ADMIN_USER_IDS="alice",
    )
    assert error.variables == (
        "SLACK_BOT_TOKEN",
        "POLL_INTERVAL",
        "ANNOUNCE_CHANNEL",
        "PORT",
        "LOG_LEVEL",
        "ADMIN_USER_IDS",
    )
    assert str(error).splitlines() == list(error.lines)
    for variable, line in zip(error.variables, error.lines, strict=True):
        assert line.startswith(f"{variable} ") and ": " in line


def test_http_mode_ignores_an_app_token_and_socket_mode_needs_one() -> None:
    assert not Settings.from_env({"SLACK_APP_TOKEN": APP_TOKEN}, mode="http").socket_mode
    assert Settings.from_env({"SLACK_APP_TOKEN": APP_TOKEN}, mode="socket").socket_mode
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({}, mode="socket")
    assert "App-Level Tokens" in only_line(caught.value, "SLACK_APP_TOKEN")


def test_a_malformed_app_token_is_reported_once_whatever_the_mode() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"SLACK_APP_TOKEN": "wrong"}, mode="socket", require_slack=True)
    assert caught.value.variables == ("SLACK_APP_TOKEN", "SLACK_BOT_TOKEN")


def test_answering_slack_over_http_needs_the_bot_token_and_the_signing_secret() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({}, require_slack=True, serve=True)
    assert caught.value.variables == ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    assert "xoxb-" in caught.value.lines[0]
    assert "SLACK_APP_TOKEN" in caught.value.lines[1]  # the other way: Socket Mode


def test_posting_alone_needs_only_the_bot_token() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({}, require_slack=True)
    only_line(caught.value, "SLACK_BOT_TOKEN")
    assert Settings.from_env({"SLACK_BOT_TOKEN": BOT_TOKEN}, require_slack=True).slack_bot_token


def test_socket_mode_needs_no_signing_secret() -> None:
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}
    assert Settings.from_env(env, require_slack=True, serve=True).socket_mode
    parse(**env).require_slack(serve=True)  # the same check on settings already read


def test_a_malformed_bot_token_is_not_also_reported_as_missing() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"SLACK_BOT_TOKEN": "xoxp-user"}, require_slack=True)
    assert "does not start with xoxb-" in only_line(caught.value, "SLACK_BOT_TOKEN")


def test_the_archive_import_needs_an_archive_url_when_the_feed_is_a_local_file(
    tmp_path: Path,
) -> None:
    feed = tmp_path / "feed.rss"
    feed.write_text("<rss/>")
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"FEED_URL": str(feed)}, require_archive=True)
    line = only_line(caught.value, "ARCHIVE_URL")
    assert "local file" in line and "https://www.isscr.org/isscr-news?format=json" in line
    given = {"FEED_URL": str(feed), "ARCHIVE_URL": "https://www.isscr.org/isscr-news?format=json"}
    assert Settings.from_env(given, require_archive=True).archive_url == given["ARCHIVE_URL"]


def test_a_malformed_archive_url_is_not_also_reported_as_missing() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"ARCHIVE_URL": "isscr.org/news"}, require_archive=True)
    assert "not an http(s) URL" in only_line(caught.value, "ARCHIVE_URL")


def test_a_malformed_app_token_does_not_also_ask_for_a_signing_secret() -> None:
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "app-token"}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env, require_slack=True, serve=True)
    only_line(caught.value, "SLACK_APP_TOKEN")


# -- distribution mode -----------------------------------------------------------------------

KEY = "Jd7mXlN0rM3a2cW8nX4bZ6l0HkS2y5rQ8pV1tE3uYwA="  # a Fernet key (32 bytes, base64)
OLD_KEY = "q3Jm0N9xR2bV6cW1zL8kY4tH7sP5aD0eF2gU9iO3nMw="
DISTRIBUTION = {
    "SLACK_CLIENT_ID": "1111.2222",
    "SLACK_CLIENT_SECRET": "client-secret-value",
    "SLACK_SIGNING_SECRET": SIGNING,
    "TOKEN_ENCRYPTION_KEY": KEY,
}


def test_the_apps_oauth_credentials_choose_distribution_mode_over_http() -> None:
    settings = Settings.from_env(DISTRIBUTION, require_slack=True, serve=True)
    assert settings.distribution and not settings.socket_mode
    assert settings.token_keys == (KEY,)
    assert parse(SLACK_BOT_TOKEN=BOT_TOKEN).distribution is False
    # Secrets stay out of repr: the client secret and the keys.
    shown = repr(settings)
    assert "client-secret-value" not in shown and KEY not in shown
    assert "1111.2222" in shown


def test_distribution_mode_refuses_every_single_workspace_setting_in_one_run() -> None:
    error = refused(
        **DISTRIBUTION,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        ANNOUNCE_CHANNEL="C0123456789",
        ADMIN_USER_IDS="U0123ABCD",
    )
    assert error.variables == (
        "SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "ANNOUNCE_CHANNEL", "ADMIN_USER_IDS"
    )  # fmt: skip
    assert all("unset" in line for line in error.lines)
    assert "over HTTP" in error.lines[0]
    assert BOT_TOKEN not in str(error) and APP_TOKEN not in str(error)


def test_half_of_the_oauth_credentials_is_refused_naming_the_missing_one() -> None:
    line = only_line(refused(SLACK_CLIENT_ID="1111.2222"), "SLACK_CLIENT_SECRET")
    assert "its pair is" in line and "Basic Information" in line
    only_line(refused(SLACK_CLIENT_SECRET="s"), "SLACK_CLIENT_ID")


def test_distribution_mode_needs_the_key_and_the_signing_secret_to_serve() -> None:
    without = {k: v for k, v in DISTRIBUTION.items() if k not in ("TOKEN_ENCRYPTION_KEY",)}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**without, "SLACK_SIGNING_SECRET": ""}, require_slack=True, serve=True)
    assert caught.value.variables == ("TOKEN_ENCRYPTION_KEY", "SLACK_SIGNING_SECRET")
    assert "isscr-news-bot new-key" in caught.value.lines[0]
    # A one-shot poll posts but serves nothing: the key alone.
    Settings.from_env({**DISTRIBUTION, "SLACK_SIGNING_SECRET": ""}, require_slack=True)


@pytest.mark.parametrize("value", ["not-a-key", KEY[:-2], f"{KEY},short"])
def test_a_token_key_that_is_not_a_fernet_key_is_refused_without_echoing_it(value: str) -> None:
    line = only_line(refused(TOKEN_ENCRYPTION_KEY=value), "TOKEN_ENCRYPTION_KEY")
    assert "not a Fernet key" in line and "new-key" in line
    assert value not in line


def test_several_keys_are_kept_in_order_for_rotation() -> None:
    settings = parse(TOKEN_ENCRYPTION_KEY=f"{KEY}, {OLD_KEY}")
    assert settings.token_keys == (KEY, OLD_KEY)


def test_the_redirect_url_must_be_https_but_for_this_machine() -> None:
    assert parse(SLACK_REDIRECT_URI="https://news.example.org/slack/oauth_redirect")
    assert parse(SLACK_REDIRECT_URI="http://localhost:3000/slack/oauth_redirect")
    line = only_line(
        refused(SLACK_REDIRECT_URI="http://news.example.org/slack/oauth_redirect"),
        "SLACK_REDIRECT_URI",
    )
    assert "https" in line


@pytest.mark.parametrize("name", ["FEED_URL", "ARCHIVE_URL", "SLACK_API_URL", "SLACK_REDIRECT_URI"])
def test_a_url_that_cannot_be_read_is_one_line_naming_it(name: str) -> None:
    line = only_line(refused(**{name: "https://[::1/slack/oauth_redirect"}), name)
    assert "not a URL" in line


def test_socket_mode_asked_for_in_distribution_mode_says_it_runs_over_http() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(DISTRIBUTION, mode="socket")
    line = only_line(caught.value, "SLACK_CLIENT_ID")
    assert "over HTTP" in line and "--mode socket" in line


def test_half_of_the_pair_beside_a_bot_token_asks_only_for_the_missing_half() -> None:
    error = refused(SLACK_CLIENT_ID="1111.2222", SLACK_BOT_TOKEN=BOT_TOKEN)
    assert error.variables == ("SLACK_CLIENT_SECRET",), error.lines
