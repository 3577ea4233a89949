"""benchmarks/fanout.py at a tiny size: the real bot process in distribution mode fans one new
release out to 5 workspaces of the Slack stand-in process, each channel once, and the figures
come out of the run; and the floor's arithmetic."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "fanout.py"


@pytest.fixture(scope="module")
def fanout() -> ModuleType:
    """The benchmark script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("fanout", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fanout"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def test_the_floor_is_the_largest_of_the_in_flight_workspace_and_channel_bounds(
    fanout: ModuleType,
) -> None:
    one_each = {(f"T{n}", channel): 1 for n in range(1000) for channel in ("A", "B")}
    floor = fanout.floor(
        one_each, latency=0.02, in_flight=16, in_flight_per_workspace=2, spacing=1.0
    )
    # 2,000 posts, 16 at a time, 20 ms each: 125 rounds.
    assert floor.by_in_flight == pytest.approx(2.5)
    assert floor.by_workspace == pytest.approx(0.02)
    assert floor.by_channel == pytest.approx(0.02)
    assert floor.seconds == pytest.approx(2.5)

    # Ten posts: one round, not 10/16 of one.
    few = {("T1", "A"): 1, ("T1", "B"): 1, **{(f"T{n}", "A"): 1 for n in range(2, 10)}}
    assert fanout.floor(
        few, latency=0.02, in_flight=16, in_flight_per_workspace=2, spacing=1.0
    ).seconds == pytest.approx(0.02)

    # Three posts in one channel wait out the spacing twice; four channels of one workspace
    # go two at a time.
    assert fanout.floor(
        {("T1", "A"): 3}, latency=0.02, in_flight=16, in_flight_per_workspace=2, spacing=1.0
    ).seconds == pytest.approx(2.02)
    assert fanout.floor(
        {("T1", c): 1 for c in "ABCD"},
        latency=0.02,
        in_flight=16,
        in_flight_per_workspace=2,
        spacing=1.0,
    ).seconds == pytest.approx(0.04)


async def test_a_release_reaches_every_channel_of_five_workspaces_once_and_is_measured(
    fanout: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = fanout.Options(
        workspaces=5, channels=2, latency=0.02, per_channel_interval=0.25, settle=0.3
    )

    result = await fanout.run(options, tmp_path)

    assert (result.posts_expected, result.posts) == (10, 10)
    assert (result.missing, result.doubled, result.rate_limited) == ([], [], 0)
    assert result.deliveries == {"sent": 10}
    # The feed served it, the poll queued it, then Slack got the posts.
    assert result.served_at <= result.committed_at <= result.first_post <= result.last_post
    assert result.floor.seconds == pytest.approx(0.02)
    assert result.measured > result.floor.seconds
    assert 0 < result.in_flight_peak <= fanout.IN_FLIGHT
    assert result.rss_peak >= result.rss_idle > 10_000_000
    sizes = result.sizes
    assert sizes.empty <= sizes.installed <= sizes.before <= sizes.after
    assert "Traceback" not in (tmp_path / "bot.log").read_text()

    fanout.report(result)
    out = capsys.readouterr().out
    assert "met     10 posts, 0 missing, 0 doubled, 0 429s" in out
    assert f"{result.ratio:.2f}x" in out
