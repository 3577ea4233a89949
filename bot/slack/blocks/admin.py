"""What admins see: the routes table and the answers to route and unroute, the bot's health,
held announcements, recent changes, and the setup and first-post cards of their Home."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.models import CHANNEL_ID, MEMBERS, NORMAL_ENDS, USER_ID, Change, Release, Route
from bot.routes import NO_CATEGORY, Changed
from bot.schedule import delivery_words, describe
from bot.slack.blocks.common import (
    MAX_MESSAGE_BLOCKS,
    MAX_NAME,
    MAX_TITLE,
    action_button,
    bold_name,
    confirm_dialog,
    counted,
    escape,
    escaped_pieces,
    feed_pieces,
    fit,
    line_blocks,
    local_time,
    slack_date,
    text_blocks,
    truncate,
    when,
)
from bot.slack.blocks.shapes import Block

ADD_ROUTE = "admin_add_route"
EDIT_ROUTE = "admin_edit_route"
REMOVE_ROUTE = "admin_remove_route"
POLL_NOW = "admin_poll_now"
RETRY_FAILED = "admin_retry_failed"
SEND_TRIAL = "admin_send_trial"
ANNOUNCE_HELD = "admin_announce_held"
DISCARD_HELD = "admin_discard_held"
APPLY_CORRECTIONS = "admin_apply_corrections"
SKIP_CORRECTIONS = "admin_skip_corrections"
ROUTES_PREVIOUS = "admin_routes_previous"
ROUTES_NEXT = "admin_routes_next"
SETUP_CHANNEL = "admin_setup_channel"


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
        if changed.dropped:
            text += (
                f" The {_releases_waiting(changed.dropped)} for its digest will not be sent "
                "(they stay searchable)."
            )
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
    """A route as a line of the table: its channel, its categories and, for a digest, when."""
    line = f"{channel_mention(route.channel)} ← {categories_text(route.categories)}"
    if route.schedule is not None:
        line += f" · {escape(describe(route.schedule))}"
    return line


def schedule_answer(
    channel: str,
    changed: Changed,
    *,
    next_at: float | None,
    guessed_tz: bool,
    routes: Sequence[Route],
    unrouted: Sequence[str],
) -> list[Block]:
    """What a digest command did (`next_at`: when the next digest is due), then the whole
    table of `routes`. `guessed_tz`: Slack did not say the admin's time zone, so UTC."""
    where = channel_mention(channel)
    schedule = changed.route.schedule if changed.route else None
    how = escape(delivery_words(schedule))
    text = f"{where} {'already' if changed.unchanged else 'now'} gets {how}."
    if next_at is not None:
        text += f" The next goes out {local_time(next_at)} if anything new has come by then."
    if changed.last_digest:
        text += " " + last_digest_note(changed.last_digest)
    if guessed_tz and schedule is not None and not changed.unchanged:
        text += " (Slack did not tell me your time zone, so the hour is in UTC.)"
    said = text_blocks(text)
    return said + routes_table(routes, unrouted, max_blocks=MAX_MESSAGE_BLOCKS - len(said))


def route_saved_notice(channel: str, categories: Sequence[str], changed: Changed) -> str:
    """What the Home says once a route form is saved: what the channel receives, and how."""
    notice = f"Route saved: {channel_mention(channel)} receives {categories_text(categories)}"
    schedule = changed.route.schedule if changed.route is not None else None
    notice += f", in a {escape(describe(schedule))}." if schedule is not None else "."
    if changed.last_digest:
        notice += " " + last_digest_note(changed.last_digest)
    return notice


def last_digest_note(count: int) -> str:
    """That `count` releases collected for a channel that went back to immediate are sent
    now, in a last digest."""
    return f"The {_releases_waiting(count)} for its digest go out now, in a last digest."


def _releases_waiting(count: int) -> str:
    return f"{count:,} {'release' if count == 1 else 'releases'} waiting"


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
    report: Mapping[str, Any],
    per_channel: dict[str, dict[str, int]],
    *,
    max_blocks: int = MAX_MESSAGE_BLOCKS,
) -> list[Block]:
    """Problems, feed health and deliveries per channel, for admins, in at most `max_blocks`
    blocks (channels that do not fit are counted). Problems and failures come before the
    counts per channel, so a long list of channels never hides them."""
    problems = [f"⚠ {escape(problem)}" for problem in report.get("problems", ())]
    if "feed" not in report:  # the database could not be read: the problems say why
        return line_blocks(
            problems,
            max_blocks=max_blocks,
            more=lambda left: f"… and {counted(left, 'more problem')}.",
        )
    lines = [
        *problems,
        *_source_lines(report),
        *_personal_lines(report),
        *_delivery_lines(report["deliveries"], per_channel),
    ]
    return line_blocks(
        lines, max_blocks=max_blocks, more=lambda left: f"… and {counted(left, 'more channel')}."
    )


def _source_lines(report: Mapping[str, Any]) -> list[str]:
    """The feed's health, the releases stored and the archive import, as mrkdwn lines."""
    feed = report["feed"]
    error = feed["last_error"]
    lines = [
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
    return lines


def _personal_lines(report: Mapping[str, Any]) -> list[str]:
    """Members' alerts (counts only: their queries are theirs) and the digests, as mrkdwn
    lines; none for what nobody uses."""
    lines = []
    alerts = report.get("alerts") or {}
    if alerts.get("alerts"):
        line = (
            f"*Members' alerts*: {counted(alerts['alerts'], 'alert')} of "
            f"{counted(alerts['members'], 'member')}"
        )
        if alerts.get("paused"):
            line += f" ({counted(alerts['paused'], 'member')} who cannot be messaged, paused)"
        lines.append(line)
    digests = report.get("digests") or {}
    modes = digests.get("routes") or {}
    if modes.get("daily") or modes.get("weekly"):
        line = (
            f"*Digests*: {counted(modes.get('daily', 0), 'daily channel')}, "
            f"{counted(modes.get('weekly', 0), 'weekly channel')}; "
            f"{counted(digests.get('waiting', 0), 'release')} waiting"
        )
        if digests.get("next"):
            line += f", the next digest {when(digests['next'])}"
        lines.append(line)
    return lines


def _delivery_lines(
    deliveries: dict[str, Any], per_channel: dict[str, dict[str, int]]
) -> list[str]:
    """What waits for an admin (held announcements, failures), then the deliveries per
    channel, as mrkdwn lines."""
    lines = []
    held = deliveries.get("held") or {}
    if held.get("posts"):
        lines.append(
            f"⚠ *Held*: {_releases(held['releases'])} not announced, waiting for an admin "
            "(*Announce them* or *Discard them* in the App Home)"
        )
    failures = deliveries["failures"]
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
    return lines


def _bad_items(label: str, bad: dict[str, Any] | None) -> list[str]:
    """Lines on items skipped or stored undated: how many, and the first few (escaped)."""
    if not bad or not bad.get("count"):
        return []
    shown = [f"*{label}*: {bad['count']:,}, skipped or stored undated"]
    return shown + [f"• {escape(truncate(str(example), 300))}" for example in bad["examples"][:3]]


def _releases(count: int) -> str:
    return f"{count:,} new {'release' if count == 1 else 'releases'}"


def held_corrections_blocks(held: dict[str, Any]) -> list[Block]:
    """The admin Home's question after a mass correction: the releases whose posted messages
    were not updated, why, and the two answers (each asks for confirmation)."""
    posts = held["posts"]
    text = (
        f"⚠ *Corrections of {counted(held['releases'], 'release')} held*, their posted "
        f"messages not updated: {escape(str(held.get('reason') or 'held by a poll'))}. Update "
        "the messages, or leave them as they are?"
    )
    messages = f"{posts:,} {'message' if posts == 1 else 'messages'}"
    return [
        *text_blocks(text),
        {
            "type": "actions",
            "block_id": "held_corrections",
            "elements": [
                action_button(
                    "Update them",
                    APPLY_CORRECTIONS,
                    style="primary",
                    confirm=confirm_dialog(
                        "Update them?",
                        f"{messages} already posted will show the releases as the feed has "
                        "them now.",
                        "Update",
                    ),
                ),
                action_button(
                    "Leave them",
                    SKIP_CORRECTIONS,
                    confirm=confirm_dialog(
                        "Leave them?",
                        f"{messages} keep what they showed; later corrections still apply.",
                        "Leave them",
                    ),
                ),
            ],
        },
    ]


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


def _next_release(report: Mapping[str, Any]) -> str:
    """What becomes of the next new release: announced at once, or in a digest."""
    modes = (report.get("digests") or {}).get("routes") or {}
    if not modes.get("immediate") and (modes.get("daily") or modes.get("weekly")):
        return "The next new release goes into the next digest."
    return "The next new release is announced as it appears."


def first_post_blocks(report: Mapping[str, Any], latest: Release | None) -> list[Block]:
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
    elif (digests := report.get("digests") or {}).get("waiting"):
        due = f", due {when(digests['next'])}" if digests.get("next") else ""
        why = (
            f"*Nothing posted yet:* {counted(digests['waiting'], 'new release')} collected for "
            f"the next digest{due}."
        )
    elif not feed.get("last_success"):
        why = (
            "*Nothing posted yet:* the first check of the ISSCR feed has not finished; "
            "the health below says why if it fails."
        )
    else:
        newest = (
            f" The latest, from {slack_date(latest) or 'an unknown day'}, is "
            f"“{fit(feed_pieces(latest.title), MAX_TITLE)}”."
            if latest is not None
            else ""
        )
        why = (
            "*Nothing posted yet, as expected:* the releases already published were stored "
            "as the starting point (they are searchable) rather than announced, so a channel "
            f"is not flooded with the past. {_next_release(report)}{newest}"
        )
    return [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": why},
            "accessory": action_button("Send a test announcement", SEND_TRIAL),
        }
    ]


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
    if user_id == MEMBERS:
        return "Members"
    return f"<@{user_id}>" if USER_ID.fullmatch(user_id) else "The bot"
