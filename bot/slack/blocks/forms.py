"""The admins' modals: add or edit a route, send a test announcement, and the answer to
either; and reading back what a route form carries."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence

from bot.models import CHANNEL_ID, DAILY, IMMEDIATE, WEEKLY, Route
from bot.schedule import DAYS
from bot.slack.blocks.common import (
    MAX_LABEL,
    MAX_OPTION_VALUE,
    context_block,
    counted,
    plain_field,
    text_blocks,
)
from bot.slack.blocks.shapes import Block, Modal

ROUTE_FORM = "route_form"
TRIAL_FORM = "trial_form"
CHANNEL_FIELD, CATEGORIES_FIELD = "channel", "categories"
MODE_FIELD, WEEKDAY_FIELD, HOUR_FIELD = "mode", "weekday", "hour"
# The route form's ways of receiving news, as its menu shows them.
MODES = {
    IMMEDIATE: "Each release as it appears",
    DAILY: "A daily digest",
    WEEKLY: "A weekly digest",
}
# What a new digest is set to until the admin picks otherwise.
DEFAULT_WEEKDAY, DEFAULT_HOUR = 0, 9
_MAX_OPTIONS = 100  # Slack's limit for a static select


# A category whose name cannot be an option's value (over 150 characters) is named by this
# prefix and a digest of its name, which `category_for_option` finds among the known names.
_DIGEST = "sha256:"


def route_form(known: Sequence[str], route: Route | None = None) -> Modal:
    """The Add / Edit route modal: a channel, the categories it takes (none: all), and how it
    receives them: each as it appears, or in a daily or weekly digest (a day and an hour).

    A select holds at most 100 options: the route's own categories are always among them (and
    chosen), then the other known ones. What does not fit is said in the form; a route's own
    categories beyond 100 are kept when it is saved (`categories_not_in_form`).
    """
    own = list(dict.fromkeys(route.categories)) if route is not None else []
    fields = [_channel_field(route), *_category_fields(own, known), *_delivery_fields(route)]
    return {
        "type": "modal",
        "callback_id": ROUTE_FORM,
        "private_metadata": route_form_metadata(route),
        "title": {"type": "plain_text", "text": "Edit route" if route else "Add route"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": fields,
    }


def _channel_field(route: Route | None) -> Block:
    """The route form's channel picker, showing the route's channel when it is a real one."""
    channel_picker: Block = {
        "type": "conversations_select",
        "action_id": CHANNEL_FIELD,
        "placeholder": {"type": "plain_text", "text": "Choose a channel"},
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    if route is not None and CHANNEL_ID.fullmatch(route.channel):
        channel_picker["initial_conversation"] = route.channel
    return {
        "type": "input",
        "block_id": CHANNEL_FIELD,
        "label": {"type": "plain_text", "text": "Channel"},
        "element": channel_picker,
    }


def _category_fields(own: list[str], known: Sequence[str]) -> list[Block]:
    """The route form's categories: one select of the route's `own` (chosen) then the other
    `known` ones, as many as a select holds, and a note on those it could not list."""
    offered = list(dict.fromkeys([*own, *known]))
    listed = sorted(offered[:_MAX_OPTIONS], key=lambda name: (name.casefold(), name))
    fields: list[Block] = []
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
    return fields


def _delivery_fields(route: Route | None) -> list[Block]:
    """The route form's delivery: immediate, daily or weekly, then the day and the hour a
    digest goes out (each shown with the route's own, or a default), and whose time zone."""
    schedule = route.schedule if route is not None else None
    # A hand-edited row may hold anything: the form then shows the defaults.
    mode = schedule.mode if schedule is not None and schedule.mode in MODES else IMMEDIATE
    weekday = schedule.weekday if schedule is not None else None
    hour = schedule.hour if schedule is not None else None
    weekday = weekday if isinstance(weekday, int) and 0 <= weekday < 7 else DEFAULT_WEEKDAY
    hour = hour if isinstance(hour, int) and 0 <= hour < 24 else DEFAULT_HOUR
    modes = [_plain_option(text, value) for value, text in MODES.items()]
    days = [_plain_option(name, str(number)) for number, name in enumerate(DAYS)]
    hours = [_plain_option(f"{number:02d}:00", str(number)) for number in range(24)]
    if schedule is not None:
        where = (
            f"A digest goes out in {schedule.tz}, this route's time zone; a new day or hour "
            "you pick is read in yours (your Slack profile's)."
        )
    else:
        where = "A digest's day and hour are read in your time zone (your Slack profile's)."
    return [
        _select(
            MODE_FIELD,
            "Delivery",
            modes,
            modes[list(MODES).index(mode)],
            hint="A digest lists the releases since the last one, and is not sent when there "
            "are none.",
        ),
        _select(WEEKDAY_FIELD, "Day of a weekly digest", days, days[weekday]),
        _select(HOUR_FIELD, "Hour of a digest", hours, hours[hour], hint=where),
    ]


def _select(
    field: str, label: str, options: list[Block], initial: Block, *, hint: str | None = None
) -> Block:
    """A required menu of the route form, `initial` chosen, with `hint` (plain text) below."""
    menu: Block = {
        "type": "input",
        "block_id": field,
        "label": {"type": "plain_text", "text": label},
        "element": {
            "type": "static_select",
            "action_id": field,
            "options": options,
            "initial_option": initial,
        },
    }
    if hint:
        menu["hint"] = {"type": "plain_text", "text": plain_field(hint, 2000, otherwise=" ")}
    return menu


def _plain_option(text: str, value: str) -> Block:
    return {"text": {"type": "plain_text", "text": text}, "value": value}


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


def trial_form() -> Modal:
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


def result_form(title: str, text: str) -> Modal:
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
