"""`search`: the stored releases, as /isscr-news searches them, for a terminal."""

from __future__ import annotations

import sys

import click

from bot.cli.common import fail, load_settings, open_store
from bot.cli.terminal import terminal_text
from bot.search.engine import Search, SearchError
from bot.search.grammar import QueryError, is_help
from bot.search.results import Results
from bot.slack.blocks.common import plain_text
from bot.slack.blocks.search import usage_lines

CLI_PAGE_SIZE = 10  # results per page of `search`: a terminal has room for more than Slack


# A query word may start with "-" (`search -nih`): only --page and --help are options here.
@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("words", nargs=-1, type=click.UNPROCESSED)
# Any number: a page before the first shows the first, past the last the last, as in Slack.
@click.option("--page", default=1, show_default=True, type=int)
def search(words: tuple[str, ...], page: int) -> None:
    """Search the stored releases, as /isscr-news does (try: search help).

    WORDS use the same grammar: words, "quoted phrases", category:NAME, author:NAME,
    after:YYYY-MM-DD, before:YYYY-MM-DD. Exit status 1 when nothing matches, 2 when the
    query cannot run.
    """
    text = " ".join(words)
    if is_help(text):
        click.echo(search_usage())
        return
    settings = load_settings()
    store = open_store(settings, create=False)
    try:
        results = Search(store, page_size=CLI_PAGE_SIZE).run(text, page)
    except QueryError as error:
        fail(f"{error.problem} Try: {error.example}")
    except SearchError as error:
        fail(error)
    finally:
        store.close()
    click.echo(_results_heading(results))
    if results.note:
        click.echo(results.note)
    for adjustment in results.adjustments:
        click.echo(str(adjustment))
    for number, found in enumerate(results.found, start=(results.page - 1) * CLI_PAGE_SIZE + 1):
        click.echo()
        click.echo(terminal_text(found.release, number=number, marked=found.marked_excerpt))
    for hint in results.hints:
        click.echo(f"  - {hint}")
    if results.query.is_empty and not results.total:
        click.echo("  - Nothing is stored yet: isscr-news-bot backfill imports the archive.")
    if results.has_next:
        click.echo(f"\nMore: add --page {results.page + 1}")
    sys.exit(0 if results.total else 1)


def search_usage() -> str:
    """`search help`: the slash command's usage and examples, for the terminal."""
    lines = usage_lines("isscr-news-bot search", latest=CLI_PAGE_SIZE)
    lines.append(
        f"--page N shows later pages of {CLI_PAGE_SIZE}. Exit status: 1 when nothing matches, "
        "2 when the query cannot run."
    )
    return plain_text("\n".join(lines))


def _results_heading(results: Results) -> str:
    heading = results.heading()
    if results.page_label:
        heading += f", {results.page_label}"
    return heading + ("." if results.total or results.query.is_empty else ":")
