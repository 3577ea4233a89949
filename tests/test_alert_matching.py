"""Which members a new release is sent to by their alerts, on a real database: strict reading
(stems and acronyms, never corrections, completions or words left out), the keys that pick
the candidates (the same members as checking every alert), paused members, the workspaces that
get news, a workspace leaving, and which releases of a poll alert anyone at all."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from bot.alerts import MAX_ALERTS, AlertMatcher, MemberAlerts
from bot.database import Database
from bot.models import ALERT, SINGLE_WORKSPACE, Alert, Installation, Place, Release
from bot.search.alerts import AlertPlanning, ReleaseWords, matches
from bot.search.grammar import QueryError, normal
from bot.store import Store
from standins.feed_server import FeedServer, make_item
from tests.conftest import make_watcher, newest_first

DAY = datetime(2025, 1, 1, tzinfo=UTC)
SINGLE = AlertMatcher(distribution=False)


def release(
    n: int,
    title: str,
    body: str = "",
    *,
    categories: tuple[str, ...] = ("Policy",),
    author: str | None = "Kym Kilbourne",
) -> Release:
    return Release(
        id=f"r{n:04d}",
        title=title,
        link=f"https://www.isscr.org/isscr-news/r{n}",
        published=DAY + timedelta(days=n),
        categories=categories,
        author=author,
        excerpt=body[:100],
        body=body,
    )


def stored(store: Store, *releases: Release) -> None:
    with store.transaction():
        for item in releases:
            store.save_release(item, source="rss", now=1.0)


def member(store: Store, user: str = "U0MEMBER01", team: str = SINGLE_WORKSPACE) -> MemberAlerts:
    return MemberAlerts(store, team=team, user=user, clock=lambda: 1.0)


def sent(store: Store, item: Release, matcher: AlertMatcher = SINGLE) -> dict[str, list[str]]:
    """Store `item` as new, and say who its alerts go to: member -> queries."""
    stored(store, item)
    return {place.channel: queries for place, queries in matcher.alerts_for(store, item)}


@pytest.fixture
def archive(store: Store) -> Store:
    stored(
        store,
        release(1, "ISSCR Statement on Embryo Models", "Guidelines for embryo models."),
        release(
            2,
            "Induced pluripotent stem cells (iPSC) and the clinic",
            "Induced pluripotent stem cells (iPSC) are reprogrammed.",
            categories=("Press Release",),
        ),
        release(3, "NIH funding letter", "A coalition letter.", author="Keith Alm"),
    )
    return store


def test_an_alert_matches_a_new_release_with_its_words_as_search_reads_them(
    archive: Store,
) -> None:
    member(archive).save("embryo models")

    assert sent(archive, release(10, "New guidance on the embryo model")) == {
        "U0MEMBER01": ["embryo models"]
    }
    assert sent(archive, release(11, "Embryo research")) == {}  # "models" is not there


def test_a_misspelt_word_is_never_corrected_and_waits_for_that_word(archive: Store) -> None:
    member(archive).save("embyro models")

    assert sent(archive, release(10, "Embryo models, again")) == {}
    assert sent(archive, release(11, "Embyro models: a typo in a title")) == {
        "U0MEMBER01": ["embyro models"]
    }


def test_an_unfinished_last_word_is_not_completed(archive: Store) -> None:
    member(archive).save("embr")

    assert sent(archive, release(10, "Embryo models")) == {}
    assert sent(archive, release(11, "The EMBR study")) == {"U0MEMBER01": ["embr"]}


def test_no_word_is_ever_left_out_and_a_word_no_release_holds_yet_matches_when_it_comes(
    archive: Store,
) -> None:
    member(archive).save("embryo organoids")

    assert sent(archive, release(10, "Embryo models")) == {}
    assert sent(archive, release(11, "Organoids and embryo research")) == {
        "U0MEMBER01": ["embryo organoids"]
    }


def test_an_acronym_finds_its_long_form_and_a_long_form_its_acronym(archive: Store) -> None:
    member(archive, "U0ACRONYM1").save("iPSC")
    member(archive, "U0SPELLED1").save("induced pluripotent stem cells")

    assert sent(archive, release(10, "Induced pluripotent stem cells in the clinic")) == {
        "U0ACRONYM1": ["iPSC"],
        "U0SPELLED1": ["induced pluripotent stem cells"],
    }
    assert sent(archive, release(11, "New iPSC lines")) == {
        "U0ACRONYM1": ["iPSC"],
        "U0SPELLED1": ["induced pluripotent stem cells"],
    }


def test_filters_match_a_category_by_its_name_and_an_author_by_part_of_theirs(
    archive: Store,
) -> None:
    member(archive, "U0CATEGORY").save("category:press")
    member(archive, "U0AUTHOR01").save("author:bourne")
    member(archive, "U0PHRASE01").save('"stem cells" category:policy')

    assert [a.query for a in archive.alerts_of(team="", user="U0CATEGORY")] == [
        'category:"Press Release"'
    ]
    # An author nobody had when the alert was saved.
    found = sent(
        archive,
        release(10, "Stem cells news", categories=("Press Release",), author="Jane Bourne-Smith"),
    )
    assert found == {"U0CATEGORY": ['category:"Press Release"'], "U0AUTHOR01": ["author:bourne"]}
    assert sent(archive, release(11, "Cells and stem", author=None)) == {}
    assert sent(archive, release(12, "Stem cells policy", author=None)) == {
        "U0PHRASE01": ['"stem cells" category:Policy']
    }


def test_a_query_that_cannot_be_an_alert_is_refused_with_what_to_type(archive: Store) -> None:
    for text, problem in [
        ("embryo before:2026", "leave out before:"),
        ("after:2020 embryo", "leave out after:"),
        ("category:polcy", "There is no category “polcy”. Did you mean Policy?"),
        ("", "An alert needs words or a filter"),
    ]:
        with pytest.raises(QueryError) as refused:
            member(archive).save(text)
        assert problem in str(refused.value)
    assert archive.alerts_of(team="", user="U0MEMBER01") == []


def test_saving_is_idempotent_and_a_member_holds_at_most_twenty(archive: Store) -> None:
    mine = member(archive)
    first = mine.save("embryo models")
    again = mine.save("EMBRYO  models")
    for n in range(MAX_ALERTS - 1):
        mine.save(f"word{n}")
    past = mine.save("one more")

    assert first.created and not again.created and again.alert == first.alert
    assert past.alert is None and not past.created
    assert len(archive.alerts_of(team="", user="U0MEMBER01")) == MAX_ALERTS


def test_a_member_removes_only_their_own_alerts(archive: Store) -> None:
    theirs = member(archive, "U0OTHER001").save("embryo models").alert
    assert theirs is not None

    forged = member(archive).remove(theirs.id)

    assert forged.alert is None
    assert [a.id for a in archive.alerts_of(team="", user="U0OTHER001")] == [theirs.id]
    assert member(archive, "U0OTHER001").remove(theirs.id).alert == theirs
    assert member(archive, "U0OTHER001").remove(theirs.id).alert is None  # idempotent


def test_one_message_per_member_however_many_of_their_alerts_match(archive: Store) -> None:
    mine = member(archive)
    mine.save("embryo")
    mine.save("models")

    assert sent(archive, release(10, "Embryo models")) == {"U0MEMBER01": ["embryo", "models"]}


def test_paused_members_get_nothing_and_using_their_alerts_resumes_them(archive: Store) -> None:
    member(archive).save("embryo")
    member(archive, "U0OTHER001").save("embryo")
    archive.pause_alerts(team="", user="U0MEMBER01", why="user_not_found", now=5.0)

    assert sent(archive, release(10, "Embryo")) == {"U0OTHER001": ["embryo"]}

    resumed = member(archive).mine()

    assert resumed.resumed == ("user_not_found", 5.0)
    assert sent(archive, release(11, "Embryo")) == {
        "U0MEMBER01": ["embryo"],
        "U0OTHER001": ["embryo"],
    }
    assert member(archive).mine().resumed is None


def installation(team: str) -> Installation:
    return Installation(
        team=team,
        enterprise_id=None,
        team_name=team,
        app_id="A0APP00001",
        bot_user_id=f"U0BOT{team[-4:]}",
        bot_id=f"B0BOT{team[-4:]}",
        bot_scopes="chat:write",
        encrypted_token="encrypted",
        installer="U0INSTALL1",
        installed_at=1.0,
    )


def test_in_distribution_mode_only_installed_workspaces_alerts_count_and_leaving_drops_them(
    archive: Store,
) -> None:
    archive.save_installation(installation("T0LAB00001"), now=1.0)
    archive.save_installation(installation("T0LAB00002"), now=1.0)
    for team in ("T0LAB00001", "T0LAB00002", "T0GONE0001", SINGLE_WORKSPACE):
        member(archive, team=team).save("embryo")
    matcher = AlertMatcher(distribution=True)

    assert [place for place, _ in matcher.alerts_for(archive, archive.release("r0001"))] == [
        Place("T0LAB00001", "U0MEMBER01"),
        Place("T0LAB00002", "U0MEMBER01"),
    ]

    assert archive.leave("T0LAB00001", why="uninstalled", now=2.0)

    assert archive.alerts_of(team="T0LAB00001", user="U0MEMBER01") == []
    assert [key for (key,) in archive.db.execute("SELECT DISTINCT alert_id FROM alert_keys")] == [
        alert.id
        for team in ("T0LAB00002", "T0GONE0001", SINGLE_WORKSPACE)
        for alert in archive.alerts_of(team=team, user="U0MEMBER01")
    ]
    assert archive.alert_counts(None) == {"members": 3, "alerts": 3, "paused": 0}


def test_admins_see_counts_only(archive: Store) -> None:
    member(archive).save("embryo")
    member(archive).save("nih")
    member(archive, "U0OTHER001").save("embryo")
    archive.pause_alerts(team="", user="U0OTHER001", why="user_disabled", now=1.0)

    assert archive.alert_counts("") == {"members": 2, "alerts": 3, "paused": 1}
    assert archive.alert_counts("T0ELSEWHER") == {"members": 0, "alerts": 0, "paused": 0}


# -- the keys pick exactly the members that checking every alert finds -------------------------

WORDS = [
    "embryo", "embryos", "model", "models", "modelling", "stem", "cell", "cells", "clinic",
    "clinics", "guidelines", "policy", "funding", "letter", "tourism", "gene", "editing",
    "organoid", "chimera", "research", "induced", "pluripotent", "ethics", "patients", "the",
    "of", "nih", "fda", "report", "day",
]  # fmt: skip
CATEGORIES = ["Policy", "Statement", "Press Release"]
AUTHORS = ["Kym Kilbourne", "Keith Alm", "Mariana Costa", None]


def random_release(n: int, rng: random.Random, *, new: bool) -> Release:
    """Release `n`: words of WORDS (and, in new ones, words no release held before), and
    now and then the definition of iPSC; new ones may bring a new category and author."""
    words = WORDS + (["xenotransplant", "organoids", "cryo", "bourne"] if new else [])
    text = " ".join(rng.choices(words, k=rng.randint(3, 14)))
    if rng.random() < 0.15 and not new:
        text += " Induced pluripotent stem cells (iPSC) were used."
    elif rng.random() < 0.15:
        text += " iPSC"
    categories = CATEGORIES + (["Press Kit"] if new else [])
    authors = AUTHORS + (["Jane Bourne-Smith", "Kymberly Stone"] if new else [])
    return release(
        n,
        " ".join(rng.choices(words, k=rng.randint(2, 6))).capitalize(),
        text,
        categories=tuple(dict.fromkeys(rng.choices(categories, k=rng.randint(1, 2)))),
        author=rng.choice(authors),
    )


def random_query(rng: random.Random, archive: list[Release]) -> str:
    """A query a member might save: words (a few no release holds yet, some misspelt), a
    phrase from a release, an acronym or its long form, filters, and mixes of these."""
    pieces = []
    kind = rng.random()
    if kind < 0.5:
        extra = ["organoids", "xenotransplant", "embyro", "modle"]
        pieces += rng.sample(WORDS + extra, rng.randint(1, 3))
    elif kind < 0.65:
        words = rng.choice(archive).body.split()
        start = rng.randrange(max(1, len(words) - 1))
        pieces.append('"' + " ".join(words[start : start + 2]).strip(".()") + '"')
    elif kind < 0.75:
        pieces.append(rng.choice(["iPSC", "induced pluripotent", "iPSCs"]))
    if rng.random() < 0.3 or not pieces:
        pieces.append(rng.choice(["category:policy", 'category:"press release"', "category:stat"]))
    if rng.random() < 0.2:
        pieces.append(f"author:{rng.choice(['bourne', 'alm', 'ky', 'a', 'costa', 'zz'])}")
    if rng.random() < 0.1:
        pieces = [piece.upper() if rng.random() < 0.5 else piece for piece in pieces]
    return " ".join(pieces)


def by_index(store: Store, alert: Alert, item: Release) -> bool:
    """Whether the stored `item` matches `alert`, by the index alone: its query (words and
    categories as FTS5) run against that release, and its author by part of the name."""
    if alert.authors and not any(part in normal(item.author or "") for part in alert.authors):
        return False
    rowid = store.db.execute("SELECT rowid FROM releases WHERE id = ?", [item.id]).fetchone()[0]
    return alert.match is None or bool(
        store.matching_rowids(alert.match, lowest=rowid, highest=rowid, limit=1)
    )


@pytest.fixture
def random_archive(store: Store) -> Iterator[tuple[Store, random.Random, list[Release]]]:
    rng = random.Random(15)
    past = [random_release(n, rng, new=False) for n in range(1, 61)]
    stored(store, *past)
    yield store, rng, past


def test_the_keys_pick_exactly_the_members_that_checking_every_alert_finds(
    random_archive: tuple[Store, random.Random, list[Release]],
) -> None:
    store, rng, past = random_archive
    saved = 0
    for n in range(300):
        try:
            if member(store, f"U0MEMBER{n % 20:02d}").save(random_query(rng, past)).created:
                saved += 1
        except QueryError:
            pass
    alerts = [a for (user,) in store.db.execute("SELECT DISTINCT user_id FROM alerts")
              for a in store.alerts_of(team="", user=user)]  # fmt: skip
    assert saved == len(alerts) > 200

    found_any = 0
    for n in range(100, 160):
        item = random_release(n, rng, new=True)
        keyed = sent(store, item)
        every: dict[str, list[str]] = {}
        for alert in alerts:  # no keys: each alert's query run against the release
            if by_index(store, alert, item):
                every.setdefault(alert.user_id, []).append(alert.query)
        assert keyed == every, item
        found_any += sum(map(len, every.values()))
    assert found_any > 100  # the releases did match alerts: the comparison means something


def test_an_alert_matches_the_past_releases_its_strict_search_finds(
    random_archive: tuple[Store, random.Random, list[Release]],
) -> None:
    store, rng, past = random_archive
    planning = AlertPlanning(store)
    checked = 0
    for _ in range(200):
        text = random_query(rng, past)
        try:
            preview = planning.preview(text)
        except QueryError:
            continue
        alert = member(store).save(text).alert
        if alert is None:  # a member's 20 are full: remove them all
            for old in store.alerts_of(team="", user="U0MEMBER01"):
                member(store).remove(old.id)
            alert = member(store).save(text).alert
        assert alert is not None
        assert sum(by_index(store, alert, item) for item in past) == preview.count, text
        for item in past:  # and its words, checked without the index, say the same
            words = ReleaseWords(store.indexed_words(item.id) or [])
            assert matches(alert, item, words) == by_index(store, alert, item), text
        checked += 1
    assert checked > 150


# -- which releases of a poll alert anyone ------------------------------------------------


async def test_only_the_releases_a_poll_announces_alert_members(
    db: Database, store: Store, session: aiohttp.ClientSession
) -> None:
    async with FeedServer(newest_first(1, 2, 3, html="<p>Embryo models.</p>")) as feed:
        watcher = make_watcher(db, session, feed, alerts_for=SINGLE.alerts_for)
        member(store).save("embryo models")
        await watcher.poll_once()  # the first poll's baseline: stored, nothing announced
        feed.items[:0] = newest_first(*range(4, 20), html="<p>Embryo models.</p>")
        await watcher.poll_once()  # a flood: 16 new, the newest 3 announced, the rest held
        feed.items[:0] = [make_item(30, html="<p>Embryo models.</p>")]
        await watcher.poll_once()

    alerted = store.db.execute(
        "SELECT release_id, channel FROM deliveries WHERE kind = ? ORDER BY id", [ALERT]
    ).fetchall()
    expected = [make_item(n).item_id for n in (17, 18, 19, 30)]
    assert [release_id for release_id, _ in alerted] == expected
    assert {channel for _, channel in alerted} == {"U0MEMBER01"}
