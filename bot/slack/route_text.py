"""What admins are told about a route change that cannot be made, in Slack's words: the slash
command to type, and # for a channel."""

from __future__ import annotations

from bot.routes import EveryCategoryNamed, NarrowingEvery, NoRouteToDigest, RouteError
from bot.schedule import ScheduleError
from bot.slack.markup import COMMAND

# How admins change routes, for the log's word on ANNOUNCE_CHANNEL (see `Router`).
WHERE = f"Change routes in Slack (the app's Home, or {COMMAND} route)"
ONE_CHANNEL = (
    f"Name one channel, then its categories, e.g. `{COMMAND} route #policy-news Policy`; to "
    "send releases to two channels, route each one on its own."
)


# What a digest command looks like, for the answers that show one.
DIGEST_EXAMPLE = "digest #policy-news weekly monday 9:00"


def not_a_channel(text: str, *, example: str = "route #policy-news Policy") -> RouteError:
    """The error for `text` typed where a channel belongs (`example`: the command to show,
    after its name)."""
    return RouteError(
        f"“{text.strip() or '(nothing)'}” is not a channel. Type # and pick the channel from the "
        f"list, e.g. `{COMMAND} {example}`."
    )


def explain_schedule(error: ScheduleError) -> str:
    """What to tell the admin whose digest command was no schedule: why, and what to type."""
    return f"{error.problem} For example: `{COMMAND} {error.example}`"


def explain(error: RouteError) -> str:
    """What to tell the admin: the error's own words, with the command to type where one
    helps."""
    if isinstance(error, EveryCategoryNamed):
        what = "stop sending anything to" if error.verb == "unroute" else "send every category to"
        return f"To {what} a channel, leave the categories out: `{COMMAND} {error.verb} #channel`."
    if isinstance(error, NoRouteToDigest):
        return (
            "That channel receives no ISSCR news, so there is nothing to digest: route "
            f"categories to it first (`{COMMAND} route #channel Policy`), then set its digest."
        )
    if isinstance(error, NarrowingEvery):
        return (
            f"That channel takes every category. To narrow it, remove its route (`{COMMAND} "
            "unroute #channel`), then route the categories it should keep."
        )
    return str(error)
