"""Form submissions: the Add / Edit route form and the test announcement form.

Slack waits 3 s for a form's answer and then shows the admin a generic error, whatever the
bot did meanwhile. So a submission is answered quickly: the form's own values are checked
first, then the user's rights (asked of Slack again, with a time limit), then the route is
saved; problems are shown in the form, next to the field, and nothing is saved. What needs
Slack after that (joining the channel, posting the test) happens once the form has closed, and
its outcome is shown at the top of the admin's App Home, where the form was opened.

Every field is checked as strictly as the slash command's text, since a submission can be
forged: a channel must be a channel ID, every category must be one the form could offer, the
delivery, day and hour ones of its menus, and the form's private_metadata must be what
`route_form` wrote. A digest's day and hour are read in the time zone of the admin who saves
them (their Slack profile's, from the same users.info that checks their rights), unless they
are the route's own, which keep its time zone.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.database import DatabaseBusy
from bot.models import CHANNEL_ID, DAILY, IMMEDIATE, WEEKLY, Route, Schedule
from bot.routes import KEEP, Keep, RouteError
from bot.schedule import FALLBACK_TZ, zone
from bot.slack import route_text
from bot.slack.admin import BUSY, Admin
from bot.slack.blocks.admin import route_saved_notice
from bot.slack.blocks.forms import (
    CATEGORIES_FIELD,
    CHANNEL_FIELD,
    HOUR_FIELD,
    MODE_FIELD,
    MODES,
    ROUTE_FORM,
    TRIAL_FORM,
    WEEKDAY_FIELD,
    categories_not_in_form,
    category_for_option,
    read_route_form_metadata,
)
from bot.slack.listeners.payloads import SubmissionBody, SubmittedView
from bot.slack.rights import Verdict
from bot.slack.workspaces import Workspaces

log = logging.getLogger(__name__)

CHANNEL, CATEGORIES = CHANNEL_FIELD, CATEGORIES_FIELD
NOT_A_CHANNEL = "That is not a channel: choose one from the list."
DAMAGED = "This form is damaged or from an older version: close it, and open it again."
UNKNOWN_CATEGORY = "is not a category this form offered: close it, and open it again."
NOT_OFFERED = "That is not a choice this form offered: close it, and open it again."
NO_DAY = "Choose the day the weekly digest goes out."
NO_HOUR = "Choose the hour the digest goes out."
# How long a submission waits for Slack to say whether the user is an admin, and for the
# database (another process may hold its lock): together they stay within Slack's 3 s.
RIGHTS_CHECK_WITHIN = 1.5
FORM_READ_WITHIN = 0.5
FORM_WRITE_WITHIN = 0.8


# Long, but a list of short handlers under Bolt's decorators that share these services: it reads
# best whole.
def register(app: AsyncApp, workspaces: Workspaces) -> None:
    @app.view(ROUTE_FORM)
    async def save_route(
        ack: AsyncAck, body: SubmissionBody, view: SubmittedView, context: AsyncBoltContext
    ) -> None:
        ws = workspaces.of(context)
        admin, home = ws.admin, ws.home
        user = body["user"]["id"]
        channel = _channel(view)
        if channel is None:
            missing = "Choose the channel that should receive these releases."
            await ack(response_action="errors", errors={CHANNEL: missing})
            return
        if not isinstance(channel, str) or not CHANNEL_ID.fullmatch(channel):
            await ack(response_action="errors", errors={CHANNEL: NOT_A_CHANNEL})
            return
        try:
            replacing, seen = read_route_form_metadata(view.get("private_metadata") or "")
        except (ValueError, TypeError):
            await ack(response_action="errors", errors={CHANNEL: DAMAGED})
            return
        try:
            routes, known = await admin.db.read(
                lambda store: (store.routes(team=admin.team), store.categories()),
                within=FORM_READ_WITHIN,
            )
        except DatabaseBusy:
            await ack(response_action="errors", errors={CHANNEL: _short(BUSY)})
            return
        edited = next((r for r in routes if r.channel == replacing), None)
        # What the form could offer: the known categories and the edited route's own.
        offered = [*known, *(edited.categories if edited else ())]
        categories: list[str] = []
        for value in _chosen(view):
            name = category_for_option(value, offered) if isinstance(value, str) else None
            if name is None:
                what = f"“{value[:60]}”" if isinstance(value, str) else "That"
                unknown = _short(f"{what} {UNKNOWN_CATEGORY}")
                await ack(response_action="errors", errors={CATEGORIES: unknown})
                return
            categories.append(name)
        if categories and edited is not None:  # kept: the form could not list them
            categories += categories_not_in_form(edited)
        categories = list(dict.fromkeys(categories))
        delivery, wrong = _delivery(view)
        if wrong:
            await ack(response_action="errors", errors=wrong)
            return
        verdict = await _allowed(admin, ack, user, with_tz=True)
        if verdict is None:
            return
        schedule = _schedule(delivery, edited, verdict.tz)
        try:
            changed = await admin.db.write(
                lambda store: admin.routes(store).set(
                    channel, categories, by=user, replacing=replacing, seen=seen,
                    schedule=schedule,
                ),
                within=FORM_WRITE_WITHIN,
            )  # fmt: skip
        except DatabaseBusy:
            await ack(response_action="errors", errors={CHANNEL: _short(BUSY)})
            return
        except RouteError as error:
            await ack(response_action="errors", errors={CHANNEL: _short(route_text.explain(error))})
            return
        await ack()
        membership = await admin.join(channel)
        notice = route_saved_notice(channel, categories, changed)
        await home.after_change(user, notice=f"{notice} {membership}" if membership else notice)

    @app.view(TRIAL_FORM)
    async def send_trial(
        ack: AsyncAck, body: SubmissionBody, view: SubmittedView, context: AsyncBoltContext
    ) -> None:
        ws = workspaces.of(context)
        admin, home = ws.admin, ws.home
        user = body["user"]["id"]
        channel = _channel(view)
        if channel is None:
            await ack(response_action="errors", errors={CHANNEL: "Choose a channel."})
            return
        if not isinstance(channel, str) or not CHANNEL_ID.fullmatch(channel):
            await ack(response_action="errors", errors={CHANNEL: NOT_A_CHANNEL})
            return
        try:
            latest = await admin.db.read(
                lambda store: store.latest_releases(1), within=FORM_READ_WITHIN
            )
        except DatabaseBusy:
            await ack(response_action="errors", errors={CHANNEL: _short(BUSY)})
            return
        if not latest:
            await ack(response_action="errors", errors={CHANNEL: "No release is stored yet."})
            return
        if await _allowed(admin, ack, user) is None:
            return
        await ack()
        notice, posted = await admin.send_test(user, channel, latest[0])
        if posted:
            await home.after_change(user, notice=notice)
        else:
            await home.publish(user, is_admin=True, notice=notice)


def _field(view: SubmittedView, name: str) -> dict[str, Any]:
    """The state of the form's field `name` (block and action of that ID); empty when the
    submission does not have it. `bot.slack.listeners.payloads` has checked the state's shape."""
    return view["state"]["values"].get(name, {}).get(name) or {}


def _channel(view: SubmittedView) -> Any:
    """The channel chosen (perhaps not a string, in a forged submission), or None."""
    return _field(view, CHANNEL).get("selected_conversation") or None


def _chosen(view: SubmittedView) -> list[Any]:
    """The values of the categories chosen (anything, in a forged submission)."""
    options = _field(view, CATEGORIES).get("selected_options") or []
    if not isinstance(options, list):
        return [None]  # refused as not offered
    return [option.get("value") if isinstance(option, dict) else option for option in options]


async def _allowed(
    admin: Admin, ack: AsyncAck, user: str, *, with_tz: bool = False
) -> Verdict | None:
    """Whether `user` may submit the form (and, `with_tz`, their time zone); if not, the form
    is answered with why, and None."""
    verdict = await admin.check.verdict(user, within=RIGHTS_CHECK_WITHIN, with_tz=with_tz)
    if verdict.refusal is None:
        return verdict
    await ack(response_action="errors", errors={CHANNEL: _short(verdict.refusal)})
    return None


def _delivery(
    view: SubmittedView,
) -> tuple[tuple[str, int | None, int | None] | Keep, dict[str, str]]:
    """The delivery the form asks for, as (mode, weekday, hour), and the errors to show by
    field. KEEP for a form without the field (opened before there were digests): the route's
    schedule stays as it is."""
    if MODE_FIELD not in view["state"]["values"]:
        return KEEP, {}
    errors: dict[str, str] = {}
    mode = _selected(view, MODE_FIELD)
    if not isinstance(mode, str) or mode not in MODES:
        errors[MODE_FIELD] = NOT_OFFERED
    weekday = _number(view, WEEKDAY_FIELD, 7, errors)
    hour = _number(view, HOUR_FIELD, 24, errors)
    if mode == WEEKLY and weekday is None:
        errors.setdefault(WEEKDAY_FIELD, NO_DAY)
    if mode in (DAILY, WEEKLY) and hour is None:
        errors.setdefault(HOUR_FIELD, NO_HOUR)
    if errors:
        return KEEP, errors
    assert isinstance(mode, str)
    return (mode, weekday, hour), {}


def _schedule(
    delivery: tuple[str, int | None, int | None] | Keep, edited: Route | None, tz: str | None
) -> Schedule | Keep | None:
    """The schedule to save: the route's own when the form shows it unchanged (its time zone
    kept), else one in the time zone of the admin saving it (UTC when Slack did not say)."""
    if delivery is KEEP:
        return KEEP
    mode, weekday, hour = delivery
    if mode == IMMEDIATE or hour is None:
        return None
    wanted = Schedule(mode, hour, FALLBACK_TZ, weekday if mode == WEEKLY else None)
    own = edited.schedule if edited is not None else None
    if own is not None and (own.mode, own.hour, own.weekday) == (
        wanted.mode,
        wanted.hour,
        wanted.weekday,
    ):
        return own
    if tz is not None and zone(tz) is not None:
        return Schedule(wanted.mode, wanted.hour, tz, wanted.weekday)
    return wanted


def _selected(view: SubmittedView, name: str) -> Any:
    """The value of the option chosen in the menu `name` (anything, in a forged submission;
    None when nothing is)."""
    option = _field(view, name).get("selected_option")
    return option.get("value") if isinstance(option, dict) else option


def _number(view: SubmittedView, name: str, below: int, errors: dict[str, str]) -> int | None:
    """The number 0 to `below` - 1 chosen in the menu `name` (None: none chosen); anything
    else is noted in `errors`."""
    value = _selected(view, name)
    if value is None:
        return None
    if not isinstance(value, str) or value not in {str(number) for number in range(below)}:
        errors[name] = NOT_OFFERED
        return None
    return int(value)


def _short(text: str) -> str:
    """Slack shows at most 150 characters under a field."""
    return text if len(text) <= 150 else text[:149] + "…"
