"""Typos: the archive's word a member most likely meant by a word no release holds.

A word one edit away (a letter dropped, added, replaced, or two swapped) is looked up among
the archive's words directly; failing that, the words that start with the same letter and are
about as long are compared letter by letter, up to two edits. The likeliest is the nearest,
then the commonest (Norvig, "How to write a spelling corrector").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

LETTERS = "abcdefghijklmnopqrstuvwxyz"
MIN_CORRECTED = 3  # shorter words are too ambiguous to correct ("ai", "uk")
TWO_EDITS_FROM = 8  # letters in a word before two edits are allowed ("tourism" is not "tours")


def one_edit(word: str) -> set[str]:
    """Every string one edit from `word`."""
    splits = [(word[:at], word[at:]) for at in range(len(word) + 1)]
    return {
        *(left + right[1:] for left, right in splits if right),
        *(left + right[1] + right[0] + right[2:] for left, right in splits if len(right) > 1),
        *(left + letter + right[1:] for left, right in splits if right for letter in LETTERS),
        *(left + letter + right for left, right in splits for letter in LETTERS),
    } - {word}


def distance(first: str, second: str, limit: int) -> int:
    """The edits (drops, additions, replacements, swaps of neighbours) between two words,
    or `limit` + 1 once it is certain to exceed `limit`."""
    if abs(len(first) - len(second)) > limit:
        return limit + 1
    previous: list[int] = []
    row = list(range(len(second) + 1))
    for i, a in enumerate(first, 1):
        before, previous, row = previous, row, [i] + [0] * len(second)
        for j, b in enumerate(second, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a != b))
            if i > 1 and j > 1 and a == second[j - 2] and first[i - 2] == b:
                row[j] = min(row[j], before[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
    return row[-1]


def likeliest(
    word: str,
    counts: Callable[[Iterable[str]], dict[str, int]],
    sized: Callable[[str, int, int], list[tuple[str, int]]],
) -> str | None:
    """The archive's word nearest to `word` (case folded), commonest first among equals;
    None when none is within reach. `counts` gives the archive's count of each of some words,
    `sized` the words with a first letter and a length range."""
    if len(word) < MIN_CORRECTED or not word.isalpha():
        return None  # numbers and codes ("2023", "h1n2") are meant as typed
    near = counts(one_edit(word))
    if near:
        return max(near, key=lambda found: (near[found], found))
    if len(word) < TWO_EDITS_FROM:
        return None
    scored = [
        (distance(word, found, 2), -count, found)
        for found, count in sized(word[0], len(word) - 2, len(word) + 2)
    ]
    best = min(scored, default=None)
    return best[2] if best is not None and best[0] <= 2 else None
