"""Issue 13's targets at 100,000 releases, and each measured figure judged against its own.

Where a figure is taken over a few fresh processes or starts (the first search, the start), the
median is judged and the maximum shown beside it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from cold_cache import ColdSeries
from first_search import FirstSearch
from memory import Memory
from sizes import Sizes
from startup import Startup

MB = 1e6
PEAK_RSS = 120 * MB  # bytes, serving searches
SIZE_RATIO = 4.0  # the database ÷ the raw text
FIRST_SEARCH = 0.050  # seconds, after a start
START = 0.300  # seconds, spawn to the first /healthz answer
SEARCH_P95 = 0.002  # seconds, warm
COLD_SEARCH_P95 = 0.004  # seconds, the OS page cache dropped
HTTP_RATIO = 1.5  # /isscr-news p99 ÷ a bare Bolt ack's p99


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    met: bool


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds * 1000:,.0f} ms"


def verdicts(
    *,
    memory: Memory,
    startup: Startup,
    sizes: Sizes,
    first: list[FirstSearch],
    search_p95: float,
    cold: ColdSeries,
    cold_p95: float,
    http_p99: tuple[float, float],
) -> list[Verdict]:
    """Every target with its figure, in the issue's order."""
    peak = memory.end["VmHWM"]
    bot_peak = startup.served.get("VmHWM", 0)
    firsts = [f.first for f in first]
    starts = [s.seconds for s in startup.warm]
    real, bare = http_p99
    return [
        Verdict(
            f"peak RSS serving searches ≤ {PEAK_RSS / MB:.0f} MB",
            f"{peak / MB:,.1f} MB (a SearchService process, {memory.searches:,} searches)",
            peak <= PEAK_RSS,
        ),
        Verdict(
            "  … the bot process itself",
            f"{bot_peak / MB:,.1f} MB (isscr-news-bot run, {startup.searches:,} /isscr-news)",
            bot_peak <= PEAK_RSS,
        ),
        Verdict(
            f"database ≤ {SIZE_RATIO:g}× the raw text",
            f"{sizes.ratio:.2f}× ({sizes.total / MB:,.1f} MB ÷ {sizes.raw_text / MB:,.1f} MB)",
            sizes.ratio <= SIZE_RATIO,
        ),
        Verdict(
            f"first search after a start ≤ {_ms(FIRST_SEARCH)}",
            f"median {_ms(statistics.median(firsts))}, max {_ms(max(firsts))} "
            f"({len(firsts)} fresh processes)",
            statistics.median(firsts) <= FIRST_SEARCH,
        ),
        Verdict(
            f"start to /healthz ≤ {_ms(START)}",
            f"median {_ms(statistics.median(starts))}, max {_ms(max(starts))} "
            f"({len(starts)} starts)",
            statistics.median(starts) <= START,
        ),
        Verdict(
            f"warm search p95 ≤ {_ms(SEARCH_P95)}",
            _ms(search_p95),
            search_p95 <= SEARCH_P95,
        ),
        Verdict(
            f"search p95, OS cache dropped, ≤ {_ms(COLD_SEARCH_P95)}",
            f"{_ms(cold_p95)} ({len(cold.timings):,} queries)",
            cold_p95 <= COLD_SEARCH_P95,
        ),
        Verdict(
            f"/isscr-news p99 ≤ {HTTP_RATIO:g}× a bare Bolt ack",
            f"{real / bare:.2f}× ({_ms(real)} ÷ {_ms(bare)})",
            real / bare <= HTTP_RATIO,
        ),
    ]
