"""Block Kit payloads are plain data: check them as data."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.models import Found, Release
from bot.search.grammar import Hint, parse
from bot.search.results import Results
from bot.slack.blocks.admin import recent_changes_blocks
from bot.slack.blocks.announcement import (
    announcement_blocks,
    announcement_metadata,
    announcement_text,
    just_shared_text,
    shared_blocks,
)
from bot.slack.blocks.common import escape, marked
from bot.slack.blocks.search import (
    help_blocks,
    latest_blocks,
    page_value,
    problem_blocks,
    read_page_value,
    search_blocks,
    search_text,
)
from bot.store import Change, Store
from tests.conftest import mrkdwn_texts

HOSTILE = Release(
    id="abc",
    title="<!channel> Big news & <https://evil.example|isscr.org> <@U0ADMIN01>",
    link="https://www.isscr.org/isscr-news/a|b>c",
    published=datetime(2025, 11, 19, 15, 49, 21, tzinfo=UTC),
    categories=("Press <b>Release</b>", "<!here>"),
    author="<!subteam^S123>",
    excerpt="Read <https://evil.example|here> & <!everyone>",
    image_url="https://images.squarespace-cdn.com/x/cover",
)


def test_escape_neutralises_every_mrkdwn_control_sequence() -> None:
    assert escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"


def test_no_feed_text_can_mention_or_disguise_a_link() -> None:
    parsed = [*mrkdwn_texts(announcement_blocks(HOSTILE)), announcement_text(HOSTILE)]
    payload = "\n".join(parsed)

    assert len(parsed) == 3
    for dangerous in (
        "<!channel",
        "<!here",
        "<!everyone",
        "<@U0ADMIN01",
        "<!subteam",
        "<https://evil",
    ):
        assert dangerous not in payload
    assert "&lt;!channel&gt; Big news &amp; &lt;https://evil.example|isscr.org&gt;" in payload
    section = announcement_blocks(HOSTILE)[0]["text"]["text"]
    # The only link is ours, its URL cannot break out of the <url|label> syntax.
    assert section.startswith("*<https://www.isscr.org/isscr-news/a%7Cb%3Ec|&lt;!channel&gt; Big")
    assert section.count("<") == 1
    button = announcement_blocks(HOSTILE)[2]["elements"][0]
    assert button["url"] == "https://www.isscr.org/isscr-news/a%7Cb%3Ec"


def test_announcement_has_title_link_labels_date_author_excerpt_image_and_button() -> None:
    release = Release(
        id="6579e5d57770b4da614e3254",
        title="The ISSCR Holds Second Meeting",
        link="https://www.isscr.org/isscr-news/second-meeting",
        published=datetime(2025, 11, 19, 15, 49, 21, tzinfo=UTC),
        categories=("Press Release", "Policy"),
        author="Kym Kilbourne",
        excerpt="The ISSCR held its second meeting.",
        image_url="https://images.squarespace-cdn.com/x/cover",
    )

    assert announcement_blocks(release) == [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "*<https://www.isscr.org/isscr-news/second-meeting|The ISSCR Holds Second "
                "Meeting>*\nThe ISSCR held its second meeting.",
            },
            "accessory": {
                "type": "image",
                "image_url": "https://images.squarespace-cdn.com/x/cover",
                "alt_text": "The ISSCR Holds Second Meeting",
            },
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "*Press Release* · *Policy*  |  "
                    "<!date^1763567361^{date}|19 Nov 2025>  |  Kym Kilbourne",
                }
            ],
        },
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "read_release",
                    "text": {"type": "plain_text", "text": "Read on isscr.org"},
                    "url": "https://www.isscr.org/isscr-news/second-meeting",
                    "value": "6579e5d57770b4da614e3254",
                }
            ],
        },
    ]
    assert announcement_text(release) == (
        "ISSCR Press Release, Policy: The ISSCR Holds Second Meeting"
    )
    assert announcement_metadata(release) == {
        "event_type": "isscr_news_item",
        "event_payload": {"item_id": "6579e5d57770b4da614e3254"},
    }
    without_image = announcement_blocks(release, with_image=False)
    assert "accessory" not in without_image[0]


def results_for(found: list[Found], *, text: str = "stem", total: int | None = None, page: int = 1):
    return Results(
        text=text,
        query=parse(text),
        found=found,
        total=len(found) if total is None else total,
        page=page,
        page_size=5,
    )


def test_search_results_escape_feed_and_query_text_and_bold_only_the_matches() -> None:
    hit = Found(
        HOSTILE, marked_excerpt="Read <https://evil.example|here> about \x02stem\x03 & more"
    )
    results = results_for([hit], text="<!here> stem", total=7)
    shown = search_blocks(results, "/isscr-news")
    payload = "\n".join(mrkdwn_texts(shown))

    for dangerous in ("<!channel", "<!here", "<@U0ADMIN01", "<!subteam", "<https://evil"):
        assert dangerous not in payload
    assert shown[0]["text"]["text"] == ("*7 releases match “&lt;!here&gt; stem”*  ·  page 1 of 2")
    assert "Read &lt;https://evil.example|here&gt; about *stem* &amp; more" in payload
    section = shown[2]
    assert section["accessory"]["action_id"] == "share_release"
    assert section["accessory"]["value"] == "abc"
    [actions] = [block for block in shown if block["type"] == "actions"]
    [next_button] = actions["elements"]
    assert next_button["text"]["text"] == "Next ▸"
    assert read_page_value(next_button["value"]) == ("<!here> stem", 2)
    assert "<!here>" not in search_text(results)


def test_the_last_page_has_only_a_previous_button() -> None:
    release = Release(id="r1", title="One", link="https://www.isscr.org/isscr-news/one")
    shown = search_blocks(results_for([Found(release)], total=11, page=3), "/isscr-news")

    [actions] = [block for block in shown if block["type"] == "actions"]
    assert [button["text"]["text"] for button in actions["elements"]] == ["◂ Prev"]
    assert read_page_value(actions["elements"][0]["value"]) == ("stem", 2)
    assert "page 3 of 3" in shown[0]["text"]["text"]


def test_no_results_lists_the_hints_escaped() -> None:
    results = Results(
        text="zebra",
        query=parse("zebra"),
        found=[],
        total=0,
        page=1,
        page_size=5,
        hints=(Hint("No release mentions “<b>zebra</b>”."),),
    )
    shown = search_blocks(results, "/isscr-news")

    assert shown[0]["text"]["text"] == "*0 releases match “zebra”*"
    assert shown[1]["text"]["text"] == (
        "Nothing matched.\n• No release mentions “&lt;b&gt;zebra&lt;/b&gt;”.\n"
        "`/isscr-news help` shows every way to search."
    )


def test_page_values_that_are_not_ours_are_refused() -> None:
    for junk in (
        "",
        "{",
        "[]",
        '{"q": 1, "p": 2}',
        '{"q": "x", "p": "2"}',
        '{"q": "x", "p": true}',
    ):
        assert read_page_value(junk) is None
    assert read_page_value(page_value("“x” y", 4)) == ("“x” y", 4)


def test_a_problem_is_echoed_escaped_with_its_example() -> None:
    example = Hint("", "category:<policy>", " or a word")
    shown = problem_blocks("No category “<!channel>”.", example, command="/isscr-news")

    assert shown[0]["text"]["text"] == (
        ":mag: No category “&lt;!channel&gt;”.\nTry: `category:&lt;policy&gt;` or a word\n"
        "`/isscr-news help` shows every way to search."
    )


def test_a_shared_release_names_the_member_and_only_a_real_user_id_becomes_a_mention() -> None:
    release = Release(id="r1", title="One", link="https://www.isscr.org/isscr-news/one")

    assert shared_blocks(release, "U0MEMBER01")[-1]["elements"][0]["text"] == (
        "Shared by <@U0MEMBER01>"
    )
    assert shared_blocks(release, "U1> <!channel")[-1]["elements"][0]["text"] == (
        "Shared by a member"
    )
    assert shared_blocks(release, "U0MEMBER01")[:-1] == announcement_blocks(release)
    assert just_shared_text("U1> <!channel") == (
        "Another member shared this release here a moment ago."
    )


def test_help_shows_an_example_of_every_form() -> None:
    text = help_blocks("/isscr-news")[0]["text"]["text"]

    for form in (
        "`/isscr-news`",
        '"stem cell tourism"',
        "category:policy",
        "after:2024-01-01",
        "before:2025-01-01",
        "author:kilbourne",
        "`/isscr-news help`",
    ):
        assert form in text


def test_a_capped_result_says_how_it_was_chosen() -> None:
    release = Release(id="r1", title="One", link="https://www.isscr.org/isscr-news/one")
    results = Results(
        text="stem",
        query=parse("stem"),
        found=[Found(release)],
        total=501,
        page=1,
        page_size=5,
        ranked_at_most=500,
    )
    shown = search_blocks(results, "/isscr-news")

    assert shown[0]["text"]["text"] == "*More than 500 releases match “stem”*  ·  page 1 of 100"
    assert shown[1]["elements"][0]["text"] == (
        "Showing the newest 500, those with your words in the title first. Add a word or a "
        "filter to narrow the search."
    )


def marked_by(words: list[str], text: str) -> str:
    """`text` as a search result shows it when the index matched `words` in it."""
    store = Store(":memory:")
    try:
        [(lead, _)] = store.marked([("", text, "")], " OR ".join(f'"{word}"' for word in words))
    finally:
        store.close()
    return marked(lead or text)


def test_a_match_is_bold_only_where_slack_can_bold_it_and_no_feed_star_pairs_with_ours() -> None:
    # Slack bolds only at a word's edges, and mrkdwn has no escape for `*` or a backtick.
    assert marked_by(["embryo", "model"], "The embryo*model*") == "The embryo∗model∗"
    assert marked_by(["embryo"], "cool_embryo_study") == "cool_embryo_study"
    assert marked_by(["embryo"], "x*embryo*y") == "x∗embryo∗y"
    assert marked_by(["embryo"], "_embryo_ ~embryo~ `embryo`") == "_embryo_ ~embryo~ ˋembryoˋ"
    assert marked_by(["embryo"], "a *stray star, then embryo") == "a ∗stray star, then *embryo*"
    assert marked_by(["embryo"], "`code with embryo inside`") == "ˋcode with *embryo* insideˋ"
    assert marked_by(["embryo"], "_italic embryo text_ (embryo), “embryo”… embryo") == (
        "_italic *embryo* text_ (*embryo*), “*embryo*”… *embryo*"
    )
    assert marked_by(["embryo"], "<embryo> & embryo") == "&lt;embryo&gt; &amp; *embryo*"


def test_the_heading_echoes_a_query_with_formatting_characters_without_breaking_its_bold() -> None:
    shown = search_blocks(results_for([], text="a*b_c ~d `e`", total=0), "/isscr-news")

    assert shown[0]["text"]["text"] == "*0 releases match “a∗bˍc ∼d ˋeˋ”*"


def test_a_long_title_and_excerpt_are_cut_apart_so_the_link_stays_whole_within_the_limit() -> None:
    url = "https://www.isscr.org/isscr-news/long"
    release = Release(
        id="r1", title="T" * 3500, link=url, excerpt="Stem & cells " * 400, published=None
    )
    found = Found(release, marked_excerpt="\x02Stem\x03 & cells " * 400)
    announced, latest, result = (
        announcement_blocks(release)[0]["text"]["text"],
        latest_blocks([release])[1]["text"]["text"],
        search_blocks(results_for([found]), "/isscr-news")[2]["text"]["text"],
    )

    head = f"*<{url}|{'T' * 499}…>*"
    assert latest == head
    # An entity or a bold word that does not fit whole is left out, never cut.
    assert announced.startswith(head + "\nStem &amp; cells Stem")
    assert announced.endswith(" cells Stem …") and len(announced) == 2997
    assert result.startswith(head + "\n*Stem* &amp; cells *Stem*")
    assert result.endswith("*Stem* &amp; cells …") and len(result) == 2995


def test_a_result_gives_its_date_before_its_categories() -> None:
    release = Release(
        id="r1",
        title="One",
        link="https://www.isscr.org/isscr-news/one",
        published=datetime(2025, 11, 19, 15, 49, 21, tzinfo=UTC),
        categories=("Policy", "Statement"),
        author="Kym Kilbourne",
    )
    [context] = [
        block
        for block in search_blocks(results_for([Found(release)]), "/isscr-news")
        if block["type"] == "context"
    ]
    assert context["elements"][0]["text"] == (
        "<!date^1763567361^{date}|19 Nov 2025>  |  *Policy* · *Statement*  |  Kym Kilbourne"
    )


def test_recent_changes_are_sentences_whoever_wrote_them_and_whenever() -> None:
    at = datetime(2025, 11, 3, 14, 2, tzinfo=UTC).timestamp()
    changes = [
        Change(at, "U0ADMIN001", "route", "C0POLICY01: added Policy to C0POLICY01 (now <Policy>)"),
        Change(at, "", "route", "C0NEWS0001: routed every category to C0NEWS0001"),
        Change(at, "U1> <!channel", "poll", "asked for a feed poll"),
        Change(at, "U0ADMIN001", "route", "C0POLICY01: route added for Policy"),  # older wording
    ]

    [section] = recent_changes_blocks(changes)

    when = "<!date^1762178520^{date_short_pretty} at {time}|3 Nov 2025 14:02 UTC>"
    assert section["text"]["text"].splitlines() == [
        "*Recent changes*",
        f"• <@U0ADMIN001> added Policy to <#C0POLICY01> (now &lt;Policy&gt;) — {when}",
        f"• The bot routed every category to <#C0NEWS0001> — {when}",
        f"• The bot asked for a feed poll — {when}",
        f"• <@U0ADMIN001> route: <#C0POLICY01>: route added for Policy — {when}",
    ]
