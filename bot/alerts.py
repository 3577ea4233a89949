"""Members' personal alerts: each member's own (saving, listing, removing, resuming), and which
members a new release is sent to.

An alert is private: every operation here is one member's, in one workspace, and names both;
nothing is written to the audit log (admins see counts only, `Store.alert_counts`). A member
holds at most MAX_ALERTS. Using their alerts again resumes a member whose alerts were paused
(Slack said they could not be messaged: they left, or turned the app's messages off): they are
evidently back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.models import Alert, Place, Release
from bot.search.alerts import AlertPlanning, Preview, ReleaseWords, matches, release_keys
from bot.search.grammar import QueryError
from bot.store import Store

MAX_ALERTS = 20
# Quotes a query may stand between: as the member's list shows it (“…”), as they may type them.
_QUOTE_PAIRS = (
    ("“", "”"),
    ('"', '"'),
    ("„", "“"),
    ("«", "»"),
    ("‘", "’"),
    ("'", "'"),
    ("＂", "＂"),
)


@dataclass(frozen=True)
class Mine:
    """A member's alerts, oldest first; and, when this use of them resumed them, why and
    since when they had been paused."""

    alerts: list[Alert]
    resumed: tuple[str, float] | None = None

    @property
    def full(self) -> bool:
        return len(self.alerts) >= MAX_ALERTS

    @property
    def paused(self) -> bool:
        return any(alert.paused is not None for alert in self.alerts)


@dataclass(frozen=True)
class Saved:
    """What became of a Save: the alert (None: not saved, the member holds MAX_ALERTS already),
    whether it is new (else they had it), and their alerts now."""

    alert: Alert | None
    created: bool
    mine: Mine


@dataclass(frozen=True)
class Removed:
    """What became of a Remove: the alert removed (None: they had no such alert, perhaps
    removed already), and their alerts now."""

    alert: Alert | None
    mine: Mine


class MemberAlerts:
    """One member's alerts in one workspace (`team`; single-workspace mode's is
    SINGLE_WORKSPACE), on a store: nobody else's is ever read or changed here."""

    def __init__(
        self, store: Store, *, team: str, user: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.team = team
        self.user = user
        self.clock = clock

    def preview(self, text: str) -> tuple[Preview, Mine]:
        """The alert `text` asks for and the past releases it matches, with the member's
        alerts (is it theirs already, is there room?). Reads only. QueryError when `text`
        cannot be an alert."""
        preview = AlertPlanning(self.store).preview(text)
        return preview, Mine(self.store.alerts_of(team=self.team, user=self.user))

    def save(self, text: str) -> Saved:
        """Save the alert `text` asks for, once: the same query again (in any case) is the
        alert they have. QueryError when `text` cannot be an alert."""
        with self.store.transaction():
            resumed = self._resume()
            alert = AlertPlanning(self.store).alert(text)
            have = self.store.alerts_of(team=self.team, user=self.user)
            same = [old for old in have if old.query.casefold() == alert.text.casefold()]
            if same:
                return Saved(same[0], False, Mine(have, resumed))
            if len(have) >= MAX_ALERTS:
                return Saved(None, False, Mine(have, resumed))
            saved = self.store.add_alert(
                team=self.team,
                user=self.user,
                query=alert.text,
                match=alert.match,
                authors=alert.authors,
                words=alert.words,
                keys=alert.keys,
                now=self.clock(),
            )
            return Saved(saved, True, Mine([*have, saved], resumed))

    def remove(self, alert_id: int) -> Removed:
        """Remove alert `alert_id` if it is this member's; idempotent."""
        with self.store.transaction():
            resumed = self._resume()
            removed = self.store.remove_alert(
                alert_id, team=self.team, user=self.user, now=self.clock()
            )
            return Removed(removed, Mine(self._alerts(), resumed))

    def remove_query(self, text: str) -> Removed:
        """Remove the member's alert for the query `text`, as they typed it or as it is shown:
        copied from their list, between quotes, it is tried without them when no alert
        matches it as typed. QueryError when neither can be an alert at all."""
        with self.store.transaction():
            mine = self._alerts()
            problems: list[QueryError] = []
            readings = [typed for typed in (text, _unquoted(text)) if typed is not None]
            for typed in readings:
                try:
                    wanted = AlertPlanning(self.store).alert(typed).text.casefold()
                except QueryError as error:
                    problems.append(error)
                    continue
                found = [alert for alert in mine if alert.query.casefold() == wanted]
                if found:
                    return self.remove(found[0].id)
            if len(problems) == len(readings):  # no reading of it is a query
                raise problems[0]
            return Removed(None, self.mine())

    def listed(self) -> Mine:
        """The member's alerts as they are, paused or not. Reads only."""
        return Mine(self._alerts())

    def mine(self) -> Mine:
        """The member's alerts, resumed if they were paused."""
        with self.store.transaction():
            resumed = self._resume()
            return Mine(self._alerts(), resumed)

    def _alerts(self) -> list[Alert]:
        return self.store.alerts_of(team=self.team, user=self.user)

    def _resume(self) -> tuple[str, float] | None:
        return self.store.resume_alerts(team=self.team, user=self.user)


def _unquoted(text: str) -> str | None:
    """`text` without one pair of quotes around all of it (None: it has none), such as the
    member's list shows each query between."""
    text = text.strip()
    for opening, closing in _QUOTE_PAIRS:
        if len(text) > 2 and text[0] == opening and text[-1] == closing:
            return text[1:-1]
    return None


class AlertMatcher:
    """Which members a new release is sent to by their alerts: the watcher asks, in the
    transaction that stores the release, so that its alerts are queued with it or not at all."""

    def __init__(self, *, distribution: bool) -> None:
        """`distribution`: the alerts of the installed workspaces (else of single-workspace
        mode's one)."""
        self.distribution = distribution

    def alerts_for(self, store: Store, release: Release) -> list[tuple[Place, list[str]]]:
        """Each member (as a place: their user ID stands for the channel) whose alerts the
        stored `release` matches, with those alerts' queries; paused members get nothing."""
        columns = store.indexed_words(release.id)
        if columns is None:
            return []
        words = ReleaseWords(columns)
        matched: dict[Place, list[str]] = {}
        keys = release_keys(words, release.author)
        for alert in store.alert_candidates(keys, installed=self.distribution):
            if matches(alert, release, words):
                matched.setdefault(Place(alert.team, alert.user_id), []).append(alert.query)
        return list(matched.items())
