"""The release fields the RSS and the JSON archive share (bot/ingest/fields.py), one by one."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.ingest.archive_page import parse_archive_page
from bot.ingest.dates import first_believable
from bot.ingest.fields import (
    ITEM_ID,
    NEITHER_TITLE_NOR_LINK,
    SQUARESPACE_GUID,
    Item,
    Reading,
    absolute,
    categories,
    identity,
    is_http,
    item_key,
    log_problems,
    one_line,
    read_items,
    release_of,
)
from bot.ingest.rss import parse_feed
from bot.models import Release
from standins.feed_server import OMIT_GUID, make_item, render_archive_page, render_rss

SITE = "https://www.isscr.org"
ITEM = "6579e5d57770b4da614e3254"
GUID = f"5a1b2c3d4e5f60718293a4b5:5f0e1d2c3b4a596877869504:{ITEM}"
NOW = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def test_one_line_makes_every_run_of_white_space_one_space() -> None:
    assert one_line("  Stem\n\tcells\u00a0 today \r\n") == "Stem cells today"
    assert one_line(" \n ") == ""


def test_categories_keep_the_first_spelling_of_each_name_in_order() -> None:
    names = ["Policy", " Press\n Release ", "policy", "", "  ", "POLICY", "Statement"]
    assert categories(names) == ("Policy", "Press Release", "Statement")
    assert categories([]) == ()


def test_an_item_key_is_the_squarespace_item_id_lowercased_in_either_source() -> None:
    assert item_key(f"  {GUID.upper()} ", SQUARESPACE_GUID) == ITEM
    assert item_key(ITEM.upper(), ITEM_ID) == ITEM
    # Any other guid or id is kept as written, only without surrounding spaces.
    assert item_key(" urn:custom:42 ", SQUARESPACE_GUID) == "urn:custom:42"
    assert item_key("Not-Hex-At-All-24-Chars!", ITEM_ID) == "Not-Hex-At-All-24-Chars!"
    assert item_key("   ", ITEM_ID) == ""


def test_identity_is_the_key_else_the_link_else_a_hash_of_title_and_date() -> None:
    link = f"{SITE}/isscr-news/a-post"
    assert identity(ITEM, link, "A post", "2025-11-19") == ITEM
    assert identity("", link, "A post", "2025-11-19") == link
    hashed = identity("", None, "A post", "2025-11-19")
    assert hashed.startswith("sha1:")
    assert identity("", None, "A post", "2025-11-19") == hashed  # stable between runs
    assert identity("", None, "A post", "2025-11-20") != hashed
    assert identity("", None, "Another post", "2025-11-19") != hashed


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/isscr-news/a-post", f"{SITE}/isscr-news/a-post"),
        ("  https://cdn.example/i.jpg\n", "https://cdn.example/i.jpg"),
        ("//cdn.example/i", "https://cdn.example/i"),  # the scheme of the page
        (None, None),
        ("", None),
        ("   ", None),
        ("mailto:press@isscr.org", None),
        ("javascript:alert(1)", None),
        ("http:foo", None),  # http(s), but no host: nothing a member can open
    ],
)
def test_absolute_resolves_against_the_site_and_keeps_only_http_addresses(
    url: str | None, expected: str | None
) -> None:
    assert absolute(url, f"{SITE}/isscr-news") == expected


def test_is_http_wants_a_scheme_and_a_host() -> None:
    assert is_http("https://www.isscr.org")
    assert is_http("http://127.0.0.1:8080/news")
    assert not is_http("https:///news")
    assert not is_http("ftp://www.isscr.org")
    assert not is_http("www.isscr.org")


def _item(**overrides: object) -> Item:
    values: dict[str, object] = {
        "key": ITEM,
        "title": " The ISSCR\n Statement ",
        "link": f"{SITE}/isscr-news/statement",
        "html": "<p>First &amp; foremost.</p><p>Second.</p>",
        "categories": ["Policy", "policy"],
        "author": "  Kym\nKilbourne ",
        "image_url": None,
        "date_seed": "",
    }
    values.update(overrides)
    return Item(**values)  # type: ignore[arg-type]


def test_a_release_is_made_of_its_items_fields_on_one_line() -> None:
    published = datetime(2025, 11, 19, tzinfo=UTC)
    release, note = release_of(_item(), SITE, published, "a fallback")
    assert release == Release(
        id=ITEM,
        title="The ISSCR Statement",
        link=f"{SITE}/isscr-news/statement",
        published=published,
        categories=("Policy",),
        author="Kym Kilbourne",
        excerpt="First & foremost.",
        body="First & foremost.\n\nSecond.",
        image_url=None,
    )
    assert note == "a fallback"


def test_a_release_without_a_title_is_untitled_and_one_without_a_link_links_the_site() -> None:
    [untitled, unlinked] = [
        release_of(_item(title=" \n "), SITE, None, None)[0],
        release_of(_item(link=None, author=""), SITE, None, None)[0],
    ]
    assert untitled is not None and untitled.title == "(untitled)"
    assert unlinked is not None and (unlinked.link, unlinked.author) == (SITE, None)


def test_an_item_with_neither_a_title_nor_a_link_is_skipped_with_the_reason() -> None:
    assert release_of(_item(title="", link=None), SITE, None, "a fallback") == (
        None,
        NEITHER_TITLE_NOR_LINK,
    )


def test_a_long_title_is_cut_at_a_word_to_500_characters() -> None:
    release, _ = release_of(_item(title="word " * 200), SITE, None, None)
    assert release is not None
    assert len(release.title) <= 500
    assert release.title.endswith("word…")


def test_reading_items_skips_the_bad_ones_with_a_line_each_and_keeps_the_others() -> None:
    good, _ = release_of(_item(), SITE, None, None)
    long_title, _ = release_of(_item(key="", title="x " * 100), SITE, None, None)

    def read(entry: str) -> Reading:
        if entry == "raises":
            raise KeyError(entry)
        if entry == "skipped":
            return None, "skipped, for a reason"
        return (long_title if entry == "noted" else good), "stored undated"

    releases, problems = read_items(["good", "raises", "skipped", "noted"], read)
    assert releases == [good, long_title]
    assert problems == [
        "item 1 (“The ISSCR Statement”): stored undated",
        "item 2: skipped, unreadable (KeyError)",
        "item 3: skipped, for a reason",
        f"item 4 (“{'x ' * 28}x…”): stored undated",  # cut to 60 characters
    ]


def test_reading_no_items_gives_nothing_and_no_problems() -> None:
    assert read_items([], lambda entry: (None, None)) == ([], [])


def test_item_problems_are_logged_five_at_most_then_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.test")
    log = logging.getLogger("bot.test")
    log_problems(log, "feed", [f"item {n}: skipped" for n in range(1, 8)])
    log_problems(log, "archive", ["item 1: skipped"], " on this page")
    assert [record.getMessage() for record in caplog.records] == [
        *(f"feed item: item {n}: skipped" for n in range(1, 6)),
        "feed items: 2 more problems",
        "archive item: item 1: skipped",
    ]


def test_the_first_believable_date_wins_and_the_later_ones_are_not_read() -> None:
    good = datetime(2025, 11, 19, tzinfo=UTC)
    read: list[str] = []

    def dates() -> Iterator[tuple[str, datetime | None]]:
        for shown, when in [("first", good), ("second", good)]:
            read.append(shown)
            yield shown, when

    assert first_believable(dates(), now=NOW) == (good, None)
    assert read == ["first"]


def test_without_a_believable_date_the_release_is_undated_and_each_broken_one_is_named() -> None:
    dates = [
        ("date “0000”", None),
        ("updated “1970”", datetime(1970, 1, 1, tzinfo=UTC)),
        ("publishOn 1e13", datetime(2286, 11, 20, tzinfo=UTC)),
    ]
    assert first_believable(dates, now=NOW) == (
        None,
        "date “0000” is not a date; updated “1970” is before the web existed; "
        "publishOn 1e13 is in the future: stored undated",
    )
    assert first_believable([], now=NOW) == (None, None)


def test_one_messy_post_gives_the_same_release_from_the_rss_and_the_archive() -> None:
    item = make_item(
        9,
        title="  Policy &\n  Practice  ",
        categories=["Policy", "POLICY", " Press   Release "],
        author=" Kym   Kilbourne ",
        link="/isscr-news/relative",
        image_url="/s/cover",
    )
    [from_rss] = parse_feed(render_rss([item]), f"{SITE}/isscr-news?format=rss").releases
    [from_json] = parse_archive_page(render_archive_page([item]), SITE).releases
    assert from_rss == from_json
    assert from_rss.title == "Policy & Practice"
    assert from_rss.categories == ("Policy", "Press Release")
    assert from_rss.author == "Kym Kilbourne"
    assert (from_rss.link, from_rss.image_url) == (
        f"{SITE}/isscr-news/relative",
        f"{SITE}/s/cover",
    )


def test_an_rss_link_without_a_host_is_not_the_releases_link() -> None:
    # The archive always refused it; the RSS stored "http:foo" as the link and the identity.
    item = make_item(3, guid=OMIT_GUID, link="http:foo")
    [release] = parse_feed(render_rss([item]), f"{SITE}/isscr-news?format=rss").releases
    assert release.link == f"{SITE}/isscr-news"  # the feed's own address
    assert release.id.startswith("sha1:")
