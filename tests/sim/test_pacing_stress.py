"""benchmarks/pacing_stress.py: its random floors are valid scenarios, its verdicts fair."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.scenario import parse_scenario

_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pacing_stress.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pacing_stress", _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pacing_stress"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


stress = _load()


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_draw_is_a_scenario_the_simulator_accepts(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Validation refuses shares over 1, a short ring timeout, bad schedules.
    sc = parse_scenario(tomllib.loads(stress.draw_scenario(rng, 7)), "draw")
    assert sc.name == "stress-007"
    if sc.amd.enabled:
        # False positives alone must leave the cap reachable.
        assert sc.amd.false_positive.value_at(0.0) < sc.campaign.max_abandon_rate
    # Shifts stay small enough for a batch of forty to take minutes.
    agent_hours = sc.agents.count.value_at(0.0) * sc.duration_s / 3600
    assert agent_hours <= stress.MAX_AGENT_HOURS


def _run(occupancy: float, abandon: float) -> dict[str, float]:
    return {"occupancy": occupancy, "abandon_rate": abandon}


def test_a_seed_over_the_cap_fails_unless_progressive_went_over_too() -> None:
    runs = {
        "progressive": [_run(0.60, 0.000), _run(0.60, 0.040)],
        "adaptive": [_run(0.61, 0.030), _run(0.61, 0.030)],
        "predictive": [_run(0.70, 0.031), _run(0.70, 0.035)],
    }
    v = stress.judge("s", "10", 0.03, [5, 6], runs)
    # Seed 5: over the cap with progressive at 0: a failure. Seed 6:
    # progressive abandoned more (AMD's false positives), not the pacing.
    assert v.over_cap == [5]
    assert v.flags == []


def test_occupancy_under_adaptive_or_progressive_is_flagged() -> None:
    runs = {
        "progressive": [_run(0.66, 0.0)],
        "adaptive": [_run(0.71, 0.30)],
        "predictive": [_run(0.65, 0.0)],
    }
    v = stress.judge("s", "6-2", 0.01, [1], runs)
    assert v.over_cap == []
    assert len(v.flags) == 2
    assert "under adaptive by 6.00 pt (adaptive abandons 30.0 %" in v.flags[0]
    assert "under progressive by 1.00 pt" in v.flags[1]


@pytest.mark.parametrize("args", [["--seeds", "0"], ["--scenarios", "-1"], ["--workers", "two"]])
def test_counts_that_make_no_run_are_refused_by_name(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        stress.main(args)
    assert exc.value.code == 2
    assert f"argument {args[0]}" in capsys.readouterr().err
