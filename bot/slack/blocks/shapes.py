"""The shapes of the payloads the bot sends Slack: messages, message metadata, modals and the
Home view, as TypedDicts, so that a misspelt or misplaced key is a type error, not a payload
Slack refuses. A Block stays a plain JSON object: Block Kit's element types are too many to be
worth spelling out, and standins/block_kit.py checks each builder's blocks against Slack's limits.

At run time each is the plain dict Slack's clients serialize, in the order it was built.
"""

from __future__ import annotations

from typing import Any, Literal, Required, TypedDict, cast

Block = dict[str, Any]


class PlainText(TypedDict):
    """A plain_text object: a modal's title and its buttons' labels."""

    type: Literal["plain_text"]
    text: str


class Message(TypedDict, total=False):
    """What `ack`, `respond` and `chat.postMessage` take as a message: `text` is what
    notifications and screen readers show, `blocks` what the message shows. (`respond`'s
    `replace_original` is passed beside it, where the listener decides it.)"""

    text: Required[str]
    blocks: list[Block]
    response_type: Literal["ephemeral", "in_channel"]


class AnnouncementPayload(TypedDict, total=False):
    """What a message's metadata carries: the release it announces, or the period a digest
    covers."""

    item_id: str
    period: str


class MessageMetadata(TypedDict):
    """A message's `metadata`: lets a restart find its own post in the channel's history."""

    event_type: str
    event_payload: AnnouncementPayload


class Announcement(Message, total=False):
    """An announcement as `chat.postMessage` gets it: a message with its metadata."""

    metadata: Required[MessageMetadata]


class Modal(TypedDict, total=False):
    """A modal for `views.open`: a form (with `callback_id`, `submit` and perhaps
    `private_metadata`, which come back with its submission) or a notice with only `close`."""

    type: Required[Literal["modal"]]
    title: Required[PlainText]
    blocks: Required[list[Block]]
    callback_id: str
    private_metadata: str
    submit: PlainText
    close: PlainText


class HomeView(TypedDict):
    """The App Home tab, for `views.publish`."""

    type: Literal["home"]
    blocks: list[Block]


def json_object(payload: Modal | HomeView | MessageMetadata) -> dict[str, Any]:
    """`payload` itself, typed as the Slack clients' parameters want it: a TypedDict is a dict
    at run time, but not to mypy (a dict may gain any key)."""
    return cast(dict[str, Any], payload)
