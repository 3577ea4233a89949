"""The benchmark's report: the corpus, search latency by kind and by number of matches, where
the time goes, the round trips, and the targets."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence

from corpus import Corpus, release_id
from queries import KINDS
from round_trips import RoundTrips
from timing import REJECTED, STOPPED, StageClock, Timing

from bot.store import Store

SEARCH_P95_TARGET = 0.002  # seconds
HTTP_RATIO_TARGET = 1.5


def percentile(values: Sequence[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.3f}"


def report_corpus(corpus: Corpus) -> None:
    store = Store(corpus.path, read_only=True)
    rows = [store.release(release_id(n)) for n in range(1, corpus.releases + 1, 97)]
    store.close()
    sample = [r for r in rows if r is not None]
    words = {
        "title": statistics.mean(len(r.title.split()) for r in sample),
        "excerpt": statistics.mean(len(r.excerpt.split()) for r in sample),
        "body": statistics.mean(len(r.body.split()) for r in sample),
    }
    built = (
        f"built in {corpus.built_in:.1f} s" if corpus.built_in is not None else "reused (--keep)"
    )
    print(f"corpus: {corpus.releases:,} releases {built}; database {corpus.size / 1e6:.1f} MB")
    print(
        "  mean words: title {title:.1f}, excerpt {excerpt:.1f}, body {body:.1f} "
        f"(sample of {len(sample):,})".format(**words)
    )


def _median_matches(timings: Sequence[Timing]) -> str:
    counts = [t.matches for t in timings if t.matches >= 0]
    return f"{statistics.median(counts):,.0f}" if counts else "-"


def report_searches(timings: list[Timing], warmup: int) -> float:
    """Print the latency by query kind; returns the overall p95."""
    seconds = [t.seconds for t in timings]
    print(
        f"\nSearch(store).run(text), wall time, {len(timings):,} queries after {warmup:,} warm-up"
    )
    print(
        f"  {'kind':<12} {'what':<42} {'share':>6} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'matches p50':>11}"
    )
    groups: dict[str, list[Timing]] = defaultdict(list)
    for timing in timings:
        groups[timing.probe.kind].append(timing)
    for kind, (_, what) in KINDS.items():
        group = groups.get(kind, [])
        if len(group) < 2:
            continue
        times = [t.seconds for t in group]
        print(
            f"  {kind:<12} {what:<42} {len(group) / len(timings):6.1%} "
            f"{ms(percentile(times, 50))} {ms(percentile(times, 95))} "
            f"{ms(percentile(times, 99))} {ms(max(times))} {_median_matches(group):>11}"
        )
    p95 = percentile(seconds, 95)
    print(
        f"  {'all':<12} {'':<42} {1:6.1%} {ms(percentile(seconds, 50))} {ms(p95)} "
        f"{ms(percentile(seconds, 99))} {ms(max(seconds))} {_median_matches(timings):>11}"
    )
    rejected = sum(t.matches == REJECTED for t in timings)
    if rejected:
        print(f"  ({rejected} queries were rejected with a QueryError)")
    stopped = [t for t in timings if t.matches == STOPPED]
    if stopped:
        print(
            f"  ({len(stopped)} searches were stopped by Search's time limit: "
            + ", ".join(repr(t.probe.text) for t in stopped[:5])
            + ")"
        )
    return p95


def report_where_time_goes(timings: list[Timing], p95: float) -> None:
    """Latency against the number of matching releases, and what the slowest 5% are."""
    print("\nwhere the time goes\n  latency by number of matching releases, all kinds:")
    bounds = [(0, 0), (1, 100), (101, 1_000), (1_001, 10_000), (10_001, 50_000),
              (50_001, 10**9)]  # fmt: skip
    for low, high in bounds:
        times = [t.seconds for t in timings if low <= t.matches <= high]
        if not times:
            continue
        label = f"{low:,}" if low == high else f"{low:,}+" if high == 10**9 else f"{low:,}-{high:,}"
        p95_text = ms(percentile(times, 95)) if len(times) >= 2 else " " * 8
        print(
            f"    {label:>13} matches: {len(times):5,} queries ({len(times) / len(timings):5.1%})"
            f"  p50 {ms(statistics.median(times))} ms  p95 {p95_text} ms"
        )
    slow = [t for t in timings if t.seconds >= p95]
    kinds = Counter(t.probe.kind for t in slow)
    print(
        f"  the slowest 5% ({len(slow)} queries, ≥ {ms(p95).strip()} ms): "
        + ", ".join(f"{kind} {count}" for kind, count in kinds.most_common())
        + f"; matching releases p50 {_median_matches(slow)}"
    )
    for t in sorted(slow, key=lambda t: -t.seconds)[:8]:
        matches = "stopped" if t.matches == STOPPED else f"{t.matches:,}"
        print(f"    {ms(t.seconds)} ms  {matches:>7} matches  {t.probe.kind:<11} {t.probe.text!r}")


def report_profile(clock: StageClock, total: float, count: int, label: str) -> None:
    print(f"  split of {label} ({count:,} queries run again with timers, "
          f"{ms(total / count).strip()} ms mean):")  # fmt: skip
    measured = sum(clock.totals.values())
    rows = sorted(clock.totals.items(), key=lambda item: -item[1])
    rows.append(("Search.run() own Python (parse, filters, tidy)", total - measured))
    for path, seconds in rows:
        if seconds / total < 0.005:
            continue
        calls = clock.calls.get(path, 0)
        per_query = f"{calls / count:5.2f}/query" if calls else " " * 11
        print(f"    {seconds / total:6.1%}  {ms(seconds / count)} ms/query  {per_query}  {path}")


def report_http(trips: RoundTrips, warmup: int) -> float:
    """Print the round-trip latencies; returns real p99 / bare p99."""
    print(
        f"\n/isscr-news round trip, loopback HTTP, signed; {len(trips.real):,} requests per app "
        f"after {warmup:,} warm-up, alternating"
    )
    print(f"  {'app':<32} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, values in (("real (build_app + SearchService)", trips.real),
                         ("bare AsyncApp, ack only", trips.bare)):  # fmt: skip
        print(
            f"  {name:<32} {ms(percentile(values, 50))} {ms(percentile(values, 95))} "
            f"{ms(percentile(values, 99))} {ms(max(values))}"
        )
    if trips.deferred:
        print(f"  ({trips.deferred} searches took over 1.5 s and were answered via response_url)")
    # Bolt runs the listener as a task and looks for its ack() every 10 ms (unless
    # process_before_response), so round trips come in ~10 ms steps for both apps.
    first = {name: sum(v < 0.015 for v in values) / len(values)
             for name, values in (("real", trips.real), ("bare", trips.bare))}  # fmt: skip
    print(
        "  Bolt looks for ack() every 10 ms, so answers come in ~10 ms steps; in the first "
        f"(< 15 ms): real {first['real']:.1%}, bare {first['bare']:.1%}"
    )
    return percentile(trips.real, 99) / percentile(trips.bare, 99)


def report_targets(search_p95: float, trips: RoundTrips, ratio: float) -> bool:
    """Print PASS/FAIL per target; True when both pass."""
    search_ok = search_p95 <= SEARCH_P95_TARGET
    http_ok = ratio <= HTTP_RATIO_TARGET
    print("\ntargets")
    print(
        f"  search p95 ≤ {SEARCH_P95_TARGET * 1000:g} ms: {ms(search_p95).strip()} ms "
        f"({search_p95 / SEARCH_P95_TARGET:.1f}× the target)  {'PASS' if search_ok else 'FAIL'}"
    )
    print(
        f"  /isscr-news p99 ≤ {HTTP_RATIO_TARGET:g} × bare-ack p99: "
        f"{ms(percentile(trips.real, 99)).strip()} ms ÷ {ms(percentile(trips.bare, 99)).strip()} "
        f"ms = {ratio:.2f}×  {'PASS' if http_ok else 'FAIL'}"
    )
    return search_ok and http_ok
