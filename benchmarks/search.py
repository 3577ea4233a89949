"""Search latency on a 100,000-release archive: `Search.run()` alone, and `/isscr-news` over HTTP.

One run does three things:

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
        8%  misspelt    1-2 words, one with a typo, checked to match nothing (so hints run)
        5%  empty       no text: the latest releases

   The shares are a guess at how members search, set before measuring and not tuned after.
   Note that the grammar matches any last word of 3+ letters as a prefix, so most "words"
   queries are prefix queries too. A search stopped by `Search`'s time limit counts with the
   time it took. When the p95 misses the target, the slowest 5% are run again with timers
   around the Store's methods and statements (`--profile`: all queries).
3. Times the round trip of a signed `/isscr-news <text>` over loopback HTTP into the real Bolt
   app (`build_app` with a `SearchService` on the archive, served as `bot.serve` serves it,
   signatures verified) beside a bare `AsyncApp` that registers the same command and only acks
   (same signing secret, same serving, same client). Both servers run in one separate process
   (with the loopback Slack Web API stand-in for Bolt's `auth.test`); requests go one at a
   time, alternating between the two apps (ABBA), with the texts of the measured searches.

Targets: search p95 ≤ 2 ms; `/isscr-news` p99 ≤ 1.5 × the bare ack's p99. The report exits 0
unless `--check` is given and a target fails. The default run takes about 4 minutes, 3.5 of them
building the archive (`--keep PATH` builds it once and reuses it). Run from the repo root:

    python benchmarks/search.py [--releases N] [--queries N] [--requests N] [--warmup N]
                                [--seed N] [--keep PATH] [--profile] [--check]

The parts: `vocabulary` and `corpus` build the archive, `queries` makes the query mix, `timing`
times `Search.run()` (and splits its time by stage), `round_trips` times the HTTP round trips
against the loopback Slack stand-in of `slack_stand_in`, and `report` prints the figures; this
module runs them in order.
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

from corpus import prepare_corpus
from queries import QueryMaker
from report import (
    SEARCH_P95_TARGET,
    report_corpus,
    report_http,
    report_profile,
    report_searches,
    report_targets,
    report_where_time_goes,
)
from round_trips import Servers, time_round_trips
from timing import profile_searches, time_searches

from bot.search.engine import Search
from bot.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=100_000, help="size of the archive")
    parser.add_argument("--queries", type=int, default=400, help="measured searches")
    parser.add_argument("--requests", type=int, default=300, help="measured requests per app")
    parser.add_argument("--warmup", type=int, default=20, help="unrecorded searches/requests")
    parser.add_argument("--seed", type=int, default=1, help="seed of the archive and queries")
    parser.add_argument("--keep", type=Path, help="build the archive here once and reuse it")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also split the time of all queries, not only the slowest 5%%",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep.resolve() if args.keep else Path(tmp) / "archive.db"
        corpus = prepare_corpus(path, args.releases, args.seed, keep=args.keep is not None)
        report_corpus(corpus)

        store = Store(path)
        probes = QueryMaker(store, args.releases, args.seed).probes(args.warmup + args.queries)
        timings = time_searches(Search(store), probes, args.warmup)
        store.close()
        search_p95 = report_searches(timings, args.warmup)
        if search_p95 > SEARCH_P95_TARGET or args.profile:
            report_where_time_goes(timings, search_p95)
            slow = [t.probe for t in timings if t.seconds >= search_p95]
            report_profile(*profile_searches(path, slow), len(slow), "the slowest 5%")
        if args.profile:
            measured = [t.probe for t in timings]
            report_profile(*profile_searches(path, measured), len(measured), "all queries")

        texts = [t.probe.text for t in timings]
        texts = list(itertools.islice(itertools.cycle(texts), args.warmup + args.requests))
        servers = Servers(path)
        try:
            trips = asyncio.run(time_round_trips(servers.urls, texts, args.warmup))
        finally:
            servers.close()
        ratio = report_http(trips, args.warmup)
    passed = report_targets(search_p95, trips, ratio)
    print(
        f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"total {time.perf_counter() - started:.0f} s"
    )
    if args.check and not passed:
        sys.exit(1)


if __name__ == "__main__":
    main()
