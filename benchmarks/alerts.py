"""Personal alerts: the time to decide which members get a new release, with 10,000 saved alerts,
beside the time of one search on the same archive.

One run:

1. Builds (or, with `--keep PATH`, reuses) the seeded synthetic archive of search.py
   (`corpus.prepare_corpus`: `--releases` releases through the real `Store`).
2. Saves `--alerts` alerts (default 10,000) for members of ten each, through the real planning
   (`AlertPlanning.alert`, the strict reading and the keys an alert is indexed under) and
   `Store.add_alert`. Each query is what a member might wait for, built from a random release
   of the archive as search.py's query mix builds searches, in these shares (set before
   measuring, not tuned after):

       55%  words        1-3 content words from a title or excerpt (40% one, 40% two)
       12%  phrase       a quoted run of 2-3 words from a title or excerpt
       15%  filtered     1-2 words and category: (80%) or author: (20%)
        8%  filter-only  category: (70%) or author: (30%)
       10%  term         a domain term as typed ("embryo models", "iPSC", "NIH", "CRISPR")

   Dates are not among them: an alert refuses `after:` and `before:`.
3. Stores `--new` new releases drawn like the archive's, one at a time, each in its own
   transaction as the watcher stores a poll's, and times (`time.perf_counter()`, after
   `--warmup` unrecorded ones) what the watcher asks in that transaction:
   `AlertMatcher.alerts_for(store, release)`: the release's keys, the alerts indexed under
   them (the candidates), each candidate checked against that one release. It also counts
   the candidates and the members matched.
4. Times `Search(store).run(text)` (the bot's search, wall clock) over `--searches` of the saved
   alerts' queries, after `--warmup`: "one search" is their median, and the ratio is the
   decision's median (and p95) over the search's.
5. Reports the memory: this process's RSS before the decisions and its peak during them
   (VmHWM), and what the alerts take on disk (SQLite's dbstat, when built in).

For scale it also prints what the ways without keys would cost: every alert's query run on
the new release by the index (FTS5 `MATCH … AND rowid = ?`, one look-up an alert, measured on
a few releases), and a full search per alert (the search's median times the alerts).

Targets: the median decision takes at most 1% of a full search per alert (the issue: matching
must not run every alert's search), and its p95 at most 100 ms (the poll's transaction holds
the database's write lock meanwhile). The report ends with them, met or missed; it exits 0
unless `--check` is given and one is missed.
A run of the defaults takes about a minute, half of it building the archive. From the repo
root:

    python benchmarks/alerts.py [--releases N] [--alerts N] [--new N] [--searches N]
                                [--warmup N] [--seed N] [--keep PATH] [--check]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent):  # run as a script, or imported by a test
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from corpus import make_release, prepare_corpus  # noqa: E402
from memory import read_status  # noqa: E402
from queries import QueryMaker  # noqa: E402
from vocabulary import DOMAIN_TERMS, vocabulary  # noqa: E402

from bot.alerts import AlertMatcher  # noqa: E402
from bot.models import SINGLE_WORKSPACE  # noqa: E402
from bot.search.alerts import AlertPlanning, ReleaseWords, release_keys  # noqa: E402
from bot.search.engine import Search, SearchError  # noqa: E402
from bot.search.grammar import QueryError  # noqa: E402
from bot.store import Store  # noqa: E402

KINDS = {"words": 55, "phrase": 12, "filtered": 15, "filter-only": 8, "term": 10}
PER_MEMBER = 10
NAIVE_RELEASES = 3  # releases every alert is run on by the index, without keys
SHARE_OF_NAIVE = 0.01  # target: the median decision ÷ a full search per alert, at most
P95_AT_MOST = 0.1  # target: seconds
MB = 1e6


@dataclass(frozen=True)
class Saved:
    alerts: int
    members: int
    seconds: float
    by_kind: dict[str, int]
    keys: int  # rows of alert_keys
    heeded: int  # queries not saved: the preview warned they match most of the archive


@dataclass(frozen=True)
class Decided:
    seconds: list[float]  # per new release, the warm-up left out
    candidates: list[int]
    members: list[int]  # members matched
    by_index: list[float]  # every alert run on the release by the index, NAIVE_RELEASES of them
    rss_before: int
    rss_peak: int


class AlertQueries(QueryMaker):
    """Seeded alert queries, each from a random stored release (see the module docstring)."""

    def __init__(self, store: Store, releases: int, seed: int) -> None:
        super().__init__(store, releases, seed)
        self.terms = [term for term in DOMAIN_TERMS if term]

    def alert(self) -> tuple[str, str]:
        """A kind of query and its text."""
        rng = self.rng
        kind = rng.choices(list(KINDS), list(KINDS.values()))[0]
        release = self._release()
        if kind == "words":
            return kind, " ".join(self._words(release, rng.choices((1, 2, 3), (40, 40, 20))[0]))
        if kind == "phrase":
            phrase = self._phrase(release)
            return (kind, f'"{phrase}"') if phrase else self.alert()
        if kind == "filtered":
            words = self._words(release, rng.randint(1, 2))
            wanted = self._author(release) if release.author and rng.random() < 0.2 else None
            return kind, " ".join([*words, wanted or self._category(release)])
        if kind == "filter-only":
            if release.author and rng.random() < 0.3:
                return kind, self._author(release)
            return kind, self._category(release)
        return kind, rng.choice(self.terms)


def save_alerts(
    store: Store, count: int, releases: int, seed: int, *, broad: bool = False
) -> tuple[Saved, list[str]]:
    """`count` alerts of members of PER_MEMBER each; the figures, and the queries saved. A
    query the preview warns about (it matches most of the archive) is not saved, as a member
    heeds the warning, unless `broad`."""
    maker = AlertQueries(store, releases, seed)
    planning = AlertPlanning(store)
    by_kind: dict[str, int] = dict.fromkeys(KINDS, 0)
    texts: list[str] = []
    heeded = 0
    started = time.perf_counter()
    with store.transaction():
        while len(texts) < count:
            kind, text = maker.alert()
            try:
                preview = planning.preview(text)
            except QueryError:  # a category prefix two names begin, say: as a member is told
                continue
            if preview.broad and not broad:
                heeded += 1
                continue
            alert = preview.alert
            user = f"U{len(texts) // PER_MEMBER:09d}"
            mine = {a.query.casefold() for a in store.alerts_of(team=SINGLE_WORKSPACE, user=user)}
            if alert.text.casefold() in mine:
                continue
            store.add_alert(
                team=SINGLE_WORKSPACE,
                user=user,
                query=alert.text,
                match=alert.match,
                authors=alert.authors,
                words=alert.words,
                keys=alert.keys,
                now=time.time(),
            )
            by_kind[kind] += 1
            texts.append(alert.text)
    seconds = time.perf_counter() - started
    keys = store.db.execute("SELECT count(*) FROM alert_keys").fetchone()[0]
    members = -(-count // PER_MEMBER)
    return Saved(count, members, seconds, by_kind, keys, heeded), texts


def decide(store: Store, releases: int, new: int, warmup: int, seed: int) -> Decided:
    """Store `new` new releases one by one and time who gets each (see the module docstring)."""
    vocab = vocabulary(seed)
    rng = random.Random(seed * 104729 + 3)
    matcher = AlertMatcher(distribution=False)
    seconds: list[float] = []
    candidates: list[int] = []
    members: list[int] = []
    by_index: list[float] = []
    everyone = store.db.execute("SELECT DISTINCT user_id FROM alerts").fetchall()
    alerts = [a for (user,) in everyone for a in store.alerts_of(team=SINGLE_WORKSPACE, user=user)]
    rss_before = read_status()["VmRSS"]
    for index in range(warmup + new):
        release = make_release(releases + 1 + index, vocab, rng)
        with store.transaction():
            store.save_release(release, source="rss", now=time.time())
            started = time.perf_counter()
            found = matcher.alerts_for(store, release)
            took = time.perf_counter() - started
            columns = store.indexed_words(release.id)
            assert columns is not None
            words = ReleaseWords(columns)
            keyed = store.alert_candidates(release_keys(words, release.author), installed=False)
            if index < NAIVE_RELEASES:  # every alert, no keys: what the keys save
                rowid = store.db.execute(
                    "SELECT rowid FROM releases WHERE id = ?", [release.id]
                ).fetchone()[0]
                started = time.perf_counter()
                for alert in alerts:
                    if alert.match is not None:
                        store.matching_rowids(alert.match, lowest=rowid, highest=rowid, limit=1)
                by_index.append(time.perf_counter() - started)
        if index >= warmup:
            seconds.append(took)
            candidates.append(len(keyed))
            members.append(len(found))
    rss_peak = read_status()["VmHWM"]
    return Decided(seconds, candidates, members, by_index, rss_before, rss_peak)


def time_searches(store: Store, texts: Sequence[str], warmup: int) -> list[float]:
    """The bot's search of each text, timed (the warm-up left out)."""
    search = Search(store)
    seconds = []
    for index, text in enumerate(texts):
        started = time.perf_counter()
        with contextlib.suppress(QueryError, SearchError):
            search.run(text)
        if index >= warmup:
            seconds.append(time.perf_counter() - started)
    return seconds


def alert_bytes(path: Path) -> int | None:
    """Bytes of the alerts' tables and indexes in the file (None without dbstat)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE aggregate = TRUE AND (name IN ('alerts', "
            "'alert_keys', 'alert_keys_by_alert') OR name LIKE 'sqlite_autoindex_alerts%')"
        ).fetchone()
    except sqlite3.OperationalError:  # no such table: dbstat
        return None
    finally:
        conn.close()
    return int(rows[0] or 0)


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def report(saved: Saved, decided: Decided, searches: list[float], disk: int | None) -> bool:
    """Print the figures; whether the targets are met."""
    print(
        f"\nalerts saved: {saved.alerts:,} of {saved.members:,} members in {saved.seconds:.1f} s"
        f" ({saved.seconds / saved.alerts * 1000:.2f} ms each: the preview, planning, keys)"
    )
    print("  by kind: " + ", ".join(f"{kind} {n:,}" for kind, n in saved.by_kind.items()))
    print(
        f"  keys: {saved.keys:,} ({saved.keys / saved.alerts:.2f} an alert); {saved.heeded:,} "
        "queries drawn again: their preview warned that they match most of the archive"
    )
    decide_p50 = statistics.median(decided.seconds)
    decide_p95 = percentile(decided.seconds, 0.95)
    search_p50 = statistics.median(searches)
    search_p95 = percentile(searches, 0.95)
    print(f"\nwho gets a new release ({len(decided.seconds)} releases, {saved.alerts:,} alerts):")
    print(f"  median {ms(decide_p50)}, p95 {ms(decide_p95)}, max {ms(max(decided.seconds))}")
    print(
        f"  candidates: median {statistics.median(decided.candidates):,.0f}, "
        f"p95 {percentile(decided.candidates, 0.95):,} "
        f"({statistics.median(decided.candidates) / saved.alerts:.1%} of the alerts); "
        f"members matched: median {statistics.median(decided.members):,.0f}, "
        f"max {max(decided.members):,}"
    )
    print(f"\none search (Search.run, {len(searches)} of the alerts' queries):")
    print(f"  median {ms(search_p50)}, p95 {ms(search_p95)}")
    print(
        f"\ndecision ÷ one search: median {decide_p50 / search_p50:.2f}×, "
        f"p95 {decide_p95 / search_p95:.2f}×"
    )
    by_index = statistics.median(decided.by_index)
    naive = saved.alerts * search_p50
    print(
        f"without keys: every alert run on the release by the index {ms(by_index)} "
        f"({by_index / decide_p50:.0f}× the decision); a full search per alert "
        f"≈ {naive:.1f} s ({naive / decide_p50:,.0f}×)"
    )
    extra = decided.rss_peak - decided.rss_before
    print(
        f"\nmemory: RSS {decided.rss_before / MB:.1f} MB before the decisions, peak "
        f"{decided.rss_peak / MB:.1f} MB ({extra / MB:+.1f} MB)"
    )
    if disk is not None:
        print(f"  the alerts on disk: {disk / MB:.2f} MB ({disk / saved.alerts:.0f} B an alert)")
    share = decide_p50 / naive
    targets = [
        (
            f"the median decision ≤ {SHARE_OF_NAIVE:.0%} of a full search per alert",
            f"{share:.3%}",
            share <= SHARE_OF_NAIVE,
        ),
        (f"the p95 decision ≤ {ms(P95_AT_MOST)}", ms(decide_p95), decide_p95 <= P95_AT_MOST),
    ]
    print("\ntargets:")
    for what, measured, met in targets:
        print(f"  {what}: {measured}: {'met' if met else 'MISSED'}")
    return all(met for _, _, met in targets)


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--releases", type=int, default=10_000, help="size of the archive")
    add("--alerts", type=int, default=10_000, help="saved alerts")
    add("--new", type=int, default=200, help="new releases timed")
    add("--searches", type=int, default=300, help="searches timed")
    add("--warmup", type=int, default=10, help="unrecorded decisions and searches")
    add("--seed", type=int, default=1, help="seed of the archive, alerts and releases")
    add("--keep", type=Path, help="build the archive here once and reuse it")
    add("--broad", action="store_true",
        help="also save the queries a preview warns match most of the archive")  # fmt: skip
    add("--check", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "archive.db"
        if args.keep:  # the alerts and new releases go into a copy, not the kept archive
            kept = prepare_corpus(args.keep.resolve(), args.releases, args.seed, keep=True)
            source = sqlite3.connect(kept.path)
            with sqlite3.connect(path) as copy:
                source.backup(copy)
            source.close()
        else:
            kept = prepare_corpus(path, args.releases, args.seed, keep=False)
        built = "reused" if kept.built_in is None else f"built in {kept.built_in:.1f} s"
        print(f"archive: {args.releases:,} releases ({built})")
        store = Store(path)
        store.ensure_schema()
        try:
            saved, texts = save_alerts(
                store, args.alerts, args.releases, args.seed, broad=args.broad
            )
            decided = decide(store, args.releases, args.new, args.warmup, args.seed)
            sample = random.Random(args.seed).sample(texts, min(len(texts), args.searches))
            searches = time_searches(store, texts[: args.warmup] + sample, args.warmup)
        finally:
            store.close()
        met = report(saved, decided, searches, alert_bytes(path))
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
