"""Which channels a new release is announced in, and the admins' changes to that.

A route sends the releases of some categories (or of all) to one channel. A release goes once
to every channel whose route takes any of its categories, so routes only add: a new route never
takes news away from another channel. With no routes, releases are stored and searchable but
announced nowhere until an admin picks a channel. ANNOUNCE_CHANNEL only sets up the first
route, once (see `Router.seed`). Every change is written to the audit log with who made it.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from bot.models import SINGLE_WORKSPACE, Place, Release, Schedule
from bot.schedule import closing_key, delivery_words
from bot.search.grammar import clean
from bot.store import Route, Store

# A name in double quotes ("Press Release", “Policy” once `clean` made the quotes plain) is one
# name, whatever separates the others; an unclosed quote runs to the end.
_QUOTED = re.compile(r'("[^"]*"?)')
_SINGLE_QUOTES = "'‘’‚‛"
# Words for "every category", which is said by naming none.
_EVERY = frozenset({"all", "every", "everything", "any", "all categories", "every category"})

# Releases without any category: only a route taking every category announces them.
NO_CATEGORY = ""
GONE = "This workspace has removed the app, so nothing was changed."
CONFLICT = (
    "Another admin changed this route since you opened the form: close it and press Edit again."
)


class RouteError(ValueError):
    """An admin's route change that cannot be made as asked; the message says what to do, in
    words of no one interface (`bot.slack.route_text` words them for Slack)."""


class EveryCategoryNamed(RouteError):
    """Every category was asked for by a word ("all") rather than by naming none."""

    def __init__(self, verb: str) -> None:
        super().__init__(
            "To stop sending anything to a channel, leave the categories out."
            if verb == "unroute"
            else "To send every category to a channel, leave the categories out."
        )
        self.verb = verb


class NoRouteToDigest(RouteError):
    """A schedule was asked for a channel that receives nothing."""

    def __init__(self) -> None:
        super().__init__(
            "That channel receives no ISSCR news, so there is nothing to digest: route "
            "categories to it first, then set its digest."
        )


class NarrowingEvery(RouteError):
    """Categories were removed from a route that takes every category."""

    def __init__(self) -> None:
        super().__init__(
            "That channel takes every category. To narrow it, remove its route, then route the "
            "categories it should keep."
        )


# The audit log's author of what a setting did, rather than an admin.
SEED_BY = "ANNOUNCE_CHANNEL"
WHERE = "Change routes in Slack (the app's Home)"


class Router:
    """The channels for a release, read from the routes at the moment it is queued."""

    def __init__(
        self,
        announce_channel: str | None,
        clock: Callable[[], float] = time.time,
        *,
        where: str = WHERE,
        distribution: bool = False,
    ) -> None:
        """`where`: how admins change routes, for the log; `distribution`: the routes are
        those of the installed workspaces (else of single-workspace mode's one)."""
        self.announce_channel = announce_channel
        self.clock = clock
        self.where = where
        self.distribution = distribution

    def seed(self, store: Store) -> bool:
        """ANNOUNCE_CHANNEL takes every category, on a database with no routes, once per value
        the setting is given; whether that happened now. Recorded either way, so a route an
        admin later changes or removes stays as they left it across restarts, and a database
        that already had routes (where the setting received nothing) keeps exactly its
        deliveries. A new value on a database left without routes is the operator's new
        choice, and is applied."""
        if self.announce_channel is None:
            return False
        channel = self.announce_channel
        return store.seed_route(
            _seed_name(channel),
            channel,
            by=SEED_BY,
            detail=f"{_detail(channel, None, ())} (as ANNOUNCE_CHANNEL asked)",
            now=self.clock(),
        )

    def unused_setting(self, store: Store) -> str | None:
        """Why ANNOUNCE_CHANNEL decides nothing now, for the log; None when it does (or is
        unset)."""
        channel = self.announce_channel
        seeded = store.seeded(_seed_name(channel)) if channel else None
        routes = store.routes(team=SINGLE_WORKSPACE)
        if seeded is None or any(route.channel == channel for route in routes):
            return None
        if seeded[1]:
            return (
                f"ANNOUNCE_CHANNEL={channel} is not used any more: it only sets up the first "
                f"route, and an admin has removed that route since. {self.where}"
            )
        return (
            f"ANNOUNCE_CHANNEL={channel} is not used: it only sets up the first route of a "
            f"database without routes, and this one had routes when it was set. {self.where}"
        )

    def channels_for(self, store: Store, release: Release) -> list[Place]:
        """The channels (of every installed workspace) whose route takes `release`."""
        if self.distribution:
            routes = store.installed_routes()
        else:
            self.seed(store)  # in the poll's transaction: it lands with the first deliveries
            routes = store.routes(team=SINGLE_WORKSPACE)
        return [Place(route.team, route.channel) for route in routes if takes(route, release)]


def _seed_name(channel: str) -> str:
    return f"ANNOUNCE_CHANNEL={channel}"


def takes(route: Route, release: Release) -> bool:
    """Whether `route` wants `release`: it takes every category, or one of the release's."""
    if not route.categories:
        return True
    wanted = {name.casefold() for name in route.categories}
    return any(name.casefold() in wanted for name in release.categories)


def unrouted(
    routes: Sequence[Route], known: Sequence[str], *, uncategorized: bool = False
) -> list[str]:
    """The known categories that no route takes: releases only in these are stored and
    searchable, but announced nowhere. Ends with NO_CATEGORY when `uncategorized` releases
    exist, which only a route taking every category announces. None while one route takes
    every category."""
    if any(not route.categories for route in routes):
        return []
    taken = {name.casefold() for route in routes for name in route.categories}
    missing = [name for name in known if name.casefold() not in taken]
    return [*missing, NO_CATEGORY] if uncategorized else missing


def typed_categories(text: str, known: Sequence[str], *, verb: str) -> list[str]:
    """The known categories named in `text` (what an admin typed after the channel, decoded).
    Quotes around a name are dropped; a word for every category raises EveryCategoryNamed."""
    names = _typed_names(text)
    if len(names) == 1 and _fold(names[0]) in _EVERY and not _known(names[0], known):
        raise EveryCategoryNamed(verb)
    return resolve_categories(names, known)


def _typed_names(text: str) -> list[str]:
    """ "\"Press Release\" Policy, 'Statement'" as the names ["Press Release", "Policy",
    "Statement"] (unquoted runs still to be split into known names)."""
    names: list[str] = []
    for piece in _QUOTED.split(clean(text)):
        if piece.startswith('"'):
            names.append(piece.strip('"'))
            continue
        for part in piece.split(","):
            part = part.strip()
            if len(part) > 1 and part[0] in _SINGLE_QUOTES and part[-1] in _SINGLE_QUOTES:
                part = part[1:-1]
            names.append(part)
    return [name.strip() for name in names if name.strip()]


def resolve_categories(names: Iterable[str], known: Sequence[str]) -> list[str]:
    """The known categories among `names` ("Policy", "press release"), in their stored spelling.

    A name that is no known one may be several separated by spaces (each word run a known
    name); case does not matter. An unknown name raises RouteError with the nearest known one.
    """
    by_folded = {_fold(name): name for name in known}
    found: list[str] = []
    for part in (name.strip() for name in names):
        if not part:
            continue
        folded = _fold(part)
        if folded in by_folded:
            found.append(by_folded[folded])
            continue
        pieces = _split_known(folded, by_folded)
        if pieces is None:
            raise RouteError(_unknown(part, known))
        found += pieces
    return list(dict.fromkeys(found))


def _fold(name: str) -> str:
    """A category name as compared: any case, any spacing, compatibility forms folded."""
    return clean(name).casefold()


def _known(name: str, known: Sequence[str]) -> bool:
    return any(_fold(name) == _fold(other) for other in known)


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
    # Releases that were waiting for the channel's digest: sent now in a last digest (the
    # route went back to immediate), or dropped (the route was removed).
    last_digest: int = 0
    dropped: int = 0


class Keep(Enum):
    """What a form that has no delivery field (one opened before there were digests) asks
    for: the route's schedule as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


class Routes:
    """The admins' operations on the routes of one workspace; each one audited with what it
    did."""

    def __init__(self, store: Store, *, team: str, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.team = team
        self.clock = clock

    def route(self, channel: str, categories: Sequence[str], *, by: str) -> Changed:
        """`channel` also receives `categories` (none: every category)."""
        with self.store.transaction():
            self._installed()
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
            detail = _detail(channel, current.categories if current else None, wanted)
            self.store.save_route(
                channel, wanted, team=self.team, by=by, action="route", detail=detail,
                now=self.clock(),
            )  # fmt: skip
            return Changed(self._current(channel), added=added)

    def first(self, channel: str, *, by: str) -> Route:
        """The setup card's choice: `channel` receives every category, while no route exists.
        A Home opened before another admin chose raises RouteError rather than adding a
        second every-category channel nobody asked for."""
        with self.store.transaction():
            self._installed()
            if self.store.routes(team=self.team):
                raise RouteError(
                    "Another admin has already chosen where ISSCR news goes: see the routes "
                    "below, and use Add route to add this channel too."
                )
            detail = _detail(channel, None, ())
            self.store.save_route(
                channel, (), team=self.team, by=by, action="route", detail=detail,
                now=self.clock(),
            )  # fmt: skip
            route = self._current(channel)
            assert route is not None
            return route

    def unroute(self, channel: str, categories: Sequence[str], *, by: str) -> Changed:
        """`channel` stops receiving `categories` (none: stops receiving anything)."""
        with self.store.transaction():
            self._installed()
            current = self._current(channel)
            if current is None:
                raise RouteError("That channel has no route, so there is nothing to remove.")
            if categories and not current.categories:
                raise NarrowingEvery()
            removed = tuple(name for name in categories if name in current.categories)
            if categories and not removed:
                return Changed(current, unchanged=True)
            keep = tuple(name for name in current.categories if name not in removed)
            now = self.clock()
            if not categories or not keep:
                detail = _detail(channel, current.categories, None)
                # Nothing would ever send what it collected for its digest.
                dropped = self.store.drop_collected(Place(self.team, channel))
                self.store.delete_route(channel, team=self.team, by=by, detail=detail, now=now)
                return Changed(None, removed=removed or current.categories, dropped=dropped)
            detail = _detail(channel, current.categories, keep)
            self.store.save_route(
                channel, keep, team=self.team, by=by, action="unroute", detail=detail, now=now
            )
            return Changed(self._current(channel), removed=removed)

    def set(
        self,
        channel: str,
        categories: Sequence[str],
        *,
        by: str,
        replacing: str | None = None,
        seen: float | None = None,
        schedule: Schedule | Keep | None = KEEP,
    ) -> Changed:
        """`channel` receives exactly `categories` (none: all), on `schedule` (None: each
        release as it appears; KEEP: the route's own, or immediate for a new one), from the
        Add / Edit form; an edit that picked another channel moves the route there, with what
        it collected for its digest.

        `replacing` is the channel whose Edit form this is, `seen` the version (`updated_at`)
        its route had when the form opened: if another admin changed or removed that route
        since, RouteError(CONFLICT) and nothing changes, rather than silently undoing their
        change. A channel that has a route of its own is not overwritten from another route's
        form either. One transaction, so a crash cannot lose a route half-way through a move.
        """
        wanted = tuple(categories)
        now = self.clock()
        with self.store.transaction():
            self._installed()
            edited = None
            if replacing is not None:
                edited = self._current(replacing)
                if edited is None or edited.updated_at != seen:
                    raise RouteError(CONFLICT)
            current = self._current(channel)
            if current is not None and channel != replacing:
                raise RouteError(
                    f"This channel already has a route ({_names(current.categories)}). "
                    "Change it with its Edit button, or choose another channel."
                )
            base = edited if edited is not None else current
            had = base.schedule if base is not None else None
            after = had if schedule is KEEP else schedule
            if current is not None and current.categories == wanted and current.schedule == after:
                return Changed(current, unchanged=True)  # saved unchanged: nothing to record
            if replacing and replacing != channel:
                self.store.move_collected(Place(self.team, replacing), Place(self.team, channel))
                self.store.delete_route(
                    replacing,
                    team=self.team,
                    by=by,
                    detail=f"{replacing} {channel}: moved the route from {replacing} to {channel}",
                    now=now,
                )
            if current is None or current.categories != wanted:
                detail = _detail(channel, current.categories if current else None, wanted)
                self.store.save_route(
                    channel, wanted, team=self.team, by=by, action="route", detail=detail,
                    now=now,
                )  # fmt: skip
            last_digest = self._reschedule(channel, had, after, by=by, now=now)
            # Read before the commit: nothing after it may fail and report the change unmade.
            return Changed(self._current(channel), last_digest=last_digest)

    def schedule(self, channel: str, schedule: Schedule | None, *, by: str) -> Changed:
        """`channel`'s route posts each release as it appears (`schedule` None), or collects
        them for a daily or weekly digest; see `_reschedule` for what was collected."""
        with self.store.transaction():
            self._installed()
            current = self._current(channel)
            if current is None:
                raise NoRouteToDigest()
            if current.schedule == schedule:
                return Changed(current, unchanged=True)
            now = self.clock()
            last_digest = self._reschedule(channel, current.schedule, schedule, by=by, now=now)
            return Changed(self._current(channel), last_digest=last_digest)

    def _reschedule(
        self, channel: str, before: Schedule | None, after: Schedule | None, *, by: str, now: float
    ) -> int:
        """Save `after` as the schedule of `channel`'s route (which had `before`, and now has
        whatever its row says) and audit it. A route going back to immediate sends what it
        collected at once, in a last digest (its readers expect no release to be lost, nor a
        burst of separate posts of last week's news); how many releases that digest lists.
        A digest route changing its day or hour keeps what it collected for the next one."""
        place = Place(self.team, channel)
        stored = self._current(channel)
        if before == after and stored is not None and stored.schedule == after:
            return 0
        waiting = self.store.collected_count(place) if after is None and before else 0
        detail = f"{channel}: {channel} gets {delivery_words(after)} (was {delivery_words(before)})"
        if waiting:
            detail += f"; the {waiting:,} collected went out in a last digest"
        self.store.save_schedule(channel, after, team=self.team, by=by, detail=detail, now=now)
        if waiting and before is not None:
            self.store.make_digest(place, period=closing_key(now, before.tz), up_to=None, now=now)
        return waiting

    def _installed(self) -> None:
        """In distribution mode, the workspace must still be installed: a request authorized
        just before it left must not leave a route behind for a reinstall to find."""
        if self.team != SINGLE_WORKSPACE and self.store.installation(self.team) is None:
            raise RouteError(GONE)

    def _current(self, channel: str) -> Route | None:
        routes = self.store.routes(team=self.team)
        return next((route for route in routes if route.channel == channel), None)


def _detail(channel: str, before: tuple[str, ...] | None, after: tuple[str, ...] | None) -> str:
    """What a change did to `channel`'s route, for the audit log (None: no route), as
    `Store.record_change` wants it: "C1: added Policy to C1 (now Policy, Statement)"."""
    if after is None:
        return f"{channel}: removed the route to {channel} (was {_names(before or ())})"
    if before is None:
        return f"{channel}: routed {_names(after)} to {channel}"
    if not after:
        return f"{channel}: routed every category to {channel} (was {_names(before)})"
    if not before:
        return f"{channel}: narrowed {channel} to {_names(after)} (was every category)"
    added = [name for name in after if name not in before]
    removed = [name for name in before if name not in after]
    if added and removed:
        did = f"changed {channel}: added {', '.join(added)}, removed {', '.join(removed)}"
    elif added:
        did = f"added {', '.join(added)} to {channel}"
    else:
        did = f"removed {', '.join(removed)} from {channel}"
    return f"{channel}: {did} ({'now' if added else 'keeps'} {_names(after)})"


def _names(categories: Sequence[str]) -> str:
    return ", ".join(categories) if categories else "every category"
