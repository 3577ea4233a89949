"""Everything the bot builds for Slack is within Slack's documented limits, whatever releases,
categories, routes and members' text hold: checked by standins/block_kit.py, the checks the
Slack stand-in applies (slack_sdk's models, and the limits they miss)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.models import SINGLE_WORKSPACE, Found, Release
from bot.routes import NO_CATEGORY, Changed
from bot.search.grammar import Hint, parse
from bot.search.marks import MARK_CLOSE, MARK_OPEN
from bot.search.results import Results
from bot.settings import Settings
from bot.slack.blocks.admin import (
    REMOVE_ROUTE,
    ROUTES_NEXT,
    route_answer,
    routes_table,
    status_answer,
)
from bot.slack.blocks.announcement import (
    announcement_blocks,
    announcement_text,
    minimal_announcement,
    shared_blocks,
    trial_blocks,
)
from bot.slack.blocks.common import safe_url
from bot.slack.blocks.forms import (
    categories_not_in_form,
    category_for_option,
    category_value,
    read_route_form_metadata,
    result_form,
    route_form,
    route_form_metadata,
    trial_form,
)
from bot.slack.blocks.home import admin_home_view, home_view, read_route_page
from bot.slack.blocks.search import (
    help_blocks,
    latest_blocks,
    page_value,
    problem_blocks,
    read_page_value,
    search_blocks,
    search_text,
)
from bot.store import Change, Route
from standins.block_kit import message_error, view_problems
from standins.feed_server import FeedServer, make_item
from standins.slack_api import SlackApi
from tests.conftest import CHANNEL, eventually
from tests.test_bot import running

LONG = 10_000
CJK_SLUG = "幹細胞研究" * 66  # 330 characters, 2,970 once percent-encoded
NAMES = [f"Category {n:02} " + "&<>*" * (LONG // 4) for n in range(60)]  # 10,000+ each


def extreme(n: int = 1, **overrides: Any) -> Release:
    """A release with every text as long and as hostile as a feed could make it."""
    values: dict[str, Any] = {
        "id": f"{n:024x}",
        "title": ("Stem & <cells> *bold* `code` <!channel> " * 300)[:LONG],
        "link": f"https://www.isscr.org/isscr-news/{CJK_SLUG}",
        "published": datetime(2025, 11, 19, 15, 49, 21, tzinfo=UTC),
        "categories": tuple(NAMES),
        "author": ("A & <B> " * 1250)[:LONG],
        "excerpt": ("Excerpt & <more> " * 600)[:LONG],
        "image_url": "https://images.squarespace-cdn.com/" + "画" * 1000,
    }
    values.update(overrides)
    return Release(**values)


def assert_valid_message(blocks_: list[dict[str, Any]], text: str = "ISSCR News") -> None:
    found = message_error({"text": text, "blocks": blocks_})
    assert found is None, found


def assert_valid_view(view: dict[str, Any]) -> None:
    assert view_problems(view) == []


def shown_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# -- announcements ------------------------------------------------------------------------


@pytest.mark.parametrize("with_image", [True, False], ids=["with image", "without image"])
def test_an_announcement_of_an_extreme_release_is_within_every_limit(with_image: bool) -> None:
    release = extreme(image_url="https://images.squarespace-cdn.com/x/cover")

    announced = announcement_blocks(release, with_image=with_image)
    assert_valid_message(announced, announcement_text(release))
    assert_valid_message(shared_blocks(release, "U0MEMBER01"))
    assert_valid_message(trial_blocks(release, "U0ADMIN001"))
    assert ("accessory" in announced[0]) is with_image
    assert len(announcement_text(release)) <= 3000


def test_the_read_button_is_checked_on_its_percent_encoded_link() -> None:
    # 363 characters as the feed gives it, over 3,000 once encoded as sent (the case)
    too_long = extreme(link=f"https://www.isscr.org/isscr-news/{CJK_SLUG}")
    # 1,800 characters encoded: too long to link the title, short enough for the button
    fits = extreme(link="https://www.isscr.org/isscr-news/" + "細" * 196)
    assert len(too_long.link) < 400 and len(safe_url(too_long.link)) > 3000

    without = announcement_blocks(too_long)
    with_button = announcement_blocks(fits)

    assert_valid_message(without)
    assert_valid_message(with_button)
    assert [block["type"] for block in without] == ["section", "context"]
    [button] = with_button[-1]["elements"]
    assert button["url"] == safe_url(fits.link) and len(button["url"]) <= 3000


def test_an_image_is_checked_on_its_percent_encoded_url_and_left_off_when_too_long() -> None:
    release = extreme(image_url="https://images.squarespace-cdn.com/" + "画" * 400)

    [section, *_] = announcement_blocks(release)

    assert "accessory" not in section  # 3,600 characters once encoded
    shorter = extreme(image_url="https://images.squarespace-cdn.com/画 像.png")
    image = announcement_blocks(shorter)[0]["accessory"]
    assert image["image_url"] == ("https://images.squarespace-cdn.com/%E7%94%BB%20%E5%83%8F.png")
    assert len(image["alt_text"]) <= 2000


def test_a_notification_text_is_cut_between_entities_far_within_slacks_limit() -> None:
    release = extreme(title="&" * LONG)

    text = announcement_text(release)

    assert len(text) <= 3000 and text.endswith("&amp;…")
    assert re.fullmatch(r"ISSCR Category 00 (&amp;|&lt;|&gt;|∗|\*|[^&<>])*…", text)


# -- the minimal announcement ---------------------------------------------------------------


@pytest.mark.parametrize(
    "release",
    [
        extreme(),
        extreme(link="https://www.isscr.org/" + "x" * 5000, title=""),
        extreme(link="", title="\x00\x07\ud800"),
        extreme(link="https://www.isscr.org/a|b>c <d>", title="<!channel> & *x*", categories=()),
        extreme(id="i" * LONG, published=None, author=None, image_url=None),
    ],
    ids=["extreme", "huge link, no title", "no link, control title", "hostile", "huge id"],
)
def test_the_minimal_announcement_is_within_every_limit_whatever_the_release_holds(
    release: Release,
) -> None:
    minimal = minimal_announcement(release)

    found = message_error(minimal)
    assert found is None, found
    assert "blocks" not in minimal  # nothing left for Slack to refuse as malformed
    assert minimal["metadata"]["event_payload"]["item_id"] == release.id


def test_the_minimal_announcement_is_the_escaped_title_linked_to_the_release() -> None:
    release = Release(
        id="r1",
        title="<!channel> New & *improved* guidelines",
        link="https://www.isscr.org/isscr-news/a|b>c",
        excerpt="An excerpt that is left out",
        categories=("Policy",),
        image_url="https://images.squarespace-cdn.com/x/cover",
    )

    assert minimal_announcement(release) == {
        "text": "*<https://www.isscr.org/isscr-news/a%7Cb%3Ec|&lt;!channel&gt; New "
        "&amp; ∗improved∗ guidelines>*",  # a `*` of the title shown as a look-alike
        "metadata": {"event_type": "isscr_news_item", "event_payload": {"item_id": "r1"}},
    }


# -- search answers -----------------------------------------------------------------------


def results(text: str, *, page: int, total: int, hints: tuple[Hint, ...] = ()) -> Results:
    marked = f"Excerpt & <more> {MARK_OPEN}stem{MARK_CLOSE} " * 600
    found = [Found(extreme(n), marked_excerpt=marked) for n in range(5)] if total else []
    # `text` is longer than a member may type (300 characters): the builder must not care
    return Results(
        text=text, query=parse("stem"), found=found, total=total, page=page, page_size=5,
        hints=hints,
    )  # fmt: skip


@pytest.mark.parametrize("page", [1, 2, 40])
@pytest.mark.parametrize("query", ["stem", "stem " + "&<>" * 600, "x" * LONG], ids=len)
def test_every_page_of_search_results_is_within_every_limit(query: str, page: int) -> None:
    shown = results(query, page=page, total=201)

    assert_valid_message(search_blocks(shown, "/isscr-news"), search_text(shown))
    assert len(search_text(shown)) <= 3000


def test_a_query_too_long_for_a_page_button_says_so_instead_of_the_buttons() -> None:
    shown = search_blocks(results("x" * 2500, page=2, total=201), "/isscr-news")

    assert not [block for block in shown if block["type"] == "actions"]
    assert shown[-1]["elements"][0]["text"] == (
        "This search is too long to page through: shorten it to see the others."
    )
    buttons = search_blocks(results("x" * 1900, page=2, total=201), "/isscr-news")[-1]
    assert [b["text"]["text"] for b in buttons["elements"]] == ["◂ Prev", "Next ▸"]


def test_a_search_that_finds_nothing_is_within_every_limit_with_long_hints() -> None:
    hints = tuple(Hint(f"No release mentions “{'&<>' * 1000}{n}”.") for n in range(5))

    shown = search_blocks(results("z" * LONG, page=1, total=0, hints=hints), "/isscr-news")

    assert_valid_message(shown)


def test_help_problems_and_the_latest_are_within_every_limit() -> None:
    command = "/isscr-news" + "&" * LONG  # a forged command name

    assert_valid_message(help_blocks(command))
    problem = problem_blocks("No “" + "<&>" * 3000 + "”.", Hint("x&" * 3000), command=command)
    assert_valid_message(problem)
    assert problem[0]["text"]["text"].endswith(" help` shows every way to search.")
    assert "\nTry: x&amp;" in problem[0]["text"]["text"]
    assert_valid_message(latest_blocks([extreme(n) for n in range(10)]))
    assert_valid_view(home_view([extreme(n) for n in range(10)], "/isscr-news"))


# -- admin answers ------------------------------------------------------------------------


def channel(n: int) -> str:
    return f"C{n:09d}"


def many_routes(count: int, categories: tuple[str, ...] = tuple(NAMES[:3])) -> list[Route]:
    return [Route(channel(n), categories, float(n), "U0ADMIN001") for n in range(count)]


def report(*, failed: int = 3) -> dict[str, Any]:
    error = {"at": "2026-01-01T00:00:00+00:00", "reason": "<!channel> & " * 2000}
    return {
        "feed": {
            "last_poll": "2026-01-01T00:00:00+00:00",
            "last_success": None,
            "last_error": error,
            "failures_in_a_row": 99,
        },
        "releases": 123_456,
        "archive": {"state": "failed: " + "<&>" * 3000},
        "deliveries": {
            "failed": failed,
            "failures": [
                {"channel": channel(n), "error": "<!here> " * 1000} for n in range(failed)
            ],
        },
    }


def counts(channels: int) -> dict[str, dict[str, int]]:
    return {channel(n): {"sent": 10**6, "waiting": 10**6, "failed": 10**6} for n in range(channels)}


def test_routes_and_status_answers_are_within_every_limit_for_a_thousand_channels() -> None:
    unrouted = [*NAMES, NO_CATEGORY]

    table = routes_table(many_routes(1000), unrouted)
    status = status_answer(report(), counts(1000))
    short = status_answer(report(), counts(1000), max_blocks=10)

    assert_valid_message(table)
    assert_valid_message(status)
    assert_valid_message(short)
    assert len(short) == 10
    assert table[-2]["text"]["text"].endswith("more routes: the Home tab shows them all.")
    assert table[-1]["text"]["text"].startswith("⚠ No channel takes *Category 00")
    assert "⚠ <#C000000000>: &lt;!here&gt;" in shown_text(status)  # failures before counts
    last = "• <#C000000999>: 1000000 sent, 1000000 waiting, 1000000 failed"
    assert status[-1]["text"]["text"].endswith(last)  # every channel in the message
    assert re.search(r"\n… and [\d,]+ more channels\.$", short[-1]["text"]["text"])


def test_the_status_of_a_database_that_cannot_be_read_lists_its_problems() -> None:
    # What bot.health.report gives when the database is locked past READ_WITHIN.
    unread = {"ok": False, "problems": ["Slack <rejected> the token", "The database is locked"]}
    long = {"ok": False, "problems": ["a" * 2000, "b" * 2000, "c"]}

    status = status_answer(unread, {})
    short = status_answer(long, {}, max_blocks=1)

    assert [block["text"]["text"] for block in status] == [
        "⚠ Slack &lt;rejected&gt; the token\n⚠ The database is locked"
    ]
    assert_valid_message(short)
    assert short[0]["text"]["text"] == f"⚠ {'a' * 2000}\n… and 2 more problems."


def test_every_route_fits_whole_in_the_routes_answer_when_the_texts_are_short() -> None:
    table = routes_table(many_routes(1000, ("Policy",)))

    assert_valid_message(table)
    lines = "\n".join(block["text"]["text"] for block in table).splitlines()
    assert lines == [
        "*Where ISSCR news goes*",
        *(f"• <#{channel(n)}> ← *Policy*" for n in range(1000)),
    ]


def test_a_route_answer_with_long_categories_is_within_every_limit() -> None:
    route = Route("C0POLICY01", tuple(NAMES), 1.0, "U0ADMIN001")

    answer = route_answer(
        "C0POLICY01",
        Changed(route, added=tuple(NAMES)),
        removing=False,
        membership="x" * LONG,
        routes=[route, *many_routes(1000)],
        unrouted=[*NAMES, NO_CATEGORY],
    )

    assert_valid_message(answer)
    shown = shown_text(answer)
    assert "more routes: the Home tab shows them all." in shown  # the table, cut to fit
    assert "⚠ No channel takes *Category 00" in shown


def changes(count: int = 10) -> list[Change]:
    detail = f"{channel(1)}: added " + ", ".join(NAMES)
    return [Change(1.7e9 + n, "U0ADMIN001", "route", detail) for n in range(count)]


def admin_home(routes: list[Route], *, page: int = 1, light: bool = False) -> dict[str, Any]:
    """The admins' Home with every text extreme (`light`: only the routes, to be quick)."""
    return admin_home_view(
        routes=routes,
        unrouted=[] if light else [*NAMES, NO_CATEGORY],
        report=report(failed=0 if light else 3),
        per_channel={} if light else counts(len(routes)),
        changes=[] if light else changes(),
        releases=[] if light else [extreme(n) for n in range(10)],
        command="/isscr-news",
        notice=None if light else "Route saved: " + "&amp;" * 1000,
        route_page=page,
    )


def buttons(view: dict[str, Any]) -> list[str]:
    return [
        element["text"]["text"]
        for block in view["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["type"] == "button"  # the setup card's channel menu has no label
    ]


@pytest.mark.parametrize("count", [0, 1, 70, 100, 1000])
def test_the_admin_home_keeps_its_buttons_and_health_within_every_limit(count: int) -> None:
    home = admin_home(many_routes(count))

    assert_valid_view(home)
    text = shown_text(home)
    paging = ["More routes ▸"] if count > 10 else []
    actions = ["Add route", "Poll now", "Send a test announcement", "Retry failed deliveries"]
    assert buttons(home) == ["Edit", "Remove"] * min(count, 10) + paging + actions
    assert "*Feed*: last poll" in text and "⚠ <#C000000000>" in text  # health
    assert "*Recent changes*" in text and "Latest ISSCR news" in text  # and the members' part
    assert len(home["blocks"]) <= 100


def test_the_admin_home_pages_through_a_thousand_routes_and_back() -> None:
    routes = many_routes(1000)
    seen: list[str] = []
    page, pages = 1, 0
    while True:
        home = admin_home(routes, page=page, light=True)
        assert_valid_view(home)
        seen += [block["block_id"][6:] for block in home["blocks"] if "block_id" in block]
        pages += 1
        more = [
            element
            for block in home["blocks"]
            if block["type"] == "actions"
            for element in block["elements"]
            if element["action_id"] == ROUTES_NEXT
        ]
        if not more:
            break
        page = read_route_page(more[0]["value"]) or 0

    assert seen == [route.channel for route in routes] and pages == 100
    assert "routes 991–1,000 of 1,000" in shown_text(home)
    [back] = [b for b in home["blocks"] if b["type"] == "actions" and "block_id" not in b][:1]
    assert back["elements"][0]["text"]["text"] == "◂ Previous routes"
    assert read_route_page(back["elements"][0]["value"]) == 99
    assert "routes 991–1,000" in shown_text(admin_home(routes, page=5000, light=True))


def test_a_route_saved_with_a_channel_that_is_no_id_is_shown_escaped_and_removable() -> None:
    routes = [Route("<!channel> " + "x" * LONG, ("Policy",), 1.0, "U0ADMIN001")]

    home = admin_home(routes)

    assert_valid_view(home)
    assert "“&lt;!channel&gt; xxx" in shown_text(home) and "<!channel>" not in shown_text(home)
    assert "Edit" not in buttons(home)
    short = admin_home([Route("not a channel", ("Policy",), 1.0, "U0ADMIN001")])
    [remove] = [
        e for b in short["blocks"] if b["type"] == "actions" for e in b["elements"]
        if e["action_id"] == REMOVE_ROUTE
    ]  # fmt: skip
    assert remove["value"] == "not a channel"


# -- the route form -------------------------------------------------------------------------


def form_select(form: dict[str, Any]) -> dict[str, Any]:
    [field] = [block for block in form["blocks"] if block.get("block_id") == "categories"]
    return field["element"]


def form_notes(form: dict[str, Any]) -> list[str]:
    return [b["elements"][0]["text"] for b in form["blocks"] if b["type"] == "context"]


@pytest.mark.parametrize(
    ("known", "own"),
    [
        (NAMES, NAMES[:5]),
        (NAMES, ()),
        ([], ("Policy",)),
        ([f"C{n:03}" for n in range(150)], ("C149", "C120", "C101")),
        ([f"C{n:03}" for n in range(150)], tuple(f"C{n:03}" for n in range(120))),
        (["Policy", "  ", "\x00"], ("\x00",)),
    ],
    ids=["60 long", "60 long, every category", "none known", "beyond 100", "120 own", "odd"],
)
def test_the_route_form_is_within_every_limit_whatever_the_categories(
    known: list[str], own: tuple[str, ...]
) -> None:
    route = Route("C0POLICY01", own, 1.5, "U0ADMIN001")

    for form in (route_form(known, route), route_form(known)):
        assert_valid_view(form)
    select = form_select(route_form(known, route))
    assert len(select["options"]) == min(100, len({*known, *own}))
    chosen = [option["value"] for option in select.get("initial_options", [])]
    offered = [*known, *own]
    assert [category_for_option(value, offered) for value in chosen] == list(own[:100])


def test_a_routes_categories_beyond_the_first_hundred_known_are_offered_and_chosen() -> None:
    known = [f"C{n:03}" for n in range(150)]
    route = Route("C0POLICY01", ("C149", "C120"), 1.5, "U0ADMIN001")

    form = route_form(known, route)

    select = form_select(form)
    assert [o["value"] for o in select["initial_options"]] == ["C149", "C120"]
    values = [o["value"] for o in select["options"]]
    assert values[:98] == known[:98] and values[98:] == ["C120", "C149"]
    assert form_notes(form) == [
        "50 more categories than a form can list (100) exist: route one of them with "
        "`/isscr-news route #channel Category`."
    ]
    assert categories_not_in_form(route) == ()


def test_a_route_with_more_categories_than_a_form_lists_keeps_the_others() -> None:
    own = tuple(f"C{n:03}" for n in range(120))
    route = Route("C0POLICY01", own, 1.5, "U0ADMIN001")

    form = route_form(own, route)

    assert len(form_select(form)["initial_options"]) == 100
    assert categories_not_in_form(route) == own[100:]
    assert form_notes(form) == [
        "This route takes 120 categories; a form lists 100. The other 20 are kept when you "
        "save: change them with `/isscr-news unroute #channel Category`."
    ]


def test_a_long_category_name_is_found_again_from_its_option_value() -> None:
    names = ["Policy", NAMES[0], "sha256:0123", "é" * 150, "é" * 151]

    values = [category_value(name) for name in names]

    assert values[0] == "Policy" and values[3] == "é" * 150
    assert all(0 < len(value) <= 150 for value in values) and len(set(values)) == len(names)
    assert [category_for_option(value, names) for value in values] == names
    assert category_for_option("Statement", names) is None
    assert category_for_option("sha256:" + "0" * 40, names) is None


def test_route_form_metadata_is_read_back_and_anything_the_form_never_wrote_is_refused() -> None:
    route = Route("C0POLICY01", ("Policy",), 1234.5, "U0ADMIN001")
    forged = [
        "{",
        "[]",
        '{"channel": "<!channel>", "version": 1}',
        '{"channel": "C0POLICY01"}',
        '{"channel": "C0POLICY01", "version": "1"}',
        '{"channel": "C0POLICY01", "version": true}',
        '{"channel": "C0POLICY01", "version": NaN}',
        '{"channel": "C0POLICY01", "version": 1, "more": 2}',
        "C0POLICY01\n",
        "not a channel",
    ]

    assert read_route_form_metadata(route_form_metadata(route)) == (
        "C0POLICY01",
        1234.5,
    )
    assert read_route_form_metadata("") == (None, None)
    assert read_route_form_metadata("C0POLICY01") == ("C0POLICY01", None)  # stale
    for metadata in forged:
        with pytest.raises(ValueError):
            read_route_form_metadata(metadata)


def test_paging_values_no_button_carries_are_refused() -> None:
    for page in (0, -1, 41, 10**9):
        assert read_page_value(page_value("stem", page)) is None
    assert read_page_value(page_value("x" * 301, 2)) is None
    assert read_page_value(page_value("x" * 300, 2)) == ("x" * 300, 2)
    assert read_page_value(page_value("stem", 40)) == ("stem", 40)
    for value in ("", "0", "-1", "1.5", "１", "9999999", " 2"):
        assert read_route_page(value) is None
    assert read_route_page("7") == 7


def test_the_other_forms_are_within_every_limit() -> None:
    assert_valid_view(trial_form())
    assert_valid_view(result_form("Nothing changed at all, really", "&amp;" * LONG))
    assert_valid_view(result_form("", "x"))


# -- end to end -------------------------------------------------------------------------------


async def test_a_release_with_a_long_non_ascii_link_and_extreme_texts_is_announced_once(
    make_settings: Callable[..., Settings], feed: FeedServer, slack: SlackApi
) -> None:
    # The case: a 363-character link with a CJK slug, over 3,000 once encoded
    hostile = make_item(
        4,
        title=("Stem & <cells> *bold* <!channel> " * 300)[:LONG],
        slug=CJK_SLUG,
        categories=NAMES[:60],
        author="A & <B> " * 1250,
        html="<p>" + "Excerpt &amp; &lt;more&gt; " * 600 + "</p>",
        image_url="https://images.squarespace-cdn.com/" + "画" * 400,
    )
    async with running(make_settings()) as bot:
        await eventually(lambda: bot.store.release_count() == 3)
        feed.items.insert(0, hostile)
        await eventually(lambda: bot.store.delivery_counts(team=SINGLE_WORKSPACE)["sent"] == 1)

    [message] = slack.messages[CHANNEL]  # Slack (the stand-in) took it the first time
    assert message["metadata"]["event_payload"]["item_id"] == hostile.item_id
    assert [block["type"] for block in message["blocks"]] == ["section", "context"]
    assert message["blocks"][0]["text"]["text"].startswith("*Stem &amp; &lt;cells&gt;")
    assert len(slack.calls_to("chat.postMessage")) == 1
