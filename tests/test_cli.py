"""`isscr-news-bot search` in a terminal: the real CLI against a database under tmp_path."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import main
from bot.models import Release
from bot.slack.blocks.search import usage_lines
from bot.store import Store
from tests.conftest import bot_env

NIH = Release(
    id="r1",
    title="NIH Funding Letter",
    link="https://www.isscr.org/isscr-news/nih",
    published=datetime(2025, 1, 3, tzinfo=UTC),
    categories=("Policy",),
    excerpt="The ISSCR urges NIH funding.",
)
EMBRYO = Release(
    id="r2",
    title="Embryo Models",
    link="https://www.isscr.org/isscr-news/embryo",
    published=datetime(2025, 1, 2, tzinfo=UTC),
    categories=("Statement",),
    excerpt="Guidelines for embryo models.",
)
MEETINGS = [
    Release(
        id=f"m{n}",
        title=f"Annual meeting report {n}",
        link=f"https://www.isscr.org/isscr-news/meeting-{n}",
        published=datetime(2024, 1, n, tzinfo=UTC),
    )
    for n in range(1, 13)
]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    store = Store(tmp_path / "bot.db")
    store.ensure_schema()
    for release in (NIH, EMBRYO, *MEETINGS):
        store.save_release(release, source="feed", now=0.0)
    store.close()
    return bot_env(tmp_path, None, None, LOG_LEVEL="WARNING")


def search(env: dict[str, str], *words: str) -> Result:
    return CliRunner().invoke(main, ["search", *words], env=env)


def titles(result: Result) -> list[str]:
    return re.findall(r"^\d+\. (.+)$", result.output, re.MULTILINE)


def test_words_starting_with_a_dash_are_query_words_not_options(env: dict[str, str]) -> None:
    for words in (["-nih"], ["--", "-nih"], ["-nih", "--page", "1"], ["--page=1", "--nih"]):
        result = search(env, *words)
        assert result.exit_code == 0, (words, result.output)
        assert titles(result) == ["NIH Funding Letter"]


def test_page_is_still_an_option_and_exit_codes_say_what_happened(env: dict[str, str]) -> None:
    later = search(env, "-meeting", "--page", "2")
    missed = search(env, "-zebrafish")
    wrong = search(env, "category:nope")

    assert later.exit_code == 0
    assert later.output.startswith("12 releases match “-meeting”, page 2 of 2.")
    assert titles(later) == ["Annual meeting report 2", "Annual meeting report 1"]
    assert missed.exit_code == 1
    assert "No release mentions “-zebrafish”" in missed.output
    assert wrong.exit_code == 2
    assert wrong.output.count("\n") == 1


def test_the_terminal_says_how_the_words_were_read(env: dict[str, str]) -> None:
    corrected = search(env, "meetnig")
    left_out = search(env, "meeting", "zebrafish")

    assert corrected.exit_code == 0
    assert corrected.output.splitlines()[1] == (
        'Showing results for meeting. Search instead for "meetnig"'
    )
    assert titles(corrected)[0].startswith("Annual meeting report")
    assert left_out.output.splitlines()[1] == (
        "No release has every word of your search: showing those without “zebrafish”."
    )


@pytest.mark.parametrize("asked", [["help"], ["HELP"], ["-h"], ["?"]])
def test_help_prints_the_usage_and_examples_the_slash_command_gives(
    tmp_path: Path, asked: list[str]
) -> None:
    # No database needed: help never opens it.
    result = search(bot_env(tmp_path, None, None), *asked)

    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == (
        "isscr-news-bot search searches every ISSCR press release, policy letter and statement."
    )
    assert lines[1] == "• isscr-news-bot search — the 10 latest releases"
    assert lines[2] == (
        "• isscr-news-bot search embryo model — releases with every word "
        "(the last one may be unfinished: embr finds embryo)"
    )
    assert len(lines) == len(usage_lines("x")) + 1
    assert lines[-1].startswith("--page N shows later pages of 10.")
    assert "WORDS" not in result.output
    assert not (tmp_path / "bot.db").exists()


def test_a_page_out_of_range_shows_the_nearest_and_an_empty_archive_says_how_to_fill_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    first = search(env, "meeting", "--page", "0")
    last = search(env, "meeting", "--page", "99")
    assert first.exit_code == last.exit_code == 0
    assert first.output.startswith("12 releases match “meeting”, page 1 of 2.")
    assert last.output.startswith("12 releases match “meeting”, page 2 of 2.")

    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    Store(empty_dir / "bot.db").ensure_schema()
    nothing = search(bot_env(empty_dir, None, None, LOG_LEVEL="WARNING"))
    assert nothing.exit_code == 1
    assert nothing.output.splitlines() == [
        "Latest ISSCR news (0 releases stored).",
        "  - Nothing is stored yet: isscr-news-bot backfill imports the archive.",
    ]
