"""benchmarks/alerts.py at a tiny size: alerts saved through the real planning, new releases
decided by the real matcher, searches timed, and the figures and targets printed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "alerts.py"


@pytest.fixture(scope="module")
def benchmark() -> ModuleType:
    """The benchmark script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("alerts_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["alerts_benchmark"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def test_a_small_run_decides_who_gets_each_release_and_prints_it_beside_a_search(
    benchmark: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    small = ["--releases", "150", "--alerts", "200", "--new", "6", "--searches", "8"]

    assert benchmark.main([*small, "--warmup", "2", "--check"]) == 0

    printed = capsys.readouterr().out
    assert "alerts saved: 200 of 20 members" in printed
    assert "who gets a new release (6 releases, 200 alerts):" in printed
    assert "one search (Search.run, 8 of the alerts' queries):" in printed
    assert "decision ÷ one search: median" in printed
    assert "without keys: every alert run on the release by the index" in printed
    assert "memory: RSS" in printed
    assert "the median decision ≤ 1% of a full search per alert" in printed


def test_members_heed_the_preview_and_save_no_query_matching_most_of_the_archive(
    benchmark: ModuleType, tmp_path: Path
) -> None:
    from corpus import build_corpus

    from bot.search.alerts import AlertPlanning
    from bot.store import Store

    build_corpus(tmp_path / "archive.db", 150, seed=3)
    store = Store(tmp_path / "archive.db")
    store.ensure_schema()
    try:
        saved, texts = benchmark.save_alerts(store, 100, 150, seed=3)
        planning = AlertPlanning(store)
        assert saved.alerts == len(texts) == 100
        assert saved.heeded > 0
        assert not any(planning.preview(text).broad for text in texts)
        assert sum(saved.by_kind.values()) == 100
    finally:
        store.close()
