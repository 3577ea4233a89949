"""Every surface of alerts within Slack's documented limits, whatever the queries and releases
hold: the preview, the list, the direct message, the Home's section (also in the admins' Home,
beside a thousand routes) and the Home's forms; and hostile text escaped in each."""

from __future__ import annotations

import json
from typing import Any

from bot.models import Alert, Release
from bot.search.alerts import AlertQuery, Preview
from bot.slack.blocks.alerts import (
    alert_form,
    alert_message,
    alert_preview_form,
    alerts_message,
    home_alerts_blocks,
    preview_message,
)
from bot.slack.blocks.home import admin_home_view, home_view
from tests.conftest import mrkdwn_texts
from tests.test_limits import (
    NAMES,
    assert_valid_message,
    assert_valid_view,
    changes,
    counts,
    extreme,
    many_routes,
    report,
)

HOSTILE = ("<!channel> & *bold* `code` ~x~ _y_ " * 20)[:300]  # a query at its longest


def hostile_alerts(count: int = 20, *, paused: bool = True) -> list[Alert]:
    return [
        Alert(
            id=10**15 + n,
            team="",
            user_id="U0MEMBER01",
            query=f"{n} {HOSTILE}"[:300],
            match='"x"',
            authors=(),
            words=(((("x",),),),),
            created_at=1.7e9,
            paused="<!channel> & whatever Slack said " * 20 if paused else None,
            paused_at=1.7e9 if paused else None,
        )
        for n in range(count)
    ]


def preview(release: Release | None, **overrides: Any) -> Preview:
    values: dict[str, Any] = {
        "alert": AlertQuery(HOSTILE, '"x"', (), ("x",)),
        "count": 10_000,
        "releases": 10_001,
        "latest": release,
        "unknown": tuple(HOSTILE.split()),
        "suggestion": HOSTILE,
    }
    values.update(overrides)
    return Preview(**values)


def shown(value: Any) -> str:
    """What Slack reads as mrkdwn in `value` (plain text and values are never parsed)."""
    return json.dumps(mrkdwn_texts(value), ensure_ascii=False)


def test_the_preview_and_the_list_are_within_every_limit_and_escape_the_query() -> None:
    for answer in (
        preview_message(preview(extreme()), [], full=False),
        preview_message(preview(None, count=0), [], full=False),
        preview_message(preview(extreme()), hostile_alerts(), full=True),
        alerts_message(hostile_alerts(), limit=20, note="Removed &amp;", resumed=("<!x>", 1.7e9)),
        alerts_message([], limit=20),
    ):
        assert_valid_message(answer["blocks"], answer["text"])
        assert "<!channel>" not in shown(answer)


def test_the_direct_message_of_an_alert_is_within_every_limit() -> None:
    for queries in ([HOSTILE], [HOSTILE] * 20, []):
        for message in (
            alert_message(extreme(), queries),
            alert_message(extreme(), queries, with_image=False),
        ):
            assert_valid_message(message["blocks"], message["text"])
            assert "<!channel>" not in shown(message)
    minimal = alert_message(extreme(), [HOSTILE], minimal=True)
    assert "blocks" not in minimal and minimal["metadata"]["event_payload"]["item_id"]


def test_the_homes_with_twenty_alerts_are_within_every_limit() -> None:
    alerts = hostile_alerts()
    members = home_view([extreme(n) for n in range(10)], "/isscr-news", alerts)
    admins = admin_home_view(
        routes=many_routes(1000),
        unrouted=[*NAMES],
        report=report(failed=3),
        per_channel=counts(1000),
        changes=changes(),
        releases=[extreme(n) for n in range(10)],
        command="/isscr-news",
        notice="Route saved: " + "&amp;" * 1000,
        alerts=alerts,
    )

    for view in (members, admins):
        assert_valid_view(view)
        assert len(view["blocks"]) <= 100
        assert "<!channel>" not in shown(view)
        assert json.dumps(view).count("Remove the alert") == 20
    assert len(home_alerts_blocks(alerts)) == 22  # "Alert me about…", paused, 20 alerts


def test_the_homes_forms_are_within_every_limit() -> None:
    assert_valid_view(alert_form())
    for mine, full in (([], False), (hostile_alerts(), True)):
        assert_valid_view(alert_preview_form(preview(extreme()), mine, full=full))
