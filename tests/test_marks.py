"""Marking matched words for display: exactly the words the index matched, by its own
tokenizer, stemming and phrases."""

from __future__ import annotations

import re

from bot.search.marks import MARK_CLOSE, MARK_OPEN
from bot.store import Store

TEXT = (
    "The ISSCR noted that the approval of these therapies was not approved by regulators. "
    "Patients were treated at clinics offering unproven treatments; the society's guidelines "
    "for embryo models and embryo research, and its Règles on cells and cellular studies, "
    "note that organizations and organoids differ."
)


def shown(text: str | None) -> str | None:
    return text and text.replace(MARK_OPEN, "[").replace(MARK_CLOSE, "]")


def marked_words(text: str | None) -> list[str]:
    return re.findall(f"{MARK_OPEN}(.*?){MARK_CLOSE}", text or "")


def test_each_word_marks_exactly_the_words_the_index_matches(store: Store) -> None:
    # For every word of a text typed as a query: the words marked are those whose stem, as
    # the index has it, is the query's ("approval" marks "approved"; "noted" marks "note",
    # never "not"; "cells" marks "cells", never "cellular").
    words = sorted(set(re.findall(r"[^\W_]+", TEXT)), key=str.lower)
    for word in words:
        [(lead, _)] = store.marked([("", TEXT, "")], f'"{word}"')
        expected = [
            w for w in re.findall(r"[^\W_]+", TEXT) if store.tokens(w) == store.tokens(word)
        ]
        assert marked_words(lead) == expected, word
    [(lead, _)] = store.marked([("", TEXT, "")], '"approval"')
    assert marked_words(lead) == ["approval", "approved"]
    [(lead, _)] = store.marked([("", TEXT, "")], '"noted"')
    assert marked_words(lead) == ["noted", "note"]


def test_a_phrase_marks_only_where_its_words_run_together(store: Store) -> None:
    [(lead, _)] = store.marked([("", TEXT, "")], '"embryo models"')
    assert "[embryo models] and embryo research" in (shown(lead) or "")


def test_case_and_accents_are_ignored_as_the_index_ignores_them(store: Store) -> None:
    [(lead, _)] = store.marked([("", "Règles and RÈGLES, regles.", "")], '"regles"')
    assert shown(lead) == "[Règles] and [RÈGLES], [regles]."


def test_a_body_snippet_is_a_window_around_the_best_matches(store: Store) -> None:
    body = (
        " ".join(f"w{n}" for n in range(100)) + " organoid " + " ".join(f"v{n}" for n in range(100))
    )
    [(lead, snippet)] = store.marked([("No match here.", "Nor here.", body)], '"organoids"')
    assert lead is None
    assert snippet is not None and "[organoid]" in (shown(snippet) or "")
    assert snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet.split()) <= 31
    assert store.marked([("Nothing.", "Nothing either.", "Nor this.")], '"organoids"') == [
        (None, None)
    ]
    # A title match shows the release's own lead: no snippet is made.
    assert store.marked([("Organoids", "Nothing.", body)], '"organoids"') == [(None, None)]


def test_marks_in_feed_text_cannot_be_forged(store: Store) -> None:
    # The marking characters in a release's own text are not marks.
    forged = f"A {MARK_OPEN}forged{MARK_CLOSE} mark about cells."
    [(lead, _)] = store.marked([("", forged, "")], '"cells"')
    assert marked_words(lead) == ["cells"]
