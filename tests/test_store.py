"""The store's public methods, each called directly on a real SQLite file: what they write and
what they read back. (The end-to-end tests reach the same methods through the running bot.)"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.models import SINGLE_WORKSPACE, Holder, Lease, Place, Release, Validators
from bot.store import (
    DISCARDED,
    DONE,
    FAILED,
    HELD,
    NOT_STARTED,
    PENDING,
    RATE_LIMITED,
    RUNNING,
    SENDING,
    SENT,
    Store,
    author_key,
    category_key,
    in_title,
    lease_name,
    published_rowids,
    release_key,
)

FEED, ARCHIVE = "https://www.isscr.org/isscr-news?format=rss", "https://www.isscr.org/isscr-news"


def release(n: int, title: str = "", body: str = "", **changes: Any) -> Release:
    """Release n, published on New Year's Day of 2020 + n, with `changes`."""
    made = Release(
        f"r{n}",
        title or f"Release {n}",
        f"https://www.isscr.org/isscr-news/r{n}",
        datetime(2020 + n, 1, 1, 12, tzinfo=UTC),
        ("Press Release",),
        "Kym Kilbourne",
        body.split("\n\n")[0],
        body,
    )
    return replace(made, **changes)


def stored(store: Store, *releases: Release) -> Store:
    for item in releases:
        store.save_release(item, source="rss", now=1.0)
    return store


def ids(store: Store, rowids: list[int]) -> list[str]:
    return [found.id for found in store.releases_by_rowid(rowids)]


# -- base -----------------------------------------------------------------------------------


def test_a_new_database_has_pages_of_16_kb_and_an_older_one_keeps_its_own(
    tmp_path: Path,
) -> None:
    new = Store(tmp_path / "new.db")
    new.ensure_schema()
    older = sqlite3.connect(tmp_path / "older.db")  # as an earlier version created it
    older.execute("CREATE TABLE releases (id TEXT PRIMARY KEY)")
    older.close()
    kept = Store(tmp_path / "older.db")
    try:
        assert new.db.execute("PRAGMA page_size").fetchone()[0] == 16_384
        assert kept.db.execute("PRAGMA page_size").fetchone()[0] == 4_096
    finally:
        new.close()
        kept.close()


def test_a_transaction_commits_together_and_rolls_back_together(store: Store) -> None:
    with store.transaction():
        store.record_change("U1", "poll", "polled the feed", now=1.0, team=SINGLE_WORKSPACE)
        with store.transaction():  # joins the outer one
            store.record_change("U1", "poll", "polled again", now=2.0, team=SINGLE_WORKSPACE)
    with pytest.raises(RuntimeError), store.transaction():
        store.record_change("U1", "poll", "lost", now=3.0, team=SINGLE_WORKSPACE)
        raise RuntimeError
    assert [change.detail for change in store.recent_changes(team=SINGLE_WORKSPACE)] == [
        "polled again",
        "polled the feed",
    ]


def test_time_limit_and_bounded_stop_a_statement_that_runs_too_long(store: Store) -> None:
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"
    for limit in (store.time_limit, store.bounded):
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="interrupted"), limit(0.05):
            store.db.execute(endless).fetchone()
        assert time.monotonic() - started < 5
    # Once the limit is left, statements run unbounded again, with the busy timeout as before
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    assert store.db.execute("SELECT 1").fetchone() == (1,)


def test_a_read_only_store_never_creates_or_writes_the_file(tmp_path: Path, store: Store) -> None:
    with pytest.raises(sqlite3.OperationalError):
        Store(tmp_path / "missing.db", read_only=True)
    assert not (tmp_path / "missing.db").exists()
    reader = Store(tmp_path / "bot.db", read_only=True)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.record_change("U1", "poll", "polled", now=1.0, team=SINGLE_WORKSPACE)
    finally:
        reader.close()


def test_copy_to_makes_a_whole_sound_copy_step_by_step(tmp_path: Path, store: Store) -> None:
    stored(store, *(release(n, body="Embryo. " * 200) for n in range(1, 6)))
    steps: list[tuple[int, int]] = []
    store.copy_to(
        tmp_path / "copy.db", pages=2, on_step=lambda left, total: steps.append((left, total))
    )
    copy = Store(tmp_path / "copy.db", read_only=True)
    try:
        assert copy.release_count() == 5 and copy.integrity_problems() == []
    finally:
        copy.close()
    assert len(steps) > 1 and steps[-1][0] == 0


def test_integrity_problems_finds_nothing_wrong_with_a_sound_database(store: Store) -> None:
    assert store.integrity_problems() == []


# -- releases -------------------------------------------------------------------------------


def test_save_release_inserts_then_updates_only_what_changed(store: Store) -> None:
    first = release(1, "Title", image_url="https://img/1.png")
    assert not store.has_releases()
    assert store.save_release(first, source="rss", now=1.0)
    assert not store.save_release(first, source="rss", now=2.0)  # unchanged
    # The archive lacks the image: the stored one is kept, and nothing changed
    assert not store.save_release(release(1, "Title"), source="archive", now=3.0)
    assert store.save_release(release(1, "New title"), source="archive", now=4.0)
    assert store.release("r1") == release(1, "New title", image_url="https://img/1.png")
    assert store.has_releases() and store.release_count() == 1
    assert store.release("r2") is None


def test_releases_are_found_by_id_link_title_and_date(store: Store) -> None:
    stored(store, release(1), release(2), release(3, link="https://www.isscr.org/isscr-news/r1"))
    assert store.known_release_ids(["r1", "r3", "r9"]) == {"r1", "r3"}
    links = ["https://www.isscr.org/isscr-news/r1", "https://www.isscr.org/isscr-news/r2", "x"]
    # The first stored of those sharing a link (r1 before r3: same first_seen, so by order)
    assert store.release_ids_by_link(links)["https://www.isscr.org/isscr-news/r2"] == "r2"
    assert set(store.release_ids_by_link(links)) == set(links[:2])
    assert (
        store.release_id_by_title_and_date("Release 2", datetime(2022, 1, 1, 12, tzinfo=UTC))
        == "r2"
    )
    assert store.release_id_by_title_and_date("Release 2", datetime(2023, 1, 1, tzinfo=UTC)) is None


def test_latest_releases_and_releases_by_rowid_keep_their_order(store: Store) -> None:
    stored(store, release(1), release(3), release(2), release(4, published=None))
    assert [item.id for item in store.latest_releases(2)] == ["r3", "r2"]
    rowids = store.matching_rowids(None, limit=9)  # every release, newest first
    assert ids(store, rowids) == ["r3", "r2", "r1", "r4"]
    assert ids(store, list(reversed(rowids))) == ["r4", "r1", "r2", "r3"]


# -- the search index -------------------------------------------------------------------------


def test_names_hold_each_category_and_the_author_whole_as_one_word(store: Store) -> None:
    assert store.tokens("Regulations of Stem-Cells") == ["regul", "of", "stem", "cell"]
    names = store.names({"categories": '["Press Release", "Policy"]', "author": "Kym Kilbourne"})
    assert names.split() == [
        category_key(["press", "releas"]),
        category_key(["polici"]),
        author_key(["kym", "kilbourn"]),
    ]
    assert store.names({"categories": "[]", "author": None}) == ""


def test_matching_counting_and_weighing_read_the_index(store: Store) -> None:
    stored(
        store,
        release(1, "Embryo models", "Guidance."),
        release(2, "Note", "Embryo research.\n\nMore."),
        release(3, "Letter", "Intro.\n\nAn embryo."),
        release(4, "Other", "Nothing."),
    )
    assert ids(store, store.matching_rowids("embryo", limit=9)) == ["r3", "r2", "r1"]
    assert ids(store, store.matching_rowids("embryo", limit=2)) == ["r3", "r2"]
    assert ids(store, store.matching_rowids(in_title("embryo"), limit=9)) == ["r1"]
    everything = store.matching_rowids(None, limit=9)
    assert store.count_matching("embryo", everything[0], everything[-1], 9) == 3
    assert store.count_matching("embryo", everything[0], everything[-1], 1) == 2  # at most + 1
    lowest, highest = published_rowids(
        datetime(2021, 6, 1, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC)
    )
    assert ids(store, store.matching_rowids("embryo", lowest=lowest, highest=highest, limit=9)) == [
        "r2"
    ]
    assert release_key(datetime(2022, 1, 1, tzinfo=UTC)) < release_key(
        datetime(2021, 1, 1, tzinfo=UTC)
    )
    scores = store.relevance("embryo", lowest=min(everything), highest=2**60)
    # bm25, lower is better: the title match weighs most, then the lead paragraph
    assert ids(store, sorted(scores, key=scores.__getitem__)) == ["r1", "r2", "r3"]


def test_categories_authors_and_the_vocabulary_come_from_the_stored_releases(
    store: Store,
) -> None:
    stored(
        store,
        release(1, "Embryo", categories=("Policy", "Statement")),
        release(2, "Cells", categories=(), author=None),
        release(3, "Embryo cells (NIH funding)", categories=("policy",), author="Keith Alm"),
    )
    assert store.categories() == ["Policy", "Statement"]  # one spelling per name
    assert store.category_named("POLICY") == "Policy"
    assert store.category_named("Meetings") is None
    assert store.authors() == ["Keith Alm", "Kym Kilbourne"]
    assert store.word_counts(["embryo", "cells", "cell", "kilbourne"]) == {
        "embryo": 2,
        "cells": 2,
        "kilbourne": 1,
    }
    assert store.stem_counts(["embryo", "cell", "polici"]) == {"embryo": 2, "cell": 2, "polici": 2}
    assert store.words_beginning("emb", 9) == [("embryo", 2)]
    assert store.words_sized("c", 5, 5) == [("cells", 2)]
    assert store.acronyms() == []
    stored(store, release(4, "The National Institutes of Health (NIH) letter"))
    assert store.acronyms() == [("NIH", "national institutes of health", 1)]
    # An edit moves the counts: the old words' down, the new ones' up.
    stored(store, release(4, "A letter"))
    assert store.acronyms() == []
    assert store.word_counts(["national", "letter"]) == {"letter": 1}
    assert store.release_count() == 4


def test_index_categories_adds_a_release_s_category_rows(store: Store) -> None:
    item = release(1, categories=("Policy",))
    stored(store, item)
    store.index_categories(release(1, categories=("Policy", "Statement")))
    assert store.categories() == ["Policy", "Statement"]


def test_releases_version_counts_changes_to_releases_only(store: Store) -> None:
    before = store.releases_version()
    stored(store, release(1))
    assert store.releases_version() == before + 1
    store.record_poll_success(FEED, Validators(), now=1.0)
    stored(store, release(1))  # unchanged: not written
    assert store.releases_version() == before + 1


def test_tidy_search_index_keeps_every_match(store: Store) -> None:
    stored(store, *(release(n, "Embryo") for n in range(1, 4)))
    store.tidy_search_index()
    assert len(store.matching_rowids("embryo", limit=9)) == 3
    store.db.execute("INSERT INTO releases_fts (releases_fts, rank) VALUES ('integrity-check', 1)")


# -- routes, seeds and the audit log ----------------------------------------------------------


def test_routes_are_saved_deleted_and_audited(store: Store) -> None:
    store.save_route(
        "C2",
        ["Policy"],
        team=SINGLE_WORKSPACE,
        by="U1",
        action="route",
        detail="C2: routed Policy",
        now=1.0,
    )
    store.save_route(
        "C1", [], team=SINGLE_WORKSPACE, by="U2", action="route", detail="C1: routed all", now=2.0
    )
    assert [
        (r.channel, r.categories, r.updated_by) for r in store.routes(team=SINGLE_WORKSPACE)
    ] == [
        ("C1", (), "U2"),
        ("C2", ("Policy",), "U1"),
    ]
    assert store.delete_route("C2", team=SINGLE_WORKSPACE, by="U1", detail="C2: unrouted", now=3.0)
    assert not store.delete_route(
        "C2", team=SINGLE_WORKSPACE, by="U1", detail="C2: unrouted", now=4.0
    )
    assert [r.channel for r in store.routes(team=SINGLE_WORKSPACE)] == ["C1"]
    assert [
        (c.at, c.user_id, c.action, c.detail) for c in store.recent_changes(team=SINGLE_WORKSPACE)
    ] == [
        (3.0, "U1", "unroute", "C2: unrouted"),
        (2.0, "U2", "route", "C1: routed all"),
        (1.0, "U1", "route", "C2: routed Policy"),
    ]
    store.record_change("U3", "poll", "polled the feed", now=5.0, team=SINGLE_WORKSPACE)
    assert [c.detail for c in store.recent_changes(limit=1, team=SINGLE_WORKSPACE)] == [
        "polled the feed"
    ]


def test_a_seed_routes_every_category_once_and_only_on_a_database_without_routes(
    store: Store,
) -> None:
    assert store.seeded("ANNOUNCE_CHANNEL") is None
    assert store.seed_route("ANNOUNCE_CHANNEL", "C1", by="U0", detail="C1: seeded", now=1.0)
    assert store.seeded("ANNOUNCE_CHANNEL") == ("C1", True)
    assert not store.seed_route("ANNOUNCE_CHANNEL", "C9", by="U0", detail="again", now=2.0)
    assert not store.seed_route(
        "OTHER", "C2", by="U0", detail="C2: seeded", now=3.0
    )  # routes exist
    assert store.seeded("OTHER") == ("C2", False)
    assert [(r.channel, r.categories) for r in store.routes(team=SINGLE_WORKSPACE)] == [("C1", ())]


def test_has_uncategorized_releases_says_whether_a_release_has_no_category(store: Store) -> None:
    stored(store, release(1))
    assert not store.has_uncategorized_releases()
    stored(store, release(2, categories=()))
    assert store.has_uncategorized_releases()


# -- deliveries, holds and leases ------------------------------------------------------------


HOLDER = Holder("owner-1", "host", 1)


def test_a_delivery_is_queued_once_posted_in_order_and_counted(store: Store) -> None:
    stored(store, release(1), release(2))
    assert store.add_delivery("r1", Place(SINGLE_WORKSPACE, "C1"), now=1.0)
    assert not store.add_delivery("r1", Place(SINGLE_WORKSPACE, "C1"), now=2.0)
    assert store.add_delivery("r2", Place(SINGLE_WORKSPACE, "C1"), now=3.0)
    assert store.channels_with_work() == [Place(SINGLE_WORKSPACE, "C1")]
    assert store.next_due_at() == 1.0
    taken = store.claim_channels(HOLDER, ttl=60, now=10.0, holder_is_gone=lambda _: False)
    first = taken[Place(SINGLE_WORKSPACE, "C1")]
    assert (first.release_id, first.state, store.next_delivery(Place(SINGLE_WORKSPACE, "C1"))) == (
        "r1",
        PENDING,
        first,
    )
    assert store.begin_post(first.id, owner=HOLDER.owner, ttl=60, now=11.0) == 1
    sending = store.delivery(first.id)
    assert sending is not None and (sending.state, sending.sending_since) == (SENDING, 11.0)
    store.mark_sent(first.id, ts="1.1", now=12.0, note="found in history")
    assert store.next_delivery(Place(SINGLE_WORKSPACE, "C1")).release_id == "r2"  # type: ignore[union-attr]
    assert store.delivery_counts(team=SINGLE_WORKSPACE) == {
        PENDING: 1,
        SENDING: 0,
        SENT: 1,
        FAILED: 0,
        HELD: 0,
        DISCARDED: 0,
    }
    assert store.delivery_counts_by_channel(team=SINGLE_WORKSPACE) == {
        "C1": {"waiting": 1, SENT: 1, FAILED: 0}
    }
    log = store.delivery_log()
    assert [(row["release_id"], row["state"], row["ts"]) for row in log] == [
        ("r1", SENT, "1.1"),
        ("r2", PENDING, None),
    ]
    assert [row["title"] for row in store.deliveries(team=SINGLE_WORKSPACE, states=[SENT])] == [
        "Release 1"
    ]
    assert store.delivery(999) is None


def test_a_failed_try_is_rescheduled_then_given_up_then_retried(store: Store) -> None:
    stored(store, release(1))
    store.add_delivery("r1", Place(SINGLE_WORKSPACE, "C1"), now=1.0)
    store.claim_channels(HOLDER, ttl=60, now=1.0, holder_is_gone=lambda _: False)
    [delivery] = [store.next_delivery(Place(SINGLE_WORKSPACE, "C1"))]
    assert delivery is not None
    attempt = store.begin_post(delivery.id, owner=HOLDER.owner, ttl=60, now=2.0)
    store.reschedule(
        delivery.id,
        attempt=attempt,
        due_at=100.0,
        error=f"{RATE_LIMITED}: wait",
        outcome_known=True,
    )
    assert store.waiting_after_failures(team=SINGLE_WORKSPACE) == (1, 0)
    assert [
        row["id"] for row in store.deliveries(team=SINGLE_WORKSPACE, states=[PENDING], failing=True)
    ] == [delivery.id]
    store.make_all_due(now=5.0)  # a rate limit is waited out even across a restart
    assert store.next_due_at() == 100.0
    store.reschedule(delivery.id, attempt=None, due_at=50.0, error="timeout", outcome_known=False)
    assert store.waiting_after_failures(team=SINGLE_WORKSPACE) == (0, 1)
    store.make_all_due(now=5.0)
    assert store.next_due_at() == 5.0
    store.reschedule(
        delivery.id, attempt=99, due_at=70.0, error="stale", outcome_known=True
    )  # not its try
    assert store.next_due_at() == 5.0
    attempt = store.begin_post(delivery.id, owner=HOLDER.owner, ttl=60, now=6.0)
    store.mark_failed(delivery.id, attempt=attempt, error="gave up", outcome_known=False)
    assert (
        store.delivery_counts(team=SINGLE_WORKSPACE)[FAILED] == 1
        and store.channels_with_work() == []
    )
    assert store.retry_failed(team=SINGLE_WORKSPACE, now=6.0) == 1
    retried = store.delivery(delivery.id)
    # Its last try may have reached Slack: it is looked for in history before posting again
    assert retried is not None and (retried.state, retried.attempts) == (SENDING, 0)


def test_held_deliveries_wait_for_an_admin_to_announce_or_discard_them(store: Store) -> None:
    stored(store, release(1), release(2))
    store.add_delivery(
        "r1", Place(SINGLE_WORKSPACE, "C1"), now=1.0, held_because="a flood of 30 releases"
    )
    store.add_delivery(
        "r1", Place(SINGLE_WORKSPACE, "C2"), now=1.0, held_because="a flood of 30 releases"
    )
    assert (
        store.held(team=SINGLE_WORKSPACE).releases,
        store.held(team=SINGLE_WORKSPACE).posts,
    ) == (1, 2)
    assert store.held(team=SINGLE_WORKSPACE).reason == "a flood of 30 releases"
    assert store.channels_with_work() == []  # the outbox never posts them
    assert store.announce_held(team=SINGLE_WORKSPACE, by="U1", now=2.0) == 1
    assert (
        store.channels_with_work() == [("", "C1"), ("", "C2")]
        and store.held(team=SINGLE_WORKSPACE).posts == 0
    )
    store.add_delivery("r2", Place(SINGLE_WORKSPACE, "C1"), now=3.0, held_because="flood")
    assert store.discard_held(team=SINGLE_WORKSPACE, by="U1", now=4.0) == 1
    assert store.delivery_counts(team=SINGLE_WORKSPACE)[DISCARDED] == 1
    assert [c.detail for c in store.recent_changes(team=SINGLE_WORKSPACE)] == [
        "discarded 1 held release (stored, never announced)",
        "queued 1 held release for announcement",
    ]
    assert (
        store.announce_held(team=SINGLE_WORKSPACE, by="U1", now=5.0) == 0
    )  # nothing held: nothing audited
    assert len(store.recent_changes(team=SINGLE_WORKSPACE)) == 2


def test_a_lease_is_taken_from_no_live_holder_renewed_and_released(store: Store) -> None:
    stored(store, release(1), release(2))
    store.add_delivery("r1", Place(SINGLE_WORKSPACE, "C1"), now=1.0)
    store.add_delivery("r2", Place(SINGLE_WORKSPACE, "C2"), now=1.0)
    other = Holder("owner-2", "host", 2)
    c1, c2 = Place(SINGLE_WORKSPACE, "C1"), Place(SINGLE_WORKSPACE, "C2")
    assert set(store.claim_channels(HOLDER, ttl=60, now=1.0, holder_is_gone=lambda _: False)) == {
        c1,
        c2,
    }
    seen: list[Lease] = []

    def gone(lease: Lease) -> bool:
        seen.append(lease)
        return lease.holder.owner == "nobody"

    assert store.claim_channels(other, skip=[c2], ttl=60, now=2.0, holder_is_gone=gone) == {}
    assert [(lease.holder, lease.expires_at) for lease in seen] == [(HOLDER, 61.0)]
    assert store.renew_leases([c1, c2], owner=HOLDER.owner, ttl=60, now=3.0) == set()
    store.release_leases([c2], owner=HOLDER.owner)
    assert store.renew_leases([c1, c2], owner=HOLDER.owner, ttl=60, now=4.0) == {c2}
    assert set(store.claim_channels(other, ttl=60, now=5.0, holder_is_gone=gone)) == {c2}
    # Once another holds the lease, a post is refused with nothing changed
    delivery = store.next_delivery(Place(SINGLE_WORKSPACE, "C2"))
    assert delivery is not None
    assert store.begin_post(delivery.id, owner=HOLDER.owner, ttl=60, now=6.0) is None
    assert lease_name(c1) == "channel:C1"
    assert lease_name(Place("T1", "C1")) == "channel:T1:C1"
    assert set(store.claim_channels(other, ttl=60, now=200.0, holder_is_gone=gone)) == {c1, c2}


def test_posts_going_out_together_are_marked_sending_and_sent_each_checked_in_one_go(
    store: Store,
) -> None:
    stored(store, release(1), release(2), release(3))
    c1, c2, c3 = (Place("T1", channel) for channel in ("C1", "C2", "C3"))
    for n, place in enumerate((c1, c2, c3), 1):
        store.add_delivery(f"r{n}", place, now=1.0)
    store.claim_channels(HOLDER, ttl=60, now=1.0, holder_is_gone=lambda _: False)
    other = Holder("owner-2", "host", 2)
    store.release_leases([c3], owner=HOLDER.owner)
    assert set(store.claim_channels(other, ttl=60, now=2.0, holder_is_gone=lambda _: False)) == {c3}
    d1, d2, d3 = (store.next_delivery(place) for place in (c1, c2, c3))
    assert d1 is not None and d2 is not None and d3 is not None
    store.mark_sent(d2.id, ts="0.2", now=2.5)  # found in history meanwhile, say

    # Only the first is still ours to post: the second is done, the third's channel is taken.
    assert store.begin_posts([d1.id, d2.id, d3.id], owner=HOLDER.owner, ttl=60, now=3.0) == [
        1,
        None,
        None,
    ]
    first, third = store.delivery(d1.id), store.delivery(d3.id)
    assert first is not None and (first.state, first.attempts, first.sending_since) == (
        SENDING,
        1,
        3.0,
    )
    assert third is not None and (third.state, third.attempts) == (PENDING, 0)
    # The first's lease was extended with its mark: the other holder cannot take it at 62.
    assert set(store.claim_channels(other, ttl=60, now=62.0, holder_is_gone=lambda _: False)) == {
        c3
    }

    store.mark_all_sent(
        [(d1.id, "1.1", None, None), (d3.id, "3.3", "sent by the other", None)], now=4.0
    )
    assert [(row["release_id"], row["state"], row["ts"]) for row in store.delivery_log()] == [
        ("r1", SENT, "1.1"),
        ("r2", SENT, "0.2"),
        ("r3", SENT, "3.3"),
    ]


# -- feed and archive state ------------------------------------------------------------------


def test_feed_state_records_polls_their_failures_window_and_bad_items(store: Store) -> None:
    assert not store.ever_polled() and store.latest_poll_success() is None
    assert store.record_poll_failure(FEED, "timed out", now=1.0) == 1
    assert store.record_poll_failure(FEED, "timed out", now=2.0) == 2
    assert not store.ever_polled()
    store.record_poll_success(FEED, Validators('"e1"', "Mon", "abc"), now=3.0)
    store.record_feed_window(FEED, 1234.0)
    store.record_bad_feed_items(FEED, [f"item {n}: no title" for n in range(7)])
    status = store.feed_status(FEED)
    assert (status.validators, status.failures, status.last_success_at) == (
        Validators('"e1"', "Mon", "abc"),
        0,
        3.0,
    )
    assert (status.last_error, status.bad_items) == ("timed out", 7)
    assert status.bad_item_examples == tuple(f"item {n}: no title" for n in range(5))
    assert store.ever_polled() and store.latest_poll_success() == 3.0
    assert store.feed_window_start() == 1234.0
    assert store.feed_status("https://elsewhere").failures == 0


def test_an_archive_walk_is_planned_resumed_counted_and_finished(store: Store) -> None:
    assert store.archive_status(ARCHIVE).state == NOT_STARTED
    assert not store.archive_status(ARCHIVE).planned
    store.plan_archive(ARCHIVE, now=1.0)
    assert store.archive_status(ARCHIVE).planned
    assert store.start_archive(ARCHIVE, now=2.0) is None
    store.record_archive_page(
        ARCHIVE,
        next_offset=20,
        stored=20,
        recent=1,
        finished=False,
        now=3.0,
        problems=["item 3: no date"],
    )
    assert store.record_archive_failure(ARCHIVE, "HTTP 503", now=4.0) == 1
    assert store.archive_status(ARCHIVE).state == FAILED
    assert store.start_archive(ARCHIVE, now=5.0) == 20  # resumes with its counts
    assert store.archive_status(ARCHIVE).state == RUNNING
    store.record_archive_page(
        ARCHIVE,
        next_offset=None,
        stored=5,
        recent=0,
        finished=True,
        now=6.0,
        stop_reason="last page",
    )
    status = store.archive_status(ARCHIVE)
    assert (status.state, status.pages, status.stored, status.recent, status.failures) == (
        DONE,
        2,
        25,
        1,
        0,
    )
    assert (status.bad_items, status.bad_item_examples, status.stop_reason) == (
        1,
        ("item 3: no date",),
        "last page",
    )
    assert (status.started_at, status.finished_at, status.last_error) == (2.0, 6.0, "HTTP 503")
    assert store.start_archive(ARCHIVE, now=7.0) is None  # a finished walk begins anew
    assert (store.archive_status(ARCHIVE).pages, store.archive_status(ARCHIVE).bad_items) == (0, 0)
