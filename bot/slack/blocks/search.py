"""What a member sees of `/isscr-news`: a page of results with Share and paging buttons, the
latest releases, the usage and help, and the answer to a query that could not run."""

from __future__ import annotations

import json
from collections.abc import Iterator

from bot.models import CHANNEL_ID, Release
from bot.search.engine import PAGE_SIZE
from bot.search.grammar import MAX_QUERY_CHARS, Hint
from bot.search.results import RANKED_AT_MOST, Results
from bot.slack.blocks.alerts import alerts_help_blocks
from bot.slack.blocks.common import (
    LOOK_ALIKES,
    MAX_CONFIRM_TEXT,
    MAX_LABEL,
    MAX_NAME,
    MAX_SECTION_TEXT,
    MAX_VALUE,
    context_block,
    escape,
    escaped_pieces,
    fallback_text,
    feed_pieces,
    fit,
    marked_pieces,
    plain_field,
    release_context,
    text_blocks,
    titled,
    truncate,
)
from bot.slack.blocks.shapes import Block

SHARE_ACTION_ID = "share_release"
PAGE_ACTION_PREFIX = "search_page_"


def latest_blocks(releases: list[Release]) -> list[Block]:
    """A compact list of releases (for `/isscr-news` with no words)."""
    if not releases:
        return [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "No ISSCR releases stored yet: the first feed poll has not finished. "
                    "Try again in a minute.",
                },
            }
        ]
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Latest ISSCR news"}}
    ]
    for release in releases:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": titled(release)},
            }
        )
        blocks.append(release_context(release))
    return blocks


def help_blocks(command: str, *, admin: bool = False) -> list[Block]:
    """Usage of the slash command, with an example of every way to search, then of alerts;
    for an `admin`, then the admin commands (members never see those)."""
    text = "\n".join(
        [*usage_lines(command), "Results are only shown to you; *Share* posts one to the channel."]
    )
    alerts = alerts_help_blocks(command)
    return text_blocks(text) + alerts + (admin_help_blocks(command) if admin else [])


def admin_help_blocks(command: str) -> list[Block]:
    """The admin commands of `command`, for admins only."""
    name = escape(command)
    return text_blocks(
        "\n".join(
            [
                "*Admins* (you are one) can also choose where news goes, here or in the app's "
                "Home tab:",
                f"• `{name} route #channel Category, …` — send those categories to a channel "
                "(no categories: every one)",
                f"• `{name} unroute #channel Category` — stop sending one (no category: stop "
                "sending anything)",
                f"• `{name} digest #channel weekly monday 9:00` — one message a week (or "
                "`daily 17:00`) listing the new releases, at that hour of your time zone; "
                "`immediate` posts each as it appears again",
                f"• `{name} routes` — where each category goes",
                f"• `{name} status` — the feed's health and the deliveries per channel",
                f"• `{name} poll` — read the feed now",
            ]
        )
    )


def usage_lines(command: str, *, latest: int = 5) -> list[str]:
    """What `command` searches and an example of every form, as mrkdwn lines; the slash
    command's help and the CLI's `search help` both show them."""
    name = escape(command)
    return [
        f"*{name}* searches every ISSCR press release, policy letter and statement.",
        f"• `{name}` — the {latest} latest releases",
        f"• `{name} embryo model` — releases with every word (the last one may be "
        "unfinished: `embr` finds embryo)",
        f'• `{name} "stem cell tourism"` — words in this order',
        f'• `{name} category:policy` or `category:"press release"` — one category '
        "(repeat it for either of two)",
        f"• `{name} after:2024-01-01 before:2025-01-01` — published on or after / before a "
        "date (YYYY-MM-DD, days in UTC; YYYY-MM or YYYY also work)",
        f"• `{name} author:kilbourne` — by an author (part of the name is enough)",
        f"• `{name} guidelines category:statement after:2023` — any mix of the above",
        f"• `{name} help` — this message",
    ]


def search_blocks(results: Results, command: str, channel: str | None = None) -> list[Block]:
    """A page of search results: what was asked and how many match, each release with a
    Share button (which asks before it posts in `channel`, where the search was made), and
    Prev / Next buttons that replace this message."""
    # The heading echoes the query: its formatting characters would break our bold.
    summary = f"*{escape(truncate(results.heading(), 250)).translate(LOOK_ALIKES)}*"
    if results.page_label:
        summary += f"  ·  {results.page_label}"
    blocks: list[Block] = [{"type": "section", "text": {"type": "mrkdwn", "text": summary}}]
    if results.note:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(results.note)}]}
        )
    blocks += _read_as(results)
    if not results.found:
        blocks.append(_no_results(results, command))
        return blocks
    for found in results.found:
        release = found.release
        # The same pieces as the announcement's, but for the bold matches.
        excerpt = marked_pieces(found.marked_excerpt or release.excerpt)
        section: Block = {
            "type": "section",
            "text": {"type": "mrkdwn", "text": titled(release, excerpt)},
        }
        if 0 < len(release.id) <= MAX_VALUE:  # else the button could not name the release
            section["accessory"] = {
                "type": "button",
                "action_id": SHARE_ACTION_ID,
                "text": {"type": "plain_text", "text": "Share"},
                "value": release.id,
                "accessibility_label": plain_field(
                    f"Share {release.title} in this channel", MAX_LABEL, otherwise="Share"
                ),
                "confirm": share_confirm(release, channel),
            }
        blocks += [{"type": "divider"}, section, release_context(release, date_first=True)]
    buttons = []
    if results.has_previous:
        buttons.append(_page_button("◂ Prev", results, results.page - 1, "previous"))
    if results.has_next:
        buttons.append(_page_button("Next ▸", results, results.page + 1, "next"))
    if any(len(button["value"]) > MAX_VALUE for button in buttons):
        blocks.append(
            context_block("This search is too long to page through: shorten it to see the others.")
        )
    elif buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


def _read_as(results: Results) -> list[Block]:
    """How the query was read when not as typed (words corrected or left out), and a button
    that searches the words as typed instead."""
    if not results.adjustments:
        return []
    pieces = (
        piece
        for index, hint in enumerate(results.adjustments)
        for piece in (["\n"] if index else []) + list(_hint_pieces(hint))
    )
    text = fit(pieces, MAX_SECTION_TEXT)
    blocks: list[Block] = [{"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}]
    instead = results.instead
    if instead is not None and len(value := page_value(instead, 1)) <= MAX_VALUE:
        label = plain_field(f"Search for {instead}", MAX_LABEL, otherwise="Search as typed")
        button = {
            "type": "button",
            "action_id": f"{PAGE_ACTION_PREFIX}instead",
            "text": {"type": "plain_text", "text": label},
            "value": value,
        }
        blocks.append({"type": "actions", "elements": [button]})
    return blocks


def share_confirm(release: Release, channel: str | None) -> Block:
    """What Share asks before it posts: which release, in which channel, for everyone."""
    named = isinstance(channel, str) and CHANNEL_ID.fullmatch(channel)
    where = f"<#{channel}>" if named else "this conversation"
    ask = f" in {where}, where everyone can see it?"
    room = MAX_CONFIRM_TEXT - len("Post **") - len(ask)
    title = fit(feed_pieces(release.title), room) or "(untitled)"
    return {
        "title": {"type": "plain_text", "text": "Share this release?"},
        "text": {"type": "mrkdwn", "text": f"Post *{title}*{ask}"},
        "confirm": {"type": "plain_text", "text": "Share"},
        "deny": {"type": "plain_text", "text": "Cancel"},
    }


def search_text(results: Results) -> str:
    """The notification and screen-reader fallback for a page of results."""
    return fallback_text(results.heading())


def _no_results(results: Results, command: str) -> Block:
    lines = ["Nothing matched."] if results.total == 0 else ["No more results."]
    if results.query.is_empty:
        lines = [
            "No ISSCR releases are stored yet: the first feed poll has not finished. "
            "Try again in a minute."
        ]
    lines += [f"• {_hint(hint)}" for hint in results.hints]
    if results.hints:
        lines.append(f"`{escape(command)} help` shows every way to search.")
    [section] = text_blocks("\n".join(lines))
    return section


def _hint(hint: Hint) -> str:
    """A search hint as mrkdwn: what to do escaped, what to type as code."""
    return "".join(_hint_pieces(hint))


def _hint_pieces(hint: Hint) -> Iterator[str]:
    """A hint as mrkdwn pieces, for `fit`: what to do a character at a time, what to type a
    code span at a time (a cut never leaves a code span open)."""
    for text, typed in hint.parts():
        if typed:
            yield f"`{escape(text)}`"
        else:
            yield from escaped_pieces(text)


def _page_button(label: str, results: Results, page: int, which: str) -> Block:
    return {
        "type": "button",
        "action_id": f"{PAGE_ACTION_PREFIX}{which}",
        "text": {"type": "plain_text", "text": label},
        "value": page_value(results.text, page),
    }


# The most pages a search has: results beyond RANKED_AT_MOST are never shown.
MAX_PAGE = -(-RANKED_AT_MOST // PAGE_SIZE)


def page_value(text: str, page: int) -> str:
    """What a paging button carries: the query and the page to show (longer than a button's
    value may be for a very long query: then the page has no buttons)."""
    return json.dumps({"q": text, "p": page}, ensure_ascii=False)


def read_page_value(value: str) -> tuple[str, int] | None:
    """The query and page a paging button carries; None when `value` is not one a page of
    results can carry (not ours, too long, or a page no search has)."""
    if len(value) > MAX_VALUE:
        return None
    try:
        data = json.loads(value)
        text, page = data["q"], data["p"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(text, str) or not isinstance(page, int) or isinstance(page, bool):
        return None
    return (text, page) if len(text) <= MAX_QUERY_CHARS and 1 <= page <= MAX_PAGE else None


def problem_blocks(problem: str, example: Hint | None = None, *, command: str) -> list[Block]:
    """A clear answer to a query that could not run, with a corrected example."""
    help_line = f"\n`{fit(escaped_pieces(command), MAX_NAME)} help` shows every way to search."
    text = ":mag: " + fit(escaped_pieces(problem), MAX_SECTION_TEXT // 2)  # room for the example
    if example:
        room = MAX_SECTION_TEXT - len(text) - len("\nTry: ") - len(help_line)
        text += "\nTry: " + fit(_hint_pieces(example), room)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text + help_line}}]
