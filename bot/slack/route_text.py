"""What admins are told about a route change that cannot be made, in Slack's words: the slash
command to type, and # for a channel."""

from __future__ import annotations

from bot.routes import EveryCategoryNamed, NarrowingEvery, RouteError
from bot.slack.markup import COMMAND

# How admins change routes, for the log's word on ANNOUNCE_CHANNEL (see `Router`).
WHERE = f"Change routes in Slack (the app's Home, or {COMMAND} route)"
ONE_CHANNEL = (
    f"Name one channel, then its categories, e.g. `{COMMAND} route #policy-news Policy`; to "
    "send releases to two channels, route each one on its own."
)


def not_a_channel(text: str) -> RouteError:
    """The error for `text` typed where a channel belongs."""
    return RouteError(
        f"“{text.strip() or '(nothing)'}” is not a channel. Type # and pick the channel from the "
        f"list, e.g. `{COMMAND} route #policy-news Policy`."
    )


def explain(error: RouteError) -> str:
    """What to tell the admin: the error's own words, with the command to type where one
    helps."""
    if isinstance(error, EveryCategoryNamed):
        what = "stop sending anything to" if error.verb == "unroute" else "send every category to"
        return f"To {what} a channel, leave the categories out: `{COMMAND} {error.verb} #channel`."
    if isinstance(error, NarrowingEvery):
        return (
            f"That channel takes every category. To narrow it, remove its route (`{COMMAND} "
            "unroute #channel`), then route the categories it should keep."
        )
    return str(error)
