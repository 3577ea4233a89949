"""The synthetic archive: seeded releases built through the real `Store`, in a SQLite file
reused between runs with `--keep` (see search.py's docstring for its shape)."""

from __future__ import annotations

import itertools
import json
import random
import re
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vocabulary import Vocabulary, vocabulary

from bot.ingest import html_text as bot_text
from bot.models import Release
from bot.store import Store

CORPUS_VERSION = 11  # bump when the generator or the schema changes, so `--keep` rebuilds
BATCH = 2_000  # releases per write transaction while building

CATEGORIES = ["Press Release", "Statement", "Policy", "Announcement", "Letter"]
CATEGORY_WEIGHTS = [40, 20, 20, 15, 5]
AUTHORS = [
    "Keith Alm",
    "Kym Kilbourne",
    "Mariana Costa",
    "Daniel Okafor",
    "Priya Raman",
    "Tomás Lindqvist",
    "Hannah Weiss",
    "ISSCR Staff",
]
TITLE_LEADS = [
    "ISSCR Statement on",
    "ISSCR Responds to",
    "ISSCR Welcomes",
    "ISSCR Announces",
    "Letter to",
    "Call for",
    "ISSCR Applauds",
    "Comments on",
]
FIRST_DAY = datetime(2001, 1, 1, tzinfo=UTC)
SPAN = datetime(2026, 1, 1, tzinfo=UTC) - FIRST_DAY


def _sentence(words: list[str], rng: random.Random) -> str:
    if rng.random() < 0.08:
        words.insert(rng.randrange(len(words)), str(rng.randint(1990, 2025)))
    if len(words) > 6 and rng.random() < 0.4:
        at = rng.randrange(2, len(words) - 2)
        words[at] += ","
    first = words[0]
    words[0] = first[:1].upper() + first[1:]
    return " ".join(words) + "."


def _paragraph(words: list[str], rng: random.Random) -> str:
    sentences, start = [], 0
    while start < len(words):
        length = rng.randint(8, 24)
        if len(words) - start - length < 5:
            length = len(words) - start
        sentences.append(_sentence(words[start : start + length], rng))
        start += length
    return " ".join(sentences)


def _title(vocab: Vocabulary, rng: random.Random) -> str:
    length = rng.randint(6, 16)
    lead = rng.choice(TITLE_LEADS).split() if rng.random() < 0.35 else []
    words: list[str] = []
    for term in rng.choices(vocab.content, cum_weights=vocab.content_cumulative, k=length):
        words += term.split()
        if len(words) + len(lead) >= length:
            break
    words = words[: max(2, length - len(lead))]
    if len(words) > 4 and rng.random() < 0.5:
        words.insert(rng.randrange(2, len(words) - 1), rng.choice(("and", "for", "of", "in")))
    small = {"and", "for", "of", "in", "on", "to"}
    shown = [w if w in small or w.lower() != w else w[:1].upper() + w[1:] for w in words]
    return " ".join(lead + shown)


def release_id(n: int) -> str:
    return f"{n:024x}"  # the shape of a Squarespace item id


def make_release(n: int, vocab: Vocabulary, rng: random.Random) -> Release:
    """Release number `n` of the archive: every value drawn from `rng`."""
    title = _title(vocab, rng)
    body_words = rng.randint(150, 400)
    tokens: list[str] = []
    for term in rng.choices(vocab.terms, cum_weights=vocab.cumulative, k=body_words):
        tokens += term.split()
    lead_words = rng.randint(30, 60)
    rest = tokens[lead_words:body_words]
    paragraphs = [_paragraph(tokens[:lead_words], rng)]
    places = range(15, len(rest) - 14, 15)  # paragraphs of 15 words or more
    cuts = sorted(rng.sample(places, min(len(places), rng.randint(1, 5))))
    for start, end in itertools.pairwise([0, *cuts, len(rest)]):
        paragraphs.append(_paragraph(rest[start:end], rng))
    categories = [rng.choices(CATEGORIES, CATEGORY_WEIGHTS)[0]]
    if rng.random() < 0.35:
        second = rng.choices(CATEGORIES, CATEGORY_WEIGHTS)[0]
        if second != categories[0]:
            categories.append(second)
    author = rng.choices(AUTHORS, weights=(8, 7, 6, 5, 4, 3, 2, 5))[0]
    published = FIRST_DAY + SPAN * rng.random() ** 0.7  # more news in recent years
    slug = "-".join(re.findall(r"[a-z0-9]+", title.lower())[:8])
    return Release(
        id=release_id(n),
        title=title,
        link=f"https://www.isscr.org/isscr-news/{slug}-{n}",
        published=published.replace(microsecond=0),
        categories=tuple(categories),
        author=author if rng.random() < 0.75 else None,
        excerpt=bot_text.excerpt(paragraphs),
        body="\n\n".join(paragraphs),
        image_url=f"https://images.squarespace-cdn.com/content/v1/{n:024x}/cover.jpg"
        if rng.random() < 0.6
        else None,
    )


@dataclass(frozen=True)
class Corpus:
    path: Path
    releases: int
    built_in: float | None  # seconds; None when reused
    size: int  # bytes, database and WAL


def build_corpus(path: Path, releases: int, seed: int) -> float:
    """Store `releases` generated releases in a new database at `path`; returns the seconds."""
    vocab = vocabulary(seed)
    rng = random.Random(seed)
    started = time.perf_counter()
    store = Store(path)
    store.ensure_schema()
    for start in range(1, releases + 1, BATCH):
        with store.transaction():
            for n in range(start, min(start + BATCH, releases + 1)):
                release = make_release(n, vocab, rng)
                assert release.published is not None
                store.save_release(release, source="archive", now=release.published.timestamp())
        if sys.stdout.isatty():
            print(f"\r  building: {min(start + BATCH, releases + 1) - 1:,} releases", end="")
    store.tidy_search_index()  # as a finished backfill does
    store.close()  # checkpoints the WAL into the database file
    if sys.stdout.isatty():
        print("\r" + " " * 40 + "\r", end="")
    return time.perf_counter() - started


def prepare_corpus(path: Path, releases: int, seed: int, keep: bool) -> Corpus:
    """A corpus at `path`: reused when `keep` and its stamp matches, else built anew."""
    stamp_path = path.with_name(path.name + ".json")
    stamp = {"version": CORPUS_VERSION, "releases": releases, "seed": seed}
    built_in = None
    if not (keep and path.exists() and _read_stamp(stamp_path) == stamp):
        if path.exists() and _read_stamp(stamp_path) is None:
            sys.exit(f"{path} exists and was not built by this benchmark; choose another --keep")
        for old in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
            old.unlink(missing_ok=True)
        built_in = build_corpus(path, releases, seed)
        stamp_path.write_text(json.dumps(stamp))
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p != stamp_path)
    return Corpus(path, releases, built_in, size)


def _read_stamp(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
