"""The README as a reader follows it: its console examples run and print what it shows, its
quick start is what CI runs, its pictures show today's Block Kit, and its troubleshooting quotes
the bot's own words."""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from bot.cli import COMMANDS
from bot.slack.admin import INVITE
from bot.slack.errors import explain
from bot.slack.socket_mode import TOKEN_REFUSALS

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
