"""The App Home tab: how to search, the member's own alerts and the latest releases; for
admins, first their routes, health, actions and recent changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.models import CHANNEL_ID, Alert, Change, Release, Route
from bot.slack.blocks.admin import (
    ADD_ROUTE,
    EDIT_ROUTE,
    POLL_NOW,
    REMOVE_ROUTE,
    RETRY_FAILED,
    ROUTES_NEXT,
    ROUTES_PREVIOUS,
    SEND_TRIAL,
    categories_text,
    channel_mention,
    first_post_blocks,
    held_blocks,
    held_corrections_blocks,
    recent_changes_blocks,
    route_line,
    setup_blocks,
    status_answer,
    unrouted_note,
)
from bot.slack.blocks.alerts import home_alerts_blocks
from bot.slack.blocks.common import (
    MAX_CONFIRM_TEXT,
    MAX_LABEL,
    MAX_VALUE,
    MAX_VIEW_BLOCKS,
    action_button,
    escape,
    fit,
    mrkdwn_pieces,
    plain_field,
    section_block,
    text_blocks,
)
from bot.slack.blocks.search import latest_blocks
from bot.slack.blocks.shapes import Block, HomeView


def home_view(releases: list[Release], command: str, alerts: Sequence[Alert] = ()) -> HomeView:
    """The App Home tab: how to search, the member's own `alerts`, then the latest releases."""
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
        "blocks": [
            section_block(how),
            {"type": "divider"},
            *home_alerts_blocks(alerts),
            {"type": "divider"},
            *latest_blocks(releases),
        ],
    }


# Routes shown on one page of the admins' Home, each with its Edit and Remove (two blocks):
# with the rest of the Home this stays far within a view's 100 blocks however many there are.
ROUTES_PER_PAGE = 10


# The most blocks the health section takes in the Home (3,000 characters each).
_HOME_STATUS_BLOCKS = 10


def route_pages(routes: int) -> int:
    """How many pages of ROUTES_PER_PAGE the admins' Home takes for `routes` routes."""
    return max(1, -(-routes // ROUTES_PER_PAGE))


def admin_home_view(
    *,
    routes: Sequence[Route],
    unrouted: Sequence[str],
    report: Mapping[str, Any],
    per_channel: dict[str, dict[str, int]],
    changes: Sequence[Change],
    releases: list[Release],
    command: str,
    notice: str | None = None,
    route_page: int = 1,
    alerts: Sequence[Alert] = (),
) -> HomeView:
    """The App Home for admins: what became of their last form (`notice`, escaped mrkdwn),
    a page of routes with Edit and Remove (`route_page`, from 1; "More routes" and "Previous
    routes" page through them), health, actions, recent changes, then what members see (the
    admin's own `alerts` among it).
    Within Slack's limits whatever the number of routes and the length of their texts."""
    top: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "ISSCR News settings"}},
        *(text_blocks(notice) if notice else []),
        *(
            held_blocks(held)
            if (held := report.get("deliveries", {}).get("held")) and held["posts"]
            else []
        ),
        *(
            held_corrections_blocks(corrections)
            if (corrections := report.get("deliveries", {}).get("corrections_held"))
            and corrections["posts"]
            else []
        ),
    ]
    if not routes:
        top += setup_blocks()
    else:
        top += _routes_page(routes, route_page)
        if unrouted:
            top += text_blocks(unrouted_note(unrouted))
        top += first_post_blocks(report, releases[0] if releases else None)
    recent = recent_changes_blocks(changes)
    member = home_view(releases, command, alerts)["blocks"]
    room = MAX_VIEW_BLOCKS - len(top) - len(recent) - len(member) - 3  # actions, 2 dividers
    health = status_answer(report, per_channel, max_blocks=min(room, _HOME_STATUS_BLOCKS))
    return {
        "type": "home",
        "blocks": [
            *top,
            {"type": "actions", "elements": _actions(report)},
            {"type": "divider"},
            *health,
            *recent,
            {"type": "divider"},
            *member,
        ],
    }


def _routes_page(routes: Sequence[Route], route_page: int) -> list[Block]:
    """Page `route_page` (from 1, kept within the pages there are) of the routes, each with
    its Edit and Remove, and the buttons to the previous and next pages."""
    pages = route_pages(len(routes))
    page = min(max(1, route_page), pages)
    first = (page - 1) * ROUTES_PER_PAGE
    heading = "*Where ISSCR news goes*"
    shown = routes[first : first + ROUTES_PER_PAGE]
    if pages > 1:
        heading += f"  ·  routes {first + 1:,}–{first + len(shown):,} of {len(routes):,}"
    blocks = text_blocks(heading)
    for number, route in enumerate(shown, start=first + 1):
        blocks += _route_row(route, number)
    paging = []
    if page > 1:
        paging.append(action_button("◂ Previous routes", ROUTES_PREVIOUS, str(page - 1)))
    if page < pages:
        paging.append(action_button("More routes ▸", ROUTES_NEXT, str(page + 1)))
    if paging:
        blocks.append({"type": "actions", "elements": paging})
    return blocks


def _actions(report: Mapping[str, Any]) -> list[Block]:
    """The admins' buttons; Retry only while deliveries have failed."""
    actions = [
        action_button("Add route", ADD_ROUTE, style="primary"),
        action_button("Poll now", POLL_NOW),
        action_button("Send a test announcement", SEND_TRIAL),
    ]
    if report.get("deliveries", {}).get("failed"):
        actions.append(action_button("Retry failed deliveries", RETRY_FAILED))
    return actions


def _route_row(route: Route, number: int) -> list[Block]:
    """Route `number` on the admins' Home: its channel and categories, then its own Edit and
    Remove buttons. A button's label cannot show a channel's name (plain text), so each names
    its route by number and categories for screen readers, and Remove's confirmation names
    the channel."""
    row = text_blocks(route_line(route))
    takes = plain_field(", ".join(route.categories) or "every category", MAX_LABEL, otherwise="?")
    buttons = []
    is_channel = CHANNEL_ID.fullmatch(route.channel) is not None
    if is_channel:  # a route saved from a forged form can only be removed
        label = plain_field(f"Edit route {number}: {takes}", MAX_LABEL, otherwise="Edit route")
        buttons.append(action_button("Edit", EDIT_ROUTE, route.channel, accessibility_label=label))
    if len(route.channel) <= MAX_VALUE:
        where = channel_mention(route.channel)
        receives = categories_text(route.categories)
        text = f"{where} will stop receiving ISSCR news (today it receives {receives})."
        if len(text) > MAX_CONFIRM_TEXT:
            text = f"{where} will stop receiving ISSCR news."
        confirm = {
            "title": {"type": "plain_text", "text": "Remove this route?"},
            "text": {"type": "mrkdwn", "text": fit(mrkdwn_pieces(text), MAX_CONFIRM_TEXT)},
            "confirm": {"type": "plain_text", "text": "Remove route"},
            "deny": {"type": "plain_text", "text": "Keep it"},
            "style": "danger",
        }
        label = plain_field(f"Remove route {number}: {takes}", MAX_LABEL, otherwise="Remove route")
        buttons.append(
            action_button(
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
