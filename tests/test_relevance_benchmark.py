"""benchmarks/relevance.py on a tiny judged set: the nDCG arithmetic, our search and the
baseline over the same releases, the table's figures and the exit code of --check."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "relevance.py"

EMBRYO = "6a0c6ce0ebc12d152e3870d3"
CLINICS = "59a5728054b3a1b2c3d4e5f6"
JOURNAL = "5c34e8e0aa0bb0cc0dd0ee0f"
RELEASES = [
    {
        "id": EMBRYO,
        "title": "ISSCR Statement on Research Culturing Embryo Models Past Day 14",
        "link": "https://www.isscr.org/isscr-news/embryo-models-past-day-14",
        "published": "2026-05-19T14:00:00+00:00",
        "categories": ["Statement", "Policy"],
        "author": "Kym Kilbourne",
        "excerpt": "The ISSCR has reviewed a report of stem cell-based embryo models cultured "
        "to day 21.",
        "body": "The ISSCR has reviewed a report of stem cell-based embryo models cultured to "
        "day 21.\n\nThe 14-day rule does not apply directly to embryo models.",
        "image_url": None,
    },
    {
        "id": CLINICS,
        "title": "ISSCR Applauds FDA Action Against Clinics Marketing Unproven Stem Cell "
        "Treatments",
        "link": "https://www.isscr.org/isscr-news/fda-action-clinics",
        "published": "2017-08-29T14:00:00+00:00",
        "categories": ["Press Release"],
        "author": "Kym Kilbourne",
        "excerpt": "The ISSCR applauds the FDA for acting against clinics.",
        "body": "The ISSCR applauds the FDA for acting against clinics.\n\nPatients travel "
        "abroad for treatments that were never tested.",
        "image_url": None,
    },
    {
        "id": JOURNAL,
        "title": "Stem Cell Reports Names New Editor-in-Chief",
        "link": "https://www.isscr.org/isscr-news/stem-cell-reports-editor",
        "published": "2019-01-08T14:00:00+00:00",
        "categories": ["Announcement"],
        "author": None,
        "excerpt": "The ISSCR has appointed a new Editor-in-Chief of Stem Cell Reports.",
        "body": "The ISSCR has appointed a new Editor-in-Chief of Stem Cell Reports.",
        "image_url": None,
    },
]
QUERIES = [
    {"query": "embryo models", "kind": "topic", "judgments": {EMBRYO: 3, JOURNAL: 0}},
    # No release says "tourism": both searches answer with nothing.
    {"query": "stem cell tourism", "kind": "unseen-word", "judgments": {CLINICS: 3}},
]


@pytest.fixture(scope="module")
def relevance() -> ModuleType:
    """The benchmark script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("relevance", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["relevance"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def judged_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "judged"
    directory.mkdir()
    lines = "".join(json.dumps(release) + "\n" for release in RELEASES)
    (directory / "releases.jsonl").write_text(lines, encoding="utf-8")
    (directory / "queries.json").write_text(json.dumps(QUERIES), encoding="utf-8")
    return directory


def test_ndcg_weighs_each_grade_2_to_the_grade_minus_1_discounted_by_log2_of_rank_plus_1(
    relevance: ModuleType,
) -> None:
    grades = {"a": 1, "c": 3, "d": 2}

    # Ranked a (1), b (0), c (3): 1/log2(2) + 0 + 7/log2(4) = 4.5. Ideal 3, 2, 1: 7/1 +
    # 3/log2(3) + 1/log2(4).
    assert relevance.ndcg(["a", "b", "c"], grades) == pytest.approx(
        4.5 / (7 + 3 / math.log2(3) + 0.5)
    )
    assert relevance.ndcg(["c", "d", "a"], grades) == pytest.approx(1.0)
    assert relevance.ndcg([], grades) == 0.0
    # Only the first five count, and the ideal is the best five of the judgments.
    assert relevance.ndcg(["x1", "x2", "x3", "x4", "x5", "c"], grades) == 0.0
    many = {f"r{n}": 3 for n in range(7)}
    assert relevance.ndcg(["r0", "r1", "r2", "r3", "r4"], many) == pytest.approx(1.0)


def test_ours_and_the_baseline_search_the_same_releases_and_empty_answers_are_counted(
    relevance: ModuleType, judged_dir: Path, tmp_path: Path
) -> None:
    judged = relevance.load_set(judged_dir)
    assert [r.id for r in judged.releases] == [EMBRYO, CLINICS, JOURNAL]
    assert judged.releases[0].categories == ("Statement", "Policy")

    scored = relevance.evaluate(judged, tmp_path)

    embryo, tourism = scored
    assert embryo.ours.ids == [EMBRYO] and embryo.baseline.ids == [EMBRYO]
    assert embryo.ours_ndcg == embryo.baseline_ndcg == 1.0
    # No release has "tourism": the baseline answers nothing, ours leaves the word out.
    assert tourism.baseline.empty and tourism.baseline_ndcg == 0.0
    assert not tourism.ours.empty and CLINICS in tourism.ours.ids
    rows = {row.label: row for row in relevance.summarize(scored)}
    assert list(rows) == ["topic", "unseen-word", "overall"]
    overall = rows["overall"]
    assert (overall.queries, overall.baseline) == (2, 0.5)
    assert overall.ours == pytest.approx((1.0 + tourism.ours_ndcg) / 2)
    assert (overall.ours_empty, overall.baseline_empty) == (0, 1)


def test_a_query_our_search_refuses_is_an_empty_answer_with_its_reason(
    relevance: ModuleType, judged_dir: Path, tmp_path: Path
) -> None:
    ours = relevance.Ours(relevance.load_set(judged_dir).releases, tmp_path)
    try:
        answer = ours.top("embryo after:2025-13-45")
    finally:
        ours.close()

    assert answer.empty
    assert answer.error.startswith("QueryError: ")


def test_the_baseline_applies_filters_after_matching_ranked_by_bm25(
    relevance: ModuleType, judged_dir: Path
) -> None:
    baseline = relevance.Baseline(relevance.load_set(judged_dir).releases)
    try:
        every = baseline.top("isscr").ids
        assert set(every) == {EMBRYO, CLINICS, JOURNAL}
        assert every[-1] == JOURNAL  # the only title without the word: bm25 weighs titles 10x
        assert baseline.top("isscr category:press").ids == [CLINICS]
        assert baseline.top("isscr author:KYM before:2020").ids == [CLINICS]
        assert baseline.top("after:2019-01").ids == [EMBRYO, JOURNAL]  # newest first
        assert baseline.top('"reports names"').ids == [JOURNAL]
        assert baseline.top('"names reports"').ids == []
    finally:
        baseline.close()


def test_check_exits_1_below_the_target_and_prints_the_table(
    relevance: ModuleType, judged_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert relevance.main(["--set", str(judged_dir)]) == 0
    assert relevance.main(["--set", str(judged_dir), "--check"]) == 1  # 0.5 < 0.86
    assert relevance.main(["--set", str(judged_dir), "--check", "--target", "0.5"]) == 0

    out = capsys.readouterr().out
    assert "overall" in out and "1/2 (50%)" in out
