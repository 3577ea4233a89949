"""What a member sees of their alerts: the direct message of a release that matched one, the
preview before saving one (with Save and Cancel), the list of theirs (each with Remove), the
usage, the Home's section, and the Home's form to add one.

Every query shown is the member's own text: escaped, its formatting characters shown as
look-alikes, and cut to fit. Only its member ever sees an alert: every one of these answers is
ephemeral, or their own Home, or a direct message to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot.alerts import MAX_ALERTS
from bot.models import Alert, Release
from bot.search.alerts import Preview
from bot.search.grammar import MAX_QUERY_CHARS, Hint
from bot.slack.blocks.announcement import (
    announcement_blocks,
    announcement_metadata,
)
from bot.slack.blocks.common import (
    LOOK_ALIKES,
    MAX_CONTEXT_TEXT,
    MAX_LABEL,
    MAX_VALUE,
    action_button,
    context_block,
    counted,
    escape,
    fallback_text,
    fit,
    mrkdwn_pieces,
    plain_field,
    release_context,
    section_block,
    text_blocks,
    titled,
    truncate,
)
from bot.slack.blocks.shapes import Announcement, Block, Message, Modal
from bot.slack.markup import COMMAND

SAVE_ALERT = "alert_save"
CANCEL_ALERT = "alert_cancel"
REMOVE_ALERT = "alert_remove"
NEW_ALERT = "alert_new"  # the Home's "Alert me about…"
RESUME_ALERTS = "alerts_resume"
ALERT_FORM = "alert_form"  # the Home's form: a query
ALERT_PREVIEW = "alert_preview"  # the same form, showing what the query matches
QUERY_FIELD = "alert_query"
# A query is shown whole up to this many characters (a query is at most MAX_QUERY_CHARS).
_SHOWN_QUERY = 320
# Why Slack could not deliver a member's alerts, in their words (the outbox pauses them).
_PAUSED_BECAUSE = {
    "user_not_found": "Slack could not find your account",
    "user_disabled": "your account was deactivated",
    "user_not_visible": "Slack does not let the app see your account",
    "account_inactive": "your account was deactivated",
    "cannot_dm_bot": "Slack does not let the app send you direct messages",
    "messages_tab_disabled": "the app's Messages tab is turned off",
}


def alert_message(
    release: Release, queries: Sequence[str], *, with_image: bool = True, minimal: bool = False
) -> Announcement:
    """The direct message of `release` to a member whose alerts for `queries` it matched:
    which alert first, then the release as announced, then how to manage their alerts. Its
    metadata is an announcement's, which lets a restart find it in the DM's history."""
    if minimal:
        return {"text": titled(release), "metadata": announcement_metadata(release)}
    matched = fit(
        mrkdwn_pieces(f":bell: New release for your {_alerts_named(queries)}"), MAX_CONTEXT_TEXT
    )
    manage = f"Only you get this message. Your alerts: `{COMMAND} alerts`, or this app's Home tab."
    return {
        "text": fallback_text(f"{_for_alerts(queries)}: {release.title}"),
        "blocks": [
            context_block(matched),
            *announcement_blocks(release, with_image=with_image),
            context_block(manage),
        ],
        "metadata": announcement_metadata(release),
    }


def _for_alerts(queries: Sequence[str]) -> str:
    """ "Alert “embryo models”", in plain text, for a notification."""
    if not queries:
        return "ISSCR news for one of your alerts"
    return "ISSCR news for your alert " + ", ".join(f"“{truncate(q, 80)}”" for q in queries[:3])


def _alerts_named(queries: Sequence[str]) -> str:
    """ "alert *“embryo models”*" (escaped mrkdwn), or "alerts …" for several."""
    if not queries:
        return "alerts"
    named = ", ".join(shown_query(query) for query in queries)
    return f"alert {named}" if len(queries) == 1 else f"alerts {named}"


def shown_query(query: str) -> str:
    """A query in bold between quotes (see `quoted_query`)."""
    return f"*{quoted_query(query)}*"


def quoted_query(query: str) -> str:
    """A query between quotes, escaped, its formatting characters as look-alikes (they would
    pair with our bold), cut to _SHOWN_QUERY."""
    return f"“{escape(truncate(query, _SHOWN_QUERY)).translate(LOOK_ALIKES)}”"


def _command(text: str) -> str:
    """A command to type, as code: its backticks as look-alikes (they would end the span)."""
    return f"`{escape(text).translate(LOOK_ALIKES)}`"


# -- the preview ---------------------------------------------------------------------------


def preview_message(preview: Preview, mine: Sequence[Alert], *, full: bool) -> Message:
    """The answer to `subscribe <query>`: what it matches, then Save and Cancel; or why it
    cannot be saved (the member has it already, or holds the most alerts allowed)."""
    query = preview.alert.text
    blocks = [section_block(f"*Alert me about {quoted_query(query)}?*"), *_matched(preview)]
    if _theirs(query, mine):
        blocks += text_blocks(f"You already have this alert. Your alerts: `{COMMAND} alerts`.")
        return {"text": fallback_text(f"You already have the alert “{query}”."), "blocks": blocks}
    if full:
        blocks += text_blocks(_full_text(len(mine)))
        return {"text": fallback_text(f"You already have {len(mine)} alerts."), "blocks": blocks}
    blocks.append(
        context_block(
            "You'll get a direct message from this app for each new release it matches, once. "
            "Only you see your alerts."
        )
    )
    buttons = [action_button("Cancel", CANCEL_ALERT, "cancel")]
    if len(query) <= MAX_VALUE:
        label = plain_field(f"Save the alert {query}", MAX_LABEL, otherwise="Save alert")
        save = action_button(
            "Save alert", SAVE_ALERT, query, style="primary", accessibility_label=label
        )
        buttons.insert(0, save)
    blocks.append({"type": "actions", "elements": buttons})
    return {"text": fallback_text(f"Alert me about “{query}”?"), "blocks": blocks}


def savable(preview: Preview, mine: Sequence[Alert], *, full: bool) -> bool:
    """Whether the previewed alert can be saved: not theirs already, and they have room."""
    return not full and not _theirs(preview.alert.text, mine)


def _theirs(query: str, mine: Sequence[Alert]) -> bool:
    return any(alert.query.casefold() == query.casefold() for alert in mine)


def _matched(preview: Preview) -> list[Block]:
    """How many past releases the query matches and the newest of them; the words no release
    holds yet (with the query they may have meant); a warning when it matches most."""
    blocks: list[Block] = []
    if preview.latest is None:
        blocks += text_blocks("No past release matches it: you'll get the first new one that does.")
    else:
        what = counted(preview.count, "past release")
        blocks += text_blocks(f"It matches *{what}*; the newest:")
        blocks += [section_block(titled(preview.latest)), release_context(preview.latest)]
    if preview.unknown:
        words = ", ".join(
            f"“{escape(truncate(w, 60)).translate(LOOK_ALIKES)}”" for w in preview.unknown[:5]
        )
        note = f":mag: No release has {words} yet. An alert waits for its words as typed."
        if preview.suggestion:
            note += f" If you meant {_command(preview.suggestion)}: " + _command(
                f"{COMMAND} subscribe {preview.suggestion}"
            )
        blocks += text_blocks(note)
    if preview.broad:
        share = round(100 * preview.count / max(preview.releases, 1))
        blocks += text_blocks(
            f":warning: That is {preview.count:,} of the {preview.releases:,} releases "
            f"({share}%): you would get most new releases. A more distinctive word or a "
            "category narrows it."
        )
    return blocks


def _full_text(count: int) -> str:
    return (
        f":no_entry: You have {count} alerts, the most a member can keep. Remove one first: "
        f"`{COMMAND} alerts`."
    )


# -- the list --------------------------------------------------------------------------------


def alerts_message(
    alerts: Sequence[Alert],
    *,
    limit: int,
    note: str | None = None,
    resumed: tuple[str, float] | None = None,
) -> Message:
    """The member's alerts, each with Remove, under `note` (escaped mrkdwn: what their last
    command did) and, when this command resumed them, since when and why they had been paused."""
    blocks: list[Block] = []
    if note:
        blocks += text_blocks(note)
    if resumed is not None:
        blocks += text_blocks(resumed_text(*resumed))
    if not alerts:
        blocks += text_blocks(
            "You have no alerts. "
            f"`{COMMAND} subscribe embryo models` sends you a direct message whenever a new "
            "release matches."
        )
        return {"text": fallback_text("You have no alerts."), "blocks": blocks}
    blocks.append(
        section_block(f"*Your alerts*  ·  {len(alerts)} of {limit}  ·  only you see them")
    )
    blocks += [_alert_row(alert) for alert in alerts]
    blocks.append(
        context_block(
            f"Add one: `{COMMAND} subscribe words`. Each new release that matches one comes to "
            "you as a direct message from this app."
        )
    )
    return {"text": fallback_text(f"Your alerts: {len(alerts)}"), "blocks": blocks}


def _alert_row(alert: Alert) -> Block:
    """An alert and its Remove button (no confirmation: it is saved again in one command)."""
    row = section_block(shown_query(alert.query))
    label = plain_field(f"Remove the alert {alert.query}", MAX_LABEL, otherwise="Remove alert")
    row["accessory"] = action_button(
        "Remove", REMOVE_ALERT, str(alert.id), accessibility_label=label
    )
    return row


def resumed_text(why: str, since: float) -> str:
    """Escaped mrkdwn: the member's alerts had been paused, and are on again."""
    return (
        f":arrow_forward: Your alerts had been paused since {_day(since)} "
        f"({escape(paused_reason(why))}); they are on again."
    )


def paused_reason(why: str) -> str:
    """Why a member's alerts were paused (what the outbox recorded: Slack's error first), in
    their words (plain text)."""
    code = why.split(":", 1)[0].strip()
    return _PAUSED_BECAUSE.get(code, f"Slack refused the app's direct messages to you ({why})")


def _day(at: float) -> str:
    """A day as Slack shows it in each reader's own language and time zone."""
    fallback = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")
    return f"<!date^{int(at)}^{{date_short}}|{fallback}>"


def saved_note(query: str, *, created: bool) -> str:
    """Escaped mrkdwn: what became of a Save."""
    if created:
        return (
            f":white_check_mark: Saved: you'll get a direct message for each new release "
            f"matching {shown_query(query)}."
        )
    return f"You already had the alert {shown_query(query)}; nothing changed."


def not_saved_note(count: int) -> str:
    return f"Not saved. {_full_text(count)}"


def removed_note(alert: Alert | None) -> str:
    """Escaped mrkdwn: what became of a Remove."""
    if alert is None:
        return "That alert is not among yours (perhaps it was removed already): nothing changed."
    return f"Removed the alert {shown_query(alert.query)}."


def alerts_help_blocks(command: str = COMMAND) -> list[Block]:
    """How to use alerts: the answer to `subscribe` alone, and part of the help."""
    return text_blocks("\n".join(alerts_usage_lines(command)))


def alerts_usage_lines(command: str) -> list[str]:
    name = escape(command)
    return [
        "*Alerts*: a direct message from this app whenever a new release matches your words "
        "(only you see your alerts):",
        f'• `{name} subscribe embryo models` — words, `"a phrase"`, `category:` and '
        "`author:` as in a search; you see what it matches before saving it",
        f"• `{name} alerts` — yours, each with *Remove*; "
        f"`{name} unsubscribe embryo models` removes one",
        "An alert reads its words as typed: never corrected nor completed, so it also waits "
        f"for words no release holds yet. At most {MAX_ALERTS} alerts each.",
    ]


def problem_message(problem: str, example: Hint | None = None) -> Message:
    """A query that cannot be an alert: the problem and, when there is one, what to type."""
    text = escape(problem)
    if example is not None:
        typed = "".join(
            _command(piece) if is_typed else escape(piece) for piece, is_typed in example.parts()
        )
        text += f" Try: {typed}"
    return {"text": fallback_text(problem), "blocks": text_blocks(text)}


# -- the Home ----------------------------------------------------------------------------


def home_alerts_blocks(alerts: Sequence[Alert]) -> list[Block]:
    """The Home's section of the member's own alerts: "Alert me about…", whether they are
    paused (with Resume), and each with Remove."""
    intro = section_block(
        "*Your alerts*\nA direct message from this app when a new release matches your words. "
        "Only you see them."
    )
    intro["accessory"] = action_button("Alert me about…", NEW_ALERT, "new", style="primary")
    blocks = [intro]
    paused = next((alert for alert in alerts if alert.paused is not None), None)
    if paused is not None and paused.paused is not None:
        since = _day(paused.paused_at) if paused.paused_at is not None else "recently"
        line = section_block(
            f":double_vertical_bar: *Paused* since {since}: {escape(paused_reason(paused.paused))}."
        )
        line["accessory"] = action_button("Resume alerts", RESUME_ALERTS, "resume")
        blocks.append(line)
    blocks += [_alert_row(alert) for alert in alerts]
    if not alerts:
        blocks.append(context_block("You have no alerts yet."))
    return blocks


def alert_form(problem: str | None = None) -> Modal:
    """The Home's "Alert me about…" form: a query, as in a search."""
    return {
        "type": "modal",
        "callback_id": ALERT_FORM,
        "title": {"type": "plain_text", "text": "New alert"},
        "submit": {"type": "plain_text", "text": "Preview"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": QUERY_FIELD,
                "label": {"type": "plain_text", "text": "Alert me about"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": QUERY_FIELD,
                    "max_length": MAX_QUERY_CHARS,
                    "placeholder": {"type": "plain_text", "text": "embryo models"},
                },
                "hint": {
                    "type": "plain_text",
                    "text": 'Words, "a phrase", category: and author:, as in a search. Next, '
                    "you see what it matches.",
                },
            },
            context_block("Only you see your alerts."),
        ],
    }


def alert_preview_form(preview: Preview, mine: Sequence[Alert], *, full: bool) -> Modal:
    """The form once its query is read: what it matches, and Save alert (the query in its
    private_metadata) unless it cannot be saved."""
    message = preview_message(preview, mine, full=full)
    blocks = [block for block in message.get("blocks", []) if block["type"] != "actions"]
    form: Modal = {
        "type": "modal",
        "callback_id": ALERT_PREVIEW,
        "title": {"type": "plain_text", "text": "New alert"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }
    if savable(preview, mine, full=full):
        form["submit"] = {"type": "plain_text", "text": "Save alert"}
        form["private_metadata"] = preview.alert.text
    return form
