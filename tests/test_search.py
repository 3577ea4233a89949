"""The search engine against a real SQLite file: ranking, filters, paging, hints, safety."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.models import SINGLE_WORKSPACE, Place, Release, Validators
from bot.search.engine import Search, SearchError
from bot.search.grammar import Hint, QueryError
from bot.search.marks import MARK_CLOSE, MARK_OPEN
from bot.store import Store


def release(n: int, title: str, body: str = "", **fields: object) -> Release:
    values: dict[str, object] = {
        "id": f"{n:024x}",
        "title": title,
        "link": f"https://www.isscr.org/isscr-news/r{n}",
        "published": datetime(2020 + n // 12, n % 12 + 1, 1, 12, tzinfo=UTC),
        "categories": ("Press Release",),
        "author": "Kym Kilbourne",
        "excerpt": body.split("\n\n")[0],
        "body": body,
    }
    values.update(fields)
    return Release(**values)  # type: ignore[arg-type]


ARCHIVE = [
    release(
        1,
        "Guidelines for Embryo Models",
        "The ISSCR updates its guidelines.",
        categories=("Statement", "Policy"),
    ),
    release(
        2,
        "NIH Funding Letter",
        "The ISSCR joined a letter.\n\nIt mentions embryo research.",
        categories=("Policy",),
        author="Keith Alm",
    ),
    release(3, "Annual Meeting in Boston", "Organoids and embryo models were discussed."),
    release(
        4,
        "Stem cell tourism warning",
        "Unproven stem cell clinics harm patients.",
        categories=("Statement",),
    ),
    release(5, "Cells of the year", "The society celebrates cellular research."),
    # Releases about other things, as most of an archive is: the words above are distinctive.
    release(6, "Award winners named", "Three scientists receive awards.", author=None),
    release(7, "Journal editor appointed", "A new editor leads the journal.", author=None),
    release(8, "Members elect a board", "Members voted for the board.", author=None),
]


@pytest.fixture
def search(store: Store) -> Search:
    for item in ARCHIVE:
        store.save_release(item, source="rss", now=0)
    return Search(store, page_size=2)


def ids(results: object) -> list[int]:
    return [int(found.release.id, 16) for found in results.found]  # type: ignore[attr-defined]


def test_title_matches_rank_above_body_matches_and_newer_breaks_ties(search: Search) -> None:
    results = search.run("embryo")
    assert results.total == 3
    assert ids(results) == [1, 3]  # title first, then the lead paragraph, then the body
    assert ids(search.run("embryo", page=2)) == [2]


def test_when_no_word_is_distinctive_the_newest_come_first(store: Store) -> None:
    # "stem cell" is in every release (as "isscr" and "stem" are in a real archive): bm25
    # gives such words no weight, so every match is as good as the next, and newer is better,
    # whatever the length of a release or its title.
    texts = [
        ("Stem cell news", "Stem cell."),  # short, and "stem cell" in the title: but oldest
        ("Annual report", "Stem cell research, stem cell policy and stem cell funding."),
        ("Embryo models", "A long text about embryo models and a stem cell line. " * 5),
        ("Guidelines", "Stem cell guidelines."),
    ]
    for n, (title, body) in enumerate(texts, 1):
        store.save_release(release(n, title, body), source="rss", now=0)
    search = Search(store, page_size=9)

    assert ids(search.run("stem cell")) == [4, 3, 2, 1]
    assert ids(search.run('"stem cell"')) == [4, 3, 2, 1]
    # A distinctive word ranks: title matches first.
    for n in range(5, 10):
        store.save_release(release(n, f"Note {n}", "Other news."), source="rss", now=0)
    assert ids(search.run("embryo stem"))[:1] == [3]
    assert ids(search.run("stem"))[:1] == [1]  # in fewer than half the releases now


def test_a_word_naming_a_category_ranks_its_releases_newest_first(store: Store) -> None:
    # "Policy" is a category: the member wants the policy news, newest first, not the
    # release repeating the word most.
    texts = [
        (1, "Policy on policy", "Policy, policy and policy.", ("Policy",)),
        (2, "Letter to Congress", "A letter.", ("Policy",)),
        (3, "New guidelines", "Guidelines, with a policy section.", ("Statement",)),
    ]
    for n, title, body, categories in texts:
        store.save_release(release(n, title, body, categories=categories), source="rss", now=0)
    for n in range(4, 10):
        store.save_release(release(n, "Other", "Other news."), source="rss", now=0)
    search = Search(store, page_size=9)

    assert ids(search.run("policy")) == [3, 2, 1]
    assert ids(search.run("policy letter"))[:1] == [2]  # "letter" is distinctive: it ranks


def test_equally_relevant_releases_come_newest_first_on_every_page(store: Store) -> None:
    twins = [release(n, "Identical twin", "Same words.") for n in (30, 10, 50, 20, 40, 60, 70)]
    for twin in twins:
        store.save_release(twin, source="rss", now=0)
    for n in range(80, 90):  # releases without "twin", which makes it distinctive
        store.save_release(release(n, "Other news", "Nothing alike."), source="rss", now=0)
    store.save_release(release(5, "Twin twin twin", "Twin."), source="rss", now=0)
    search = Search(store, page_size=3)

    assert [ids(search.run("twin", page=page)) for page in (1, 2, 3)] == [
        [5, 70, 60],  # the best match first, then a tie running past the page: newest first
        [50, 40, 30],
        [20, 10],
    ]
    assert ids(Search(store, page_size=9).run("identical")) == [70, 60, 50, 40, 30, 20, 10]


def test_every_word_must_match_and_an_unfinished_last_one_is_a_prefix(search: Search) -> None:
    assert ids(search.run("isscr embryo")) == [1, 2]
    assert ids(search.run("letter embryo")) == [2]
    assert ids(search.run("stem clin")) == [4]  # "clin" is in no release: it finds "clinics"
    # Two letters are not read as a beginning: no release has "cl", so it is left out.
    stem_cl = search.run("stem cl")
    assert (ids(stem_cl), stem_cl.dropped) == ([4], ("cl",))
    assert {*ids(search.run("cells"))} == {4, 5}  # stemming: "cells" finds "cell"


def test_a_quoted_phrase_must_appear_as_written(search: Search) -> None:
    assert ids(search.run('"embryo models"')) == [1, 3]
    assert search.run('"models embryo"').total == 0


def test_matched_words_are_marked_in_the_excerpt_or_a_body_snippet(search: Search) -> None:
    [in_excerpt] = search.run("joined").found
    assert in_excerpt.marked_excerpt == f"The ISSCR {MARK_OPEN}joined{MARK_CLOSE} a letter."
    [in_body] = search.run("mentions").found
    assert in_body.marked_excerpt == (
        f"The ISSCR joined a letter. It {MARK_OPEN}mentions{MARK_CLOSE} embryo research."
    )
    [title_only] = search.run("boston").found
    assert title_only.marked_excerpt is None  # the title matched: the plain excerpt is shown


def test_filters_narrow_and_combine(search: Search) -> None:
    assert ids(Search(search.store, page_size=9).run("category:policy")) == [2, 1]
    assert ids(search.run("category:POLICY embryo")) == [1, 2]
    assert ids(search.run("category:statement category:policy embryo")) == [1, 2]
    assert ids(search.run('category:"press release" embryo')) == [3]
    assert ids(search.run("category:press embryo")) == [3]  # the one category it begins
    assert ids(search.run("author:alm")) == [2]
    assert ids(search.run("embryo after:2020-03-01 before:2020-04-01")) == [2]
    # On or after 1 May 2020.
    assert ids(Search(search.store, page_size=9).run("after:2020-05")) == [8, 7, 6, 5, 4]


def test_an_empty_query_lists_the_latest(search: Search) -> None:
    results = search.run("")
    assert (results.total, ids(results), results.pages, results.has_next) == (8, [8, 7], 4, True)


def test_an_unknown_category_lists_the_known_ones_or_the_nearest(search: Search) -> None:
    with pytest.raises(QueryError) as near:
        search.run("category:polcy")
    assert near.value.problem == "There is no category “polcy”. Did you mean Policy?"
    assert near.value.example == Hint("", "category:Policy")
    with pytest.raises(QueryError) as unknown:
        search.run("category:xyz embryo")
    assert unknown.value.example == Hint(
        "one of ", "category:Policy", ", ", 'category:"Press Release"', ", ", "category:Statement"
    )


def test_no_results_come_with_hints_backed_by_counts(search: Search) -> None:
    assert search.run("zebrafish").hints == (
        Hint("No release mentions “zebrafish”: check the spelling or leave it out."),
    )
    assert search.run("organoids category:policy").hints == (
        Hint("Without the filters, 1 release matches: try ", "organoids", "."),
    )
    assert search.run('"boston guidelines" "embryo funding"').hints == (
        Hint("No release has all 2 of these together: try fewer words."),
    )
    assert search.run("author:nobody").hints == (
        Hint("No author's name contains “nobody”; the authors are Keith Alm, Kym Kilbourne."),
    )
    assert search.run("embryo before:2019").hints == (
        Hint("Without the filters, 3 releases match: try ", "embryo", "."),
        Hint("Try a wider date range, or leave out ", "after:", " / ", "before:", "."),
    )
    # A last word too short to be read as a beginning ("em" is not "embryo*").
    assert search.run("xq em").hints == (
        Hint("No release has the word “em”: type at least 3 letters to find the words it begins."),
        Hint("No release mentions “xq”: check the spelling or leave it out."),
    )


@pytest.mark.parametrize(
    ("typed", "as_text"),
    [
        ("NEAR(embryo", '"near embryo"'),
        ("embryo*", "embryo"),
        ("^embryo", "embryo"),
        ("(embryo", "embryo"),
        ("embryo)", "embryo"),
        ("embryo + -", "embryo"),
        ('"embryo" "', "embryo"),
        ("embryo OR", "embryo or"),
        ("NOT embryo", "not embryo"),
        ("embryo AND", "embryo and"),
        ("models NOT embryo", "models not embryo"),
        ("title:embryo", '"title embryo"'),
        ("{title}:embryo", '"title embryo"'),
        ("'; DROP TABLE releases; --", "drop table releases"),
        ("author:%", "author:nobody"),
        ("author:_", "author:nobody"),
    ],
)
def test_fts5_syntax_typed_by_a_member_is_only_ever_text(
    search: Search, typed: str, as_text: str
) -> None:
    # The same releases as the same words typed plainly: no operator, column filter or
    # wildcard took effect (FTS5 would read "NOT embryo" as every release without it).
    results, plain = search.run(typed), search.run(as_text)
    assert (results.total, ids(results)) == (plain.total, ids(plain))
    assert search.store.release_count() == 8


@pytest.mark.parametrize("typed", ['"', '""', "%", "_", "*", "+ -"])
def test_fts5_syntax_alone_is_answered_with_a_hint(search: Search, typed: str) -> None:
    with pytest.raises(QueryError) as raised:
        search.run(typed)
    assert raised.value.problem and raised.value.example


def test_wildcards_are_literal(search: Search) -> None:
    assert search.run("embryo*").total == search.run("embryo").total == 3
    assert search.run("author:%").total == 0
    assert search.run("author:_").total == 0
    with pytest.raises(QueryError, match="no letters or digits"):
        search.run("%")


def test_an_edit_is_searchable_and_its_new_categories_filter(store: Store, search: Search) -> None:
    edited = release(5, "Cells of the decade", "Now about organoids.", categories=("Policy",))
    assert store.save_release(edited, source="rss", now=1)

    assert ids(search.run("decade")) == [5]
    assert search.run("year").total == 0
    assert 5 in ids(Search(store, page_size=9).run("category:policy"))
    assert 5 not in ids(Search(store, page_size=9).run('category:"press release"'))


def test_a_broad_query_shows_the_newest_title_matches_first_and_says_there_are_more(
    store: Store,
) -> None:
    # Twelve mention tourism: more than are shown (here 5; in the bot 200), so the newest are
    # read, those with "tourism" in the title first. 10 is among the newest; 1 is too old.
    for n in range(1, 13):
        title = "Quarterly news"
        if n in (1, 10):
            title = "Stem cell tourism warning"
        categories = ("Policy",) if n == 12 else ("Press Release",)
        body = "Other news.\n\nLater in the text, tourism."
        store.save_release(release(n, title, body, categories=categories), source="rss", now=0)
    for n in range(13, 26):  # without tourism: it is distinctive
        store.save_release(release(n, "Other", "Other news."), source="rss", now=0)
    search = Search(store, page_size=2, ranked_at_most=5)

    results = search.run("tourism")
    assert results.capped and results.pages == 3
    assert results.heading() == "More than 5 releases match “tourism”"
    assert results.note == (
        "Showing the newest 5, those with your words in the title first. Add a word or a "
        "filter to narrow the search."
    )
    assert [ids(search.run("tourism", page=n)) for n in (1, 2, 3)] == [[10, 12], [11, 9], [8]]
    # The filters apply before: the newest Press Releases.
    filtered = Search(store, page_size=5, ranked_at_most=5)
    assert ids(filtered.run("tourism category:press")) == [10, 11, 9, 8, 7]
    after = release(3, "x").published
    assert ids(
        Search(store, page_size=5, ranked_at_most=4).run(
            f"tourism after:{after.date().isoformat()}"
        )
    ) == [10, 12, 11, 9]
    assert search.run("tourism warning").capped is False
    assert (
        Search(store, ranked_at_most=5).run("").heading()
        == "Latest ISSCR news (25 releases stored)"
    )


def test_a_page_past_the_end_shows_the_last_page(search: Search) -> None:
    results = search.run("embryo", page=99)
    assert (results.page, ids(results)) == (2, [2])


def test_a_search_running_too_long_is_stopped_with_a_clear_message(store: Store) -> None:
    for n in range(1, 400):
        body = "embryo " * 50 if n % 8 < 3 else "other news"  # distinctive: weighed with bm25
        store.save_release(release(n, f"Release {n}", body), source="rss", now=0)
    with pytest.raises(SearchError, match="took longer than 0 seconds"):
        Search(store, time_limit=0).run("embryo")


def test_a_database_failure_is_reported_not_raised_raw(tmp_path: object, store: Store) -> None:
    store.db.execute("DROP TABLE releases_fts")
    with pytest.raises(SearchError, match="could not be searched"):
        Search(store).run("embryo")


def test_a_prefix_finds_every_word_it_begins_even_ones_the_stemmer_would_change(
    store: Store,
) -> None:
    # "accelerate" is indexed as "acceler", which the stemmer would turn into "accel" if
    # written out again: the expansion must still find it.
    for n, body in enumerate(("We accelerate research.", "Embryonic tissue.", "Embryos."), 1):
        store.save_release(release(n, f"Note {n}", body), source="rss", now=0)
    search = Search(store, page_size=9)

    assert ids(search.run("acce")) == [1]
    assert ids(search.run("embr")) == [3, 2]
    assert ids(search.run("note embryon")) == [2]
    assert search.run("zzz").total == 0


def test_a_last_word_of_several_parts_is_a_prefix_of_its_last_part(store: Store) -> None:
    bodies = ("Single-cell sequencing.", "Single-celled organisms.", "Single cells.", "Cells.")
    for n, body in enumerate(bodies, 1):
        store.save_release(release(n, f"Note {n}", body), source="rss", now=0)
    search = Search(store, page_size=9)

    assert ids(search.run("single-cel")) == [3, 2, 1]
    assert search.run("single-ce").total == 0  # two letters are matched whole
    assert ids(search.run("single-cell")) == [3, 2, 1]  # "celled" and "cells" begin "cell"
    assert ids(search.run("sequencing single-cel")) == [1]


def test_words_also_find_categories_and_authors(search: Search) -> None:
    assert set(ids(Search(search.store, page_size=9).run("statement"))) == {1, 4}
    assert ids(search.run("alm")) == [2]


def test_a_date_filter_leaves_out_undated_releases(store: Store) -> None:
    store.save_release(release(1, "Dated embryo"), source="rss", now=0)
    store.save_release(release(2, "Undated embryo", published=None), source="rss", now=0)

    assert ids(Search(store).run("embryo")) == [1, 2]  # undated sort as the oldest
    assert ids(Search(store).run("embryo before:2100")) == [1]
    assert ids(Search(store).run("embryo after:2000")) == [1]


def test_after_is_from_midnight_on_and_before_is_up_to_midnight(store: Store) -> None:
    moments = (
        datetime(2020, 4, 30, 23, 59, 59, tzinfo=UTC),
        datetime(2020, 5, 1, tzinfo=UTC),
        datetime(2020, 5, 1, tzinfo=UTC),  # two in one second
        datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),  # before the epoch
        datetime(1970, 1, 1, tzinfo=UTC),
    )
    for n, moment in enumerate(moments, 1):
        store.save_release(release(n, f"Embryo {n}", published=moment), source="rss", now=0)
    search = Search(store, page_size=9)

    assert sorted(ids(search.run("embryo after:2020-05-01"))) == [2, 3]
    assert ids(search.run("embryo before:2020-05-01 after:2020-04-30")) == [1]
    assert ids(search.run("embryo before:1970-01-01")) == [4]
    assert ids(search.run("embryo after:1970-01-01 before:1970-01-02")) == [5]
    assert ids(search.run("embryo", page=1))[-2:] == [5, 4]  # newest first, to the second


def test_a_prefix_is_what_was_typed_not_its_stem(store: Store) -> None:
    # "organization" is indexed as "organ", a beginning of "organoids" too.
    bodies = ("Organization news.", "Organoids grow.", "Cells divide.", "Cellular therapy.")
    for n, body in enumerate(bodies, 1):
        store.save_release(release(n, f"Note {n}", body), source="rss", now=0)
    search = Search(store, page_size=9)

    assert ids(search.run("organization")) == [1]
    assert ids(search.run("organi")) == [1]  # not "organoids", which the stem "organ" begins
    assert ids(search.run("cells")) == [3]  # the stem of "cells", not "cellular"
    assert ids(search.run("cell")) == [4, 3]
    # Not a beginning of any word: read as the word it most likely misspells.
    assert search.run("organizational").corrected == (("organizational", "organization"),)


def test_part_of_an_authors_name_is_enough(search: Search) -> None:
    assert ids(Search(search.store, page_size=9).run("author:bourne")) == [5, 4, 3, 1]
    assert ids(search.run("author:KEITH")) == [2]
    assert ids(Search(search.store, page_size=9).run("author:m")) == [5, 4, 3, 2, 1]
    assert str(search.run("author:nobody").hints[-1]).startswith(
        "No author's name contains “nobody”"
    )


def test_an_empty_archive_says_so_instead_of_hints(store: Store) -> None:
    search = Search(store)

    assert search.run("").hints == ()
    assert search.run("embryo").hints == (
        Hint(
            "No releases are stored yet: the first feed poll or the archive import has not "
            "finished. Try again in a few minutes."
        ),
    )


def test_ranking_follows_every_edit(store: Store, search: Search) -> None:
    search = Search(store, page_size=9)
    assert ids(search.run("annual")) == [3]

    # A new title, then a new date (which moves the release's rowid)
    store.save_release(release(3, "Embryo meeting in Boston", "Organoids."), source="rss", now=1)
    assert ids(search.run("embryo")) == [3, 1, 2]  # in the title first, newest first
    later = release(3, "Embryo meeting in Boston", "Organoids.", published=datetime(2030, 1, 1))
    store.save_release(later, source="rss", now=2)
    assert ids(search.run("embryo")) == [3, 1, 2]
    assert search.run("annual").total == 0
    # A new lead paragraph: "embryo" moves up from the body of 2 to its lead, above a newer
    # release with it in the body.
    store.save_release(release(9, "Note", "Intro.\n\nAn embryo."), source="rss", now=3)
    assert ids(search.run("embryo")) == [3, 1, 9, 2]
    edited = release(2, "NIH Funding Letter", "Embryo research letter.\n\nMore.")
    store.save_release(edited, source="rss", now=3)
    assert ids(search.run("embryo")) == [3, 1, 2, 9]
    # The vocabulary follows too: "annual" is in no release now, "intro" in one.
    assert store.word_counts(["annual", "intro", "embryo"]) == {"intro": 1, "embryo": 4}


def test_a_phrase_is_found_only_where_its_words_are_one_run(
    store: Store,
) -> None:
    texts = [
        ("Human embryo models", "Guidance."),
        ("Guidance", "The human embryo, and later embryo models."),  # both pairs, apart
        ("Human embryo", "models of all kinds."),  # a phrase does not run across columns
        ("Note", "Cell and stem research; stem cell research."),
    ]
    for n, (title, body) in enumerate(texts, 1):
        store.save_release(release(n, title, body), source="rss", now=0)
    for n in range(5, 10):
        store.save_release(release(n, "Other", "Other news."), source="rss", now=0)
    search = Search(store, page_size=9)

    assert ids(search.run('"human embryo models"')) == [1]
    assert ids(search.run('"human embryo"'))[2:] == [2]  # in two titles, then a body
    assert ids(search.run('"embryo models"')) == [1, 2]
    assert ids(search.run('"stem cell research"')) == [4]
    assert ids(search.run('"cell stem"')) == []
    assert ids(search.run("human embryo-mod")) == [1, 2]  # a prefix after a hyphen: a phrase


def test_a_category_filter_takes_the_whole_name_only(store: Store) -> None:
    named = [("Policy",), ("Health Policy",), ("Policy", "Statement"), ("Policy Letter",)]
    for n, categories in enumerate(named, 1):
        store.save_release(release(n, f"Note {n}", categories=categories), source="rss", now=0)
    search = Search(store, page_size=9)

    assert ids(search.run("category:policy")) == [3, 1]
    assert ids(search.run('category:"health policy"')) == [2]
    assert ids(search.run("category:policy category:statement")) == [3, 1]
    assert ids(search.run("policy")) == [4, 3, 2, 1]  # a word still finds any category


def test_only_a_change_to_the_releases_makes_a_search_reload_its_words(
    store: Store, tmp_path: Path
) -> None:
    store.save_release(ARCHIVE[0], source="rss", now=0)
    other = Store(tmp_path / "bot.db")  # the watcher's connection
    search = Search(store)
    assert search.run("guidelines").total == 1
    version = store.releases_version()

    # A poll, a delivery and a release saved again unchanged write, but change no release:
    # reloading the words of a large archive after each would cost a second.
    other.record_poll_success("https://example.org/feed", Validators(None, None), now=1)
    other.add_delivery(ARCHIVE[0].id, Place(SINGLE_WORKSPACE, "C1"), now=1)
    assert not other.save_release(ARCHIVE[0], source="rss", now=1)
    assert store.releases_version() == version

    other.save_release(release(7, "Organoid atlas"), source="rss", now=2)  # by another connection
    assert store.releases_version() != version
    assert search.run("atlas").total == 1  # a word only the new release has
    changed = replace(ARCHIVE[0], title="Guidelines for Embryo Models, revised")
    other.save_release(changed, source="rss", now=3)
    assert search.run("revised").total == 1
    other.close()


def test_a_category_name_matches_in_any_case_accents_included(store: Store) -> None:
    for n, categories in enumerate([("Éthique",), ("Éthique Médicale",)], 1):
        store.save_release(release(n, f"Note {n}", categories=categories), source="rss", now=0)
    search = Search(store, page_size=9)

    assert ids(search.run("category:éthique")) == [1]  # not only "Éthique Médicale"'s start
    assert ids(search.run("category:ÉTHIQUE")) == [1]
    assert ids(search.run('category:"éthique médicale"')) == [2]


def test_an_older_title_match_of_a_broad_query_still_has_every_word(store: Store) -> None:
    # "tourism" is distinctive here (in less than half the releases), "stem" is not.
    store.save_release(release(1, "Tourism report", "Nothing on cells."), source="rss", now=0)
    for n in range(2, 10):
        store.save_release(release(n, f"Note {n}", "Stem cell tourism."), source="rss", now=0)
    for n in range(10, 50):
        store.save_release(release(n, f"Filler {n}", "Stem cells."), source="rss", now=0)
    search = Search(store, page_size=9, ranked_at_most=5)

    results = search.run("tourism stem")
    assert results.capped
    assert 1 not in ids(results)  # its title has "tourism", but it has no "stem" anywhere
    assert ids(results) == [9, 8, 7, 6, 5]
