"""Block Kit payloads, as pure functions of plain data.

Every piece of feed or user text passes through `escape` before it reaches mrkdwn, so a title
can never ping @channel, mention a user or disguise a link: Slack only treats `<…>` as a
mention or link, and `&lt;`/`&gt;` are shown as the characters themselves.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from bot.archive import NORMAL_ENDS
from bot.marks import MARK_CLOSE, MARK_OPEN
from bot.models import CHANNEL_ID, USER_ID, Release
from bot.query import unescaped
from bot.routes import NO_CATEGORY, Changed
from bot.search import Results
from bot.store import Change, Route

EVENT_TYPE = "isscr_news_item"
READ_ACTION_ID = "read_release"
SHARE_ACTION_ID = "share_release"
PAGE_ACTION_PREFIX = "search_page_"


Block = dict[str, Any]

# Limits from https://api.slack.com/reference/block-kit
_MAX_SECTION_TEXT = 3000
_MAX_CONTEXT_TEXT = 2000
_MAX_URL = 3000
# A title is cut to this many characters as a link label, and a link longer than _MAX_LINKED_URL
# (no real one is) is left off, so a section always keeps room for the excerpt.
_MAX_TITLE = 500
_MAX_LINKED_URL = 2000

# mrkdwn cannot escape its formatting characters: where text from a feed or a member could pair
# with formatting of ours, look-alikes stand in for them.
_FORMATTING = "*_~`"
_LOOK_ALIKES = str.maketrans({"*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ"})
_CODE_AND_BOLD_LOOK_ALIKES = str.maketrans({"*": "∗", "`": "ˋ"})
_MARKED = re.compile(f"{MARK_OPEN}([^{MARK_OPEN}{MARK_CLOSE}]*){MARK_CLOSE}")


def escape(text: str) -> str:
    """Escape `&`, `<` and `>` for mrkdwn (and for `text` fields, which Slack parses alike)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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


def _pieces(text: str) -> list[str]:
    """`text` escaped, one piece per character, for `_fit`."""
    return [escape(char) for char in text]


def _fit(pieces: Sequence[str], limit: int) -> str:
    """`pieces` joined, or as many whole ones as fit in `limit` characters then "…": a cut never
    splits an entity such as `&amp;` or a bold word."""
    if sum(map(len, pieces)) <= limit:
        return "".join(pieces)
    kept, size = [], len("…")
    for piece in pieces:
        size += len(piece)
        if size > limit:
            break
        kept.append(piece)
    return "".join(kept) + "…"


def _titled(release: Release, excerpt: Sequence[str] = ()) -> str:
    """Section text: the title as a bold link, then the excerpt pieces, each cut on its own so
    that the link stays whole and the whole stays within Slack's limit."""
    label = _fit(_pieces(release.title), _MAX_TITLE)
    url = safe_url(release.link)
    text = f"*<{url}|{label}>*" if len(url) <= _MAX_LINKED_URL else f"*{label}*"
    if excerpt:
        text += "\n" + _fit(excerpt, _MAX_SECTION_TEXT - len(text) - 1)
    return text


def release_context(
    release: Release, *, extra: str | None = None, date_first: bool = False
) -> Block:
    """Categories · date · author (date first in search results, where it tells releases on
    one subject apart), as one small grey line."""
    parts = []
    if release.categories:
        parts.append(" · ".join(f"*{escape(name)}*" for name in release.categories))
    if (date := slack_date(release)) is not None:
        parts.insert(0 if date_first else len(parts), date)
    if release.author:
        parts.append(escape(release.author))
    if extra:
        parts.append(extra)
    text = "  |  ".join(parts) or "ISSCR News"
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _truncate(text, _MAX_CONTEXT_TEXT)}],
    }


def announcement_blocks(release: Release, *, with_image: bool = True) -> list[Block]:
    """An announcement: title as link, excerpt, image, labels, and a button to the site."""
    section: Block = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": _titled(release, _pieces(release.excerpt))},
    }
    if with_image and release.image_url and len(release.image_url) <= _MAX_URL:
        section["accessory"] = {
            "type": "image",
            "image_url": release.image_url,
            "alt_text": _truncate(release.title, 2000),
        }
    blocks = [section, release_context(release)]
    if len(release.link) <= _MAX_URL:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": READ_ACTION_ID,
                        "text": {"type": "plain_text", "text": "Read on isscr.org"},
                        "url": safe_url(release.link),
                        "value": release.id[:2000],
                    }
                ],
            }
        )
    return blocks


def announcement_text(release: Release) -> str:
    """The notification and screen-reader fallback for an announcement."""
    labels = ", ".join(release.categories)
    prefix = f"ISSCR {labels}" if labels else "ISSCR News"
    return escape(f"{prefix}: {release.title}")


def announcement_metadata(release: Release) -> dict[str, Any]:
    """Message metadata that lets a restart find its own post in the channel's history."""
    return {"event_type": EVENT_TYPE, "event_payload": {"item_id": release.id}}


def minimal_announcement(release: Release) -> dict[str, Any]:
    """An announcement as plain text Slack cannot reject (the title and the link, escaped and
    cut to fit), with the metadata that lets a restart find it: the last resort when Slack
    rejects the announcement's blocks."""
    title = _fit(_pieces(release.title), _MAX_TITLE)
    url = safe_url(release.link)
    text = f"{title}\n{url}" if len(url) <= _MAX_LINKED_URL else title
    return {"text": text, "metadata": announcement_metadata(release)}


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


def help_blocks(command: str) -> list[Block]:
    """Usage of the slash command, with an example of every form."""
    name = escape(command)
    text = "\n".join(
        [
            *usage_lines(command),
            "Results are only shown to you; *Share* posts one to the channel.",
            f"Admins: `{name} route #channel Category, …`, `unroute`, `routes`, `status`, "
            "`poll`, or the bot's Home tab.",
        ]
    )
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


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
    return [
        escape(char)
        for char in text.translate(_CODE_AND_BOLD_LOOK_ALIKES)
        if char not in (MARK_OPEN, MARK_CLOSE)
    ]


def _bold_edge(text: str, index: int) -> bool:
    """Whether bold may start or end next to `text[index]` (which may be past either end)."""
    if not 0 <= index < len(text):
        return True
    char = text[index]
    return char.isspace() or (
        unicodedata.category(char).startswith("P") and char not in _FORMATTING
    )


def search_blocks(results: Results, command: str) -> list[Block]:
    """A page of search results: what was asked and how many match, each release with a
    Share button, and Prev / Next buttons that replace this message."""
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
        excerpt = (
            _marked_pieces(found.marked_excerpt)
            if found.marked_excerpt
            else _pieces(release.excerpt)
        )
        blocks.append({"type": "divider"})
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _titled(release, excerpt)},
                "accessory": {
                    "type": "button",
                    "action_id": SHARE_ACTION_ID,
                    "text": {"type": "plain_text", "text": "Share"},
                    "value": release.id[:2000],
                    "accessibility_label": _truncate(f"Share {release.title} in this channel", 75),
                },
            }
        )
        blocks.append(release_context(release, date_first=True))
    buttons = []
    if results.has_previous:
        buttons.append(_page_button("◂ Prev", results, results.page - 1, "previous"))
    if results.has_next:
        buttons.append(_page_button("Next ▸", results, results.page + 1, "next"))
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


def search_text(results: Results) -> str:
    """The notification and screen-reader fallback for a page of results."""
    return escape(results.heading())


def _no_results(results: Results, command: str) -> Block:
    lines = ["Nothing matched."] if results.total == 0 else ["No more results."]
    if results.query.is_empty:
        lines = [
            "No ISSCR releases are stored yet: the first feed poll has not finished. "
            "Try again in a minute."
        ]
    lines += [f"• {escape(hint)}" for hint in results.hints]
    if results.hints:
        lines.append(f"`{escape(command)} help` shows every way to search.")
    return {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}


def _page_button(label: str, results: Results, page: int, which: str) -> Block:
    return {
        "type": "button",
        "action_id": f"{PAGE_ACTION_PREFIX}{which}",
        "text": {"type": "plain_text", "text": label},
        "value": page_value(results.text, page),
    }


def page_value(text: str, page: int) -> str:
    """What a paging button carries: the query and the page to show."""
    return json.dumps({"q": text, "p": page}, ensure_ascii=False)


def read_page_value(value: str) -> tuple[str, int] | None:
    """The query and page a paging button carries; None when `value` is not ours."""
    try:
        data = json.loads(value)
        text, page = data["q"], data["p"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(text, str) or not isinstance(page, int) or isinstance(page, bool):
        return None
    return text, page


def problem_blocks(problem: str, example: str | None = None, *, command: str) -> list[Block]:
    """A clear answer to a query that could not run, with a corrected example."""
    text = f":mag: {escape(problem)}"
    if example:
        text += f"\nTry: {escape(example)}"
    text += f"\n`{escape(command)} help` shows every way to search."
    return [{"type": "section", "text": {"type": "mrkdwn", "text": _truncate(text, 3000)}}]


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
    """The App Home tab: the latest releases and how to ask for more."""
    intro = {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": "New ISSCR press releases, policy letters and statements are announced in "
            "this workspace as they appear, and every past one can be searched from any "
            f"channel: `{escape(command)} embryo model`, "
            f"`{escape(command)} category:policy after:2024-01-01`, or "
            f"`{escape(command)} help` for every way to search.",
        },
    }
    return {"type": "home", "blocks": [*latest_blocks(releases), {"type": "divider"}, intro]}


# -- admin answers ------------------------------------------------------------------------


# What a cut must not split: <#C…>, <@U…>, <!date…>, links, &amp; (else one character).
_MRKDWN_PIECE = re.compile(r"<[^<>]*>|&[a-z]+;|.", re.DOTALL)


def text_blocks(mrkdwn: str) -> list[Block]:
    """One section of text the caller has already escaped, cut to Slack's limit between
    mentions, links, dates and entities, never through one."""
    text = _fit(_MRKDWN_PIECE.findall(mrkdwn), _MAX_SECTION_TEXT)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def categories_text(categories: Sequence[str]) -> str:
    """ "Policy and Press Release", escaped; no categories means every category."""
    if not categories:
        return "every category"
    names = [f"*{escape(name)}*" for name in categories]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def route_answer(
    channel: str, changed: Changed, *, removing: bool, membership: str | None
) -> list[Block]:
    """What a route or unroute command did, and what the admin still has to do."""
    where = f"<#{channel}>"
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
    return text_blocks(text)


def routes_table(
    routes: Sequence[Route], announce_channel: str | None, unrouted: Sequence[str] = ()
) -> list[Block]:
    """Where releases go: every route, or the fallback channel when there is none; and the
    categories that go nowhere."""
    if not routes:
        fallback = (
            f"<#{announce_channel}>"
            if announce_channel
            else "no channel (ANNOUNCE_CHANNEL is not set)"
        )
        return text_blocks(
            f"*No routes yet*: every release goes to {fallback}.\n"
            "Add one with `/isscr-news route #channel Category, …` (no categories: all)."
        )
    lines = [f"• <#{route.channel}> ← {categories_text(route.categories)}" for route in routes]
    if unrouted:
        lines.append(unrouted_note(unrouted))
    return text_blocks("*Where ISSCR news goes*\n" + "\n".join(lines))


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


def status_answer(report: dict[str, Any], per_channel: dict[str, dict[str, int]]) -> list[Block]:
    """Feed health and deliveries per channel, for admins."""
    problems = [f"⚠ {escape(problem)}" for problem in report.get("problems", ())]
    if "feed" not in report:  # the database could not be read: the problems say why
        return text_blocks("\n".join(problems))
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
    if per_channel:
        lines.append("*Deliveries*")
        lines += [
            f"• <#{channel}>: {counts['sent']} sent, {counts['waiting']} waiting, "
            f"{counts['failed']} failed"
            + (f", {counts['held']} held" if counts.get("held") else "")
            for channel, counts in sorted(per_channel.items())
        ]
    failures = report["deliveries"]["failures"]
    for failure in failures[:5]:
        lines.append(f"⚠ <#{failure['channel']}>: {escape(str(failure['error']))}")
    if failures:
        lines.append("Fix the cause, then press *Retry failed deliveries* in the App Home.")
    return text_blocks("\n".join(lines))


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
    at = int(datetime.fromisoformat(iso).timestamp())
    return f"<!date^{at}^{{date_short_pretty}} at {{time}}|{iso}>"


# -- the App Home and its forms ---------------------------------------------------------

ADD_ROUTE = "admin_add_route"
EDIT_ROUTE = "admin_edit_route"
REMOVE_ROUTE = "admin_remove_route"
POLL_NOW = "admin_poll_now"
RETRY_FAILED = "admin_retry_failed"
SEND_TRIAL = "admin_send_trial"
ANNOUNCE_HELD = "admin_announce_held"
DISCARD_HELD = "admin_discard_held"
ROUTE_FORM = "route_form"
TRIAL_FORM = "trial_form"
CHANNEL_FIELD, CATEGORIES_FIELD = "channel", "categories"
_MAX_OPTIONS = 100  # Slack's limit for a static select


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


def admin_home_view(
    *,
    routes: Sequence[Route],
    announce_channel: str | None,
    unrouted: Sequence[str],
    report: dict[str, Any],
    per_channel: dict[str, dict[str, int]],
    changes: Sequence[Change],
    releases: list[Release],
    command: str,
    notice: str | None = None,
) -> dict[str, Any]:
    """The App Home for admins: what became of their last form (`notice`, escaped mrkdwn),
    routes with Edit and Remove, health, actions, recent changes, then what members see."""
    shown: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "ISSCR News settings"}},
        *(text_blocks(notice) if notice else []),
        *(
            held_blocks(held)
            if (held := report["deliveries"].get("held")) and held["posts"]
            else []
        ),
        *routes_table(routes, announce_channel, unrouted),
    ]
    for route in routes:
        shown.append(
            {
                "type": "actions",
                "block_id": f"route:{route.channel}",
                "elements": [
                    _button("Edit", EDIT_ROUTE, route.channel),
                    _button(
                        "Remove",
                        REMOVE_ROUTE,
                        route.channel,
                        style="danger",
                        confirm={
                            "title": {"type": "plain_text", "text": "Remove this route?"},
                            "text": {
                                "type": "mrkdwn",
                                "text": f"<#{route.channel}> will stop receiving ISSCR news.",
                            },
                            "confirm": {"type": "plain_text", "text": "Remove"},
                            "deny": {"type": "plain_text", "text": "Keep"},
                        },
                    ),
                ],
            }
        )
    actions = [
        _button("Add route", ADD_ROUTE, style="primary"),
        _button("Poll now", POLL_NOW),
        _button("Send a test announcement", SEND_TRIAL),
    ]
    if report.get("deliveries", {}).get("failed"):
        actions.append(_button("Retry failed deliveries", RETRY_FAILED))
    shown.append({"type": "actions", "elements": actions})
    shown += [{"type": "divider"}, *status_answer(report, per_channel)]
    if changes:
        lines = [
            f"• <!date^{int(change.at)}^{{date_short_pretty}} {{time}}|{change.at:.0f}> "
            f"<@{change.user_id}> {escape(change.action)}: {_change_detail(change)}"
            for change in changes
            if USER_ID.match(change.user_id)
        ]
        shown += text_blocks("*Recent changes*\n" + "\n".join(lines))
    member_view = home_view(releases, command)
    return {"type": "home", "blocks": [*shown, {"type": "divider"}, *member_view["blocks"]][:100]}


def _change_detail(change: Change) -> str:
    """An audit entry's detail as mrkdwn: a leading channel ID becomes a channel link."""
    channel, colon, rest = change.detail.partition(":")
    if colon and CHANNEL_ID.match(channel):
        return f"<#{channel}>{escape(colon + rest)}"
    return escape(change.detail)


def route_form(known: Sequence[str], route: Route | None = None) -> dict[str, Any]:
    """The Add / Edit route modal: a channel and the categories it takes (none: all)."""
    channel_picker: Block = {
        "type": "conversations_select",
        "action_id": CHANNEL_FIELD,
        "placeholder": {"type": "plain_text", "text": "Choose a channel"},
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    if route is not None:
        channel_picker["initial_conversation"] = route.channel
    options = [_option(name) for name in known[:_MAX_OPTIONS]]
    categories: Block = {
        "type": "multi_static_select",
        "action_id": CATEGORIES_FIELD,
        "placeholder": {"type": "plain_text", "text": "All categories"},
    }
    if options:
        categories["options"] = options
    if route is not None and route.categories:
        categories["initial_options"] = [
            _option(name) for name in route.categories if name in known[:_MAX_OPTIONS]
        ]
    fields: list[Block] = [
        {
            "type": "input",
            "block_id": CHANNEL_FIELD,
            "label": {"type": "plain_text", "text": "Channel"},
            "element": channel_picker,
        }
    ]
    if options:
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
    return {
        "type": "modal",
        "callback_id": ROUTE_FORM,
        "private_metadata": route_form_metadata(route),
        "title": {"type": "plain_text", "text": "Edit route" if route else "Add route"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": fields,
    }


def route_form_metadata(route: Route | None) -> str:
    """Which route an Edit form is for and the version it showed (its `updated_at`), so that
    a save after another admin's change is refused; empty for the Add form."""
    if route is None:
        return ""
    return json.dumps({"channel": route.channel, "version": route.updated_at})


def read_route_form_metadata(metadata: str) -> tuple[str | None, float | None]:
    """(the channel whose route the form edits, the version it showed); (None, None) for the
    Add form. A form from before versions were recorded gives no version, so its save is
    refused as stale."""
    if not metadata:
        return None, None
    try:
        found = json.loads(metadata)
    except ValueError:
        return metadata, None  # the channel alone
    if not isinstance(found, dict) or not isinstance(found.get("channel"), str):
        return metadata, None
    version = found.get("version")
    return found["channel"], float(version) if isinstance(version, int | float) else None


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
    """A modal that only says what happened (after a save that needs a follow-up)."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title[:24]},
        "close": {"type": "plain_text", "text": "Done"},
        "blocks": text_blocks(text),
    }


def trial_blocks(release: Release, user_id: str) -> list[Block]:
    """A test announcement: the real format, marked as a test and by whom."""
    who = f"<@{user_id}>" if USER_ID.match(user_id) else "an admin"
    return [*announcement_blocks(release), _context(f"Test announcement sent by {who}")]


def _option(name: str) -> Block:
    return {"text": {"type": "plain_text", "text": name[:75]}, "value": name[:150]}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
