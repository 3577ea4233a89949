"""Parsing real-shaped Squarespace RSS into releases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.ingest.html_text import excerpt, paragraphs
from bot.ingest.rss import parse_feed
from bot.models import FeedError, Release
from standins.feed_server import OMIT_GUID, make_item, render_rss
from tests.conftest import DATA_DIR

FEED_URL = "https://www.isscr.org/isscr-news?format=rss"


def test_sample_feed_gives_every_release_with_squarespace_fields() -> None:
    releases = parse_feed((DATA_DIR / "sample-feed.rss").read_bytes(), FEED_URL).releases

    assert [r.id for r in releases] == [
        "6579e5d57770b4da614e3254",
        "73ac2f3315978deabf87e15f",
        "815193b04a59ddc65b35bd9f",
        "518c1c2aa723a37f7fb34a64",
        "0e36fc6e135655a96d8ddf47",
    ]
    first = releases[0]
    assert first == Release(
        id="6579e5d57770b4da614e3254",
        title="The ISSCR Holds Second Meeting With UK Regulators on the Use of AI to Develop "
        "Stem Cell Therapies",
        link="https://www.isscr.org/isscr-news/the-isscr-holds-second-meeting-with-uk-regulators"
        "-on-the-use-of-ai",
        published=datetime(2025, 11, 19, 15, 49, 21, tzinfo=UTC),
        # The sample repeats every <category>: each is kept once, in order.
        categories=("Press Release", "Policy"),
        author="Kym Kilbourne",
        excerpt="The International Society for Stem Cell Research (ISSCR) held its second Broader "
        "Scope Scientific Advice meeting with the United Kingdom’s Medicines and Healthcare "
        "products Regulatory Agency (MHRA) on October 29, 2025, focusing on the use of "
        "artificial intelligence (AI) in developing stem cell…",
        body="The International Society for Stem Cell Research (ISSCR) held its second Broader "
        "Scope Scientific Advice meeting with the United Kingdom’s Medicines and Healthcare "
        "products Regulatory Agency (MHRA) on October 29, 2025, focusing on the use of "
        "artificial intelligence (AI) in developing stem cell therapies.",
        image_url=None,
    )
    assert releases[4].categories == ("Policy", "Statement")
    # Entities are decoded exactly once: "&amp;" becomes "&", not "&amp;".
    assert "research & “indirect costs”" in releases[3].excerpt


def test_media_content_image_and_relative_links_are_made_absolute() -> None:
    item = make_item(
        4,
        link="/isscr-news/relative-slug",
        image_url="/s/cover-image",
        html='<p>First <a href="/x">para</a>.</p><p>Second.</p>',
    )
    [release] = parse_feed(render_rss([item]), FEED_URL).releases

    assert release.link == "https://www.isscr.org/isscr-news/relative-slug"
    assert release.image_url == "https://www.isscr.org/s/cover-image"
    assert release.excerpt == "First para."
    assert release.body == "First para.\n\nSecond."


def test_identity_falls_back_to_link_then_title_and_date() -> None:
    no_guid = make_item(5, guid=OMIT_GUID)
    odd_guid = make_item(6, guid="urn:custom:42")
    no_guid_no_link = make_item(7, guid=OMIT_GUID, link="")
    releases = parse_feed(render_rss([no_guid, odd_guid, no_guid_no_link]), FEED_URL).releases

    assert releases[0].id == "https://www.isscr.org/isscr-news/release-5"
    assert releases[1].id == "urn:custom:42"
    assert releases[2].id.startswith("sha1:")
    # The same item parsed again keeps the same identity.
    again = parse_feed(render_rss([no_guid_no_link]), FEED_URL).releases
    assert again[0].id == releases[2].id


def test_excerpt_takes_the_first_paragraph_and_cuts_at_a_word() -> None:
    html = (
        "<div><script>alert(1)</script><p>  </p><p>Alpha&nbsp;beta <b>gamma</b><br>delta "
        + "word " * 100
        + "</p><p>Second paragraph.</p></div>"
    )
    text = excerpt(paragraphs(html))
    assert text.startswith("Alpha beta gamma delta word word")
    assert text.endswith("word…")
    assert len(text) <= 300
    assert paragraphs("<p>One</p><ul><li>Two</li></ul>") == ["One", "Two"]


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"", None, "empty response body"),
        (b"   \n", None, "empty response body"),
        (
            b"<!DOCTYPE html><html><body><p>Squarespace</p></body></html>",
            "text/html",
            "got an HTML page instead of a feed",
        ),
        (b"\x00\x01\x02garbage\xff\xfe", None, "response is not an RSS or Atom feed"),
        (
            b"<?xml version='1.0'?><rss version='2.0'><channel><item><title>cut",
            "application/rss+xml",
            "malformed feed XML",
        ),
    ],
)
def test_what_is_not_a_feed_is_an_error_with_a_reason(
    body: bytes, content_type: str | None, reason: str
) -> None:
    with pytest.raises(FeedError) as raised:
        parse_feed(body, FEED_URL, content_type)
    assert raised.value.failure.reason.startswith(reason)


def test_an_empty_but_valid_feed_has_no_releases() -> None:
    assert parse_feed(render_rss([]), FEED_URL).releases == []
