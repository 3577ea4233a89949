"""Each step of the schema upgrades a database of the version before it: every fixture is built
by the steps up to that version (`migrate(to=…)`), with rows written in that version's shape."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.models import SINGLE_WORKSPACE, Place, Release, Validators
from bot.search.engine import Search
from bot.store import (
    SCHEMA_VERSION,
    SchemaTooNew,
    Store,
    category_key,
    in_title,
    published_rowids,
)
from bot.store.schema import MIGRATIONS, migrate


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "bot.db"


@pytest.fixture
def opened() -> Iterator[list[Store]]:
    stores: list[Store] = []
    yield stores
    for store in stores:
        store.close()


def at_version(path: Path, version: int, opened: list[Store]) -> Store:
    """A database as the bot of `version` left it: the steps up to it, and no further."""
    store = Store(path)
    opened.append(store)
    migrate(store, to=version)
    assert user_version(store) == version
    return store


def user_version(store: Store) -> int:
    return store.db.execute("PRAGMA user_version").fetchone()[0]


def release_row(n: int, title: str, body: str = "", **fields: Any) -> dict[str, Any]:
    """A `releases` row as every version wrote it (`names` came with the search index)."""
    published = fields.pop("published", datetime(2020 + n, 1, 1, 12, tzinfo=UTC))
    return {
        "id": f"{n:024x}",
        "title": title,
        "link": f"https://www.isscr.org/isscr-news/r{n}",
        "published": published.isoformat() if published else None,
        "categories": json.dumps(fields.pop("categories", ["Press Release"])),
        "author": fields.pop("author", "Kym Kilbourne"),
        "excerpt": body.split("\n\n")[0],
        "body": body,
        "image_url": None,
        "source": "rss",
        "first_seen": 0.0,
        "updated_at": 0.0,
        **fields,
    }


def ids(store: Store, rowids: list[int]) -> list[int]:
    return [int(release.id, 16) for release in store.releases_by_rowid(rowids)]


def columns(store: Store, table: str) -> set[str]:
    return set(store.db[table].columns_dict)


def shape(store: Store) -> dict[str, set[str]]:
    """Every table, index and trigger, with the columns of each table."""
    rows = store.db.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
    return {
        f"{kind} {name}": columns(store, name) if kind == "table" else set() for kind, name in rows
    }


def test_the_steps_are_numbered_in_order_and_a_new_database_gets_them_all(
    path: Path, opened: list[Store]
) -> None:
    assert [step.version for step in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert MIGRATIONS[-1].version == SCHEMA_VERSION
    store = Store(path)
    opened.append(store)
    store.ensure_schema()
    assert user_version(store) == SCHEMA_VERSION


@pytest.mark.parametrize("version", range(SCHEMA_VERSION))
def test_a_database_of_every_earlier_version_comes_out_as_a_new_one(
    tmp_path: Path, opened: list[Store], version: int
) -> None:
    new = at_version(tmp_path / "new.db", 0, opened)
    new.ensure_schema()
    old = at_version(tmp_path / "old.db", version, opened)
    old.ensure_schema()
    assert user_version(old) == SCHEMA_VERSION
    assert shape(old) == shape(new)


def test_step_1_creates_the_announcement_tables_in_an_empty_database(
    path: Path, opened: list[Store]
) -> None:
    store = at_version(path, 0, opened)
    assert store.db.table_names() == []

    migrate(store, to=1)

    assert user_version(store) == 1
    assert {"releases", "deliveries", "feed_state", "leases", "archive_state"} <= set(
        store.db.table_names()
    )
    assert "names" not in columns(store, "releases")  # the search index is step 2's
    store.db["releases"].insert(release_row(1, "Note"))
    store.record_poll_success("https://feed", Validators(etag='"1"'), now=5.0)
    assert store.feed_status("https://feed").validators.etag == '"1"'


def test_step_2_indexes_the_releases_of_a_database_from_before_search(
    path: Path, opened: list[Store]
) -> None:
    store = at_version(path, 1, opened)
    rows = [
        release_row(1, "Guidelines for Embryo Models", "Updated.", categories=["Policy"]),
        release_row(2, "NIH Funding Letter", "It mentions embryo research.", author="Keith Alm"),
        release_row(3, "Annual Meeting", "Embryo models were discussed."),
    ]
    store.db["releases"].insert_all(rows)

    migrate(store, to=2)

    assert user_version(store) == 2
    assert store.categories() == ["Policy", "Press Release"]
    everything = store.matching_rowids("embryo", limit=9)
    assert sorted(ids(store, everything)) == [1, 2, 3]
    # The names were filled in before the index was built from them
    policy = category_key(store.tokens("Policy"))
    assert ids(store, store.matching_rowids(f'"{policy}"', limit=9)) == [1]
    assert ids(store, store.matching_rowids(in_title("embryo"), limit=9)) == [1]
    with pytest.raises(sqlite3.IntegrityError):  # one row a category, compared without case
        store.db.execute(
            "INSERT INTO release_categories (release_id, category) VALUES (?, 'POLICY')",
            [rows[0]["id"]],
        )


def test_step_3_renumbers_rowids_newest_lowest_once(path: Path, opened: list[Store]) -> None:
    store = at_version(path, 2, opened)
    # Version 2 numbered rowids in publication order, oldest lowest, undated lowest of all
    # (here, in the order inserted); the indexes followed through their triggers.
    store.db["releases"].insert(release_row(9, "Undated embryo note", published=None))
    for n in (2, 1, 3):
        store.db["releases"].insert(release_row(n, f"Embryo note {n}"))
    store.db["releases"].insert(release_row(4, "Embryo note 4", published=datetime(2020, 6, 1)))

    migrate(store, to=3)

    assert user_version(store) == 3
    by_rowid = "SELECT id FROM releases ORDER BY rowid"
    in_order = [int(row[0], 16) for row in store.db.execute(by_rowid)]
    assert in_order == [3, 2, 1, 4, 9]  # newest first, undated last
    # The index matches its content
    store.db.execute("INSERT INTO releases_fts (releases_fts, rank) VALUES ('integrity-check', 1)")
    since_2021 = published_rowids(datetime(2021, 1, 1, tzinfo=UTC), None)
    assert ids(
        store, store.matching_rowids("embryo", lowest=since_2021[0], highest=since_2021[1], limit=9)
    ) == [3, 2, 1]
    store.ensure_schema()  # once: a later start leaves the rowids as they are
    assert [int(row[0], 16) for row in store.db.execute(by_rowid)] == in_order


def test_step_4_adds_what_came_while_the_version_stayed_3(path: Path, opened: list[Store]) -> None:
    store = at_version(path, 3, opened)
    # Rows in version 3's shape: the columns added since are not there to write.
    store.db["releases"].insert(release_row(1, "Embryo news", "Embryo models.\n\nMore."))
    delivery = {"release_id": f"{1:024x}", "channel": "C1", "state": "pending", "attempts": 0}
    store.db["deliveries"].insert({**delivery, "due_at": 1.0, "created_at": 1.0})
    store.db["leases"].insert(
        {"name": "channel:C1", "owner": "o", "host": "h", "pid": 1, "expires_at": 9.0}
    )
    store.db["archive_state"].insert({"url": "https://archive", "state": "done", "pages": 3})
    for table in ("routes", "changes", "seeds", "release_leads", "releases_version"):
        assert table not in store.db.table_names()

    migrate(store, to=4)

    assert user_version(store) == 4
    assert {"last_attempt_at", "note"} <= columns(store, "deliveries")
    assert {"boot_id", "pid_ns", "started"} <= columns(store, "leases")
    assert {"window_start", "bad_items", "bad_item_examples"} <= columns(store, "feed_state")
    assert {"bad_items", "bad_item_examples", "stop_reason"} <= columns(store, "archive_state")
    # Read as version 4 read them (today's reads name the workspaces of step 6).
    queued = store.db.execute("SELECT channel, state FROM deliveries").fetchall()
    assert queued == [("C1", "pending")]
    assert store.archive_status("https://archive").pages == 3
    assert {"channel", "categories"} <= columns(store, "routes")
    assert {"at", "user_id", "action", "detail"} <= columns(store, "changes")
    assert {"name", "value", "applied"} <= columns(store, "seeds")


def test_step_5_counts_the_vocabulary_and_the_releases(path: Path, opened: list[Store]) -> None:
    store = at_version(path, 4, opened)
    store.db["releases"].insert(
        release_row(1, "Embryo news", "The Food and Drug Administration (FDA) met.", names="")
    )
    assert "releases_version" not in store.db.table_names()

    migrate(store, to=5)

    assert user_version(store) == 5
    assert store.word_counts(["embryo", "food"]) == {"embryo": 1, "food": 1}
    assert store.acronyms() == [("FDA", "food and drug administration", 1)]
    assert store.releases_counted()[1] == 1
    before = store.releases_version()
    store.save_release(Release(f"{2:024x}", "Note", "https://x/2"), source="rss", now=2.0)
    assert store.releases_counted() == (before + 1, 2)


def test_step_5_replaces_the_side_indexes_and_joined_words_of_version_4(
    path: Path, opened: list[Store]
) -> None:
    """tests/data/schema-v4.db was written by the code of commit 3d142dc: three releases,
    ANNOUNCE_CHANNEL's seeded route and a delivery waiting, in version 4's layout."""
    path.write_bytes((Path(__file__).parent / "data" / "schema-v4.db").read_bytes())
    store = Store(path)
    opened.append(store)
    assert "joined" in columns(store, "releases")

    store.ensure_schema()

    assert user_version(store) == SCHEMA_VERSION
    tables = set(store.db.table_names())
    assert not {"release_titles", "release_leads", "release_titles_fts"} & tables
    assert "joined" not in columns(store, "releases")
    assert not [
        name
        for (name,) in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        if "titles" in name or "leads" in name
    ]
    store.db.execute("INSERT INTO releases_fts (releases_fts, rank) VALUES ('integrity-check', 1)")
    assert store.release_count() == 3
    assert store.delivery_counts(team=SINGLE_WORKSPACE)["pending"] == 1
    assert [route.channel for route in store.routes(team=SINGLE_WORKSPACE)] == ["C0NEWS0001"]
    # The acronyms the stored releases define are learned: either form finds both.
    assert ("MHRA", "medicines and healthcare products regulatory agency", 1) in store.acronyms()
    found = Search(store).run("mhra")
    assert [f.release.id for f in found.found] == ["5f0c8a1be4b0a1c2d3e4f501"]
    assert Search(store).run("category:policy embryo").total == 1


def test_step_6_gives_every_route_delivery_and_change_a_workspace(
    path: Path, opened: list[Store]
) -> None:
    store = at_version(path, 5, opened)
    # Rows in version 5's shape: one workspace, no team column.
    store.db["releases"].insert(release_row(1, "Embryo news"))
    release = f"{1:024x}"
    store.db["routes"].insert(
        {"channel": "C1", "categories": '["Policy"]', "updated_at": 1.0, "updated_by": "U1"}
    )
    store.db["deliveries"].insert(
        {"release_id": release, "channel": "C1", "state": "pending", "attempts": 0,
         "due_at": 1.0, "created_at": 1.0}
    )  # fmt: skip
    store.db["changes"].insert({"at": 1.0, "user_id": "U1", "action": "route", "detail": "C1"})
    assert "installations" not in store.db.table_names()

    migrate(store, to=6)

    assert user_version(store) == 6
    # Read as rows: today's Route has what later steps added (a schedule).
    assert store.db.execute("SELECT team, channel, categories FROM routes").fetchall() == [
        (SINGLE_WORKSPACE, "C1", '["Policy"]')
    ]
    assert [(d["team"], d["channel"]) for d in store.delivery_log()] == [(SINGLE_WORKSPACE, "C1")]
    assert [c.detail for c in store.recent_changes(team=SINGLE_WORKSPACE)] == ["C1"]
    migrate(store)  # today's code writes rows of today's shape
    # One channel ID in two workspaces (a shared channel) is two routes and two deliveries.
    store.save_route("C1", [], team="T2", by="U2", action="route", detail="C1", now=2.0)
    assert store.add_delivery(release, Place("T2", "C1"), now=2.0)
    assert not store.add_delivery(release, Place(SINGLE_WORKSPACE, "C1"), now=2.0)
    assert store.routes(team="T2")[0].categories == ()
    assert store.recent_changes(team="T3") == []
    assert {"installations", "oauth_states"} <= set(store.db.table_names())


def test_a_database_of_a_newer_version_is_refused(path: Path, opened: list[Store]) -> None:
    store = at_version(path, SCHEMA_VERSION, opened)
    # What a newer version of the bot leaves: a version this one does not know.
    store.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store.close()
    opened.clear()

    for read_only in (False, True):
        with pytest.raises(SchemaTooNew) as refused:
            Store(path, read_only=read_only)
        assert refused.value.found == SCHEMA_VERSION + 1
        assert str(refused.value) == (
            f"schema version {SCHEMA_VERSION + 1}, this version knows up to {SCHEMA_VERSION}"
        )


def test_a_database_the_released_version_3_wrote_is_upgraded_keeping_everything(
    path: Path, opened: list[Store]
) -> None:
    """tests/data/schema-v3.db was written by the code before the store was split (commit
    1ed5399): the five sample releases, ANNOUNCE_CHANNEL's seeded route, an admin's Policy
    route and a delivery waiting to be posted. Its table layout is that code's, not the one
    the steps here would build."""
    path.write_bytes((Path(__file__).parent / "data" / "schema-v3.db").read_bytes())
    store = Store(path)
    opened.append(store)
    assert store.db.execute("PRAGMA user_version").fetchone() == (3,)

    store.ensure_schema()

    assert store.db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert store.release_count() == 5
    assert [(r.channel, r.categories) for r in store.routes(team=SINGLE_WORKSPACE)] == [
        ("C0NEWS0001", ()),
        ("C0POLICY01", ("Policy",)),
    ]
    assert store.delivery_counts(team=SINGLE_WORKSPACE)["pending"] == 1
    assert store.seeded("ANNOUNCE_CHANNEL=C0NEWS0001") == ("C0NEWS0001", True)
    assert store.feed_status("https://www.isscr.org/isscr-news?format=rss").validators.etag
    found = Search(store).run("nih")
    assert [f.release.title for f in found.found] == [
        "The ISSCR Joins Coalition Letter in Support of NIH Funding",
        "ISSCR Statement on the Scientific and Therapeutic Value of Human Fetal Tissue Research",
    ]
    # And it goes on working: a new release is stored and found.
    store.save_release(
        Release(id="new", title="Zebrafish regeneration", link="https://www.isscr.org/x"),
        source="rss",
        now=1.8e9,
    )
    assert [f.release.id for f in Search(store).run("zebrafish").found] == ["new"]


def test_step_7_keeps_every_delivery_an_announcement_posted_once_per_place(
    path: Path, opened: list[Store]
) -> None:
    store = at_version(path, 6, opened)
    # Rows in version 6's shape: no kind, no revision, no digest schedule.
    store.db["releases"].insert(release_row(1, "Embryo news"))
    release = f"{1:024x}"
    store.db["routes"].insert({"team": "", "channel": "C1", "categories": "[]"})
    store.db["deliveries"].insert(
        {"release_id": release, "team": "", "channel": "C1", "state": "sent", "attempts": 1,
         "due_at": 1.0, "created_at": 1.0, "ts": "1.000001"}
    )  # fmt: skip

    migrate(store)

    assert user_version(store) == SCHEMA_VERSION
    kinds = store.db.execute("SELECT kind, state FROM deliveries").fetchall()
    assert kinds == [("announce", "sent")]
    assert store.db.execute("SELECT revision FROM releases").fetchone()[0] == 1
    assert store.db.execute("SELECT mode FROM routes").fetchone()[0] == "immediate"
    # Still once per release and channel; an alert to a member is another place.
    assert not store.add_delivery(release, Place("", "C1"), now=2.0)
    assert store.add_delivery(release, Place("", "U1"), now=2.0, kind="alert")
    assert not store.add_delivery(release, Place("", "U1"), now=2.0, kind="alert")
    # A correction now finds the message sent before the upgrade.
    assert store.queue_corrections(release, ["title"], now=3.0) == 1
    assert {"alerts", "alert_keys"} <= set(store.db.table_names())
