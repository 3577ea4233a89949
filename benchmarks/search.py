"""Search on a 100,000-release archive: latency, memory, size, start-up, against issue 13's targets.

One run does four things:

1. Builds a seeded, synthetic archive through the real `Store` (`ensure_schema`, then
   `save_release`, 2,000 releases per transaction rather than one as the bot writes them) in a
   temporary SQLite file, then merges the search index into one piece as a finished backfill
   does (`tidy_search_index`). Titles have 6-16 words; bodies 150-400 words in 3-7 paragraphs, the
   first of 30-60 words, from which `html_text.excerpt` makes the excerpt as the parser does (so
   at most 300 characters). Words are drawn from one Zipf-Mandelbrot distribution, weight
   1/(rank + 2.7)^1.2, over 114 English function words (~48% of a body, as in prose), 315 ISSCR
   domain terms ("stem cell", "embryo models", "iPSC", "NIH", "FDA", "MHRA", "clinical trial",
   "gene editing", ...) interleaved with 346 general English words, then 20,000 pseudo-words
   (~19% of a body): "stem cell" is in nearly every release, a domain term of middle rank in
   ~10%, a tail word in 0.1-4%. Titles draw content terms only, tail words at half weight.
   Categories: 1-2 of Press Release / Statement / Policy / Announcement / Letter; 8 authors (a
   quarter of the releases have none); dates over 2001-2025, denser in recent years.
2. Times `Search(store).run(text)` (wall clock, `time.perf_counter()`), after a warm-up, over
   this query mix, drawn with a fixed seed. Words "a member remembers" are content words (not
   function words), picked uniformly from the title or the excerpt of a random release, typed
   in lower case 4 times in 5; filters are true of that release:

       50%  words       1-3 words (40% one, 40% two, 20% three)
       10%  prefix      the same, the last word cut short to 3+ letters
        8%  phrase      a quoted run of 2-3 words from the title or excerpt, a word after it 30%
       12%  filtered    1-2 words and one filter: category (60%, as `category:policy`,
                        `category:"press release"` or `category:press`), after: (25%),
                        author: (15%)
        7%  filter-only category:, author:, after:, or category: with after:YYYY
        8%  misspelt    1-2 words, one with a typo no release holds (so it is corrected)
        5%  empty       no text: the latest releases

   The shares are a guess at how members search, set before measuring and not tuned after.
   A last word no release has as typed is read as a prefix, so the "prefix" queries are those
   whose cut word is not itself a word of the archive. A search stopped by `Search`'s time
   limit counts with the time it took. When the p95 misses the target, the slowest 5% are run
   again with timers around the Store's methods and statements (`--profile`: all queries).
3. Times the round trip of a signed `/isscr-news <text>` over loopback HTTP into the real Bolt
   app (`build_app` with a `SearchService` on the archive, served as `bot.serve` serves it,
   signatures verified) beside a bare `AsyncApp` that registers the same command and only acks
   (same signing secret, same serving, same client). Both servers run in one separate process
   (with the loopback Slack Web API stand-in for Bolt's `auth.test`); requests go one at a
   time, alternating between the two apps (ABBA), with the texts of the measured searches.

4. Measures what the archive costs (each part's module says exactly how): the database file
   against the raw text of the releases, split by table and index (`sizes`); the same searches
   with the database's pages dropped from the OS page cache before each (`cold_cache`); the
   memory of a fresh process serving 500 searches through `SearchService` (`memory`); the first
   search in fresh processes, with the OS cache warm and dropped (`first_search`); and the real
   bot process started on a copy of the archive, timed to its first `/healthz` answer, which
   then serves the same searches as signed `/isscr-news` for its own memory (`startup`).

Targets (issue 13, `targets`): peak RSS serving searches ≤ 120 MB; the database ≤ 4× the raw
text; the first search after a start ≤ 50 ms; start to `/healthz` ≤ 300 ms; search p95 ≤ 2 ms
warm and ≤ 4 ms with the OS cache dropped; `/isscr-news` p99 ≤ 1.5 × the bare ack's p99. The
report ends with a table of them, each met or missed; it exits 0 unless `--check` is given and
a target is missed. A 100,000-release run takes about 4 minutes, 3 of them building the archive
(`--keep PATH` builds it once and reuses it), and needs twice its 0.6 GB on disk for the bot's
copy. Run from the repo root:

    python benchmarks/search.py [--releases N] [--queries N] [--requests N] [--warmup N]
                                [--cold N] [--searches N] [--first N] [--starts N]
                                [--cold-starts N] [--seed N] [--keep PATH] [--profile]
                                [--check]

The parts: `vocabulary` and `corpus` build the archive, `queries` makes the query mix, `timing`
times `Search.run()` (and splits its time by stage), `round_trips` times the HTTP round trips
against the loopback Slack stand-in of `slack_stand_in`, `sizes`, `cold_cache` (with
`page_cache`), `memory`, `first_search` and `startup` measure the rest, `targets` judges the
figures and `report` prints them; this module runs them in order.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

from cold_cache import time_cold_searches
from corpus import prepare_corpus
from first_search import time_first_searches
from memory import measure_memory
from queries import QueryMaker
from report import (
    report_cold,
    report_corpus,
    report_first_searches,
    report_http,
    report_memory,
    report_profile,
    report_searches,
    report_sizes,
    report_startup,
    report_targets,
    report_where_time_goes,
)
from round_trips import Servers, time_round_trips
from sizes import measure_sizes
from startup import measure_startup
from targets import SEARCH_P95, verdicts
from timing import profile_searches, time_searches

from bot.search.engine import Search
from bot.store import Store


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--releases", type=int, default=100_000, help="size of the archive")
    add("--queries", type=int, default=400, help="measured searches")
    add("--requests", type=int, default=300, help="measured requests per app")
    add("--warmup", type=int, default=20, help="unrecorded searches/requests")
    add("--cold", type=int, default=200, help="measured searches with the OS cache dropped")
    add("--searches", type=int, default=500, help="searches served for the memory figures")
    add("--first", type=int, default=5, help="fresh processes timing their first search")
    add("--starts", type=int, default=5, help="bot starts timed to /healthz")
    add("--cold-starts", type=int, default=3, help="... with the OS cache dropped")
    add("--seed", type=int, default=1, help="seed of the archive and queries")
    add("--keep", type=Path, help="build the archive here once and reuse it")
    add("--profile", action="store_true",
        help="also split the time of all queries, not only the slowest 5%%")  # fmt: skip
    add("--check", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    started = time.perf_counter()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep.resolve() if args.keep else Path(tmp) / "archive.db"
        corpus = prepare_corpus(path, args.releases, args.seed, keep=args.keep is not None)
        report_corpus(corpus)
        sizes = measure_sizes(path, args.releases)
        report_sizes(sizes)

        store = Store(path)
        probes = QueryMaker(store, args.releases, args.seed).probes(args.warmup + args.queries)
        timings = time_searches(Search(store), probes, args.warmup)
        store.close()
        search_p95 = report_searches(timings, args.warmup)
        if search_p95 > SEARCH_P95 or args.profile:
            report_where_time_goes(timings, search_p95)
            slow = [t.probe for t in timings if t.seconds >= search_p95]
            report_profile(*profile_searches(path, slow), len(slow), "the slowest 5%")
        if args.profile:
            measured = [t.probe for t in timings]
            report_profile(*profile_searches(path, measured), len(measured), "all queries")

        # The round trips before anything drops the OS cache: like the warm searches (and the
        # bare app beside them), they measure a bot whose archive is in memory.
        texts = [t.probe.text for t in timings]
        requests = list(itertools.islice(itertools.cycle(texts), args.warmup + args.requests))
        servers = Servers(path)
        try:
            trips = asyncio.run(time_round_trips(servers.urls, requests, args.warmup))
        finally:
            servers.close()
        http_p99 = report_http(trips, args.warmup)

        cold = time_cold_searches(path, probes[: args.warmup + args.cold], args.warmup)
        cold_p95 = report_cold(cold, args.warmup)
        served = list(itertools.islice(itertools.cycle(texts), args.searches))
        memory = measure_memory(path, served)
        words = [p.text for p in probes if p.kind == "words"][: args.first]
        first = time_first_searches(path, words, cold=False)
        report_first_searches(first, time_first_searches(path, words, cold=True))

        startup = measure_startup(
            path, Path(tmp), served, starts=args.starts, cold_starts=args.cold_starts
        )
        report_startup(startup)
        report_memory(memory, startup)
    judged = verdicts(memory=memory, startup=startup, sizes=sizes, first=first,
                      search_p95=search_p95, cold=cold, cold_p95=cold_p95,
                      http_p99=http_p99)  # fmt: skip
    met = report_targets(judged, args.releases)
    print(
        f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"total {time.perf_counter() - started:.0f} s"
    )
    if args.check and not met:
        sys.exit(1)


if __name__ == "__main__":
    main()
