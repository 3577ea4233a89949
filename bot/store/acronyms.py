"""Acronyms a release defines, as press releases write them: a long form followed by its acronym
in parentheses ("the Medicines and Healthcare products Regulatory Agency (MHRA)"). The search
index learns them from the archive, so that a query with either form finds both.

The long form is found by Schwartz and Hearst's algorithm ("A simple algorithm for identifying
abbreviation definitions in biomedical text", 2003): the shortest run of words before the
parenthesis in which the acronym's letters appear in order, its first letter starting a word.
"""

from __future__ import annotations

import re

# "(MHRA)", "(iPSCs)", "(CAR-T)": 2 to 10 characters, a capital among them, no space.
_DEFINED = re.compile(r"\(([A-Za-z][\w&-]{1,9})\)")
_SENTENCE_END = re.compile(r"[.;:!?()\[\]]\s")
_WORD = re.compile(r"\S+")


def defined_acronyms(text: str) -> set[tuple[str, str]]:
    """The (acronym, long form) pairs `text` defines; the long form in lower case, words
    single-spaced, and a plural acronym made singular ("iPSCs" → "iPSC")."""
    found = set()
    for match in _DEFINED.finditer(text):
        short = match.group(1)
        if sum(char.isupper() for char in short) < 2 and not short[:1].isupper():
            continue  # "(see)", "(e.g)": not an acronym
        before = text[max(0, match.start() - 300) : match.start()]
        # Within its sentence only.
        ends = list(_SENTENCE_END.finditer(before))
        if ends:
            before = before[ends[-1].end() :]
        words = _WORD.findall(before)
        letters = [char.lower() for char in short if char.isalnum()]
        window = words[-min(len(letters) + 5, len(letters) * 2) :]
        long_form = _long_form(letters, window)
        if long_form is None:
            continue
        if short.endswith("s") and sum(char.isupper() for char in short[:-1]) >= 2:
            short = short[:-1]  # "iPSCs": the plural of "iPSC"
        found.add((short, long_form))
    return found


def _long_form(letters: list[str], words: list[str]) -> str | None:
    """The shortest tail of `words` whose characters hold `letters` in order (read from the
    end), the first letter starting a word; None when there is none, or it is the acronym
    itself."""
    text = " ".join(words).lower()
    at = len(text) - 1
    for index in range(len(letters) - 1, -1, -1):
        letter = letters[index]
        while at >= 0 and (
            text[at] != letter
            or (index == 0 and at > 0 and text[at - 1].isalnum())  # the first starts a word
        ):
            at -= 1
        if at < 0:
            return None
        at -= 1
    start = text.rfind(" ", 0, at + 1) + 1
    long_form = " ".join(text[start:].split()).strip(" ,\"'“”‘’")
    if len(long_form.split()) < 2 or len(long_form) <= len(letters):
        return None
    return long_form
