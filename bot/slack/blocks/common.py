"""What the Block Kit of every Slack surface shares: escaping, fitting Slack's limits, feed text
as mrkdwn, sections, buttons and dates.

Every piece of feed or user text passes through `escape` before it reaches mrkdwn, so a title
can never ping @channel, mention a user or disguise a link: Slack only treats `<…>` as a
mention or link, and `&lt;`/`&gt;` are shown as the characters themselves.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from bot.models import Release
from bot.search.marks import MARK_CLOSE, MARK_OPEN
from bot.slack.blocks.shapes import Block
from bot.slack.markup import unescaped

# Limits from https://api.slack.com/reference/block-kit, always checked on the string as it is
# sent (escaped, percent-encoded), never on the text it was made from: a 363-character link
# with a CJK slug is over 3,000 characters once encoded. standins/block_kit.py checks every
# builder against them.
MAX_SECTION_TEXT = 3000
MAX_CONTEXT_TEXT = 2000
MAX_URL = 3000  # a button's url, an image's image_url
MAX_VALUE = 2000  # a button's value
MAX_LABEL = 75  # a button's text and accessibility_label, an option's text
MAX_OPTION_VALUE = 150
MAX_CONFIRM_TEXT = 300  # a confirm dialog's text (its title 100, its buttons 30)
MAX_ALT_TEXT = 2000
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
# A message's notification and screen-reader `text` is cut to this (Slack refuses over 40,000
# characters, and notifications show far fewer).
MAX_FALLBACK = 3000
# A title is cut to this many characters as a link label, and a link longer than MAX_LINKED_URL
# (no real one is) is left off, so a section always keeps room for the excerpt.
MAX_TITLE = 500
MAX_LINKED_URL = 2000
# A category or an author in a context line, so that one long name leaves room for the rest.
MAX_NAME = 100
MAX_AUTHOR = 200

# mrkdwn cannot escape its formatting characters: where text from a feed or a member could pair
# with formatting of ours, look-alikes stand in for them.
_FORMATTING = "*_~`"
LOOK_ALIKES = str.maketrans({"*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ"})
_CODE_AND_BOLD_LOOK_ALIKES = str.maketrans({"*": "∗", "`": "ˋ"})
_MARKED = re.compile(f"{MARK_OPEN}([^{MARK_OPEN}{MARK_CLOSE}]*){MARK_CLOSE}")


def escape(text: str) -> str:
    """Escape `&`, `<` and `>` for mrkdwn (and for `text` fields, which Slack parses alike)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fallback_text(text: str) -> str:
    """`text` (plain, perhaps quoting what a member typed) as a message's `text`: escaped, and
    cut between entities to what a notification can use, far within Slack's limit."""
    return fit(escaped_pieces(text), MAX_FALLBACK)


def safe_url(url: str) -> str:
    """`url` with the characters that would end or split a `<url|label>` link percent-encoded."""
    return quote(url, safe="/:?#[]@!$&'()*+,;=%~-._")


def slack_date(release: Release) -> str | None:
    """The publication date, shown in each reader's own locale and time zone."""
    if release.published is None:
        return None
    fallback = release.published.strftime("%d %b %Y").lstrip("0")
    return f"<!date^{int(release.published.timestamp())}^{{date}}|{fallback}>"


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain_field(text: str, limit: int, *, otherwise: str) -> str:
    """A plain_text field (never parsed, so not escaped) within `limit`, never empty."""
    text = _HIDDEN.sub("", text).strip()
    return truncate(text, limit) if text else otherwise


def escaped_pieces(text: str) -> Iterator[str]:
    """`text` escaped, one piece per character, for `fit` (read only as far as it keeps);
    control characters (but line breaks and tabs) and lone surrogates, which no message
    needs, are left out."""
    return (_ENTITIES.get(char, char) for char in _HIDDEN.sub("", text))


# Control characters (Unicode's Cc) but tabs and line breaks, and lone surrogates (Cs).
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def fit(pieces: Iterable[str], limit: int) -> str:
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


def titled(release: Release, excerpt: Iterable[str] = ()) -> str:
    """Section text: the title as a bold link, then the excerpt pieces, each cut on its own so
    that the link stays whole and the whole stays within Slack's limit."""
    label = fit(feed_pieces(release.title), MAX_TITLE) or "(untitled)"
    url = safe_url(release.link)
    text = f"*<{url}|{label}>*" if 0 < len(url) <= MAX_LINKED_URL else f"*{label}*"
    if rest := fit(excerpt, MAX_SECTION_TEXT - len(text) - 1):
        text += "\n" + rest
    return text


def release_context(release: Release, *, date_first: bool = False) -> Block:
    """Categories · date · author (date first in search results, where it tells releases on
    one subject apart), as one small grey line."""
    # Pieces that a cut keeps whole: each bold name, the date, each escaped character.
    parts: list[list[str]] = []
    names = [bold_name(name) for name in release.categories]
    if bold := [[name] for name in names if name]:
        parts.append(_joined(bold, " · "))
    if (date := slack_date(release)) is not None:
        parts.insert(0 if date_first else len(parts), [date])
    if release.author and (author := fit(escaped_pieces(release.author), MAX_AUTHOR)):
        parts.append([author])
    pieces = _joined(parts, "  |  ")
    text = fit(pieces, MAX_CONTEXT_TEXT) or "ISSCR News"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def bold_name(name: str) -> str:
    """A category's name in bold, escaped and cut; its own `*` and backticks become
    look-alikes, which cannot end our bold. Empty for a name with nothing to show."""
    shown = fit(escaped_pieces(name.translate(_CODE_AND_BOLD_LOOK_ALIKES)), MAX_NAME)
    return f"*{shown}*" if shown else ""


def _joined(parts: Sequence[list[str]], separator: str) -> list[str]:
    """The pieces of `parts`, with `separator` between two parts."""
    return [piece for index, part in enumerate(parts) for piece in [separator][:index] + part]


def plain_text(mrkdwn: str) -> str:
    """Our own mrkdwn (not feed text, whose `*` may be literal) as plain text for a terminal."""
    return unescaped(mrkdwn.replace("*", "").replace("`", ""))


def marked(text: str) -> str:
    """Search text whose matched words arrive between MARK_OPEN and MARK_CLOSE, as mrkdwn with
    those words in bold; everything else escaped."""
    return "".join(marked_pieces(text))


def marked_pieces(text: str) -> list[str]:
    """Feed text as mrkdwn pieces (see `feed_pieces`), its matched words (if any) in bold:
    announcements and search results show a release's text alike."""
    # Slack bolds `*word*` only at a word's edges, so a match is bold only between whitespace,
    # punctuation or the text's ends, never next to a formatting character. The feed's own `*`
    # and backticks become look-alikes: a `*` could pair with one of ours, and a code span
    # would show ours as literal asterisks. `_` and `~` stay: a bold word never touches them,
    # and bold nests inside italic or strikethrough.
    pieces: list[str] = []
    last = 0
    for match in _MARKED.finditer(text):
        pieces += feed_pieces(text[last : match.start()])
        word = feed_pieces(match[1])
        if word and _bold_edge(text, match.start() - 1) and _bold_edge(text, match.end()):
            pieces.append("*" + "".join(word) + "*")
        else:
            pieces += word
        last = match.end()
    return pieces + feed_pieces(text[last:])


def feed_pieces(text: str) -> list[str]:
    """Feed text as mrkdwn, one piece per character: escaped, its `*` and backticks shown as
    look-alikes (they could pair with our bold, or start a code span), with no control
    characters (nor search marks). Titles and excerpts of every surface are shown this way."""
    # The search marks are control characters: left out with the others.
    shown = _HIDDEN.sub("", text.translate(_CODE_AND_BOLD_LOOK_ALIKES))
    return [_ENTITIES.get(char, char) for char in shown]


def _bold_edge(text: str, index: int) -> bool:
    """Whether bold may start or end next to `text[index]` (which may be past either end)."""
    if not 0 <= index < len(text):
        return True
    char = text[index]
    return char.isspace() or (
        unicodedata.category(char).startswith("P") and char not in _FORMATTING
    )


# What a cut must not split: <#C…>, <@U…>, <!date…>, links, &amp; (else one character).
_MRKDWN_PIECE = re.compile(r"<[^<>]*>|&[a-z]+;|.", re.DOTALL)


def text_blocks(mrkdwn: str) -> list[Block]:
    """One section of text the caller has already escaped, cut to Slack's limit between
    mentions, links, dates and entities, never through one."""
    return [section_block(fit(mrkdwn_pieces(mrkdwn), MAX_SECTION_TEXT))]


def mrkdwn_pieces(mrkdwn: str) -> Iterator[str]:
    return (match.group() for match in _MRKDWN_PIECE.finditer(mrkdwn))


def line_blocks(
    lines: Sequence[str], *, max_blocks: int, more: Callable[[int], str]
) -> list[Block]:
    """Escaped mrkdwn lines in as few sections as hold them whole (a line too long for one is
    cut as by `text_blocks`), at most `max_blocks` (at least 1) of them. When the lines do not
    all fit, the last section ends with `more(how many lines were left out)`."""
    fitted = [fit(mrkdwn_pieces(line), MAX_SECTION_TEXT) for line in lines]
    sections: list[list[str]] = []
    size = 0
    for line in fitted:
        if sections and size + 1 + len(line) <= MAX_SECTION_TEXT:
            sections[-1].append(line)
            size += 1 + len(line)
            continue
        if len(sections) == max(1, max_blocks):
            break
        sections.append([line])
        size = len(line)
    else:
        return [section_block("\n".join(kept)) for kept in sections]
    shown = sum(map(len, sections))
    last = sections[-1]
    while last and len("\n".join([*last, more(len(fitted) - shown)])) > MAX_SECTION_TEXT:
        last.pop()
        shown -= 1
    last.append(more(len(fitted) - shown))
    return [section_block("\n".join(kept)) for kept in sections]


def section_block(mrkdwn: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def counted(number: int, thing: str, things: str | None = None) -> str:
    return f"{number:,} {thing if number == 1 else things or thing + 's'}"


def confirm_dialog(title: str, text: str, confirm: str) -> Block:
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


def action_button(label: str, action_id: str, value: str = "", **extra: Any) -> Block:
    button: Block = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
    }
    if value:
        button["value"] = value
    button.update(extra)
    return button


def context_block(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
