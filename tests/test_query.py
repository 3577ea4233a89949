"""The search grammar: what members type, parsed into plain data or a helpful QueryError."""

from __future__ import annotations

from datetime import date

import pytest

from bot.search.grammar import (
    MAX_QUERY_CHARS,
    Query,
    QueryError,
    Term,
    clean,
    is_help,
    parse,
)
from bot.slack.markup import from_slack


def test_words_phrases_and_every_filter_combine() -> None:
    query = parse(
        'stem "embryo  model" category:"Press Release" category:policy author:kym '
        "after:2024-01 before:2025"
    )

    assert query == Query(
        terms=(Term("stem"), Term("embryo model", phrase=True, quoted=True)),
        categories=("Press Release", "policy"),
        authors=("kym",),
        after=date(2024, 1, 1),
        before=date(2025, 1, 1),
    )
    assert query.describe() == (
        'stem "embryo model" category:"Press Release" category:policy author:kym '
        "after:2024-01-01 before:2025-01-01"
    )


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("", Query()),
        ("   ", Query()),
        (
            "“curly quotes” from a Mac",
            Query(terms=(Term("curly quotes", True, True), Term("from"), Term("a"), Term("Mac"))),
        ),
        (
            'unterminated "phrase here',
            Query(terms=(Term("unterminated"), Term("phrase here", True, True))),
        ),
        # A one-word phrase is a word, searched as typed (never corrected).
        ('"one"', Query(terms=(Term("one", quoted=True),))),
        ("NEAR( AND * - OR", Query(terms=(Term("NEAR("), Term("AND"), Term("OR")))),
        ("covid-19: update", Query(terms=(Term("covid-19:"), Term("update")))),
        ("title:embryo", Query(terms=(Term("title:embryo"),))),  # FTS5 column syntax is text
        ("https://www.isscr.org/x", Query(terms=(Term("https://www.isscr.org/x"),))),
        ("CATEGORY:Policy", Query(categories=("Policy",))),
        ("category:policy category:POLICY", Query(categories=("policy",))),
        ("after:2024/6/3", Query(after=date(2024, 6, 3))),
        ("stem stem", Query(terms=(Term("stem"),))),
        ("ｓｔｅｍ", Query(terms=(Term("stem"),))),  # full-width letters fold
    ],
)
def test_odd_input_still_parses(typed: str, expected: Query) -> None:
    assert parse(typed) == expected


@pytest.mark.parametrize(
    ("typed", "problem", "example"),
    [
        ("category:", "“category:” needs a value", 'category:"press release"'),
        ('category:"" stem', "“category:” needs a value", "category:policy"),
        ("author:", "“author:” needs a value", "author:kilbourne"),
        # A date that is nearly right: what is wrong, and the date it most likely means.
        ("after:2024-13-01", "“after:2024-13-01”: there is no month 13", "after:2024-01-13"),
        ("after:2024-13-31", "there is no month 13", "after:2024-12-01"),
        ("after:2024-02-30", "February 2024 has 29 days", "after:2024-02-29"),
        ("after:2023-02-29", "February 2023 has 28 days", "after:2023-02-28"),
        ("before:2024-04-00", "there is no day 0", "before:2024-04-01"),
        ("after:20240131", "needs dashes", "after:2024-01-31"),
        ("before:2024-01-31T10:00", "has a time", "before:2024-01-31"),
        ("after:31/01/2024", "puts the year last", "after:2024-01-31"),
        ("after:01/31/2024", "puts the year last", "after:2024-01-31"),
        ("after:05.03.2024", "puts the year last", "after:2024-03-05"),  # day first
        ("before:yesterday", "“before:yesterday” is not a date", "before:2025-01-01"),
        ("before:20241399", "is not a date", "YYYY-MM-DD"),
        ("after:0001-01-01", "outside the years I search (1900 to 2999)", "YYYY-MM-DD"),
        ("after:2024 after:2023", "after: appears more than once", "after:2024-06-30"),
        (
            "after:2025 before:2024",
            "after:2025-01-01 is not earlier than before:2024-01-01",
            "after:2024-01-01 before:2025-01-01",
        ),
        # The same period twice: the example is that period, not the same error again
        ("after:2024 before:2024", "is not earlier", "after:2024-01-01 before:2025-01-01"),
        ("after:2025-12 before:2025-12", "is not earlier", "after:2025-12-01 before:2026-01-01"),
        ("after:2024-03-04 before:2024-03-04", "is not", "after:2024-03-04 before:2024-03-05"),
        ('"', "has no letters or digits", "embryo model"),
        ('""', "has no letters or digits", "embryo model"),
        ("catgory:policy", "I don't know the filter “catgory:”", "category:policy"),
        ("Author:kym authr:kym", "I don't know the filter “authr:”", "author:kilbourne"),
        ("x" * (MAX_QUERY_CHARS + 1), "characters long", "embryo model guidelines"),
        (" ".join(f"w{n}" for n in range(13)), "13 words and phrases", "NIH funding letter"),
    ],
)
def test_a_malformed_filter_date_or_length_names_the_problem_and_an_example(
    typed: str, problem: str, example: str
) -> None:
    with pytest.raises(QueryError) as raised:
        parse(typed)

    assert problem in raised.value.problem
    assert example in str(raised.value.example)  # plain text: each surface formats it


def test_slack_markup_and_entities_become_what_the_member_sees() -> None:
    sent = "R&amp;D &lt;b&gt; <@U123|bob> <#C123|general> <https://x.org/a|label> <!here> <@U9>"
    assert from_slack(sent) == "R&D <b> bob general label here U9"


def test_control_format_and_private_use_characters_become_spaces() -> None:
    assert clean("stem\x00cell\u202eorganoid\u200b\tx\r\ny") == "stem cell organoid x y"
    # The index joins words with a private-use character: typed, it must stay out of reach.
    assert clean("\U0010fffd\U0010fffdpolicy\ue000x") == "policy x"


def test_help_words() -> None:
    assert is_help(" HELP ") and is_help("?")
    assert not is_help("help desk")
