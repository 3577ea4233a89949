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
from bot.search.marks import MARK_CLOSE, MARK_OPEN
from bot.slack.markup import unescaped

Block = dict[str, Any]

# Limits from https://api.slack.com/reference/block-kit, always checked on the string as it is
# sent (escaped, percent-encoded), never on the text it was made from: a 363-character link
# with a CJK slug is over 3,000 characters once encoded. tests/fakes/block_kit.py checks every
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
    text = "".join(char for char in text if _shown(char)).strip()
    return truncate(text, limit) if text else otherwise


def escaped_pieces(text: str) -> Iterator[str]:
    """`text` escaped, one piece per character, for `fit` (read only as far as it keeps);
    control characters (but line breaks and tabs) and lone surrogates, which no message
    needs, are left out."""
    return (escape(char) for char in text if _shown(char))


def _shown(char: str) -> bool:
    return char in "\n\t" or unicodedata.category(char) not in ("Cc", "Cs")


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


# -- admin answers ------------------------------------------------------------------------


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


def channel_mention(channel: str) -> str:
    """A channel as mrkdwn: a link when `channel` is a channel ID; otherwise (a route saved by
    an older version from a forged form, say) its escaped text, which can mention nothing."""
    if CHANNEL_ID.fullmatch(channel):
        return f"<#{channel}>"
    return f"“{fit(escaped_pieces(channel), MAX_NAME)}” (not a channel ID)"


def categories_text(categories: Sequence[str]) -> str:
    """ "Policy and Press Release", escaped; no categories means every category."""
    if not categories:
        return "every category"
    names = [bold_name(name) or "*(no name)*" for name in categories]
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
    return said + routes_table(routes, unrouted, max_blocks=MAX_MESSAGE_BLOCKS - len(said))


def routes_table(
    routes: Sequence[Route],
    unrouted: Sequence[str] = (),
    *,
    max_blocks: int = MAX_MESSAGE_BLOCKS,
) -> list[Block]:
    """Where releases go: every route, and the categories that go nowhere (or that nothing is
    announced yet). At most `max_blocks` blocks: routes that do not fit are counted, and the
    Home tab pages through them all."""
    if not routes:
        return text_blocks(NO_ROUTES)
    lines = ["*Where ISSCR news goes*", *(f"• {route_line(route)}" for route in routes)]
    shown = line_blocks(
        lines,
        max_blocks=max_blocks - bool(unrouted),
        more=lambda left: f"… and {counted(left, 'more route')}: the Home tab shows them all.",
    )
    return shown + (text_blocks(unrouted_note(unrouted)) if unrouted else [])


NO_ROUTES = (
    "*No channel receives ISSCR news yet.* New releases are stored and searchable, but "
    "announced nowhere. Pick a channel on the app's Home, or type `/isscr-news route #channel` "
    "(every category goes there)."
)


def route_line(route: Route) -> str:
    return f"{channel_mention(route.channel)} ← {categories_text(route.categories)}"


def counted(number: int, thing: str, things: str | None = None) -> str:
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
    max_blocks: int = MAX_MESSAGE_BLOCKS,
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
        lines, max_blocks=max_blocks, more=lambda left: f"… and {counted(left, 'more channel')}."
    )


def _bad_items(label: str, bad: dict[str, Any] | None) -> list[str]:
    """Lines on items skipped or stored undated: how many, and the first few (escaped)."""
    if not bad or not bad.get("count"):
        return []
    shown = [f"*{label}*: {bad['count']:,}, skipped or stored undated"]
    return shown + [f"• {escape(truncate(str(example), 300))}" for example in bad["examples"][:3]]


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
                action_button(
                    "Announce them",
                    ANNOUNCE_HELD,
                    style="primary",
                    confirm=confirm_dialog(
                        "Announce them?",
                        f"{posts:,} {'post goes' if posts == 1 else 'posts go'} out, at most "
                        "one a second per channel.",
                        "Announce",
                    ),
                ),
                action_button(
                    "Discard them",
                    DISCARD_HELD,
                    style="danger",
                    confirm=confirm_dialog(
                        "Discard them?",
                        "They stay stored and searchable, but are never announced.",
                        "Discard",
                    ),
                ),
            ],
        },
    ]


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
            f"*Nothing posted yet:* {counted(deliveries['failed'], 'announcement')} failed "
            "(the health below says why, e.g. a private channel the app was not invited to). "
            "Fix that, then press *Retry failed deliveries*."
        )
    elif held:
        why = (
            f"*Nothing posted yet:* {counted(held, 'announcement')} held back after a flood: "
            "*Announce them* or *Discard them* above."
        )
    elif deliveries.get("pending"):
        why = (
            f"*Nothing posted yet:* {counted(deliveries['pending'], 'announcement')} on "
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
            f"“{fit(feed_pieces(latest.title), MAX_TITLE)}”."
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
            "accessory": action_button("Send a test announcement", SEND_TRIAL),
        }
    ]


def _release_day(release: Release) -> str:
    if release.published is None:
        return "an unknown day"
    at = int(release.published.timestamp())
    return f"<!date^{at}^{{date_short_pretty}}|{release.published:%Y-%m-%d}>"


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
        fields.append(
            context_block("No categories seen yet: this channel will take every category.")
        )
    if len(own) > _MAX_OPTIONS:
        fields.append(
            context_block(
                f"This route takes {len(own):,} categories; a form lists {_MAX_OPTIONS}. The "
                f"other {len(own) - _MAX_OPTIONS:,} are kept when you save: change them with "
                "`/isscr-news unroute #channel Category`."
            )
        )
    elif len(offered) > len(listed):
        fields.append(
            context_block(
                f"{counted(len(offered) - len(listed), 'more category', 'more categories')} "
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
    if 0 < len(name) <= MAX_OPTION_VALUE and not name.startswith(_DIGEST):
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
            context_block("Posts the latest release there, marked as a test."),
        ],
    }


def result_form(title: str, text: str) -> dict[str, Any]:
    """A modal that only says what happened (`text`, escaped mrkdwn)."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": plain_field(title, 24, otherwise="ISSCR News")},
        "close": {"type": "plain_text", "text": "Done"},
        "blocks": text_blocks(text),
    }


def _option(name: str) -> Block:
    return {
        "text": {"type": "plain_text", "text": plain_field(name, MAX_LABEL, otherwise="(no name)")},
        "value": category_value(name),
    }


def context_block(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
