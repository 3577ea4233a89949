"""Which channels a new release is announced in, and the admins' changes to that.

A route sends the releases of some categories (or of all) to one channel. A release goes once
to every channel whose route takes any of its categories; with no routes at all, everything
goes to ANNOUNCE_CHANNEL. Every change is written to the audit log with who made it.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.models import CHANNEL_ID, Release
from bot.store import Route, Store

# How Slack sends a channel picked with # when the command has `should_escape`: <#C123|name>.
_CHANNEL_MENTION = re.compile(rf"^<#({CHANNEL_ID.pattern[1:-1]})(?:\|[^>]*)?>$")


class RouteError(ValueError):
    """An admin's route change that cannot be made as asked; the message says what to do."""


class Router:
    """The channels for a release, read from the routes at the moment it is queued."""

    def __init__(self, store: Store, announce_channel: str | None) -> None:
        self.store = store
        self.announce_channel = announce_channel

    def channels_for(self, release: Release) -> list[str]:
        routes = self.store.routes()
        if not routes:
            return [self.announce_channel] if self.announce_channel else []
        return [route.channel for route in routes if takes(route, release)]


def takes(route: Route, release: Release) -> bool:
    """Whether `route` wants `release`: it takes every category, or one of the release's."""
    if not route.categories:
        return True
    wanted = {name.casefold() for name in route.categories}
    return any(name.casefold() in wanted for name in release.categories)


def unrouted(routes: Sequence[Route], known: Sequence[str]) -> list[str]:
    """The known categories that no route takes: releases only in these are stored and
    searchable, but announced nowhere. None while there are no routes (ANNOUNCE_CHANNEL takes
    everything) or while one route takes every category."""
    if not routes or any(not route.categories for route in routes):
        return []
    taken = {name.casefold() for route in routes for name in route.categories}
    return [name for name in known if name.casefold() not in taken]


def channel_id(text: str) -> str:
    """The channel ID in `<#C123|name>` (what Slack sends for #name) or a bare ID."""
    text = text.strip()
    match = _CHANNEL_MENTION.match(text)
    if match:
        return match.group(1)
    if CHANNEL_ID.match(text):
        return text
    raise RouteError(
        f"“{text or '(nothing)'}” is not a channel. Type # and pick the channel from the list, "
        "e.g. `/isscr-news route #policy-news Policy`."
    )


def resolve_categories(text: str, known: Sequence[str]) -> list[str]:
    """The known categories named in `text` ("Policy, press release"), in their stored spelling.

    Names are separated by commas (spaces alone work when each word run is a known name);
    case does not matter. An unknown name raises RouteError with the nearest known one.
    """
    by_folded = {name.casefold(): name for name in known}
    found: list[str] = []
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        folded = " ".join(part.split()).casefold()
        if folded in by_folded:
            found.append(by_folded[folded])
            continue
        pieces = _split_known(folded, by_folded)
        if pieces is None:
            raise RouteError(_unknown(part, known))
        found += pieces
    return list(dict.fromkeys(found))


def _split_known(folded: str, by_folded: dict[str, str]) -> list[str] | None:
    """ "press release policy" as known names ["Press Release", "Policy"], longest first."""
    words, names = folded.split(), []
    while words:
        for size in range(len(words), 0, -1):
            candidate = " ".join(words[:size])
            if candidate in by_folded:
                names.append(by_folded[candidate])
                words = words[size:]
                break
        else:
            return None
    return names


def _unknown(name: str, known: Sequence[str]) -> str:
    if not known:
        return (
            f"I haven't seen a category called “{name}”, nor any other yet: the first feed poll "
            "has not finished. Route all categories for now (leave the names out)."
        )
    close = difflib.get_close_matches(
        name.casefold(), [k.casefold() for k in known], n=1, cutoff=0.5
    )
    listed = ", ".join(known)
    if close:
        nearest = next(k for k in known if k.casefold() == close[0])
        return f"There is no category “{name}”. Did you mean {nearest}? Known: {listed}."
    return f"There is no category “{name}”. Known categories: {listed}."


@dataclass(frozen=True)
class Changed:
    """What a route change did, for the answer to the admin."""

    route: Route | None  # None: the channel has no route any more
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: bool = False


class Routes:
    """The admins' operations on routes; each one audited."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def route(self, channel: str, categories: Sequence[str], *, by: str) -> Changed:
        """`channel` also receives `categories` (none: every category)."""
        current = self._current(channel)
        if current is not None and not current.categories:
            return Changed(current, unchanged=True)  # it already takes everything
        if not categories:
            wanted: tuple[str, ...] = ()
            added: tuple[str, ...] = ()
        else:
            have = current.categories if current else ()
            added = tuple(name for name in categories if name not in have)
            if current is not None and not added:
                return Changed(current, unchanged=True)
            wanted = (*have, *added)
        detail = f"{channel}: {_names(wanted)}"
        self.store.save_route(
            channel, wanted, by=by, action="route", detail=detail, now=self.clock()
        )
        return Changed(self._current(channel), added=added)

    def unroute(self, channel: str, categories: Sequence[str], *, by: str) -> Changed:
        """`channel` stops receiving `categories` (none: stops receiving anything)."""
        current = self._current(channel)
        if current is None:
            raise RouteError("That channel has no route, so there is nothing to remove.")
        if categories and not current.categories:
            raise RouteError(
                "That channel takes every category. To narrow it, remove its route "
                "(`/isscr-news unroute #channel`), then route the categories it should keep."
            )
        removed = tuple(name for name in categories if name in current.categories)
        if categories and not removed:
            return Changed(current, unchanged=True)
        keep = tuple(name for name in current.categories if name not in removed)
        now = self.clock()
        if not categories or not keep:
            self.store.delete_route(channel, by=by, detail=f"{channel}: route removed", now=now)
            return Changed(None, removed=removed or current.categories)
        detail = f"{channel}: {', '.join(keep)}"
        self.store.save_route(channel, keep, by=by, action="unroute", detail=detail, now=now)
        return Changed(self._current(channel), removed=removed)

    def set(
        self, channel: str, categories: Sequence[str], *, by: str, replacing: str | None = None
    ) -> Route | None:
        """`channel` receives exactly `categories` (none: all), from the Add / Edit form; an
        edit that picked another channel moves the route there.

        A channel that has a route of its own is not overwritten from another route's form:
        RouteError says to edit that route instead. One transaction, so a crash cannot lose
        a route half-way through a move.
        """
        now = self.clock()
        with self.store.transaction():
            current = self._current(channel)
            if current is not None and channel != replacing:
                raise RouteError(
                    f"This channel already has a route ({_names(current.categories)}). "
                    "Change it with its Edit button, or choose another channel."
                )
            if replacing and replacing != channel:
                self.store.delete_route(
                    replacing, by=by, detail=f"{replacing}: route moved to {channel}", now=now
                )
            detail = f"{channel}: {_names(categories)}"
            self.store.save_route(
                channel, categories, by=by, action="route", detail=detail, now=now
            )
        return self._current(channel)

    def _current(self, channel: str) -> Route | None:
        return next((route for route in self.store.routes() if route.channel == channel), None)


def _names(categories: Sequence[str]) -> str:
    return ", ".join(categories) if categories else "all categories"
