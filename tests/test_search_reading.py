"""How a query is read with what the archive teaches: typos corrected, acronyms learned from the
releases, words no release has with the rest left out. Against a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.models import Release
from bot.search.engine import Search
from bot.search.grammar import Hint, parse
from bot.search.results import Results
from bot.search.spelling import distance, one_edit
from bot.store import Store
from bot.store.acronyms import defined_acronyms


def release(n: int, title: str, body: str) -> Release:
    return Release(
        id=f"{n:024x}",
        title=title,
        link=f"https://www.isscr.org/isscr-news/r{n}",
        published=datetime(2015 + n, 3, 1, 12, tzinfo=UTC),
        categories=("Press Release",),
        author="Kym Kilbourne",
        excerpt=body.split("\n\n")[0],
        body=body,
    )


ARCHIVE = [
    release(
        1,
        "ISSCR Meets UK Regulators on AI",
        "The ISSCR met the Medicines and Healthcare products Regulatory Agency (MHRA) on "
        "artificial intelligence (AI) in therapy development.",
    ),
    release(
        2,
        "Medicines and Healthcare products Regulatory Agency Consults on AI",
        "The agency asks how artificial intelligence should be regulated.",
    ),
    release(
        3,
        "Statement on Embryo Models",
        "Embryo models made from induced pluripotent stem cells (iPSCs) are not embryos.",
    ),
    release(4, "Japan Approves iPSC Therapies", "Two iPSC-derived products were approved."),
    release(5, "Fetal Tissue Research", "Fetal tissue research has saved lives, NIH says."),
    release(6, "Sequestration and the NIH", "Budget sequestration would cut NIH funding."),
    release(7, "Annual Meeting in Hamburg", "The annual meeting drew thousands to Hamburg."),
    release(8, "Award Winners Named", "Three scientists receive awards this year."),
]


@pytest.fixture
def search(store: Store) -> Search:
    for item in ARCHIVE:
        store.save_release(item, source="rss", now=0)
    return Search(store, page_size=9)


def ids(results: object) -> list[int]:
    return [int(found.release.id, 16) for found in results.found]  # type: ignore[attr-defined]


# -- typos ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "read_as", "found"),
    [
        ("embryo modles", "models", [3]),  # two letters swapped
        ("fetal tisue", "tissue", [5]),  # one dropped
        ("hamburg anual meeting", "annual", [7]),
        ("sequestation", "sequestration", [6]),
        ("awrads", "awards", [8]),
    ],
)
def test_a_word_no_release_has_is_read_as_the_likeliest_word_one_edit_away(
    search: Search, typed: str, read_as: str, found: list[int]
) -> None:
    results = search.run(typed)
    [(misspelt, corrected)] = results.corrected
    assert corrected == read_as and misspelt in typed.split()
    assert ids(results) == found
    assert not results.hints


def test_the_answer_says_what_it_searched_and_how_to_search_as_typed(search: Search) -> None:
    results = search.run("embryo modles")
    assert results.adjustments == (
        Hint("Showing results for ", "embryo models", ". Search instead for ", 'embryo "modles"'),
    )
    assert results.instead == 'embryo "modles"'
    quoted = search.run('"modles"')  # as typed: never corrected
    assert (quoted.total, quoted.corrected) == (0, ())
    assert quoted.hints == (
        Hint("No release mentions “modles”: check the spelling or leave it out."),
    )


def test_two_edits_are_corrected_in_long_words_only(search: Search) -> None:
    assert search.run("sequesttrtion").corrected == (("sequesttrtion", "sequestration"),)
    # "meting" is one edit from "meeting"; "metnig" two: too far for a short word.
    assert search.run("meting").corrected == (("meting", "meeting"),)
    assert search.run("metnigg").total == 0


def test_the_commonest_of_equally_near_words_wins(store: Store) -> None:
    for n, word in enumerate(("cells", "cells", "cells", "calls"), 1):
        store.save_release(release(n, f"Note {n}", f"About {word}."), source="rss", now=0)
    assert Search(store).run("cblls").corrected == (("cblls", "cells"),)


def test_edits_and_distances() -> None:
    assert {"models", "modes", "moles"} <= one_edit("modles")
    assert "modles" not in one_edit("modles")
    assert distance("modles", "models", 2) == 1  # a swap is one edit
    assert distance("tisue", "tissue", 2) == 1
    assert distance("tourism", "tours", 2) == 2
    assert distance("tourism", "tour", 2) == 3  # past the limit: limit + 1


# -- words left out ---------------------------------------------------------------------------


def test_a_query_no_release_matches_whole_shows_those_with_most_of_its_words(
    search: Search,
) -> None:
    # No release has "zebrafish": left out, and said so.
    results = search.run("fetal tissue zebrafish")
    assert (ids(results), results.dropped) == ([5], ("zebrafish",))
    assert results.adjustments == (
        Hint("No release has every word of your search: showing those without “zebrafish”."),
    )
    # Every word is somewhere, but never all together: the fewest left out, the most matches
    # kept ("nih" and "funding" are together in release 6; "hamburg" is not with them).
    results = search.run("nih funding hamburg")
    assert (ids(results), results.dropped) == ([6], ("hamburg",))
    assert search.run("zebrafish").total == 0  # nothing matches any part


def test_several_ways_to_leave_out_as_few_words_show_the_releases_of_each(
    store: Store,
) -> None:
    bodies = [
        "Mitochondrial donation is legal in the UK.",
        "A birth in Mexico followed mitochondrial replacement.",
        "Organ donation in Mexico.",
        "Nothing alike.",
    ]
    for n, body in enumerate(bodies, 1):
        store.save_release(release(n, f"Note {n}", body), source="rss", now=0)
    results = Search(store, page_size=9).run("mitochondrial donation mexico zebrafish")

    # Each pair of the three known words is in one release; "zebrafish" is in none.
    assert set(ids(results)) == {1, 2, 3}
    assert (results.dropped, results.partial) == (("zebrafish",), True)
    assert results.adjustments == (
        Hint(
            "No release has every word of your search: showing those with the most of them; "
            "none has “zebrafish”."
        ),
    )


def test_a_quoted_phrase_is_never_split_when_words_are_left_out(search: Search) -> None:
    results = search.run('"fetal tissue" zebrafish')
    assert (ids(results), results.dropped) == ([5], ("zebrafish",))


# -- acronyms -----------------------------------------------------------------------------------


def test_an_acronym_finds_its_long_form_and_the_long_form_its_acronym(search: Search) -> None:
    assert set(ids(search.run("MHRA"))) == {1, 2}  # 2 only spells the agency out
    assert set(ids(search.run("medicines and healthcare products regulatory agency"))) == {1, 2}
    assert set(ids(search.run("MHRA AI"))) == {1, 2}
    # Plural, lower case, and the first half of a long form.
    assert set(ids(search.run("ipscs"))) == {3, 4}
    assert set(ids(search.run("induced pluripotent"))) == {3, 4}


def test_acronyms_are_learned_from_the_archive_and_forgotten_with_it(
    store: Store, search: Search
) -> None:
    assert ids(search.run("NIH")) == [6, 5]  # defined nowhere: only itself
    store.save_release(
        release(9, "Funding", "The National Institutes of Health (NIH) funds research."),
        source="rss",
        now=1,
    )
    assert set(ids(search.run("national institutes of health"))) == {9, 6, 5}
    assert set(ids(search.run("NIH"))) == {9, 6, 5}
    store.save_release(release(9, "Funding", "Research is funded."), source="rss", now=2)
    assert store.acronyms() == [
        (short, long, 1)
        for short, long in sorted(
            {
                ("AI", "artificial intelligence"),
                ("MHRA", "medicines and healthcare products regulatory agency"),
                ("iPSC", "induced pluripotent stem cells"),
            }
        )
    ]
    assert ids(search.run("NIH")) == [6, 5]


def test_acronym_definitions_are_read_as_press_releases_write_them() -> None:
    text = (
        "The U.S. Food and Drug Administration (FDA) and the European Medicines Agency (EMA) "
        "met on chimeric antigen receptor T-cell (CAR-T) therapies (see below) in 2024 (ISSCR)."
    )
    assert defined_acronyms(text) == {
        ("FDA", "food and drug administration"),
        ("EMA", "european medicines agency"),
        ("CAR-T", "chimeric antigen receptor t-cell"),
    }
    assert defined_acronyms("Induced pluripotent stem cells (iPSCs).") == {
        ("iPSC", "induced pluripotent stem cells")
    }


# -- what the reading must never do ----------------------------------------------------------


def test_numbers_and_codes_are_never_corrected(store: Store) -> None:
    for n, body in enumerate(("Guidelines of 2021.", "The H1N1 strain.", "5000 attended."), 1):
        store.save_release(release(n, f"Note {n}", body), source="rss", now=0)
    search = Search(store, page_size=9)

    for typed in ("guidelines 2023", "h1n2", "3000 attended"):
        assert search.run(typed).corrected == (), typed
    assert ids(search.run("guidelines 2023")) == [1]  # "2023" left out, not read as 2021
    assert search.run("guidelines 2023").dropped == ("2023",)


def test_many_words_never_together_still_find_each_alone(search: Search) -> None:
    # No two of these share a release: the tries allowed run out before pairs would; each
    # word alone then finds its releases.
    results = search.run("fetal sequestration hamburg awards japan embryo")
    assert results.total > 0 and results.partial
    assert {5, 6, 7, 8} <= set(ids(results))


def test_a_corrected_word_then_left_out_is_named_as_typed(search: Search) -> None:
    results = search.run("anual sequestation")  # each corrected; never together
    assert results.corrected == (("anual", "annual"), ("sequestation", "sequestration"))
    assert results.partial
    assert "sequestation" not in str(results.adjustments[-1])


def test_a_query_too_long_to_quote_offers_no_search_as_typed() -> None:
    text = "tisue " + " ".join(f"{word}{'x' * 20}" for word in "abcdefghijk")
    text = text + "y" * (300 - len(text))  # 300 characters: its quotes would make 302
    results = Results(text, parse(text), [], 0, 1, 5, corrected=(("tisue", "tissue"),))
    assert results.instead is None
    assert results.adjustments[0].pieces[0::2] == ("Showing results for ", ".")


def test_a_short_acronym_of_two_words_is_not_what_those_words_mean(store: Store) -> None:
    texts = [
        (1, "Stem cell (SC) lines", "Stem cell (SC) lines were made."),
        (2, "Elections in SC", "The SC primary."),
        (3, "Cells and stems", "A stem of a plant and a cell."),
    ]
    for n, title, body in texts:
        store.save_release(release(n, title, body), source="rss", now=0)
    search = Search(store, page_size=9)

    assert set(ids(search.run("stem cell"))) == {1, 3}  # not the elections; words apart count
    assert set(ids(search.run("SC"))) == {1, 2}  # the acronym still finds its long form


def test_control_characters_in_feed_text_do_not_break_marking(store: Store) -> None:
    [(lead, _)] = store.marked([("t", "one two\x00 three four zygote five", "")], '"zygote"')
    assert lead is not None
    assert lead.replace("\x02", "[").replace("\x03", "]") == "one two three four [zygote] five"


def test_a_category_with_accents_is_found_by_its_words(store: Store) -> None:
    item = release(1, "Note", "Text.")
    store.save_release(
        Release(**{**item.__dict__, "categories": ("Éthique",)}), source="rss", now=0
    )
    store.save_release(release(2, "Other", "Other."), source="rss", now=0)
    search = Search(store, page_size=9)

    assert ids(search.run("éthique")) == [1]
    assert ids(search.run("ethique")) == [1]
    assert store.word_counts(["ethique"]) == {"ethique": 1}
