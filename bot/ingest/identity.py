"""Recognising a release the database already holds, when the site renamed it.

A release's id is its feed item's guid (rss.py), which a site may rewrite: on a migration, or
on every request (a guid made of a timestamp). Trusted alone, that re-announced every item on
every poll (issue 10). So a release whose id is not stored is also looked for by its own link,
or, when it has none, by its title and publication date; found, it takes the stored id, which
its deliveries and Share buttons name, and is an update rather than news.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.models import Release
from bot.store import Store


@dataclass(frozen=True)
class Recognised:
    """A body's releases, each once (the first of each), under its stored id where the
    database holds it; `known` is the ids the database holds."""

    releases: list[Release]
    known: set[str]


def recognise(store: Store, releases: Sequence[Release], *, site: str | None) -> Recognised:
    """`releases` without duplicates (same id, same own link, or no link and the same title
    and date: two guids for one post count once), each under its stored id.

    `site` is the feed's own address, which rss.py gives a release without a link: such a
    link is nobody's own. Nor is one that releases with different titles share (a feed whose
    items all point to one page): looked up, it would make them one release.
    """
    titles: dict[str, set[str]] = {}
    for release in releases:
        titles.setdefault(release.link, set()).add(release.title)
    shared = {link for link, names in titles.items() if len(names) > 1}

    def own_link(release: Release) -> str | None:
        return None if release.link == site or release.link in shared else release.link

    unique: dict[str, Release] = {}
    seen: set[tuple[str, ...]] = set()
    for release in releases:
        key = _key(release, own_link(release))
        if release.id in unique or (key is not None and key in seen):
            continue
        unique[release.id] = release
        if key is not None:
            seen.add(key)
    known = store.known_release_ids(unique)
    unknown = [release for release in unique.values() if release.id not in known]
    by_link = store.release_ids_by_link(
        link for release in unknown if (link := own_link(release)) is not None
    )
    found: list[Release] = []
    taken: set[str] = set()  # stored ids given to a renamed release of this body
    for release in unique.values():
        stored_id = None
        if release.id not in known:
            link = own_link(release)
            if link is not None:
                stored_id = by_link.get(link)
            elif release.published is not None:
                stored_id = store.release_id_by_title_and_date(release.title, release.published)
        # A stored release this body also lists under its own id is another post: this one
        # took over its old link, and is news.
        if stored_id is not None and stored_id not in unique:
            if stored_id in taken:
                continue  # the same stored post twice in this body
            taken.add(stored_id)
            release = replace(release, id=stored_id)
            known.add(stored_id)
        found.append(release)
    return Recognised(found, known)


def _key(release: Release, link: str | None) -> tuple[str, ...] | None:
    """What makes two items of one body the same post besides their id."""
    if link is not None:
        return ("link", link)
    if release.published is not None:
        return ("title", release.title, release.published.isoformat())
    return None
