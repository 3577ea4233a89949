"""Relevance of member searches on a judged set: nDCG@5 and empty answers, ours beside a plain bm25.

One run stores a judged set's releases through the real `Store` (`ensure_schema`, then
`save_release` of each) in a temporary SQLite file, runs every judged query through the real
`Search(store).run(text)` (page 1, and the next pages while fewer than 5 results have come), and
runs the same queries against a plain baseline over the same releases. It prints, per kind of
query and overall, the mean nDCG@5 and the share of empty answers, ours beside the baseline.

A judged set is a directory (`--set DIR`, default `benchmarks/judged`) of two files:

    releases.jsonl  one JSON object per line with the fields of `bot.models.Release`: "id",
                    "title", "link", "published" (ISO 8601 with its offset, or null),
                    "categories" (a list), "author" (or null), "excerpt", "body" (plain text,
                    paragraphs separated by blank lines), "image_url" (or null)
    queries.json    a list of {"query": the text as a member types it after /isscr-news,
                    "kind": a label the table groups by, "judgments": {release id: grade}}:
                    grade 3 exactly what the member wants, 2 clearly relevant, 1 partly
                    relevant; a release not listed is 0. Every query needs a grade above 0.

nDCG@5: the gain of the release at rank r (1-5) is 2^grade - 1, discounted by log2(r + 1);
the sum is divided by that of the ideal ranking (the judged grades, highest first, top 5).
An empty answer (no result), and a query our search refuses (`QueryError`) or fails on
(`SearchError`), scores 0 and counts as empty; the error is shown with `--verbose`.

The baseline is what a plain FTS5 setup would do: one table of the releases' title, excerpt,
body, categories and author (tokenize 'porter unicode61 remove_diacritics 2'), queried with
MATCH of the query's words, each a quoted string (a quoted phrase stays one string, so its
words must be adjacent), all ANDed, ordered by bm25(t, 10, 1, 1, 1, 1) (the title weighs 10×),
ties newest first. Filters are applied simply, after the match: `category:` keeps releases with
a category starting with the value, `author:` those whose author contains it (both ignoring
case); `after:`/`before:` take YYYY, YYYY-MM or YYYY-MM-DD, the start of that period, and keep
releases published on or after it / before it (a date that does not parse is ignored).
A query of filters alone lists the newest releases that pass them.

Run from the repo root:

    python benchmarks/relevance.py [--set DIR] [--verbose] [--check] [--target 0.86]

Exits 0; with `--check`, 1 when our overall nDCG@5 is below the baseline's or the target.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot.models import Release
from bot.search.engine import Search, SearchError
from bot.search.grammar import QueryError
from bot.store import Store

DEPTH = 5  # nDCG@5: the first page a member sees in Slack
DEFAULT_SET = Path(__file__).resolve().parent / "judged"
DEFAULT_TARGET = 0.86
GRADES = (0, 1, 2, 3)


@dataclass(frozen=True)
class Judged:
    """One query of a judged set."""

    text: str
    kind: str
    grades: dict[str, int]  # release id -> grade; unlisted ids are 0


@dataclass(frozen=True)
class JudgedSet:
    releases: list[Release]
    queries: list[Judged]


@dataclass(frozen=True)
class Answer:
    """The ids one search ranked first (at most DEPTH), or why it gave none."""

    ids: list[str]
    error: str | None = None

    @property
    def empty(self) -> bool:
        return not self.ids


@dataclass(frozen=True)
class Scored:
    query: Judged
    ours: Answer
    baseline: Answer

    @property
    def ours_ndcg(self) -> float:
        return ndcg(self.ours.ids, self.query.grades)

    @property
    def baseline_ndcg(self) -> float:
        return ndcg(self.baseline.ids, self.query.grades)


# --- the judged set ---------------------------------------------------------------------------


def load_set(directory: Path) -> JudgedSet:
    """Read and check a judged set (see the module docstring for its format)."""
    releases = [
        _release(json.loads(line))
        for line in (directory / "releases.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    known = {release.id for release in releases}
    if len(known) != len(releases):
        raise ValueError(f"{directory / 'releases.jsonl'}: a release id appears twice")
    queries = []
    for item in json.loads((directory / "queries.json").read_text(encoding="utf-8")):
        query = Judged(item["query"], item["kind"], dict(item["judgments"]))
        unknown = set(query.grades) - known
        if unknown:
            raise ValueError(f"query {query.text!r} judges unknown releases: {sorted(unknown)}")
        if any(grade not in GRADES for grade in query.grades.values()):
            raise ValueError(f"query {query.text!r}: grades are 0, 1, 2 or 3")
        if not any(query.grades.values()):
            raise ValueError(f"query {query.text!r} has no relevant release")
        queries.append(query)
    return JudgedSet(releases, queries)


def _release(row: dict[str, Any]) -> Release:
    published = row.get("published")
    return Release(
        id=row["id"],
        title=row["title"],
        link=row["link"],
        published=datetime.fromisoformat(published) if published else None,
        categories=tuple(row.get("categories") or ()),
        author=row.get("author"),
        excerpt=row.get("excerpt") or "",
        body=row.get("body") or "",
        image_url=row.get("image_url"),
    )


# --- the metric -------------------------------------------------------------------------------


def dcg(grades: Iterable[int]) -> float:
    """Discounted cumulative gain of grades in rank order: (2^g - 1) / log2(rank + 1)."""
    return sum((2**grade - 1) / math.log2(rank + 1) for rank, grade in enumerate(grades, 1))


def ndcg(ranked: Sequence[str], grades: dict[str, int], depth: int = DEPTH) -> float:
    """nDCG@depth of the ids `ranked`, against the ideal ordering of the judged `grades`."""
    ideal = dcg(sorted(grades.values(), reverse=True)[:depth])
    if ideal == 0:
        return 0.0
    return dcg(grades.get(release_id, 0) for release_id in ranked[:depth]) / ideal


# --- our search -------------------------------------------------------------------------------


class Ours:
    """The bot's own store and search, over a temporary database of the releases."""

    def __init__(self, releases: Iterable[Release], directory: Path) -> None:
        self.store = Store(directory / "relevance.db")
        self.store.ensure_schema()
        now = time.time()
        for release in releases:
            self.store.save_release(release, source="archive", now=now)
        self.search = Search(self.store)

    def top(self, text: str, depth: int = DEPTH) -> Answer:
        """The first `depth` results for `text`, reading further pages when a page is short."""
        ids: list[str] = []
        page = 1
        try:
            while len(ids) < depth:
                results = self.search.run(text, page)
                ids += [found.release.id for found in results.found]
                if not results.has_next or results.page != page:
                    break
                page += 1
        except (QueryError, SearchError) as error:
            return Answer([], f"{type(error).__name__}: {error}")
        return Answer(ids[:depth])

    def close(self) -> None:
        self.store.close()


# --- the baseline -----------------------------------------------------------------------------

_TOKEN = re.compile(
    r'(?P<key>category|author|after|before):(?:"(?P<quoted>[^"]*)"?|(?P<value>[^\s"]*))'
    r'|"(?P<phrase>[^"]*)"?'
    r'|(?P<word>[^\s"]+)',
    re.IGNORECASE,
)
_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")


@dataclass(frozen=True)
class BaselineQuery:
    terms: list[str]  # words and phrases, each to be one FTS5 string
    filters: list[Callable[[Release], bool]]


def parse_baseline(text: str) -> BaselineQuery:
    """Words, quoted phrases and the four filters, read the simple way."""
    terms: list[str] = []
    filters: list[Callable[[Release], bool]] = []
    for match in _TOKEN.finditer(text.replace("“", '"').replace("”", '"')):
        key, quoted, phrase = match.group("key"), match.group("quoted"), match.group("phrase")
        if key is None:
            term = phrase if phrase is not None else match.group("word")
            if re.search(r"\w", term):
                terms.append(term)
            continue
        keep = _filter(key.lower(), quoted if quoted is not None else match.group("value"))
        if keep is not None:
            filters.append(keep)
    return BaselineQuery(terms, filters)


def _filter(key: str, value: str) -> Callable[[Release], bool] | None:
    """What `key:value` keeps, or None for a value that says nothing usable."""
    wanted = value.casefold()
    if not wanted:
        return None
    if key == "category":
        return lambda r: any(c.casefold().startswith(wanted) for c in r.categories)
    if key == "author":
        return lambda r: wanted in (r.author or "").casefold()
    day = _start_of(value)
    if day is None:
        return None
    if key == "after":
        return lambda r: r.published is not None and r.published.date() >= day
    return lambda r: r.published is not None and r.published.date() < day


def _start_of(value: str) -> date | None:
    found = _DATE.match(value)
    if not found:
        return None
    year, month, day = (int(part) if part else 1 for part in found.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


class Baseline:
    """Plain FTS5 with bm25, the title weighted 10×, over the same releases (in memory)."""

    def __init__(self, releases: Iterable[Release]) -> None:
        # Newest first, so that rowid order is newest first for ties and filter-only queries.
        self.releases = sorted(
            releases, key=lambda r: r.published.timestamp() if r.published else 0, reverse=True
        )
        self.db = sqlite3.connect(":memory:")
        self.db.execute(
            "CREATE VIRTUAL TABLE t USING fts5(title, excerpt, body, categories, author, "
            "tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        self.db.executemany(
            "INSERT INTO t (rowid, title, excerpt, body, categories, author) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (n, r.title, r.excerpt, r.body, " ".join(r.categories), r.author or "")
                for n, r in enumerate(self.releases)
            ],
        )

    def top(self, text: str, depth: int = DEPTH) -> Answer:
        query = parse_baseline(text)
        if query.terms:
            match = " AND ".join('"' + term.replace('"', '""') + '"' for term in query.terms)
            rows = self.db.execute(
                "SELECT rowid FROM t WHERE t MATCH ? ORDER BY bm25(t, 10, 1, 1, 1, 1), rowid",
                [match],
            ).fetchall()
            ranked = [self.releases[row[0]] for row in rows]
        else:
            ranked = list(self.releases)
        kept = [r for r in ranked if all(keep(r) for keep in query.filters)]
        return Answer([r.id for r in kept[:depth]])

    def close(self) -> None:
        self.db.close()


# --- the run and the report -------------------------------------------------------------------


def evaluate(judged: JudgedSet, directory: Path) -> list[Scored]:
    """Every query of `judged` through our search and the baseline (a database in `directory`)."""
    ours = Ours(judged.releases, directory)
    baseline = Baseline(judged.releases)
    try:
        return [Scored(q, ours.top(q.text), baseline.top(q.text)) for q in judged.queries]
    finally:
        ours.close()
        baseline.close()


@dataclass(frozen=True)
class Row:
    label: str
    queries: int
    ours: float
    baseline: float
    ours_empty: int
    baseline_empty: int


def summarize(scored: Sequence[Scored]) -> list[Row]:
    """One row per kind, in the order kinds first appear, then the overall row."""
    kinds = list(dict.fromkeys(s.query.kind for s in scored))
    groups = [(kind, [s for s in scored if s.query.kind == kind]) for kind in kinds]
    return [_row(label, group) for label, group in [*groups, ("overall", list(scored))]]


def _row(label: str, group: Sequence[Scored]) -> Row:
    return Row(
        label,
        len(group),
        sum(s.ours_ndcg for s in group) / len(group),
        sum(s.baseline_ndcg for s in group) / len(group),
        sum(s.ours.empty for s in group),
        sum(s.baseline.empty for s in group),
    )


def table(rows: Sequence[Row]) -> str:
    lines = [
        f"{'kind':<14}{'queries':>8}   {'nDCG@5 ours':>11}{'baseline':>10}"
        f"   {'empty ours':>14}{'baseline':>14}",
    ]
    for row in rows:
        if row.label == "overall":
            lines.append("-" * len(lines[0]))
        ours_empty = _share(row.ours_empty, row.queries)
        baseline_empty = _share(row.baseline_empty, row.queries)
        lines.append(
            f"{row.label:<14}{row.queries:>8}   {row.ours:>11.3f}{row.baseline:>10.3f}"
            f"   {ours_empty:>14}{baseline_empty:>14}"
        )
    return "\n".join(lines)


def _share(count: int, total: int) -> str:
    return f"{count}/{total} ({count / total:.0%})"


def details(scored: Sequence[Scored], releases: Sequence[Release]) -> str:
    """Each query's top results from both, with their grades and titles."""
    by_id = {r.id: r for r in releases}
    out = []
    for s in scored:
        out.append(
            f"\n{s.query.text}  [{s.query.kind}]  ours {s.ours_ndcg:.3f}  "
            f"baseline {s.baseline_ndcg:.3f}  (judged relevant: "
            f"{sum(1 for g in s.query.grades.values() if g)})"
        )
        for name, answer in (("ours", s.ours), ("baseline", s.baseline)):
            if answer.empty:
                out.append(f"  {name:<9}(nothing){f'  {answer.error}' if answer.error else ''}")
            for rank, release_id in enumerate(answer.ids, 1):
                release = by_id[release_id]
                day = release.published.date().isoformat() if release.published else "undated"
                out.append(
                    f"  {name if rank == 1 else '':<9}{rank}. [{s.query.grades.get(release_id, 0)}]"
                    f" {day}  {release.title[:90]}"
                )
    return "\n".join(out)


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it is under it, as typed otherwise."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, help="a judged set's directory")
    parser.add_argument("--verbose", action="store_true", help="each query's top 5, graded")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 below the baseline or the target"
    )
    parser.add_argument("--target", type=float, default=DEFAULT_TARGET, help="nDCG@5 target")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    judged = load_set(args.set)
    with tempfile.TemporaryDirectory() as tmp:
        scored = evaluate(judged, Path(tmp))
    rows = summarize(scored)
    if args.verbose:
        print(details(scored, judged.releases))
        print()
    print(
        f"Relevance on {_shown(args.set)}: {len(judged.releases)} releases, {len(scored)} queries "
        f"(nDCG@{DEPTH}, gain 2^grade - 1; empty = no result)\n"
    )
    print(table(rows))
    overall = rows[-1]
    passed = overall.ours >= overall.baseline and overall.ours >= args.target
    print(
        f"\nours {overall.ours:.3f} vs baseline {overall.baseline:.3f}, target {args.target:.2f}: "
        f"{'met' if passed else 'not met'}; {time.perf_counter() - started:.1f} s"
    )
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
