"""The benchmark's report: the corpus, search latency by kind and by number of matches, where
the time goes, the round trips, the database's size, the latency with the OS cache dropped, the
memory, the first search, the start, and the targets."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

from cold_cache import ColdSeries
from corpus import Corpus, release_id
from first_search import FirstSearch
from memory import Memory
from queries import KINDS
from round_trips import RoundTrips
from sizes import Sizes
from startup import Startup
from targets import Verdict
from timing import REJECTED, STOPPED, StageClock, Timing

from bot.store import Store


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


def _kinds_table(
    timings: Sequence[Timing], extra_title: str, extra: Callable[[Sequence[Timing]], str]
) -> float:
    """Latency by query kind, with one more column (`extra` of each kind's timings); returns
    the overall p95."""
    print(
        f"  {'kind':<12} {'what':<42} {'share':>6} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {extra_title:>11}"
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
            f"{ms(percentile(times, 99))} {ms(max(times))} {extra(group):>11}"
        )
    seconds = [t.seconds for t in timings]
    p95 = percentile(seconds, 95)
    print(
        f"  {'all':<12} {'':<42} {1:6.1%} {ms(percentile(seconds, 50))} {ms(p95)} "
        f"{ms(percentile(seconds, 99))} {ms(max(seconds))} {extra(timings):>11}"
    )
    return p95


def report_searches(timings: list[Timing], warmup: int) -> float:
    """Print the latency by query kind; returns the overall p95."""
    print(
        f"\nSearch(store).run(text), wall time, {len(timings):,} queries after {warmup:,} warm-up"
    )
    p95 = _kinds_table(timings, "matches p50", _median_matches)
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


def report_http(trips: RoundTrips, warmup: int) -> tuple[float, float]:
    """Print the round-trip latencies; returns the real app's p99 and the bare app's."""
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
    return percentile(trips.real, 99), percentile(trips.bare, 99)


def mb(size: float) -> str:
    return f"{size / 1e6:,.1f} MB"


def report_sizes(sizes: Sizes) -> None:
    per = sizes.releases
    print(f"\ndatabase size, {per:,} releases")
    print(
        f"  raw text (title, excerpt, body, categories, author; UTF-8): {mb(sizes.raw_text)}, "
        f"{sizes.raw_text / per:,.0f} B/release"
    )
    print(
        f"  database file {mb(sizes.database)} + WAL {mb(sizes.wal)}: {mb(sizes.total)}, "
        f"{sizes.total / per:,.0f} B/release, {sizes.ratio:.2f}× the raw text"
    )
    free = sizes.free_pages * sizes.page_size
    print(
        f"  pages of {sizes.page_size:,} B; {sizes.free_pages:,} free ({mb(free)}, "
        f"{free / sizes.database:.1%} of the file)"
    )
    if sizes.btrees is None:
        print("  (this SQLite has no dbstat table: no split by table)")
        return
    print(f"  by b-tree (dbstat):\n    {'name':<40} {'what':<36} {'MB':>9} {'share':>6} "
          f"{'B/release':>9}")  # fmt: skip
    shown = [b for b in sizes.btrees if b.bytes / sizes.database >= 0.002]
    for btree in shown:
        print(
            f"    {btree.name:<40} {btree.kind:<36} {btree.bytes / 1e6:9,.1f} "
            f"{btree.bytes / sizes.database:6.1%} {btree.bytes / per:9,.0f}"
        )
    rest = sizes.btrees[len(shown) :]
    if rest:
        small = sum(b.bytes for b in rest)
        print(f"    {f'{len(rest)} more, under 0.2% each':<77} {small / 1e6:9,.1f} "
              f"{small / sizes.database:6.1%} {small / per:9,.0f}")  # fmt: skip


def report_cold(series: ColdSeries, warmup: int) -> float:
    """Print the cold-cache latency by query kind and what was evicted; returns the p95."""
    timings = [t.timing for t in series.timings]
    read = {id(t.timing): t.read for t in series.timings}

    def read_p50(group: Sequence[Timing]) -> str:
        return f"{statistics.median(read[id(t)] for t in group) / 1e6:.1f}"

    names = " and ".join(f.name for f in series.files)
    print(
        f"\nSearch(store).run(text) with the OS page cache dropped, {len(timings):,} queries "
        f"after {warmup:,} warm-up\n"
        f"  evicted before each query: {names} ({mb(series.size)}), with "
        "madvise(MADV_DONTNEED) on this\n  process's mappings of them, then "
        "posix_fadvise(POSIX_FADV_DONTNEED); kept, as the bot's search thread\n  keeps them: "
        "the -shm file, the connection (SQLite's page cache, the parsed schema), the Search\n"
        f"  in the OS cache after the warm-up: {mb(series.resident_before)}; right after each "
        f"eviction at most {series.resident_evicted / 1024:,.0f} KB; read_ahead_kb of the "
        f"disk: {series.read_ahead_kb if series.read_ahead_kb is not None else 'unknown'}"
    )
    p95 = _kinds_table(timings, "MB read p50", read_p50)
    reads = [t.read for t in series.timings]
    print(
        f"  MB read: brought back into the OS cache by the query (read-ahead included), "
        f"p95 {percentile(reads, 95) / 1e6:.1f} MB, max {max(reads) / 1e6:.1f} MB"
    )
    return p95


def _rss(status: dict[str, int]) -> str:
    return (
        f"{mb(status['VmRSS']):>11} {mb(status['RssAnon']):>11} {mb(status['RssFile']):>11} "
        f"{mb(status['RssShmem']):>10}"
    )


def report_memory(memory: Memory, startup: Startup) -> None:
    print(
        f"\nmemory serving searches: a fresh process with a SearchService on the archive, "
        f"{memory.searches:,} searches of the mix, one at a time"
    )
    print(f"  {'':<34} {'RSS':>11} {'anonymous':>11} {'file':>11} {'shmem':>10}")
    for label, status in (
        ("modules imported", memory.imported),
        ("SearchService built (idle)", memory.idle),
        ("after the first search", memory.after_first),
        (f"after {memory.searches:,} searches", memory.end),
    ):
        print(f"  {label:<34} {_rss(status)}")
    print(f"  {'peak (VmHWM)':<34} {mb(memory.end['VmHWM']):>11}")
    if not startup.served:
        return
    print(
        "  the bot process (isscr-news-bot run, HTTP mode), on a copy of the archive:\n"
        f"  {'  at its first /healthz answer':<34} {mb(startup.warm[-1].rss):>11}"
    )
    print(f"  {'  idle, a second later':<34} {_rss(startup.idle)}")
    print(f"  {f'  after {startup.searches:,} /isscr-news':<34} {_rss(startup.served)}")
    print(f"  {'  peak (VmHWM)':<34} {mb(startup.served['VmHWM']):>11}")


def report_first_searches(warm: list[FirstSearch], cold: list[FirstSearch]) -> None:
    print(
        "\nfirst search after a start: a fresh process per query, Store(path), then "
        "Search(store) and its\n  first run(text) of a words query; then another query, "
        "then the first again"
    )
    print(f"  {'':<32} {'open ms':>9} {'first ms':>9} {'other ms':>9} {'again ms':>9}")
    for label, found in (("OS cache warm", warm), ("OS cache dropped before", cold)):
        if not found:
            continue
        for name, pick in (("median", statistics.median), ("max", max)):
            print(
                f"  {f'{label}, {name}':<32} "
                + " ".join(ms(pick(getattr(f, part) for f in found)) + " "
                           for part in ("open", "first", "other", "again"))
            )  # fmt: skip
    print("  queries: " + ", ".join(repr(f.text) for f in warm))


def report_startup(startup: Startup) -> None:
    print(
        "\nstart to /healthz: isscr-news-bot run --mode http on a copy of the archive "
        f"(copied in {startup.copied_in:.2f} s), feed and Slack on loopback stand-ins"
    )
    for label, starts in (("OS cache warm", startup.warm), ("OS cache dropped", startup.cold)):
        if not starts:
            continue
        times = [s.seconds * 1000 for s in starts]
        running = [s.running * 1000 for s in starts]
        print(
            f"  {label}: median {statistics.median(times):,.0f} ms, max {max(times):,.0f} ms; "
            "each (its answer): "
            + ", ".join(f"{s.seconds * 1000:,.0f} ms ({s.status})" for s in starts)
        )
        print(
            f'    the running bot\'s own report (no longer "starting"): median '
            f"{statistics.median(running):,.0f} ms, max {max(running):,.0f} ms"
        )
    stages = {name: seconds * 1000 for name, seconds in startup.stages.items()}
    median = statistics.median(s.seconds for s in startup.warm) * 1000
    print(
        "  where the time goes, timed apart in fresh processes (medians, OS cache warm): the "
        f"interpreter's start {stages['interpreter']:,.0f} ms, import bot.cli.run "
        f"{stages['imports']:,.0f} ms (then the port answers), Store + ensure_schema() "
        f"{stages['schema']:,.0f} ms: {stages['interpreter'] + stages['imports']:,.0f} ms to "
        f"the port of the {median:,.0f} ms; then importing the rest of the bot "
        f"{stages['bot']:,.0f} ms, building it and listening"
    )


def report_targets(verdicts: Sequence[Verdict], releases: int) -> bool:
    """Print every target met or missed; True when all are met."""
    print(f"\ntargets (issue 13), at {releases:,} releases")
    width = max(len(v.target) for v in verdicts)
    for verdict in verdicts:
        print(f"  {verdict.target:<{width}}  {'met   ' if verdict.met else 'MISSED'}  "
              f"{verdict.measured}")  # fmt: skip
    return all(v.met for v in verdicts)
