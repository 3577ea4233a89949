"""The README as a reader follows it: its console examples run and print what it shows, its
quick start is what CI runs, its pictures show today's Block Kit, and its troubleshooting quotes
the bot's own words."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from slack_bolt.async_app import AsyncApp

import bot.slack.app
from bot.cli import COMMANDS
from bot.settings import Settings
from bot.slack.admin import INVITE
from bot.slack.errors import explain
from bot.slack.installations import BOT_SCOPES, INSTALL_PATH, REDIRECT_PATH
from bot.slack.socket_mode import TOKEN_REFUSALS
from standins.slack_api import SlackApi
from standins.slack_requests import send_to_slack_app
from tests.test_bot import InspectedBot, running
from tests.test_workspaces import distribution

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
# What a reader types to run the bot: the quick start's venv, or the command on their PATH.
PROGRAMS = {".venv/bin/isscr-news-bot", "isscr-news-bot"}
# The bot's log lines begin with the time (logging's default format): the one thing in an
# example's output that must vary from run to run.
LOG_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", re.MULTILINE)


def fenced(text: str, language: str) -> list[str]:
    """The contents of every ```language block of `text`, in order (a block indented in a
    list item comes out unindented)."""
    blocks = re.findall(rf"^( *)```{language}\n(.*?)^\1```$", text, re.MULTILINE | re.DOTALL)
    return [re.sub(f"^{indent}", "", body, flags=re.MULTILINE) for indent, body in blocks]


def section(title: str) -> str:
    """The README's text under the heading `title`, up to the next heading of any level (a
    `#` line inside a code block is no heading)."""
    lines: list[str] | None = None
    in_code = False
    for line in README.splitlines(keepends=True):
        heading = not in_code and line.startswith("#")
        in_code ^= line.lstrip().startswith("```")
        if heading and lines is not None:
            break
        if lines is not None:
            lines.append(line)
        elif heading and line.rstrip("\n").lstrip("# ") == title:
            lines = []
    assert lines is not None, f"the README has no section “{title}”"
    return "".join(lines)


def examples(block: str) -> list[tuple[str, str]]:
    """Each `$ command` line of a console block, with the output shown under it."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"output before any command: {line!r}"
            steps[-1][1].append(line)
    return [(command, "".join(f"{line}\n" for line in shown)) for command, shown in steps]


CONSOLE_BLOCKS = fenced(README, "console")


def run_as_typed(command: str, cwd: Path) -> str:
    """`command` as a shell runs it in `cwd`: its VAR=value words set the environment, the rest
    runs the bot's command line. Nothing else of this test's environment (no Slack token) is
    passed on. Returns stdout and stderr as a terminal shows them, interleaved."""
    words = shlex.split(command)
    settings = {}
    while words and re.match(r"^[A-Z_]+=", words[0]):
        name, _, value = words.pop(0).partition("=")
        settings[name] = value
    assert words and words[0] in PROGRAMS, (
        f"the README's console examples run only the bot: {command}"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",  # stdout and stderr in the order written, as on a terminal
        "PYTHONIOENCODING": "utf-8",
        **settings,
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", *words[1:]],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=60,
        check=False,
    )
    return done.stdout.decode()


@pytest.mark.parametrize(
    "block", CONSOLE_BLOCKS, ids=[examples(block)[0][0][:60] for block in CONSOLE_BLOCKS]
)
def test_each_console_example_prints_what_the_readme_shows(tmp_path: Path, block: str) -> None:
    # A reader's clone: the sample data where the README says, no database, an empty .env (so
    # none in a directory above is read), and nothing of this machine's settings.
    shutil.copytree(REPO / "tests" / "data", tmp_path / "tests" / "data")
    (tmp_path / ".env").write_text("")

    for command, shown in examples(block):  # in order: a search sees the poll before it
        printed = run_as_typed(command, tmp_path)
        assert LOG_TIME.sub("<time> ", printed) == LOG_TIME.sub("<time> ", shown), command


def test_the_readme_tries_search_offline_on_the_sample_data_without_a_slack_token() -> None:
    commands = [
        command
        for block in fenced(section("Try it without Slack"), "console")
        for command, _ in examples(block)
    ]

    assert any(
        "FEED_URL=tests/data/sample-feed.rss" in command and " poll --store-only" in command
        for command in commands
    ), commands
    assert any(" search " in command for command in commands), commands
    assert not any("SLACK_" in command for command in commands), commands


def test_the_quick_start_runs_the_bot_and_the_tests_as_ci_does() -> None:
    [block] = fenced(section("Quick start"), "sh")
    run_bot, run_tests = [line for line in block.splitlines() if line and line[0] != "#"]
    ci = (REPO / ".ci" / "run").read_text().splitlines()

    assert run_bot.split(" && ") == [
        "python3 -m venv .venv",
        ".venv/bin/pip install -e .",
        ".venv/bin/isscr-news-bot run",
    ]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["isscr-news-bot"] == "bot.cli:main"
    assert "run" in COMMANDS
    venv, install, test = run_tests.split(" && ")
    assert venv == "python3 -m venv .venv" and venv in ci
    assert install == ".venv/bin/pip install -e '.[test]'"
    assert any(
        re.match(r"^\.venv/bin/(pip|python -m pip) install .*-e '\.\[test\]'", line) for line in ci
    ), "CI installs the test extra into .venv as the README does"
    assert test == ".venv/bin/python -m pytest" and test in ci


def load_render_blocks() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "render_blocks", REPO / "scripts" / "render_blocks.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def png_text(path: Path) -> dict[str, str]:
    """The tEXt chunks of a PNG file."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    found, at = {}, 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        if kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            found[key.decode("latin-1")] = value.decode("latin-1")
        at += 12 + length
    return found


def test_the_readmes_pictures_show_the_block_kit_the_bot_sends_today() -> None:
    render = load_render_blocks()
    redraw = "the Block Kit changed: redraw the pictures with `python scripts/render_blocks.py`"

    for name, payload in render.payloads().items():
        drawn = render.IMAGES / f"{name}.json"
        assert f"](docs/images/{name}.png)" in README
        assert drawn.read_text() == render.payload_json(payload), redraw
        digest = png_text(render.IMAGES / f"{name}.png").get(render.PAYLOAD_KEY)
        assert digest == render.payload_hash(drawn.read_text()), redraw


def test_troubleshooting_quotes_the_bots_own_words() -> None:
    text = " ".join(section("Troubleshooting").split())

    assert f"Slack rejected SLACK_BOT_TOKEN ({explain('invalid_auth')})" in text
    app_token = (
        f"SLACK_APP_TOKEN was refused by Slack (invalid_auth): {TOKEN_REFUSALS['invalid_auth']}"
    )
    assert app_token in text
    assert explain("not_in_channel") in text
    assert INVITE in text


def test_a_name_instead_of_a_channel_id_stops_the_bot_with_the_line_the_readme_shows(
    tmp_path: Path,
) -> None:
    [shown] = [
        line
        for block in fenced(section("Troubleshooting"), "text")
        for line in block.splitlines()
        if line.startswith("isscr-news-bot: ANNOUNCE_CHANNEL")
    ]
    channel = re.search(r"is '([^']+)'", shown)
    assert channel is not None
    (tmp_path / ".env").write_text(
        f"SLACK_BOT_TOKEN=xoxb-1\nSLACK_APP_TOKEN=xapp-1\nANNOUNCE_CHANNEL={channel[1]}\n"
    )

    assert run_as_typed("isscr-news-bot run", tmp_path) == shown + "\n"


def test_every_file_the_docs_link_to_is_in_the_repository() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    missing = [
        f"{page.relative_to(REPO)} → {target}"
        for page in pages
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
        if "://" not in target and not (page.parent / target).exists()
    ]

    assert missing == []


# The manifests a reader pastes into Slack: one workspace (Socket Mode) and many (HTTP, OAuth).


def manifest(name: str) -> dict[str, Any]:
    """A manifest of the repository, as Slack reads it: JSON (a syntax error fails the test)."""
    loaded = json.loads((REPO / name).read_text())
    assert isinstance(loaded, dict), name
    return loaded


def without_urls(features: dict[str, Any]) -> dict[str, Any]:
    """`features` with the slash commands' request URLs left out (Socket Mode has none)."""
    commands = [
        {key: value for key, value in command.items() if key != "url"}
        for command in features.get("slash_commands", [])
    ]
    return {**features, "slash_commands": commands}


def test_the_distribution_manifest_is_the_apps_manifest_over_https_for_workspace_installs() -> None:
    one, many = manifest("manifest.json"), manifest("manifest.distribution.json")

    # Only the sections of Slack's manifest schema, and the same app in each.
    assert set(many) <= {"_metadata", "display_information", "features", "oauth_config", "settings"}
    assert many["_metadata"] == one["_metadata"]
    assert many["display_information"] == one["display_information"]
    assert without_urls(many["features"]) == without_urls(one["features"])
    settings = many["settings"]
    assert settings["socket_mode_enabled"] is False  # distribution mode is served over HTTP
    assert settings["org_deploy_enabled"] is False  # organisation-wide installs are refused
    assert settings["token_rotation_enabled"] is False  # the bot keeps no refresh tokens
    assert settings["interactivity"]["is_enabled"] is True


def test_both_manifests_ask_for_exactly_the_scopes_an_install_asks_for() -> None:
    for name in ("manifest.json", "manifest.distribution.json"):
        scopes = manifest(name)["oauth_config"]["scopes"]
        assert sorted(scopes["bot"]) == sorted(BOT_SCOPES), name
        assert "user" not in scopes, name  # the bot acts as itself, never as a person


class Subscribing(AsyncApp):
    """Bolt's app, unchanged, noting each event type a listener is registered for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.subscribed: set[str] = set()

    def event(self, event: Any, *args: Any, **kwargs: Any) -> Any:
        self.subscribed.add(event if isinstance(event, str) else repr(event))
        return super().event(event, *args, **kwargs)

    def message(self, *args: Any, **kwargs: Any) -> Any:
        self.subscribed.add("message")  # message.channels and the like, in a manifest
        return super().message(*args, **kwargs)


@pytest.mark.parametrize("name", ["manifest.json", "manifest.distribution.json"])
async def test_each_manifest_subscribes_to_exactly_the_events_the_bot_listens_to_in_its_mode(
    name: str,
    make_settings: Callable[..., Settings],
    slack: SlackApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings() if name == "manifest.json" else distribution(make_settings, slack)
    monkeypatch.setattr(bot.slack.app, "AsyncApp", Subscribing)

    built = InspectedBot(settings, host="127.0.0.1")  # every part, as `run` builds them
    try:
        assert isinstance(built.app, Subscribing)
        listened = built.app.subscribed
    finally:
        await built.stop()

    assert sorted(manifest(name)["settings"]["event_subscriptions"]["bot_events"]) == sorted(
        listened
    )


async def test_the_distribution_manifests_urls_and_the_install_link_are_what_the_bot_serves(
    make_settings: Callable[..., Settings], slack: SlackApi
) -> None:
    many = manifest("manifest.distribution.json")
    [command] = many["features"]["slash_commands"]
    requests = {
        command["url"],
        many["settings"]["interactivity"]["request_url"],
        many["settings"]["event_subscriptions"]["request_url"],
    }
    redirects = many["oauth_config"]["redirect_urls"]
    installs = set(re.findall(r"https://YOUR-HOST/[^\s`)]*install[^\s`)]*", README))
    assert installs, "the README gives the install link"
    assert {urlsplit(url).path for url in installs} == {INSTALL_PATH}
    # The README's Caddyfile passes these paths on to the bot.
    [proxied] = re.findall(r"reverse_proxy (/\S*) 127\.0\.0\.1:3000", README)

    async with running(distribution(make_settings, slack)) as started:
        bot_url = f"http://127.0.0.1:{started.port}"
        for url in sorted(requests | set(redirects) | installs):
            parts = urlsplit(url)
            assert (parts.scheme, parts.netloc, parts.query) == ("https", "YOUR-HOST", ""), url
            assert fnmatch.fnmatch(parts.path, proxied), url
        # Slack's first request to the request URL: it verifies that the bot answers there.
        for path in {urlsplit(url).path for url in requests}:
            body = json.dumps({"token": "x", "challenge": "c-1", "type": "url_verification"})
            answer = await send_to_slack_app(
                bot_url + path, body.encode(), content_type="application/json"
            )
            assert answer == (200, {"challenge": "c-1"}), path
        assert [urlsplit(url).path for url in redirects] == [REDIRECT_PATH]
        async with aiohttp.ClientSession() as http:
            # Slack's redirect without a code: the bot's own page saying the install failed.
            async with http.get(bot_url + REDIRECT_PATH) as redirected:
                assert redirected.status == 400
                assert "/slack/install" in await redirected.text()
            for url in installs:
                async with http.get(bot_url + urlsplit(url).path) as page:
                    assert page.status == 200, url
                    text = await page.text()
            [authorize] = re.findall(r'href="([^"]*/oauth/v2/authorize[^"]*)"', text)
            asked = parse_qs(urlsplit(authorize.replace("&amp;", "&")).query)
            assert sorted(asked["scope"][0].split(",")) == sorted(
                many["oauth_config"]["scopes"]["bot"]
            )
