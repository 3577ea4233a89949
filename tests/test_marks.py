"""Marking matched words for display: the same words FTS5 matched, roughly, never more."""

from __future__ import annotations

from bot.search.grammar import Term
from bot.search.marks import MARK_CLOSE, MARK_OPEN, Marker, stem


def shown(text: str | None) -> str | None:
    return text and text.replace(MARK_OPEN, "[").replace(MARK_CLOSE, "]")


def test_words_are_marked_whatever_their_case_accents_or_plural() -> None:
    marker = Marker((Term("cell"), Term("Embryo model", phrase=True)), prefix=False)

    assert shown(marker.mark("Cells, EMBRYOS and embryo-models; no cellular.")) == (
        "[Cells], [EMBRYOS] and [embryo]-[models]; no cellular."
    )
    assert shown(Marker((Term("regles"),), prefix=False).mark("Règles")) == "[Règles]"
    assert marker.mark("Nothing here.") is None


def test_marks_land_on_the_words_whatever_letters_come_before_them() -> None:
    marker = Marker((Term("flies"), Term("ecole")), prefix=False)
    # "İ" lower-cases to two characters, "ß" case-folds to two: the offsets must not shift.
    text = "İİ ÉCOLE fly, STRAßE_flies x-FLIES ßecole"

    assert shown(marker.mark(text)) == "İİ [ÉCOLE] [fly], STRAßE_[flies] x-[FLIES] ßecole"


def test_the_last_word_marks_as_a_prefix_only_when_asked() -> None:
    assert shown(Marker((Term("stem"), Term("cel")), prefix=True).mark("stem cellular")) == (
        "[stem] [cellular]"
    )
    assert Marker((Term("cel"),), prefix=False).mark("cellular") is None


def test_a_snippet_is_a_window_around_the_first_match() -> None:
    body = (
        " ".join(f"w{n}" for n in range(100)) + " organoid " + " ".join(f"v{n}" for n in range(100))
    )
    snippet = shown(Marker((Term("organoids"),), prefix=False).snippet(body, words=5, before=2))

    assert snippet == "…w98 w99 [organoid] v0 v1…"
    assert Marker((Term("x"),), prefix=False).snippet(body) is None
    assert shown(Marker((Term("end"),), prefix=False).snippet("The end.")) == "The [end]."


def test_stems() -> None:
    assert [stem(word) for word in ("cells", "studies", "editing", "edited", "class", "is")] == [
        "cell",
        "study",
        "edit",
        "edit",
        "class",
        "is",
    ]
