"""Block Kit payloads are plain data: check them as data."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot import blocks
from bot.models import Release

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
    assert blocks.escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"


def mrkdwn_texts(value: object) -> list[str]:
    """Every string Slack parses as mrkdwn in a payload (plain_text and alt_text are not)."""
    if isinstance(value, list):
        return [text for item in value for text in mrkdwn_texts(item)]
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            return [value["text"]]
        return [text for item in value.values() for text in mrkdwn_texts(item)]
    return []


def test_no_feed_text_can_mention_or_disguise_a_link() -> None:
    parsed = [*mrkdwn_texts(blocks.announcement_blocks(HOSTILE)), blocks.announcement_text(HOSTILE)]
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
    section = blocks.announcement_blocks(HOSTILE)[0]["text"]["text"]
    # The only link is ours, its URL cannot break out of the <url|label> syntax.
    assert section.startswith("*<https://www.isscr.org/isscr-news/a%7Cb%3Ec|&lt;!channel&gt; Big")
    assert section.count("<") == 1
    button = blocks.announcement_blocks(HOSTILE)[2]["elements"][0]
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

    assert blocks.announcement_blocks(release) == [
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
    assert blocks.announcement_text(release) == (
        "ISSCR Press Release, Policy: The ISSCR Holds Second Meeting"
    )
    assert blocks.announcement_metadata(release) == {
        "event_type": "isscr_news_item",
        "event_payload": {"item_id": "6579e5d57770b4da614e3254"},
    }
    without_image = blocks.announcement_blocks(release, with_image=False)
    assert "accessory" not in without_image[0]


def test_unknown_words_are_echoed_escaped() -> None:
    payload = json.dumps(blocks.unknown_words_blocks("/isscr-news", "<!channel> hi"))
    assert "<!channel>" not in payload
    assert "&lt;!channel&gt; hi" in payload
