"""The predictive pacer: its maths, its safety rules, and short simulated shifts."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pacing.observations import AttemptResolved, HandlingEnded
from pacing.predictive import (
    PredictivePacer,
    _bernoulli_sum_pmf,
    _max_calls_exact,
    _max_calls_normal,
)
from pacing.snapshot import PacingSnapshot

SCENARIOS = Path(__file__).resolve().parents[3] / "shared" / "spec" / "scenarios"


# ------------------------------------------------------------------ helpers
def brute_pmf(probs: list[float]) -> np.ndarray:
    """pmf of a sum of Bernoullis by enumerating every outcome."""
    pmf = np.zeros(len(probs) + 1)
    for bits in itertools.product((0, 1), repeat=len(probs)):
        p = 1.0
        for b, q in zip(bits, probs, strict=True):
            p *= q if b else 1.0 - q
        pmf[sum(bits)] += p
    return pmf


def snapshot(**kw: Any) -> PacingSnapshot:
    base: dict[str, Any] = {
        "now_s": 3600.0,
        "agents_logged_in": 10,
        "agents_ready": 2,
        "agents_on_call": 7,
        "agents_wrap_up": 1,
        "agents_paused": 0,
        "lines_ringing": 3,
        "lines_answered_unclassified": 0,
        "lines_waiting": 0,
        "window_human_answered": 400.0,
        "window_abandoned": 4.0,
        "max_abandon_rate": 0.03,
        "window_remaining_s": 20000.0,
        "ring_timeout_s": 20.0,
        "connect_deadline_s": 2.0,
        "amd_enabled": False,
        "ringing_ages_s": np.array([1.0, 6.0, 12.0]),
        "on_call_ages_s": np.array([10.0, 40.0, 90.0, 150.0, 200.0, 260.0, 400.0]),
        "wrap_up_ages_s": np.array([5.0]),
        "ready_ages_s": np.array([3.0, 8.0]),
    }
    base.update(kw)
    return PacingSnapshot(**base)


def warm_pacer(**kw: Any) -> PredictivePacer:
    """A pacer that has seen a plausible campaign: 25 % people, 15 % machines."""
    pacer = PredictivePacer(**kw)
    rng = np.random.default_rng(3)
    for i in range(1500):
        u = rng.random()
        delay = float(rng.lognormal(2.0, 0.45))
        if u < 0.25:
            pacer.observe(AttemptResolved(float(i), "human", delay))
        elif u < 0.40:
            pacer.observe(AttemptResolved(float(i), "machine", delay))
        elif u < 0.50:
            pacer.observe(AttemptResolved(float(i), "busy", float(rng.uniform(1, 4))))
        else:
            pacer.observe(AttemptResolved(float(i), "no_answer", 20.0))
        if i % 4 == 0:
            pacer.observe(
                HandlingEnded(float(i), float(rng.lognormal(5.0, 0.6)), float(rng.exponential(15)))
            )
    assert pacer.warm
    return pacer


# --------------------------------------------------------------------- maths
@pytest.mark.parametrize("n", [1, 3, 8, 12])
def test_poisson_binomial_is_exact(n: int) -> None:
    rng = np.random.default_rng(n)
    probs = rng.uniform(0.0, 1.0, n)
    pmf, lo = _bernoulli_sum_pmf(probs, fixed=2)
    assert lo == 2
    np.testing.assert_allclose(pmf, brute_pmf(list(probs)), atol=1e-12)


def test_poisson_binomial_drops_zero_terms() -> None:
    pmf, lo = _bernoulli_sum_pmf(np.array([0.0, 0.5, 0.0]), fixed=1)
    assert lo == 1
    np.testing.assert_allclose(pmf, [0.5, 0.5])


def test_poisson_binomial_large_counts_are_close_to_normal() -> None:
    probs = np.full(400, 0.3)
    pmf, lo = _bernoulli_sum_pmf(probs)
    mean = float(np.sum(pmf * (lo + np.arange(len(pmf)))))
    assert mean == pytest.approx(120.0, abs=0.5)


@pytest.mark.parametrize("theta", [0.0, 0.01, 0.05, 0.2, 0.6])
def test_max_calls_exact_matches_brute_force(theta: float) -> None:
    # X = demand - supply: demand ~ PB(ringing), supply 3 ready + PB(busy agents).
    demand, d_lo = _bernoulli_sum_pmf(np.array([0.3, 0.5, 0.1, 0.7]))
    supply, s_lo = _bernoulli_sum_pmf(np.array([0.2, 0.6, 0.4]), fixed=3)
    x_pmf = np.convolve(demand, supply[::-1])
    x_lo = d_lo - (s_lo + len(supply) - 1)
    q, limit = 0.35, 12
    k, _ = _max_calls_exact(x_pmf, x_lo, q, theta, limit)

    def p_unserved(j: int) -> float:
        # the j-th new call finds no agent: X + Binomial(j - 1, q) >= 0
        binom = brute_pmf([q] * (j - 1))
        total = np.convolve(x_pmf, binom)
        values = x_lo + np.arange(len(total))
        return float(total[values >= 0].sum())

    brute = 0
    for j in range(1, limit + 1):
        if p_unserved(j) <= theta:
            brute = j
        else:
            break
    assert k == brute


def test_max_calls_normal_is_monotone_in_theta() -> None:
    ks = [_max_calls_normal(-20.0, 16.0, 0.3, t, 200)[0] for t in (0.001, 0.01, 0.05, 0.2)]
    assert ks == sorted(ks)
    assert ks[0] < ks[-1]
    assert _max_calls_normal(-20.0, 16.0, 0.3, 0.0, 200)[0] == 0


# -------------------------------------------------------------------- safety
def test_cold_start_is_progressive() -> None:
    pacer = PredictivePacer()
    assert not pacer.warm
    d = pacer.decide(snapshot(agents_ready=5, lines_ringing=2, ringing_ages_s=np.array([1.0, 2])))
    assert d.calls == 3
    d = pacer.decide(snapshot(agents_ready=1, lines_ringing=3))
    assert d.calls == 0


def test_never_dials_without_agents() -> None:
    pacer = warm_pacer()
    none = snapshot(
        agents_logged_in=0,
        agents_ready=0,
        agents_on_call=0,
        agents_wrap_up=0,
        lines_ringing=0,
        ringing_ages_s=np.zeros(0),
        on_call_ages_s=np.zeros(0),
        wrap_up_ages_s=np.zeros(0),
        ready_ages_s=np.zeros(0),
    )
    assert pacer.decide(none).calls == 0
    paused = none._replace(agents_logged_in=4, agents_paused=4)
    assert pacer.decide(paused).calls == 0


def test_warm_pacer_overdials_when_there_is_room() -> None:
    pacer = warm_pacer()
    d = pacer.decide(snapshot(window_abandoned=0.0, agents_ready=4, agents_on_call=5))
    progressive = max(0, 4 - 3)
    assert d.calls > progressive
    assert d.predicted_abandon is not None and d.predicted_abandon >= 0.0
    assert d.explain is not None and d.explain["theta"] > 0


@pytest.mark.parametrize("abandoned", [12.0, 30.0])
def test_no_room_left_means_no_risk(abandoned: float) -> None:
    """At the cap (theta = 0) only calls sure to find an agent are dialed."""
    pacer = warm_pacer()
    snap = snapshot(window_human_answered=400.0, window_abandoned=abandoned)
    d = pacer.decide(snap)
    assert d.explain is not None and d.explain["theta"] == 0.0
    assert d.calls <= max(0, snap.agents_ready - snap.lines_in_flight)
    # and with a free agent for every line, it still dials those
    idle = snap._replace(
        agents_ready=6,
        agents_on_call=3,
        lines_ringing=0,
        ringing_ages_s=np.zeros(0),
        on_call_ages_s=np.array([10.0, 20.0, 30.0]),
        ready_ages_s=np.ones(6),
    )
    assert 0 < pacer.decide(idle).calls <= 6


def test_more_room_never_dials_less() -> None:
    tight = warm_pacer().decide(snapshot(window_abandoned=9.0)).calls
    loose = warm_pacer().decide(snapshot(window_abandoned=0.0)).calls
    assert loose >= tight


def test_amd_false_positives_spend_the_budget() -> None:
    """With an AMD that hangs up on 3 % of people, a 3 % cap leaves nothing to overdial."""
    pacer = warm_pacer()
    snap = snapshot(
        amd_enabled=True, amd_false_positive_rate=0.03, window_abandoned=0.0, amd_detect_s=2.5
    )
    d = pacer.decide(snap)
    assert d.explain is not None and d.explain["theta"] == 0.0


# ---------------------------------------------------------------- simulator
def _short(name: str, duration_s: float, seed: int) -> Any:
    from simulator.scenario import load_scenario

    sc = load_scenario(SCENARIOS / f"{name}.toml").with_overrides(mode="predictive", seed=seed)
    return sc.model_copy(update={"duration_s": duration_s})


@pytest.mark.skipif(not SCENARIOS.exists(), reason="shared scenarios not found")
@pytest.mark.parametrize(("name", "seed"), [("small-team-10", 5), ("collections-50", 6)])
def test_predictive_stays_under_the_cap(name: str, seed: int) -> None:
    from simulator.simulation import simulate

    sc = _short(name, 5400.0, seed)
    report = simulate(sc)
    assert report.human_answered > 100
    assert report.abandon_rate <= sc.campaign.max_abandon_rate
    progressive = simulate(sc.with_overrides(mode="progressive"))
    assert report.occupancy > progressive.occupancy


@pytest.mark.skipif(not SCENARIOS.exists(), reason="shared scenarios not found")
def test_decisions_are_traced_with_their_inputs() -> None:
    from simulator.simulation import simulate

    seen: list[tuple[PacingSnapshot, Any]] = []
    sc = _short("small-team-10", 1800.0, 1)
    simulate(sc, decision_log=lambda _cid, snap, d: seen.append((snap, d)))
    warm = [d for _, d in seen if d.explain and "theta" in d.explain]
    assert warm, "the pacer never left its warm-up"
    assert all(d.predicted_abandon is not None for d in warm)
