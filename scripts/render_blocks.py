"""Render the README's pictures from the real Block Kit payloads, built by `bot/slack/blocks` on
the sample feed in `tests/data/`: an announcement and a page of search results.

    pip install -e '.[docs]'
    python scripts/render_blocks.py

writes `docs/images/announcement.png` and `docs/images/search.png`, and beside each the payload
it drew (`.json`, ready to paste into Block Kit Builder). Each PNG carries the SHA-256 of its
payload, so `tests/test_readme.py` notices a picture older than `bot/slack/blocks` without
Pillow. Slack's look is imitated, not copied: DejaVu Sans (the fonts-dejavu package) stands in
for Lato, and an image is drawn as a grey box, since nothing is fetched.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.ingest.rss import parse_feed  # noqa: E402
from bot.search.engine import Search  # noqa: E402
from bot.slack.blocks.announcement import announcement_blocks  # noqa: E402
from bot.slack.blocks.search import search_blocks  # noqa: E402
from bot.store import Store  # noqa: E402

SAMPLE_FEED = REPO / "tests" / "data" / "sample-feed.rss"
IMAGES = REPO / "docs" / "images"
SEARCH_QUERY = "nih"
COMMAND = "/isscr-news"
# When the sample is taken to be polled: a fixed time, so the payloads never change by
# themselves (a date judged against it must not be in the future).
POLLED_AT = datetime(2025, 12, 1, tzinfo=UTC).timestamp()
# The PNG text chunk holding the SHA-256 of the payload drawn.
PAYLOAD_KEY = "payload-sha256"


# -- the payloads ---------------------------------------------------------------------------


def payloads() -> dict[str, dict[str, Any]]:
    """What the bot sends for the sample feed: the newest release's announcement, and the
    answer to `/isscr-news nih` (an ephemeral message: only the member who searched sees it)."""
    parsed = parse_feed(SAMPLE_FEED.read_bytes(), str(SAMPLE_FEED), now=POLLED_AT)
    store = Store(":memory:")
    store.ensure_schema()
    for release in parsed.releases:
        store.save_release(release, source="feed", now=POLLED_AT)
    results = Search(store).run(SEARCH_QUERY)
    store.close()
    newest = max(parsed.releases, key=lambda release: release.published or datetime.min)
    return {
        "announcement": {"blocks": announcement_blocks(newest)},
        "search": {"blocks": search_blocks(results, COMMAND), "ephemeral": True},
    }


def payload_json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def payload_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- mrkdwn into styled runs ----------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    bold: bool = False
    italic: bool = False
    strike: bool = False
    code: bool = False
    link: bool = False


@dataclass
class Run:
    text: str
    style: Style


_TAG = re.compile(r"<([^<>]*)>")
# Placeholders for tags while formatting is found: private-use characters, which are never
# word characters, so `*<link>*` is bold like `*word*`.
_HOLE = 0xE000
_SPANS = {
    "code": re.compile(r"`([^`\n]+)`"),
    "bold": re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])"),
    "italic": re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])"),
    "strike": re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])"),
}


def mrkdwn_runs(text: str) -> list[Run]:
    """`text` as Slack shows mrkdwn: bold, italic, strikethrough, code, links, dates, mentions
    and entities (roughly: enough for what the bot sends)."""
    tags: list[tuple[str, bool]] = []

    def hole(match: re.Match[str]) -> str:
        tags.append(_tag_text(match[1]))
        return chr(_HOLE + len(tags) - 1)

    plain = _TAG.sub(hole, text)
    styles: list[dict[str, bool]] = [{} for _ in plain]
    hidden = [False] * len(plain)
    for name, pattern in _SPANS.items():
        for match in pattern.finditer(plain):
            inside = range(match.start(1), match.end(1))
            if name != "code" and any(styles[i].get("code") for i in inside):
                continue
            hidden[match.start()] = hidden[match.end() - 1] = True
            for i in inside:
                styles[i][name] = True
    runs: list[Run] = []
    for i, char in enumerate(plain):
        if hidden[i]:
            continue
        is_tag = _HOLE <= ord(char) < _HOLE + len(tags)
        piece, link = tags[ord(char) - _HOLE] if is_tag else (char, False)
        style = Style(link=link, **styles[i])
        if runs and runs[-1].style == style:
            runs[-1].text += piece
        else:
            runs.append(Run(piece, style))
    for run in runs:
        run.text = run.text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return runs


def text_runs(text: dict[str, Any]) -> list[Run]:
    """A Block Kit text object as runs: mrkdwn formatted, plain_text as it is."""
    if text["type"] == "mrkdwn":
        return mrkdwn_runs(text["text"])
    return [Run(text["text"], Style())]


def _tag_text(tag: str) -> tuple[str, bool]:
    """What Slack shows for `<tag>`, and whether it is shown as a link."""
    target, _, label = tag.partition("|")
    if target.startswith("!date^"):
        _, stamp, form, *_ = [*target.split("^"), "", ""]
        return _date_text(int(stamp), form) if stamp.isdigit() else label, False
    if target.startswith("#"):
        return "#" + (label or "channel"), True
    if target.startswith("@"):
        return "@" + (label or "member"), True
    if target.startswith("!"):
        return "@" + target[1:], True
    return label or target, True


def _date_text(stamp: int, form: str) -> str:
    """Slack's date tokens, in UTC (Slack uses each reader's own time zone)."""
    when = datetime.fromtimestamp(stamp, UTC)
    day = when.day
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    tokens = {
        "{date}": f"{when:%B} {day}{suffix}, {when.year}",
        "{date_short}": f"{when:%b} {day}, {when.year}",
        "{date_num}": f"{when:%Y-%m-%d}",
        "{time}": when.strftime("%I:%M %p").lstrip("0"),
    }
    for token, shown in tokens.items():
        form = form.replace(token, shown)
    return form


# -- drawing --------------------------------------------------------------------------------

SCALE = 2  # pixels per point: sharp on high-density screens
WIDTH = 720
MARGIN = 20
AVATAR = 36
LEFT = MARGIN + AVATAR + 10
TEXT_WIDTH = WIDTH - LEFT - MARGIN
Colour = tuple[int, int, int]
INK = (29, 28, 29)
GREY = (97, 96, 97)
LINK = (18, 100, 163)
RULE = (221, 221, 221)
BORDER = (190, 190, 190)
CODE_INK = (224, 30, 90)
CODE_BACK = (246, 246, 246)
APP_COLOUR = (27, 58, 92)  # manifest.json's background_color
FONT_DIRS = [
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts"),
    Path("/Library/Fonts"),
    Path.home() / "Library" / "Fonts",
]
FONT_FILES = {
    (False, False): "DejaVuSans.ttf",
    (True, False): "DejaVuSans-Bold.ttf",
    (False, True): "DejaVuSans-Oblique.ttf",
    (True, True): "DejaVuSans-BoldOblique.ttf",
    "mono": "DejaVuSansMono.ttf",
}


def _font_dir() -> Path:
    for folder in FONT_DIRS:
        if (folder / FONT_FILES[False, False]).is_file():
            return folder
    raise SystemExit(
        "render_blocks: the DejaVu fonts are not installed (apt-get install fonts-dejavu-core, "
        "brew install --cask font-dejavu)"
    )


@dataclass
class Canvas:
    """Drawing operations laid out in points, played onto an image once its height is known."""

    fonts: dict[tuple[object, int], Any] = field(default_factory=dict)
    ops: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    folder: Path = field(default_factory=_font_dir)

    def font(self, style: Style, size: int) -> Any:
        from PIL import ImageFont

        key: object = "mono" if style.code else (style.bold, style.italic)
        if (key, size) not in self.fonts:
            path = self.folder / FONT_FILES[key]  # type: ignore[index]
            self.fonts[key, size] = ImageFont.truetype(str(path), size * SCALE)
        return self.fonts[key, size]

    def width(self, text: str, style: Style, size: int) -> float:
        return self.font(style, size).getlength(text) / SCALE

    def text(self, x: float, y: float, text: str, style: Style, size: int, ink: Colour) -> None:
        self.ops.append(("text", (x, y, text, style, size, ink)))

    def box(self, x: float, y: float, w: float, h: float, **how: Any) -> None:
        self.ops.append(("box", (x, y, w, h, how)))

    def paint(self, height: float) -> Any:
        from PIL import Image, ImageDraw

        image = Image.new("RGB", (WIDTH * SCALE, round(height * SCALE)), "white")
        draw = ImageDraw.Draw(image)
        # A thin frame, so the message stands apart from the page around it.
        draw.rectangle([0, 0, image.width - 1, image.height - 1], outline=RULE, width=SCALE)
        for kind, args in self.ops:
            if kind == "box":
                x, y, w, h, how = args
                corners = [round(v * SCALE) for v in (x, y, x + w, y + h)]
                draw.rounded_rectangle(
                    corners,
                    radius=how.get("radius", 0) * SCALE,
                    fill=how.get("fill"),
                    outline=how.get("outline"),
                    width=SCALE if how.get("outline") else 0,
                )
            else:
                x, y, text, style, size, ink = args
                at = (round(x * SCALE), round(y * SCALE))
                draw.text(at, text, font=self.font(style, size), fill=ink)
                if style.strike:
                    w = self.width(text, style, size)
                    mid = round((y + size * 0.6) * SCALE)
                    draw.line([(at[0], mid), (at[0] + round(w * SCALE), mid)], fill=ink, width=2)
        return image


def flow(
    canvas: Canvas, runs: list[Run], x: float, y: float, width: float, size: int, ink: Colour
) -> float:
    """Lay `runs` out in lines within `width`, wrapping at spaces; return the y below them."""
    line_height = round(size * 1.47)
    cursor = x
    for run in runs:
        for piece in re.findall(r"\n|[ \t]+|[^\s]+", run.text):
            if piece == "\n":
                cursor, y = x, y + line_height
                continue
            if piece.isspace() and cursor == x:
                continue  # no space at the start of a line
            wide = canvas.width(piece, run.style, size)
            if cursor + wide > x + width and cursor > x and not piece.isspace():
                cursor, y = x, y + line_height
            while wide > width:  # a word longer than the line: cut it where it must
                cut = len(piece)
                while cut > 1 and canvas.width(piece[:cut], run.style, size) > x + width - cursor:
                    cut -= 1
                _draw_piece(canvas, cursor, y, piece[:cut], run.style, size, ink, line_height)
                piece = piece[cut:]
                wide = canvas.width(piece, run.style, size)
                cursor, y = x, y + line_height
            _draw_piece(canvas, cursor, y, piece, run.style, size, ink, line_height)
            cursor += wide
    return y + line_height


def _draw_piece(
    canvas: Canvas,
    x: float,
    y: float,
    piece: str,
    style: Style,
    size: int,
    ink: Colour,
    line_height: float,
) -> None:
    if style.code and not piece.isspace():
        w = canvas.width(piece, style, size)
        canvas.box(x - 1, y + 1, w + 2, line_height - 3, fill=CODE_BACK, outline=RULE, radius=3)
    colour = LINK if style.link else CODE_INK if style.code else ink
    canvas.text(x, y + (line_height - size * 1.2) / 2, piece, style, size, colour)


def button(canvas: Canvas, right: float, y: float, label: str, *, draw: bool = True) -> float:
    """A Block Kit button whose right edge is at `right`; returns its width."""
    style = Style(bold=True)
    w = canvas.width(label, style, 13) + 24
    if draw:
        canvas.box(right - w, y, w, 28, outline=BORDER, radius=4)
        canvas.text(right - w + 12, y + 6, label, style, 13, INK)
    return w


def image_box(canvas: Canvas, x: float, y: float, side: float) -> None:
    canvas.box(x, y, side, side, fill=(232, 232, 232), radius=6)
    label = "cover image"
    canvas.text(x + (side - canvas.width(label, Style(), 10)) / 2, y + side / 2 - 7, label,
                Style(), 10, GREY)  # fmt: skip


def draw_block(canvas: Canvas, block: dict[str, Any], y: float) -> float:
    """Draw one block at `y`; return the y below it."""
    kind = block["type"]
    if kind == "divider":
        canvas.box(LEFT, y + 6, TEXT_WIDTH, 0.5, fill=RULE)
        return y + 13
    if kind == "header":
        return flow(canvas, [Run(block["text"]["text"], Style(bold=True))], LEFT, y,
                    TEXT_WIDTH, 18, INK)  # fmt: skip
    if kind == "context":
        for element in block["elements"]:
            y = flow(canvas, text_runs(element), LEFT, y, TEXT_WIDTH, 12, GREY)
        return y
    if kind == "actions":
        x = LEFT
        for element in block["elements"]:
            if element["type"] == "button":
                w = button(canvas, 0, y, element["text"]["text"], draw=False)
                button(canvas, x + w, y, element["text"]["text"])
                x += w + 8
        return y + 34
    if kind == "image":
        image_box(canvas, LEFT, y, 200)
        return y + 206
    if kind == "section":
        accessory = block.get("accessory")
        room = TEXT_WIDTH
        bottom = y
        if accessory and accessory["type"] == "image":
            room -= 88 + 16
            image_box(canvas, LEFT + TEXT_WIDTH - 88, y + 2, 88)
            bottom = y + 94
        elif accessory and accessory["type"] == "button":
            w = button(canvas, LEFT + TEXT_WIDTH, y, accessory["text"]["text"])
            room -= w + 16
            bottom = y + 32
        if "text" in block:
            y = flow(canvas, text_runs(block["text"]), LEFT, y, room, 15, INK)
        return max(y, bottom) + 4
    raise SystemExit(f"render_blocks: no drawing for a {kind!r} block")


def render(payload: dict[str, Any], digest: str) -> Any:
    """A Slack message from the app, as Slack shows it (roughly), with `digest` in its PNG
    text chunk."""
    from PIL.PngImagePlugin import PngInfo

    canvas = Canvas()
    y = 14.0
    if payload.get("ephemeral"):
        canvas.text(LEFT, y, "Only visible to you", Style(), 12, GREY)
        y += 22
    canvas.box(MARGIN, y + 2, AVATAR, AVATAR, fill=APP_COLOUR, radius=6)
    initials = Style(bold=True)
    canvas.text(MARGIN + (AVATAR - canvas.width("IN", initials, 14)) / 2, y + 11, "IN",
                initials, 14, (255, 255, 255))  # fmt: skip
    name = "ISSCR News"
    canvas.text(LEFT, y, name, Style(bold=True), 15, INK)
    x = LEFT + canvas.width(name, Style(bold=True), 15) + 6
    badge = canvas.width("APP", Style(bold=True), 10) + 8
    canvas.box(x, y + 3, badge, 16, fill=(232, 232, 232), radius=3)
    canvas.text(x + 4, y + 5, "APP", Style(bold=True), 10, GREY)
    canvas.text(x + badge + 8, y + 3, "9:41 AM", Style(), 12, GREY)
    y += 24
    for block in payload["blocks"]:
        y = draw_block(canvas, block, y) + 4
    image = canvas.paint(y + 10)
    info = PngInfo()
    info.add_text(PAYLOAD_KEY, digest)
    image.info["pnginfo"] = info
    return image


def main() -> None:
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise SystemExit("render_blocks: needs Pillow: pip install -e '.[docs]'") from None
    IMAGES.mkdir(parents=True, exist_ok=True)
    for name, payload in payloads().items():
        text = payload_json(payload)
        (IMAGES / f"{name}.json").write_text(text)
        image = render(payload, payload_hash(text))
        image.save(IMAGES / f"{name}.png", pnginfo=image.info["pnginfo"], optimize=True)
        print(f"wrote {(IMAGES / f'{name}.png').relative_to(REPO)}")


if __name__ == "__main__":
    main()
