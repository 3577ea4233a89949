"""The shape of what Slack sends, checked before any listener (or Bolt's own matching) reads it.

A signed request can still carry a payload Slack never sends: an action without `action_id`,
a submission without `user` or `view`. Bolt and the listeners would meet it with a KeyError
and a traceback; here it gets a 400 and one short log line instead, and nothing runs. Only
the kinds of request the bot handles are checked, and only what its listeners read: the
TypedDicts below say what a listener may then rely on (a field typed `object` is not checked:
a forged payload may put anything there).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Required, TypedDict

from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)


class User(TypedDict):
    id: str


class Action(TypedDict, total=False):
    """One of a block_actions payload's `actions`: the button pressed or the menu used."""

    action_id: Required[str]
    block_id: str
    value: str
    selected_conversation: object


class ActionBody(TypedDict, total=False):
    """A block_actions payload: a click on a message (answered through `response_url`) or
    on the Home (answered in a modal opened with `trigger_id`)."""

    user: Required[User]
    actions: Required[list[Action]]
    trigger_id: Required[str]
    response_url: str
    channel: dict[str, Any]
    container: dict[str, Any]
    view: dict[str, Any]


class ViewState(TypedDict):
    """A submitted form's fields: block ID, then action ID, then what was chosen."""

    values: dict[str, dict[str, dict[str, Any]]]


class SubmittedView(TypedDict, total=False):
    type: Required[str]
    callback_id: Required[str]
    private_metadata: str
    state: Required[ViewState]


class SubmissionBody(TypedDict):
    """A view_submission payload."""

    user: User
    view: SubmittedView


class HomeOpened(TypedDict, total=False):
    """An app_home_opened event."""

    type: Required[str]
    user: Required[str]
    tab: object


def malformed(body: Any) -> str | None:
    """What is wrong with the shape of a request's body, or None when the listeners can read
    every field they use."""
    if not isinstance(body, dict):
        return "the payload is not an object"
    kind = body.get("type")
    if kind == "block_actions":
        return _user(body) or _actions(body) or _strings(body, "response_url")
    if kind == "view_submission":
        return _user(body) or _view(body.get("view"))
    if kind == "event_callback":
        return _event(body.get("event"))
    return None


def _user(body: dict[str, Any]) -> str | None:
    user = body.get("user")
    if not isinstance(user, dict) or not _text(user.get("id")):
        return "no user"
    return None


def _actions(body: dict[str, Any]) -> str | None:
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions:
        return "no actions"
    for action in actions:
        if not isinstance(action, dict) or not _text(action.get("action_id")):
            return "an action without action_id"
        if any(
            name in action and not isinstance(action[name], str) for name in ("value", "block_id")
        ):
            return "an action whose value is not text"
    if not _text(body.get("trigger_id")):
        return "no trigger_id"
    for name in ("channel", "container", "view"):
        if name in body and not isinstance(body[name], dict):
            return f"{name} is not an object"
    # A click on a message is answered through its response_url (a Home click has none).
    if body.get("container", {}).get("type") == "message" and not _text(body.get("response_url")):
        return "a click on a message without response_url"
    return None


def _view(view: Any) -> str | None:
    if not isinstance(view, dict) or not _text(view.get("type")):
        return "no view"
    if not _text(view.get("callback_id")):
        return "a view without callback_id"
    if not isinstance(view.get("private_metadata", ""), str):
        return "private_metadata is not text"
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    if not isinstance(values, dict) or not all(
        isinstance(block, dict) and all(isinstance(field, dict) for field in block.values())
        for block in values.values()
    ):
        return "a view without its state"
    return None


def _event(event: Any) -> str | None:
    if not isinstance(event, dict) or not _text(event.get("type")):
        return "no event"
    if event["type"] == "app_home_opened" and not _text(event.get("user")):
        return "an app_home_opened event without user"
    return None


def _strings(body: dict[str, Any], *names: str) -> str | None:
    for name in names:
        if name in body and not isinstance(body[name], str):
            return f"{name} is not text"
    return None


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


class RefuseMalformed(AsyncMiddleware):
    """Bolt middleware: a request whose body `malformed` finds fault with gets a 400. A class,
    not a function: Bolt reads the payload's first action before it calls a function
    middleware (an IndexError for an empty `actions`)."""

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],  # Bolt passes it by this name
    ) -> BoltResponse:
        problem = malformed(req.body)
        if problem is None:
            return await next()
        log.warning("refused a malformed %s request: %s", _kind(req.body), problem)
        return BoltResponse(status=400, body=f"malformed request: {problem}")


def _kind(body: Any) -> str:
    kind = body.get("type") if isinstance(body, dict) else None
    return kind[:40] if isinstance(kind, str) else "Slack"
