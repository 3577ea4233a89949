"""Block Kit payloads, as pure functions of plain data.

Every piece of feed or user text passes through `escape` before it reaches mrkdwn, so a title
can never ping @channel, mention a user or disguise a link: Slack only treats `<…>` as a
mention or link, and `&lt;`/`&gt;` are shown as the characters themselves.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from bot.ingest.archive import NORMAL_ENDS
from bot.models import CHANNEL_ID, USER_ID, Change, Release, Route
from bot.routes import NO_CATEGORY, Changed
from bot.search.engine import PAGE_SIZE
from bot.search.grammar import MAX_QUERY_CHARS
from bot.search.marks import MARK_CLOSE, MARK_OPEN, normal, stem
from bot.search.results import RANKED_AT_MOST, Hint, Results
from bot.slack.markup import unescaped

EVENT_TYPE = "isscr_news_item"
READ_ACTION_ID = "read_release"
SHARE_ACTION_ID = "share_release"
PAGE_ACTION_PREFIX = "search_page_"


Block = dict[str, Any]

# Limits from https://api.slack.com/reference/block-kit, always checked on the string as it is
# sent (escaped, percent-encoded), never on the text it was made from: a 363-character link
# with a CJK slug is over 3,000 characters once encoded. tests/fakes/block_kit.py checks every
# builder against them.
_MAX_SECTION_TEXT = 3000
_MAX_CONTEXT_TEXT = 2000
_MAX_URL = 3000  # a button's url, an image's image_url
_MAX_VALUE = 2000  # a button's value
_MAX_LABEL = 75  # a button's text and accessibility_label, an option's text
_MAX_OPTION_VALUE = 150
_MAX_CONFIRM_TEXT = 300  # a confirm dialog's text (its title 100, its buttons 30)
_MAX_ALT_TEXT = 2000
_MAX_MESSAGE_BLOCKS = 50
_MAX_VIEW_BLOCKS = 100
# A message's notification and screen-reader `text` is cut to this (Slack refuses over 40,000
# characters, and notifications show far fewer).
_MAX_FALLBACK = 3000
# A title is cut to this many characters as a link label, and a link longer than _MAX_LINKED_URL
# (no real one is) is left off, so a section always keeps room for the excerpt.
_MAX_TITLE = 500
_MAX_LINKED_URL = 2000
# A category or an author in a context line, so that one long name leaves room for the rest.
_MAX_NAME = 100
_MAX_AUTHOR = 200

# mrkdwn cannot escape its formatting characters: where text from a feed or a member could pair
# with formatting of ours, look-alikes stand in for them.
_FORMATTING = "*_~`"
_LOOK_ALIKES = str.maketrans({"*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ"})
_CODE_AND_BOLD_LOOK_ALIKES = str.maketrans({"*": "∗", "`": "ˋ"})
_WORD = re.compile(r"[^\W_]+")
_MARKED = re.compile(f"{MARK_OPEN}([^{MARK_OPEN}{MARK_CLOSE}]*){MARK_CLOSE}")


def escape(text: str) -> str:
    """Escape `&`, `<` and `>` for mrkdwn (and for `text` fields, which Slack parses alike)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fallback_text(text: str) -> str:
    """`text` (plain, perhaps quoting what a member typed) as a message's `text`: escaped, and
    cut between entities to what a notification can use, far within Slack's limit."""
    return _fit(_pieces(text), _MAX_FALLBACK)


def safe_url(url: str) -> str:
    """`url` with the characters that would end or split a `<url|label>` link percent-encoded."""
    return quote(url, safe="/:?#[]@!$&'()*+,;=%~-._")


def slack_date(release: Release) -> str | None:
    """The publication date, shown in each reader's own locale and time zone."""
    if release.published is None:
        return None
    fallback = release.published.strftime("%d %b %Y").lstrip("0")
    return f"<!date^{int(release.published.timestamp())}^{{date}}|{fallback}>"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(text: str, limit: int, *, otherwise: str) -> str:
    """A plain_text field (never parsed, so not escaped) within `limit`, never empty."""
    text = "".join(char for char in text if _shown(char)).strip()
    return _truncate(text, limit) if text else otherwise


def _pieces(text: str) -> Iterator[str]:
    """`text` escaped, one piece per character, for `_fit` (read only as far as it keeps);
    control characters (but line breaks and tabs) and lone surrogates, which no message
    needs, are left out."""
    return (escape(char) for char in text if _shown(char))


def _shown(char: str) -> bool:
    return char in "\n\t" or unicodedata.category(char) not in ("Cc", "Cs")


def _fit(pieces: Iterable[str], limit: int) -> str:
    """`pieces` joined, or as many whole ones as fit in `limit` characters then "…": a cut never
    splits an entity such as `&amp;` or a bold word. Reads no further than the cut."""
    kept: list[str] = []
    size = 0
    for piece in pieces:
        size += len(piece)
        if size > limit:
            size -= len(piece)
            while kept and size + len("…") > limit:
                size -= len(kept.pop())
            return "".join(kept) + "…"
        kept.append(piece)
    return "".join(kept)


def _titled(release: Release, excerpt: Iterable[str] = ()) -> str:
    """Section text: the title as a bold link, then the excerpt pieces, each cut on its own so
    that the link stays whole and the whole stays within Slack's limit."""
    label = _fit(_feed_pieces(release.title), _MAX_TITLE) or "(untitled)"
    url = safe_url(release.link)
    text = f"*<{url}|{label}>*" if 0 < len(url) <= _MAX_LINKED_URL else f"*{label}*"
    if rest := _fit(excerpt, _MAX_SECTION_TEXT - len(text) - 1):
        text += "\n" + rest
    return text


def release_context(release: Release, *, date_first: bool = False) -> Block:
    """Categories · date · author (date first in search results, where it tells releases on
    one subject apart), as one small grey line."""
    # Pieces that a cut keeps whole: each bold name, the date, each escaped character.
    parts: list[list[str]] = []
    names = [_bold_name(name) for name in release.categories]
    if bold := [[name] for name in names if name]:
        parts.append(_joined(bold, " · "))
    if (date := slack_date(release)) is not None:
        parts.insert(0 if date_first else len(parts), [date])
    if release.author and (author := _fit(_pieces(release.author), _MAX_AUTHOR)):
        parts.append([author])
    pieces = _joined(parts, "  |  ")
    text = _fit(pieces, _MAX_CONTEXT_TEXT) or "ISSCR News"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _bold_name(name: str) -> str:
    """A category's name in bold, escaped and cut; its own `*` and backticks become
    look-alikes, which cannot end our bold. Empty for a name with nothing to show."""
    shown = _fit(_pieces(name.translate(_CODE_AND_BOLD_LOOK_ALIKES)), _MAX_NAME)
    return f"*{shown}*" if shown else ""


def _joined(parts: Sequence[list[str]], separator: str) -> list[str]:
    """The pieces of `parts`, with `separator` between two parts."""
    return [piece for index, part in enumerate(parts) for piece in [separator][:index] + part]


def announcement_blocks(release: Release, *, with_image: bool = True) -> list[Block]:
    """An announcement: title as link, excerpt, image, labels, and a button to the site."""
    section: Block = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": _titled(release, _marked_pieces(release.excerpt))},
    }
    image_url = safe_url(release.image_url or "") if with_image else ""
    if 0 < len(image_url) <= _MAX_URL:
        section["accessory"] = {
            "type": "image",
            "image_url": image_url,
            "alt_text": _plain(release.title, _MAX_ALT_TEXT, otherwise="Cover image"),
        }
    blocks = [section, release_context(release)]
    url = safe_url(release.link)
    if 0 < len(url) <= _MAX_URL:  # else the title's link is left off too (see _titled)
        button: Block = {
            "type": "button",
            "action_id": READ_ACTION_ID,
            "text": {"type": "plain_text", "text": "Read on isscr.org"},
            "url": url,
        }
        if 0 < len(release.id) <= _MAX_VALUE:  # only informative: the button opens the link
            button["value"] = release.id
        blocks.append({"type": "actions", "elements": [button]})
    return blocks


def announcement_text(release: Release) -> str:
    """The notification and screen-reader fallback for an announcement: "ISSCR Policy: title",
    or the title alone when it starts with one of its categories already ("ISSCR Statement
    on …", never "ISSCR Statement: ISSCR Statement on …")."""
    title = release.title
    if _names_a_category_first(title, release.categories):
        # It says what it is; and who from, unless it says that too ("The ISSCR's Policy…").
        return fallback_text(title if "isscr" in _words(title, 3) else f"ISSCR: {title}")
    labels = _truncate(", ".join(release.categories), _MAX_TITLE)
    prefix = f"ISSCR {labels}" if labels else "ISSCR News"
    return fallback_text(f"{prefix}: {title}")


def trial_text(release: Release) -> str:
    """The notification of a test announcement: marked as a test from its first word."""
    return f"Test: {announcement_text(release)}"


def _words(text: str, limit: int = 12) -> list[str]:
    """The first `limit` words of `text` as compared: case and accents folded, stemmed."""
    return [stem(normal(word)) for word in _WORD.findall(text[:500])[:limit]]


def _names_a_category_first(title: str, categories: Sequence[str]) -> bool:
    """Whether `title` starts with one of `categories` (any case, singular or plural), after
    "The" or "ISSCR" / "ISSCR's"."""
    starts = [words := _words(title)]
    while words and words[0] in ("the", "isscr"):
        words = words[2:] if words[:2] == ["isscr", "s"] else words[1:]
        starts.append(words)
    names = [named for category in categories if (named := _words(category))]
    return any(start[: len(named)] == named for start in starts for named in names)


def announcement_metadata(release: Release) -> dict[str, Any]:
    """Message metadata that lets a restart find its own post in the channel's history."""
    return {"event_type": EVENT_TYPE, "event_payload": {"item_id": release.id}}


def minimal_announcement(release: Release) -> dict[str, Any]:
    """An announcement Slack cannot refuse whatever the release holds: no blocks at all, only
    the escaped title linked to the release (or alone, when the link is too long to be one),
    within every limit, with the metadata that lets a restart find it. For when Slack refuses
    the full announcement as malformed."""
    return {"text": _titled(release), "metadata": announcement_metadata(release)}


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
                "text": {"type": "mrkdwn", "text": _titled(release)},
            }
        )
        blocks.append(release_context(release))
    return blocks


def help_blocks(command: str, *, admin: bool = False) -> list[Block]:
    """Usage of the slash command, with an example of every way to search; for an `admin`,
    then the admin commands (members never see those)."""
    text = "\n".join(
        [*usage_lines(command), "Results are only shown to you; *Share* posts one to the channel."]
    )
    return text_blocks(text) + (admin_help_blocks(command) if admin else [])


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


def plain_text(mrkdwn: str) -> str:
    """Our own mrkdwn (not feed text, whose `*` may be literal) as plain text for a terminal."""
    return unescaped(mrkdwn.replace("*", "").replace("`", ""))


def marked(text: str) -> str:
    """Search text whose matched words arrive between MARK_OPEN and MARK_CLOSE, as mrkdwn with
    those words in bold; everything else escaped."""
    return "".join(_marked_pieces(text))


def _marked_pieces(text: str) -> list[str]:
    """Feed text as mrkdwn pieces (see `_feed_pieces`), its matched words (if any) in bold:
    announcements and search results show a release's text alike."""
    # Slack bolds `*word*` only at a word's edges, so a match is bold only between whitespace,
    # punctuation or the text's ends, never next to a formatting character. The feed's own `*`
    # and backticks become look-alikes: a `*` could pair with one of ours, and a code span
    # would show ours as literal asterisks. `_` and `~` stay: a bold word never touches them,
    # and bold nests inside italic or strikethrough.
    pieces: list[str] = []
    last = 0
    for match in _MARKED.finditer(text):
        pieces += _feed_pieces(text[last : match.start()])
        word = _feed_pieces(match[1])
        if word and _bold_edge(text, match.start() - 1) and _bold_edge(text, match.end()):
            pieces.append("*" + "".join(word) + "*")
        else:
            pieces += word
        last = match.end()
    return pieces + _feed_pieces(text[last:])


def _feed_pieces(text: str) -> list[str]:
    """Feed text as mrkdwn, one piece per character: escaped, its `*` and backticks shown as
    look-alikes (they could pair with our bold, or start a code span), with no control
    characters (nor search marks). Titles and excerpts of every surface are shown this way."""
    return [
        escape(char)
        for char in text.translate(_CODE_AND_BOLD_LOOK_ALIKES)
        if char not in (MARK_OPEN, MARK_CLOSE) and _shown(char)
    ]


def _bold_edge(text: str, index: int) -> bool:
    """Whether bold may start or end next to `text[index]` (which may be past either end)."""
    if not 0 <= index < len(text):
        return True
    char = text[index]
    return char.isspace() or (
        unicodedata.category(char).startswith("P") and char not in _FORMATTING
    )


def search_blocks(results: Results, command: str, channel: str | None = None) -> list[Block]:
    """A page of search results: what was asked and how many match, each release with a
    Share button (which asks before it posts in `channel`, where the search was made), and
    Prev / Next buttons that replace this message."""
    # The heading echoes the query: its formatting characters would break our bold.
    summary = f"*{escape(_truncate(results.heading(), 250)).translate(_LOOK_ALIKES)}*"
    if results.page_label:
        summary += f"  ·  {results.page_label}"
    blocks: list[Block] = [{"type": "section", "text": {"type": "mrkdwn", "text": summary}}]
    if results.note:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(results.note)}]}
        )
    if not results.found:
        blocks.append(_no_results(results, command))
        return blocks
    for found in results.found:
        release = found.release
        # The same pieces as the announcement's, but for the bold matches.
        excerpt = _marked_pieces(found.marked_excerpt or release.excerpt)
        section: Block = {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _titled(release, excerpt)},
        }
        if 0 < len(release.id) <= _MAX_VALUE:  # else the button could not name the release
            section["accessory"] = {
                "type": "button",
                "action_id": SHARE_ACTION_ID,
                "text": {"type": "plain_text", "text": "Share"},
                "value": release.id,
                "accessibility_label": _plain(
                    f"Share {release.title} in this channel", _MAX_LABEL, otherwise="Share"
                ),
                "confirm": share_confirm(release, channel),
            }
        blocks += [{"type": "divider"}, section, release_context(release, date_first=True)]
    buttons = []
    if results.has_previous:
        buttons.append(_page_button("◂ Prev", results, results.page - 1, "previous"))
    if results.has_next:
        buttons.append(_page_button("Next ▸", results, results.page + 1, "next"))
    if any(len(button["value"]) > _MAX_VALUE for button in buttons):
        blocks.append(
            _context("This search is too long to page through: shorten it to see the others.")
        )
    elif buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


def share_confirm(release: Release, channel: str | None) -> Block:
    """What Share asks before it posts: which release, in which channel, for everyone."""
    named = isinstance(channel, str) and CHANNEL_ID.fullmatch(channel)
    where = f"<#{channel}>" if named else "this conversation"
    ask = f" in {where}, where everyone can see it?"
    room = _MAX_CONFIRM_TEXT - len("Post **") - len(ask)
    title = _fit(_feed_pieces(release.title), room) or "(untitled)"
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
    return "".join(f"`{escape(text)}`" if typed else escape(text) for text, typed in hint.parts())


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
    if len(value) > _MAX_VALUE:
        return None
    try:
        data = json.loads(value)
        text, page = data["q"], data["p"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(text, str) or not isinstance(page, int) or isinstance(page, bool):
        return None
    return (text, page) if len(text) <= MAX_QUERY_CHARS and 1 <= page <= MAX_PAGE else None


def problem_blocks(problem: str, example: str | None = None, *, command: str) -> list[Block]:
    """A clear answer to a query that could not run, with a corrected example."""
    help_line = f"\n`{_fit(_pieces(command), _MAX_NAME)} help` shows every way to search."
    text = ":mag: " + _fit(_pieces(problem), _MAX_SECTION_TEXT // 2)  # room for the example
    if example:
        room = _MAX_SECTION_TEXT - len(text) - len("\nTry: ") - len(help_line)
        text += "\nTry: " + _fit(_pieces(example), room)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text + help_line}}]


def shared_blocks(release: Release, user_id: str) -> list[Block]:
    """An announcement posted because a member shared it from their search results."""
    note = {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f"Shared by {_member(user_id, 'a member')}"}],
    }
    return [*announcement_blocks(release), note]


def just_shared_text(user_id: str) -> str:
    """The answer to Share when another member shared the same release here a moment ago."""
    return f"{_member(user_id, 'Another member')} shared this release here a moment ago."


def _member(user_id: str, otherwise: str) -> str:
    # Only a real user ID becomes a mention: anything else could smuggle in <!channel>.
    return f"<@{user_id}>" if USER_ID.match(user_id) else otherwise


def home_view(releases: list[Release], command: str) -> dict[str, Any]:
    """The App Home tab: how to search, then the latest releases."""
    name = escape(command)
    how = "\n".join(
        [
            "*Search every ISSCR press release, policy letter and statement* from any "
            "channel; only you see the results, and *Share* posts one for everyone there:",
            f"• `{name} embryo model` — releases with these words",
            f"• `{name} category:policy after:2024-01-01` — one category, since a date",
            f"• `{name} help` — every way to search",
            "New releases are announced in this workspace as they appear.",
        ]
    )
    return {
        "type": "home",
        "blocks": [_section(how), {"type": "divider"}, *latest_blocks(releases)],
    }


# -- admin answers ------------------------------------------------------------------------


# What a cut must not split: <#C…>, <@U…>, <!date…>, links, &amp; (else one character).
_MRKDWN_PIECE = re.compile(r"<[^<>]*>|&[a-z]+;|.", re.DOTALL)


def text_blocks(mrkdwn: str) -> list[Block]:
    """One section of text the caller has already escaped, cut to Slack's limit between
    mentions, links, dates and entities, never through one."""
    return [_section(_fit(_mrkdwn_pieces(mrkdwn), _MAX_SECTION_TEXT))]


def _mrkdwn_pieces(mrkdwn: str) -> Iterator[str]:
    return (match.group() for match in _MRKDWN_PIECE.finditer(mrkdwn))


def line_blocks(
    lines: Sequence[str], *, max_blocks: int, more: Callable[[int], str]
) -> list[Block]:
    """Escaped mrkdwn lines in as few sections as hold them whole (a line too long for one is
    cut as by `text_blocks`), at most `max_blocks` (at least 1) of them. When the lines do not
    all fit, the last section ends with `more(how many lines were left out)`."""
    fitted = [_fit(_mrkdwn_pieces(line), _MAX_SECTION_TEXT) for line in lines]
    sections: list[list[str]] = []
    size = 0
    for line in fitted:
        if sections and size + 1 + len(line) <= _MAX_SECTION_TEXT:
            sections[-1].append(line)
            size += 1 + len(line)
            continue
        if len(sections) == max(1, max_blocks):
            break
        sections.append([line])
        size = len(line)
    else:
        return [_section("\n".join(kept)) for kept in sections]
    shown = sum(map(len, sections))
    last = sections[-1]
    while last and len("\n".join([*last, more(len(fitted) - shown)])) > _MAX_SECTION_TEXT:
        last.pop()
        shown -= 1
    last.append(more(len(fitted) - shown))
    return [_section("\n".join(kept)) for kept in sections]


def _section(mrkdwn: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def channel_mention(channel: str) -> str:
    """A channel as mrkdwn: a link when `channel` is a channel ID; otherwise (a route saved by
    an older version from a forged form, say) its escaped text, which can mention nothing."""
    if CHANNEL_ID.fullmatch(channel):
        return f"<#{channel}>"
    return f"“{_fit(_pieces(channel), _MAX_NAME)}” (not a channel ID)"


def categories_text(categories: Sequence[str]) -> str:
    """ "Policy and Press Release", escaped; no categories means every category."""
    if not categories:
        return "every category"
    names = [_bold_name(name) or "*(no name)*" for name in categories]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def route_answer(
    channel: str,
    changed: Changed,
    *,
    removing: bool,
    membership: str | None,
    routes: Sequence[Route],
    unrouted: Sequence[str],
) -> list[Block]:
    """What a route or unroute command did, what the admin still has to do, and then the
    whole table of `routes` after the change, with the categories that reach no channel."""
    where = channel_mention(channel)
    taken = categories_text(changed.route.categories if changed.route else ())
    if changed.unchanged:
        if removing:
            text = f"{where} does not receive those categories; it receives {taken}."
        else:
            text = f"{where} already receives {taken}."
    elif removing and changed.route is None:
        text = f"{where} no longer receives ISSCR news."
    elif removing:
        gone = categories_text(changed.removed)
        text = f"{where} no longer receives {gone}; it still receives {taken}."
    else:
        text = f"{where} now receives {taken}."
    if membership:
        text += " " + membership
    said = text_blocks(text)
    return said + routes_table(routes, unrouted, max_blocks=_MAX_MESSAGE_BLOCKS - len(said))


def routes_table(
    routes: Sequence[Route],
    unrouted: Sequence[str] = (),
    *,
    max_blocks: int = _MAX_MESSAGE_BLOCKS,
) -> list[Block]:
    """Where releases go: every route, and the categories that go nowhere (or that nothing is
    announced yet). At most `max_blocks` blocks: routes that do not fit are counted, and the
    Home tab pages through them all."""
    if not routes:
        return text_blocks(NO_ROUTES)
    lines = ["*Where ISSCR news goes*", *(f"• {_route_line(route)}" for route in routes)]
    shown = line_blocks(
        lines,
        max_blocks=max_blocks - bool(unrouted),
        more=lambda left: f"… and {_count(left, 'more route')}: the Home tab shows them all.",
    )
    return shown + (text_blocks(unrouted_note(unrouted)) if unrouted else [])


NO_ROUTES = (
    "*No channel receives ISSCR news yet.* New releases are stored and searchable, but "
    "announced nowhere. Pick a channel on the app's Home, or type `/isscr-news route #channel` "
    "(every category goes there)."
)


def _route_line(route: Route) -> str:
    return f"{channel_mention(route.channel)} ← {categories_text(route.categories)}"


def _count(number: int, thing: str, things: str | None = None) -> str:
    return f"{number:,} {thing if number == 1 else things or thing + 's'}"


def unrouted_note(unrouted: Sequence[str]) -> str:
    """A warning that releases only in `unrouted` categories (NO_CATEGORY: releases without
    one) are announced nowhere."""
    names = [name for name in unrouted if name != NO_CATEGORY]
    if len(names) < len(unrouted) and not names:
        return (
            "⚠ No channel takes releases without a category: they are stored and searchable "
            "but not announced. Give one channel every category to announce them."
        )
    which = categories_text(names).replace(" and ", " or ")
    if len(names) < len(unrouted):
        return (
            f"⚠ No channel takes {which}, nor releases without a category: those are stored "
            "and searchable but not announced. Route the categories to a channel, or give one "
            "channel every category."
        )
    return (
        f"⚠ No channel takes {which}: releases only in "
        f"{'that category' if len(names) == 1 else 'those'} are stored and searchable but "
        "not announced. Route them to a channel, or give one channel every category."
    )


def status_answer(
    report: dict[str, Any],
    per_channel: dict[str, dict[str, int]],
    *,
    max_blocks: int = _MAX_MESSAGE_BLOCKS,
) -> list[Block]:
    """Problems, feed health and deliveries per channel, for admins, in at most `max_blocks`
    blocks (channels that do not fit are counted). Problems and failures come before the
    counts per channel, so a long list of channels never hides them."""
    problems = [f"⚠ {escape(problem)}" for problem in report.get("problems", ())]
    if "feed" not in report:  # the database could not be read: the problems say why
        return line_blocks(problems, max_blocks=max_blocks)
    feed = report["feed"]
    error = feed["last_error"]
    lines = [
        *problems,
        f"*Feed*: last poll {when(feed['last_poll'])}, last success "
        f"{when(feed['last_success'])}"
        + (f", failing {feed['failures_in_a_row']}× in a row" if feed["failures_in_a_row"] else ""),
    ]
    if error:
        lines.append(f"*Last feed error* ({when(error['at'])}): {escape(error['reason'])}")
    lines += _bad_items("Malformed items in the feed", feed.get("bad_items"))
    lines.append(f"*Releases stored*: {report['releases']:,}")
    archive = report.get("archive") or {}
    if archive.get("state"):
        state = escape(str(archive["state"]))
        stop = archive.get("stop_reason")
        if stop and stop not in NORMAL_ENDS:
            state += f", stopped early: {escape(str(stop))}"
        lines.append(f"*Archive import*: {state}")
        lines += _bad_items("Malformed items in the archive", archive.get("bad_items"))
    held = report["deliveries"].get("held") or {}
    if held.get("posts"):
        lines.append(
            f"⚠ *Held*: {_releases(held['releases'])} not announced, waiting for an admin "
            "(*Announce them* or *Discard them* in the App Home)"
        )
    failures = report["deliveries"]["failures"]
    for failure in failures[:5]:
        lines.append(
            f"⚠ {channel_mention(str(failure['channel']))}: {escape(str(failure['error']))}"
        )
    if failures:
        lines.append("Fix the cause, then press *Retry failed deliveries* in the App Home.")
    if per_channel:
        lines.append("*Deliveries*")
        lines += [
            f"• {channel_mention(channel)}: {counts['sent']} sent, {counts['waiting']} waiting, "
            f"{counts['failed']} failed"
            + (f", {counts['held']} held" if counts.get("held") else "")
            for channel, counts in sorted(per_channel.items())
        ]
    return line_blocks(
        lines, max_blocks=max_blocks, more=lambda left: f"… and {_count(left, 'more channel')}."
    )


def _bad_items(label: str, bad: dict[str, Any] | None) -> list[str]:
    """Lines on items skipped or stored undated: how many, and the first few (escaped)."""
    if not bad or not bad.get("count"):
        return []
    shown = [f"*{label}*: {bad['count']:,}, skipped or stored undated"]
    return shown + [f"• {escape(_truncate(str(example), 300))}" for example in bad["examples"][:3]]


def _releases(count: int) -> str:
    return f"{count:,} new {'release' if count == 1 else 'releases'}"


def held_blocks(held: dict[str, Any]) -> list[Block]:
    """The admin Home's question after a flood: the held announcements, why, and the two
    answers (each asks for confirmation)."""
    posts = held["posts"]
    text = (
        f"⚠ *{_releases(held['releases'])} held*, not announced: "
        f"{escape(str(held.get('reason') or 'held by a poll'))}. Announce them, or discard "
        "them (they stay stored and searchable)?"
    )
    return [
        *text_blocks(text),
        {
            "type": "actions",
            "block_id": "held",
            "elements": [
                _button(
                    "Announce them",
                    ANNOUNCE_HELD,
                    style="primary",
                    confirm=_confirm(
                        "Announce them?",
                        f"{posts:,} {'post goes' if posts == 1 else 'posts go'} out, at most "
                        "one a second per channel.",
                        "Announce",
                    ),
                ),
                _button(
                    "Discard them",
                    DISCARD_HELD,
                    style="danger",
                    confirm=_confirm(
                        "Discard them?",
                        "They stay stored and searchable, but are never announced.",
                        "Discard",
                    ),
                ),
            ],
        },
    ]


def _confirm(title: str, text: str, confirm: str) -> Block:
    return {
        "title": {"type": "plain_text", "text": title},
        "text": {"type": "plain_text", "text": text},
        "confirm": {"type": "plain_text", "text": confirm},
        "deny": {"type": "plain_text", "text": "Cancel"},
    }


def when(iso: str | None) -> str:
    """A health report's UTC time shown in each reader's own time zone (`<!date>`)."""
    if iso is None:
        return "never"
    return local_time(datetime.fromisoformat(iso).timestamp(), fallback=iso)


def local_time(at: float, *, fallback: str | None = None) -> str:
    """A moment (seconds since the epoch) as Slack shows it in each reader's own time zone
    and language ("today at 14:02", "Nov 3 at 14:02"); `fallback` (UTC by default) where
    Slack cannot."""
    shown = fallback or datetime.fromtimestamp(at, UTC).strftime("%d %b %Y %H:%M UTC").lstrip("0")
    return f"<!date^{int(at)}^{{date_short_pretty}} at {{time}}|{escape(shown)}>"


# -- the App Home and its forms ---------------------------------------------------------

ADD_ROUTE = "admin_add_route"
EDIT_ROUTE = "admin_edit_route"
REMOVE_ROUTE = "admin_remove_route"
POLL_NOW = "admin_poll_now"
RETRY_FAILED = "admin_retry_failed"
SEND_TRIAL = "admin_send_trial"
ANNOUNCE_HELD = "admin_announce_held"
DISCARD_HELD = "admin_discard_held"
ROUTES_PREVIOUS = "admin_routes_previous"
ROUTES_NEXT = "admin_routes_next"
SETUP_CHANNEL = "admin_setup_channel"
ROUTE_FORM = "route_form"
TRIAL_FORM = "trial_form"
CHANNEL_FIELD, CATEGORIES_FIELD = "channel", "categories"
_MAX_OPTIONS = 100  # Slack's limit for a static select
# Routes shown on one page of the admins' Home, each with its Edit and Remove (two blocks):
# with the rest of the Home this stays far within a view's 100 blocks however many there are.
ROUTES_PER_PAGE = 10
# The most blocks the health section takes in the Home (3,000 characters each).
_HOME_STATUS_BLOCKS = 10


def _button(label: str, action_id: str, value: str = "", **extra: Any) -> Block:
    button: Block = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
    }
    if value:
        button["value"] = value
    button.update(extra)
    return button


def setup_blocks() -> list[Block]:
    """The admins' first step while no channel receives news: pick one, and every category
    goes there."""
    return [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": (
                    "*Set up: pick the channel that receives ISSCR news.*\n"
                    "Every new press release, policy letter and statement will be announced "
                    "there. Later you can also send single categories to other channels with "
                    "*Add route*. A public channel is joined; for a private one, type "
                    "`/invite @ISSCR News` in it first."
                ),
            },
        },
        {
            "type": "actions",
            "elements": [
                {
                    "type": "conversations_select",
                    "action_id": SETUP_CHANNEL,
                    "placeholder": {"type": "plain_text", "text": "Choose a channel"},
                    "filter": {
                        "include": ["public", "private"],
                        "exclude_bot_users": True,
                        "exclude_external_shared_channels": True,
                    },
                }
            ],
        },
    ]


def first_post_blocks(report: dict[str, Any], latest: Release | None) -> list[Block]:
    """Why nothing has been posted yet, while nothing has, with *Send a test announcement*:
    the first poll only sets a baseline, so a quiet channel after installing is expected."""
    deliveries = report.get("deliveries")
    if not deliveries or deliveries.get("sent"):
        return []
    feed = report.get("feed") or {}
    held = (deliveries.get("held") or {}).get("posts")
    if deliveries.get("failed"):
        why = (
            f"*Nothing posted yet:* {_count(deliveries['failed'], 'announcement')} failed "
            "(the health below says why, e.g. a private channel the app was not invited to). "
            "Fix that, then press *Retry failed deliveries*."
        )
    elif held:
        why = (
            f"*Nothing posted yet:* {_count(held, 'announcement')} held back after a flood: "
            "*Announce them* or *Discard them* above."
        )
    elif deliveries.get("pending"):
        why = (
            f"*Nothing posted yet:* {_count(deliveries['pending'], 'announcement')} on "
            "the way; the health below says if Slack refuses them."
        )
    elif not feed.get("last_success"):
        why = (
            "*Nothing posted yet:* the first check of the ISSCR feed has not finished; "
            "the health below says why if it fails."
        )
    else:
        newest = (
            f" The latest, from {_release_day(latest)}, is "
            f"“{_fit(_feed_pieces(latest.title), _MAX_TITLE)}”."
            if latest is not None
            else ""
        )
        why = (
            "*Nothing posted yet, as expected:* the releases already published were stored "
            "as the starting point (they are searchable) rather than announced, so a channel "
            f"is not flooded with the past. The next new release is announced as it appears."
            f"{newest}"
        )
    return [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": why},
            "accessory": _button("Send a test announcement", SEND_TRIAL),
        }
    ]


def _release_day(release: Release) -> str:
    if release.published is None:
        return "an unknown day"
    at = int(release.published.timestamp())
    return f"<!date^{at}^{{date_short_pretty}}|{release.published:%Y-%m-%d}>"


def route_pages(routes: int) -> int:
    """How many pages of ROUTES_PER_PAGE the admins' Home takes for `routes` routes."""
    return max(1, -(-routes // ROUTES_PER_PAGE))


def admin_home_view(
    *,
    routes: Sequence[Route],
    unrouted: Sequence[str],
    report: dict[str, Any],
    per_channel: dict[str, dict[str, int]],
    changes: Sequence[Change],
    releases: list[Release],
    command: str,
    notice: str | None = None,
    route_page: int = 1,
) -> dict[str, Any]:
    """The App Home for admins: what became of their last form (`notice`, escaped mrkdwn),
    a page of routes with Edit and Remove (`route_page`, from 1; "More routes" and "Previous
    routes" page through them), health, actions, recent changes, then what members see.
    Within Slack's limits whatever the number of routes and the length of their texts."""
    pages = route_pages(len(routes))
    page = min(max(1, route_page), pages)
    first = (page - 1) * ROUTES_PER_PAGE
    top: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "ISSCR News settings"}},
        *(text_blocks(notice) if notice else []),
        *(
            held_blocks(held)
            if (held := report.get("deliveries", {}).get("held")) and held["posts"]
            else []
        ),
    ]
    if not routes:
        top += setup_blocks()
    else:
        heading = "*Where ISSCR news goes*"
        shown = routes[first : first + ROUTES_PER_PAGE]
        if pages > 1:
            heading += f"  ·  routes {first + 1:,}–{first + len(shown):,} of {len(routes):,}"
        top += text_blocks(heading)
        for number, route in enumerate(shown, start=first + 1):
            top += _route_row(route, number)
        paging = []
        if page > 1:
            paging.append(_button("◂ Previous routes", ROUTES_PREVIOUS, str(page - 1)))
        if page < pages:
            paging.append(_button("More routes ▸", ROUTES_NEXT, str(page + 1)))
        if paging:
            top.append({"type": "actions", "elements": paging})
        if unrouted:
            top += text_blocks(unrouted_note(unrouted))
        top += first_post_blocks(report, releases[0] if releases else None)
    actions = [
        _button("Add route", ADD_ROUTE, style="primary"),
        _button("Poll now", POLL_NOW),
        _button("Send a test announcement", SEND_TRIAL),
    ]
    if report.get("deliveries", {}).get("failed"):
        actions.append(_button("Retry failed deliveries", RETRY_FAILED))
    recent = recent_changes_blocks(changes)
    member = home_view(releases, command)["blocks"]
    room = _MAX_VIEW_BLOCKS - len(top) - len(recent) - len(member) - 3  # actions, 2 dividers
    health = status_answer(report, per_channel, max_blocks=min(room, _HOME_STATUS_BLOCKS))
    return {
        "type": "home",
        "blocks": [
            *top,
            {"type": "actions", "elements": actions},
            {"type": "divider"},
            *health,
            *recent,
            {"type": "divider"},
            *member,
        ],
    }


def _route_row(route: Route, number: int) -> list[Block]:
    """Route `number` on the admins' Home: its channel and categories, then its own Edit and
    Remove buttons. A button's label cannot show a channel's name (plain text), so each names
    its route by number and categories for screen readers, and Remove's confirmation names
    the channel."""
    row = text_blocks(_route_line(route))
    takes = _plain(", ".join(route.categories) or "every category", _MAX_LABEL, otherwise="?")
    buttons = []
    is_channel = CHANNEL_ID.fullmatch(route.channel) is not None
    if is_channel:  # a route saved from a forged form can only be removed
        label = _plain(f"Edit route {number}: {takes}", _MAX_LABEL, otherwise="Edit route")
        buttons.append(_button("Edit", EDIT_ROUTE, route.channel, accessibility_label=label))
    if len(route.channel) <= _MAX_VALUE:
        where = channel_mention(route.channel)
        receives = categories_text(route.categories)
        text = f"{where} will stop receiving ISSCR news (today it receives {receives})."
        if len(text) > _MAX_CONFIRM_TEXT:
            text = f"{where} will stop receiving ISSCR news."
        confirm = {
            "title": {"type": "plain_text", "text": "Remove this route?"},
            "text": {"type": "mrkdwn", "text": _fit(_mrkdwn_pieces(text), _MAX_CONFIRM_TEXT)},
            "confirm": {"type": "plain_text", "text": "Remove route"},
            "deny": {"type": "plain_text", "text": "Keep it"},
            "style": "danger",
        }
        label = _plain(f"Remove route {number}: {takes}", _MAX_LABEL, otherwise="Remove route")
        buttons.append(
            _button(
                "Remove",
                REMOVE_ROUTE,
                route.channel,
                style="danger",
                confirm=confirm,
                accessibility_label=label,
            )
        )
    if buttons:
        actions: Block = {"type": "actions", "elements": buttons}
        if is_channel:
            actions["block_id"] = f"route:{route.channel}"
        row.append(actions)
    return row


def read_route_page(value: str) -> int | None:
    """The page a "More routes" / "Previous routes" button asks for; None when `value` is not
    one such a button carries."""
    if not value.isascii() or not value.isdigit() or len(value) > 6:
        return None
    return int(value) if int(value) >= 1 else None


def recent_changes_blocks(changes: Sequence[Change]) -> list[Block]:
    """The audit log's latest entries as sentences, newest first: who did what, and when in
    the reader's own time zone ("<@U1> added Policy to #policy-news (now Policy, Statement)
    — today at 14:02")."""
    if not changes:
        return []
    lines = [
        f"• {_who(change.user_id)} {_change_sentence(change)} — {local_time(change.at)}"
        for change in changes
    ]
    return text_blocks("*Recent changes*\n" + "\n".join(lines))


# The channels an audit entry names, before its sentence: "C1: added Policy to C1 (…)".
_AUDITED_CHANNELS = re.compile(r"((?:[CG][A-Z0-9]{6,} )*[CG][A-Z0-9]{6,}): ")


def _change_sentence(change: Change) -> str:
    """An audit entry's detail (a sentence without its subject, see `Store.record_change`) as
    mrkdwn: the channels it names become channel links, the rest is escaped."""
    found = _AUDITED_CHANNELS.match(change.detail)
    if found is None:
        return escape(change.detail)
    channels, rest = found[1].split(), change.detail[found.end() :]
    named = re.compile(r"\b(" + "|".join(channels) + r")\b")
    if not named.search(rest):  # written before details were sentences: "C1: route removed"
        return f"{escape(change.action)}: <#{channels[0]}>: {escape(rest)}"
    pieces = named.split(rest)  # text, channel, text, …
    return "".join(f"<#{piece}>" if n % 2 else escape(piece) for n, piece in enumerate(pieces))


def _who(user_id: str) -> str:
    """Who made a change: a member (only a whole user ID becomes a mention), or the bot
    itself (a change it made on its own, such as a route seeded from its settings)."""
    return f"<@{user_id}>" if USER_ID.fullmatch(user_id) else "The bot"


# A category whose name cannot be an option's value (over 150 characters) is named by this
# prefix and a digest of its name, which `category_for_option` finds among the known names.
_DIGEST = "sha256:"


def route_form(known: Sequence[str], route: Route | None = None) -> dict[str, Any]:
    """The Add / Edit route modal: a channel and the categories it takes (none: all).

    A select holds at most 100 options: the route's own categories are always among them (and
    chosen), then the other known ones. What does not fit is said in the form; a route's own
    categories beyond 100 are kept when it is saved (`categories_not_in_form`).
    """
    channel_picker: Block = {
        "type": "conversations_select",
        "action_id": CHANNEL_FIELD,
        "placeholder": {"type": "plain_text", "text": "Choose a channel"},
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    if route is not None and CHANNEL_ID.fullmatch(route.channel):
        channel_picker["initial_conversation"] = route.channel
    own = list(dict.fromkeys(route.categories)) if route is not None else []
    offered = list(dict.fromkeys([*own, *known]))
    listed = sorted(offered[:_MAX_OPTIONS], key=lambda name: (name.casefold(), name))
    fields: list[Block] = [
        {
            "type": "input",
            "block_id": CHANNEL_FIELD,
            "label": {"type": "plain_text", "text": "Channel"},
            "element": channel_picker,
        }
    ]
    if listed:
        categories: Block = {
            "type": "multi_static_select",
            "action_id": CATEGORIES_FIELD,
            "placeholder": {"type": "plain_text", "text": "All categories"},
            "options": [_option(name) for name in listed],
        }
        if own:
            categories["initial_options"] = [_option(name) for name in own[:_MAX_OPTIONS]]
        fields.append(
            {
                "type": "input",
                "block_id": CATEGORIES_FIELD,
                "optional": True,
                "label": {"type": "plain_text", "text": "Categories"},
                "hint": {"type": "plain_text", "text": "Leave empty for every category."},
                "element": categories,
            }
        )
    else:
        fields.append(_context("No categories seen yet: this channel will take every category."))
    if len(own) > _MAX_OPTIONS:
        fields.append(
            _context(
                f"This route takes {len(own):,} categories; a form lists {_MAX_OPTIONS}. The "
                f"other {len(own) - _MAX_OPTIONS:,} are kept when you save: change them with "
                "`/isscr-news unroute #channel Category`."
            )
        )
    elif len(offered) > len(listed):
        fields.append(
            _context(
                f"{_count(len(offered) - len(listed), 'more category', 'more categories')} "
                "than a form can list "
                f"({_MAX_OPTIONS}) exist: route one of them with "
                "`/isscr-news route #channel Category`."
            )
        )
    return {
        "type": "modal",
        "callback_id": ROUTE_FORM,
        "private_metadata": route_form_metadata(route),
        "title": {"type": "plain_text", "text": "Edit route" if route else "Add route"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": fields,
    }


def categories_not_in_form(route: Route) -> tuple[str, ...]:
    """The route's own categories its Edit form could not list (beyond a select's 100): a
    save of that form keeps them."""
    return tuple(dict.fromkeys(route.categories))[_MAX_OPTIONS:]


def category_value(name: str) -> str:
    """A category as an option's value: its name, or for a name too long to be one (or one
    that looks like a digest), the digest of the name."""
    if 0 < len(name) <= _MAX_OPTION_VALUE and not name.startswith(_DIGEST):
        return name
    return _DIGEST + hashlib.sha256(name.encode()).hexdigest()[:40]


def category_for_option(value: str, names: Iterable[str]) -> str | None:
    """The category among `names` that an option's `value` stands for; None if none does."""
    names = list(names)
    if value in names:
        return value
    if value.startswith(_DIGEST):
        return next((name for name in names if category_value(name) == value), None)
    return None


def route_form_metadata(route: Route | None) -> str:
    """Which route an Edit form is for and the version it showed (its `updated_at`), so that
    a save after another admin's change is refused; empty for the Add form."""
    if route is None:
        return ""
    return json.dumps({"channel": route.channel, "version": route.updated_at})


def read_route_form_metadata(metadata: str) -> tuple[str | None, float | None]:
    """(the channel whose route the form edits, the version it showed); (None, None) for the
    Add form. A form from before versions were recorded (the channel alone) gives no version,
    so its save is refused as stale. Raises ValueError for anything `route_form` never wrote
    (a damaged or forged form)."""
    if not metadata:
        return None, None
    if CHANNEL_ID.fullmatch(metadata):
        return metadata, None
    try:
        found = json.loads(metadata)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(found, dict) or set(found) != {"channel", "version"}:
        raise ValueError("not a route form's metadata")
    channel, version = found["channel"], found["version"]
    if not isinstance(channel, str) or not CHANNEL_ID.fullmatch(channel):
        raise ValueError("no channel ID")
    if isinstance(version, bool) or not isinstance(version, int | float):
        raise ValueError("no version")
    if not math.isfinite(version):
        raise ValueError("no version")
    return channel, float(version)


def trial_form() -> dict[str, Any]:
    """The modal asking where to send a test announcement."""
    return {
        "type": "modal",
        "callback_id": TRIAL_FORM,
        "title": {"type": "plain_text", "text": "Test announcement"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": CHANNEL_FIELD,
                "label": {"type": "plain_text", "text": "Channel"},
                "element": {
                    "type": "conversations_select",
                    "action_id": CHANNEL_FIELD,
                    "filter": {"include": ["public", "private"], "exclude_bot_users": True},
                },
            },
            _context("Posts the latest release there, marked as a test."),
        ],
    }


def result_form(title: str, text: str) -> dict[str, Any]:
    """A modal that only says what happened (`text`, escaped mrkdwn)."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": _plain(title, 24, otherwise="ISSCR News")},
        "close": {"type": "plain_text", "text": "Done"},
        "blocks": text_blocks(text),
    }


def trial_blocks(release: Release, user_id: str) -> list[Block]:
    """A test announcement: first what it is and who sent it, where everyone reads it, then
    the latest release in the real format."""
    who = f"<@{user_id}>" if USER_ID.fullmatch(user_id) else "an admin"
    note = (
        f"🧪 *Test announcement* sent by {who} — not a new release. New ISSCR releases will "
        "appear here like this:"
    )
    return [_section(note), *announcement_blocks(release)]


def _option(name: str) -> Block:
    return {
        "text": {"type": "plain_text", "text": _plain(name, _MAX_LABEL, otherwise="(no name)")},
        "value": category_value(name),
    }


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
