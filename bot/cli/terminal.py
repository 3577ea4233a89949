"""Releases as plain text for a terminal (`poll --dry-run`, `search`)."""

from __future__ import annotations

import click

from bot.models import Release
from bot.search.marks import MARK_CLOSE, MARK_OPEN


def terminal_text(release: Release, *, number: int | None = None, marked: str | None = None) -> str:
    """An announcement as plain text for a terminal."""
    when = release.published.strftime("%Y-%m-%d %H:%M UTC") if release.published else "undated"
    details = [", ".join(release.categories), when, release.author or ""]
    lines = [
        click.style(f"{number}. " if number else "", bold=True)
        + click.style(release.title, bold=True),
        "  " + "  |  ".join(part for part in details if part),
        f"  {release.link}",
    ]
    if release.image_url:
        lines.append(f"  image: {release.image_url}")
    if marked:
        # Matched words in bold on a terminal; click drops the styling when piped.
        lines.append("  " + _bold_marks(marked))
    elif release.excerpt:
        lines.append(f"  {release.excerpt}")
    return "\n".join(lines)


def _bold_marks(text: str) -> str:
    parts = text.replace(MARK_CLOSE, MARK_OPEN).split(MARK_OPEN)
    return "".join(click.style(part, bold=True) if i % 2 else part for i, part in enumerate(parts))
