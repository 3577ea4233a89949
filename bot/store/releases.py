"""The releases: every release ever seen, stored once by its ID."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bot.models import DIGEST, Message, Release
from bot.store.base import int_value, rows_for
from bot.store.deliveries import SENT, DeliveriesMixin
from bot.store.search_index import SearchIndexMixin, rowid_for

# The columns a Release is made of.
_RELEASE = "id, title, link, published, categories, author, excerpt, body, image_url"


class ReleasesMixin(SearchIndexMixin, DeliveriesMixin):
    """Stores releases (with their search index rows) and reads them back."""

    def known_release_ids(self, ids: Iterable[str]) -> set[str]:
        rows = rows_for(self.db, "SELECT id FROM releases WHERE id IN (?)", list(ids))
        return {row[0] for row in rows}

    def release_ids_by_link(self, links: Iterable[str]) -> dict[str, str]:
        """The stored release of each of these links (the first stored, when several share
        one), by link."""
        rows = rows_for(
            self.db,
            "SELECT link, id FROM releases WHERE link IN (?) ORDER BY first_seen DESC",
            list(dict.fromkeys(links)),
        )
        return dict(rows)  # the last written wins: the first stored

    def release_id_by_title_and_date(self, title: str, published: datetime) -> str | None:
        """The first stored release with this title and publication date."""
        row = self.db.execute(
            "SELECT id FROM releases WHERE published = ? AND title = ? ORDER BY first_seen LIMIT 1",
            [published.isoformat(), title],
        ).fetchone()
        return row[0] if row else None

    def has_releases(self) -> bool:
        return int_value(self.db, "SELECT EXISTS (SELECT 1 FROM releases)") == 1

    def save_release(self, release: Release, *, source: str, now: float) -> bool:
        """Insert or update `release`; True when the stored row changed (or is new). The row
        is read in the same transaction as it is written: the vocabulary's counts move from
        exactly what was stored."""
        row = _release_row(release)
        row["names"] = self.names(row)
        fields = ("title", "link", "published", "categories", "author", "excerpt", "body")
        with self.transaction():
            existing = self.db.execute(
                f"SELECT {', '.join(fields)}, image_url FROM releases WHERE id = ?", [release.id]
            ).fetchone()
            if existing is None:
                self._insert_release(release, row, source=source, now=now)
                return True
            if tuple(existing[: len(fields)]) == tuple(row[f] for f in fields) and (
                existing[-1] == row["image_url"] or row["image_url"] is None
            ):
                return False
            if row["image_url"] is None:
                row["image_url"] = existing[-1]  # the archive may lack what the RSS had
            before = dict(zip(fields, existing, strict=False), image_url=existing[-1])
            # What members saw of it: a change there is a correction of every message of it.
            seen = [name for name in _SEEN if before[name] != row[name]]
            self.db.table("releases").update(release.id, {**row, "updated_at": now})
            if seen:
                self.db.execute(
                    "UPDATE releases SET revision = revision + 1 WHERE id = ?", [release.id]
                )
                self.queue_corrections(release.id, seen, now=now)
            if existing[2] != row["published"]:  # keep rowids in publication order
                self.db.execute(
                    "UPDATE releases SET rowid = ? WHERE id = ?",
                    [rowid_for(self.db, row["published"]), release.id],
                )
            if existing[3] != row["categories"]:
                self.db.execute("DELETE FROM release_categories WHERE release_id = ?", [release.id])
                self.index_categories(release)
            self.count_release(dict(zip(fields, existing, strict=False)), row)
        return True

    def _insert_release(
        self, release: Release, row: dict[str, Any], *, source: str, now: float
    ) -> None:
        values = {
            **row,
            "source": source,
            "first_seen": now,
            "updated_at": now,
            "rowid": rowid_for(self.db, row["published"]),
        }
        names = ", ".join(values)
        self.db.execute(
            f"INSERT INTO releases ({names}) VALUES ({', '.join('?' * len(values))})",
            list(values.values()),
        )
        self.index_categories(release)
        self.count_release(None, row)

    def release(self, release_id: str) -> Release | None:
        rows = list(self.db.query(f"SELECT {_RELEASE} FROM releases WHERE id = ?", [release_id]))
        return _release_from_row(rows[0]) if rows else None

    def revision(self, release_id: str) -> int | None:
        """How many times what members see of the release changed, plus one (None: not
        stored)."""
        row = self.db.execute("SELECT revision FROM releases WHERE id = ?", [release_id]).fetchone()
        return None if row is None else int(row[0])

    def digest_releases(self, digest_id: int) -> list[Release]:
        """The releases a digest lists, newest first (undated ones last): what the outbox
        posts for it (see bot/store/digests.py)."""
        rows = self.db.query(
            f"SELECT {', '.join('r.' + name for name in _RELEASE.split(', '))} "
            "FROM deliveries d JOIN releases r ON r.id = d.release_id WHERE d.digest_id = ? "
            "ORDER BY r.published IS NULL, r.published DESC, r.first_seen DESC, d.id",
            [digest_id],
        )
        return [_release_from_row(row) for row in rows]

    def message(self, delivery_id: int) -> Message | None:
        """The message a sent delivery posted, with what it shows now (None: none posted)."""
        found = self.delivery(delivery_id)
        row = self.db.execute(
            "SELECT ts FROM deliveries WHERE id = ? AND state = ?", [delivery_id, SENT]
        ).fetchone()
        if found is None or row is None or row[0] is None:
            return None
        if found.kind == DIGEST:
            releases = tuple(self.digest_releases(delivery_id))
        else:
            release = self.release(found.release_id)
            releases = (release,) if release is not None else ()
        return Message(found, row[0], releases) if releases else None

    def latest_releases(self, limit: int) -> list[Release]:
        rows = self.db.query(
            f"SELECT {_RELEASE} FROM releases ORDER BY published DESC, first_seen DESC LIMIT ?",
            [limit],
        )
        return [_release_from_row(row) for row in rows]

    def release_count(self) -> int:
        return self.releases_counted()[1]

    def releases_by_rowid(self, rowids: list[int]) -> list[Release]:
        """The releases with these rowids, in this order."""
        marks = ",".join("?" * len(rowids))
        found = {
            row["rowid"]: _release_from_row(row)
            for row in self.db.query(
                f"SELECT rowid, {_RELEASE} FROM releases WHERE rowid IN ({marks})", rowids
            )
        }
        return [found[rowid] for rowid in rowids if rowid in found]


# The fields an announcement shows (the link is its title's and button's target, and a release
# whose link changed is recognised by its guid: a new link alone is not worth an update).
_SEEN = ("title", "excerpt", "categories", "image_url")


def categories_json(categories: Iterable[str]) -> str:
    """A release's categories as stored: a JSON list, its letters as they are."""
    return json.dumps(list(categories), ensure_ascii=False)


def _release_row(release: Release) -> dict[str, Any]:
    return {
        "id": release.id,
        "title": release.title,
        "link": release.link,
        "published": release.published.isoformat() if release.published else None,
        # As written: the index reads this column, and "\u00c9thique" is not a word of it.
        "categories": categories_json(release.categories),
        "author": release.author,
        "excerpt": release.excerpt,
        "body": release.body,
        "image_url": release.image_url,
    }


def _release_from_row(row: dict[str, Any]) -> Release:
    return Release(
        id=row["id"],
        title=row["title"],
        link=row["link"],
        published=datetime.fromisoformat(row["published"]) if row["published"] else None,
        categories=tuple(json.loads(row["categories"])),
        author=row["author"],
        excerpt=row["excerpt"] or "",
        body=row["body"] or "",
        image_url=row["image_url"],
    )
