"""What Slack checks in a message, a view or a modal before it takes it, for the Slack stand-in
and for tests of the bot's Block Kit.

slack_sdk's models are the oracle for what they know (`Block.parse(...).to_dict()` and
`View(...).to_dict()` validate every nested object), and a payload must come back from them
unchanged: Slack refuses properties it does not know, and an empty list (the models drop those
silently, Slack answers `invalid_arguments`). On top come the limits the models miss, from
https://api.slack.com/reference/block-kit and the methods' pages. Lengths are counted in
characters of the string as sent, never of some text it was made from.

Nothing here knows the bot: it judges payloads as Slack would, whoever built them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
MESSAGE_TEXT = 40_000  # chat.postMessage `text`: longer is msg_too_long
TEXT_OBJECT = 3000  # any text object, mrkdwn or plain_text
SECTION_TEXT = 3000
SECTION_FIELDS = 10
SECTION_FIELD = 2000
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
HEADER_TEXT = 150
BUTTON_TEXT = 75
BUTTON_URL = 3000
BUTTON_VALUE = 2000
ACCESSIBILITY_LABEL = 75
OPTIONS = 100
OPTION_TEXT = 75
OPTION_VALUE = 150
IDENTIFIER = 255  # block_id, action_id, callback_id
IMAGE_URL = 3000
ALT_TEXT = 2000
PLACEHOLDER = 150
INPUT_LABEL = 2000
INPUT_HINT = 2000
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
CONFIRM_BUTTON = 30
MODAL_TITLE = 24  # also submit and close
PRIVATE_METADATA = 3000
FIELD_ERROR = 150  # a view_submission's response_action "errors", shown under a field (Slack
# cuts longer ones; not an error, but never what the sender meant)

# Types whose `elements` may be empty, as Slack (and slack_sdk) allow.
_EMPTY_ALLOWED = frozenset(
    {"rich_text_section", "rich_text_list", "rich_text_preformatted", "rich_text_quote"}
)


def message_error(message: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """What chat.postMessage / chat.postEphemeral / a response_url answers for `message`:
    None when Slack takes it, else (error code, what is wrong)."""
    text, blocks = message.get("text"), message.get("blocks")
    if not text and not blocks and not message.get("attachments"):
        return "no_text", ["a message needs text, blocks or attachments"]
    if text is not None and not isinstance(text, str):
        return "invalid_arguments", ["text must be a string"]
    if isinstance(text, str) and len(text) > MESSAGE_TEXT:
        return "msg_too_long", [f"text is {len(text)} characters, more than {MESSAGE_TEXT}"]
    if blocks is not None:
        if not isinstance(blocks, list):
            return "invalid_blocks_format", ["blocks must be an array"]
        problems = blocks_problems(blocks, limit=MESSAGE_BLOCKS, path="blocks")
        if problems:
            return "invalid_blocks", problems
    metadata = message.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and metadata["event_type"]
        and isinstance(metadata.get("event_payload"), dict)
    ):
        return "invalid_metadata_format", ["metadata needs event_type and event_payload"]
    return None


def view_problems(view: Any) -> list[str]:
    """What views.publish / views.open would refuse (`invalid_arguments`) in `view`."""
    if not isinstance(view, dict):
        return ["view must be an object"]
    kind = view.get("type")
    if kind not in ("home", "modal"):
        return [f"view type {kind!r} is neither home nor modal"]
    problems: list[str] = []
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        return ["view.blocks must be an array"]
    problems += blocks_problems(blocks, limit=VIEW_BLOCKS, path="view.blocks")
    if kind == "modal" and not isinstance(view.get("title"), dict):
        problems.append("a modal needs a title")
    for name in ("title", "submit", "close"):
        if name in view:
            problems += _text_object(view[name], f"view.{name}", MODAL_TITLE, plain=True)
    if kind == "home" and ("submit" in view or "close" in view):
        problems.append("a home view has no submit or close")
    if kind == "modal" and "submit" not in view and _has_input(blocks):
        problems.append("a modal with input blocks needs a submit button")
    metadata = view.get("private_metadata")
    if metadata is not None and (not isinstance(metadata, str) or len(metadata) > PRIVATE_METADATA):
        problems.append(f"view.private_metadata is longer than {PRIVATE_METADATA} characters")
    problems += _identifier(view.get("callback_id"), "view.callback_id")
    if problems:
        return problems
    # Slack takes an empty private_metadata (and sends it back so); slack_sdk drops it.
    given = {k: v for k, v in view.items() if not (k == "private_metadata" and v == "")}
    return _oracle(lambda: View(**given).to_dict(), given, "view")


def ack_problems(answer: Any) -> list[str]:
    """What Slack would refuse in the bot's HTTP answer to a request (slash command ack, or a
    view_submission's response_action)."""
    if not isinstance(answer, dict) or not answer:
        return []
    action = answer.get("response_action")
    if action in ("update", "push"):
        return view_problems(answer.get("view"))
    if action == "errors":
        errors = answer.get("errors")
        if not isinstance(errors, dict) or not errors:
            return ["errors must name at least one field"]
        return [
            f"the error for {field!r} is not a string of 1..{FIELD_ERROR} characters"
            for field, error in errors.items()
            if not isinstance(error, str) or not 0 < len(error) <= FIELD_ERROR
        ]
    if action is not None:
        return [f"unknown response_action {action!r}"]
    if "text" in answer or "blocks" in answer:
        found = message_error(answer)
        return [] if found is None else [f"{found[0]}: {problem}" for problem in found[1]]
    return []


def blocks_problems(blocks: list[Any], *, limit: int, path: str) -> list[str]:
    """Everything wrong with a list of blocks on a surface that takes at most `limit`."""
    if len(blocks) > limit:
        return [f"{path} has {len(blocks)} blocks, more than {limit}"]
    problems: list[str] = []
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"{path}[{index}]"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            problems.append(f"{where} is not a block")
            continue
        found = _block(block, where)
        block_id = block.get("block_id")
        if isinstance(block_id, str):
            if block_id in block_ids:
                found.append(f"{where}.block_id {block_id!r} is used twice")
            block_ids.add(block_id)
        parsed = None if found else Block.parse(block)
        if not found and parsed is None:
            found.append(f"{where} has an unknown type {block['type']!r}")
        if not found and parsed is not None:
            found = _oracle(lambda parsed=parsed: parsed.to_dict(), block, where)
        problems += found
    return problems


# -- one block ---------------------------------------------------------------------------


def _block(block: dict[str, Any], where: str) -> list[str]:
    problems = [f"{at} is an empty list" for at in _empty_lists(block, where)]
    problems += _all_text_objects(block, where)
    problems += _identifier(block.get("block_id"), f"{where}.block_id")
    kind = block["type"]
    if kind == "section":
        text = block.get("text")
        if text is None and not block.get("fields"):
            problems.append(f"{where} needs text or fields")
        if text is not None:
            problems += _text_object(text, f"{where}.text", SECTION_TEXT)
        fields = block.get("fields") or []
        if len(fields) > SECTION_FIELDS:
            problems.append(f"{where}.fields has more than {SECTION_FIELDS} items")
        for index, field in enumerate(fields):
            problems += _text_object(field, f"{where}.fields[{index}]", SECTION_FIELD)
        if "accessory" in block:
            problems += _element(block["accessory"], f"{where}.accessory")
    elif kind == "context":
        elements = block.get("elements") or []
        if len(elements) > CONTEXT_ELEMENTS:
            problems.append(f"{where} has {len(elements)} elements, more than {CONTEXT_ELEMENTS}")
        for index, element in enumerate(elements):
            if isinstance(element, dict) and element.get("type") == "image":
                problems += _element(element, f"{where}.elements[{index}]")
            else:
                problems += _text_object(element, f"{where}.elements[{index}]", TEXT_OBJECT)
    elif kind == "actions":
        elements = block.get("elements") or []
        if len(elements) > ACTIONS_ELEMENTS:
            problems.append(f"{where} has {len(elements)} elements, more than {ACTIONS_ELEMENTS}")
        action_ids = [e.get("action_id") for e in elements if isinstance(e, dict)]
        named = [action_id for action_id in action_ids if action_id is not None]
        if len(named) != len(set(named)):
            problems.append(f"{where} repeats an action_id")
        for index, element in enumerate(elements):
            problems += _element(element, f"{where}.elements[{index}]")
    elif kind == "header":
        problems += _text_object(block.get("text"), f"{where}.text", HEADER_TEXT, plain=True)
    elif kind == "input":
        problems += _text_object(block.get("label"), f"{where}.label", INPUT_LABEL, plain=True)
        if "hint" in block:
            problems += _text_object(block["hint"], f"{where}.hint", INPUT_HINT, plain=True)
        problems += _element(block.get("element"), f"{where}.element")
    elif kind == "image":
        problems += _image(block, where)
    return problems


def _element(element: Any, where: str) -> list[str]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [f"{where} is not an element"]
    problems = _identifier(element.get("action_id"), f"{where}.action_id")
    kind = element["type"]
    if "placeholder" in element:
        problems += _text_object(
            element["placeholder"], f"{where}.placeholder", PLACEHOLDER, plain=True
        )
    if kind == "button":
        problems += _text_object(element.get("text"), f"{where}.text", BUTTON_TEXT, plain=True)
        problems += _string(element.get("url"), f"{where}.url", BUTTON_URL, optional=True)
        problems += _string(element.get("value"), f"{where}.value", BUTTON_VALUE, optional=True)
        problems += _string(
            element.get("accessibility_label"),
            f"{where}.accessibility_label",
            ACCESSIBILITY_LABEL,
            optional=True,
        )
        if "confirm" in element:
            problems += _confirm(element["confirm"], f"{where}.confirm")
    elif kind == "image":
        problems += _image(element, where)
    elif kind in ("static_select", "multi_static_select", "overflow", "radio_buttons"):
        problems += _options(element, where)
    return problems


def _options(element: dict[str, Any], where: str) -> list[str]:
    options = element.get("options")
    if not isinstance(options, list) or not options:
        return [f"{where} needs options"]
    problems: list[str] = []
    if len(options) > OPTIONS:
        problems.append(f"{where} has {len(options)} options, more than {OPTIONS}")
    values: list[Any] = []
    for index, option in enumerate(options):
        at = f"{where}.options[{index}]"
        if not isinstance(option, dict):
            problems.append(f"{at} is not an option")
            continue
        problems += _text_object(option.get("text"), f"{at}.text", OPTION_TEXT, plain=True)
        problems += _string(option.get("value"), f"{at}.value", OPTION_VALUE)
        values.append(option.get("value"))
    if len(values) != len(set(map(str, values))):
        problems.append(f"{where} offers one value twice")
    initial = element.get("initial_options")
    if "initial_option" in element:
        initial = [element["initial_option"]]
    if initial is not None:
        if not isinstance(initial, list) or not initial:
            problems.append(f"{where}.initial_options is empty")  # invalid_arguments
        else:
            problems += [
                f"{where}.initial_options[{index}] is not one of the options"
                for index, option in enumerate(initial)
                if option not in options
            ]
    return problems


def _image(image: dict[str, Any], where: str) -> list[str]:
    problems = _string(image.get("image_url"), f"{where}.image_url", IMAGE_URL)
    return problems + _string(image.get("alt_text"), f"{where}.alt_text", ALT_TEXT)


def _confirm(confirm: Any, where: str) -> list[str]:
    if not isinstance(confirm, dict):
        return [f"{where} is not a confirmation dialog"]
    problems = _text_object(confirm.get("title"), f"{where}.title", CONFIRM_TITLE, plain=True)
    problems += _text_object(confirm.get("text"), f"{where}.text", CONFIRM_TEXT)
    for name in ("confirm", "deny"):
        problems += _text_object(confirm.get(name), f"{where}.{name}", CONFIRM_BUTTON, plain=True)
    return problems


# -- pieces ------------------------------------------------------------------------------


def _text_object(value: Any, where: str, limit: int, *, plain: bool = False) -> list[str]:
    if not isinstance(value, dict) or value.get("type") not in ("plain_text", "mrkdwn"):
        return [f"{where} is not a text object"]
    if plain and value["type"] != "plain_text":
        return [f"{where} must be plain_text"]
    return _string(value.get("text"), f"{where}.text", limit)


def _all_text_objects(value: Any, where: str) -> list[str]:
    """Every text object anywhere is 1..3000 characters (stricter limits are checked where
    they apply)."""
    problems: list[str] = []
    if isinstance(value, dict):
        if value.get("type") in ("plain_text", "mrkdwn") and "text" in value:
            problems += _string(value["text"], f"{where}.text", TEXT_OBJECT)
        for key, item in value.items():
            problems += _all_text_objects(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems += _all_text_objects(item, f"{where}[{index}]")
    return problems


def _string(value: Any, where: str, limit: int, *, optional: bool = False) -> list[str]:
    if value is None and optional:
        return []
    if not isinstance(value, str) or not value:
        return [f"{where} must be a non-empty string"]
    if len(value) > limit:
        return [f"{where} is {len(value)} characters, more than {limit}"]
    return []


def _identifier(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    return _string(value, where, IDENTIFIER)


def _empty_lists(value: Any, where: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, list) and not item and value.get("type") not in _EMPTY_ALLOWED:
                yield f"{where}.{key}"
            yield from _empty_lists(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _empty_lists(item, f"{where}[{index}]")


def _has_input(blocks: list[Any]) -> bool:
    return any(isinstance(block, dict) and block.get("type") == "input" for block in blocks)


def _oracle(build: Any, given: Any, where: str) -> list[str]:
    """slack_sdk's own checks, and whether its model of `given` is `given` itself (it drops
    what it does not know)."""
    try:
        parsed = build()
    except Exception as error:  # SlackObjectFormationError, or a shape it cannot read
        return [f"{where}: {error}"]
    if parsed != given:
        unknown = _diff(given, parsed)
        return [f"{where} has properties Slack does not know, or empty ones: {unknown}"]
    return []


def _diff(given: Any, parsed: Any, where: str = "") -> str:
    if isinstance(given, dict) and isinstance(parsed, dict):
        for key in given.keys() | parsed.keys():
            if given.get(key) != parsed.get(key):
                return _diff(given.get(key), parsed.get(key), f"{where}.{key}")
    if isinstance(given, list) and isinstance(parsed, list) and len(given) == len(parsed):
        for index, (one, other) in enumerate(zip(given, parsed, strict=True)):
            if one != other:
                return _diff(one, other, f"{where}[{index}]")
    return f"{where or '.'} sent {given!r:.80}, understood {parsed!r:.80}"
