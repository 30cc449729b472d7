"""The predictive pacer: its maths, its safety rules, and short simulated shifts."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pacing.observations import AttemptResolved, HandlingEnded
from pacing.predictive import (
    _AGE_GRID,
    PredictivePacer,
    _age_index,
    _lookup,
    _norm_sf,
    _Tables,
    pb_pmf,
    unserved_exact,
    unserved_normal,
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
    base.setdefault("window_abandoned_raw", base["window_abandoned"])
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
            machine = rng.random() < 0.35
            talk = 8.0 if machine else float(rng.lognormal(5.0, 0.6))
            pacer.observe(HandlingEnded(float(i), talk, float(rng.exponential(15)), machine))
    assert pacer.warm
    return pacer


# --------------------------------------------------------------------- maths
@pytest.mark.parametrize("n", [1, 3, 8, 12])
def test_poisson_binomial_is_exact(n: int) -> None:
    rng = np.random.default_rng(n)
    probs = rng.uniform(0.0, 1.0, (n, 3))
    pmf = pb_pmf(probs)
    assert pmf.shape == (3, n + 1)
    for c in range(3):
        np.testing.assert_allclose(pmf[c], brute_pmf(list(probs[:, c])), atol=1e-12)


def test_poisson_binomial_of_certain_and_empty_terms() -> None:
    pmf = pb_pmf(np.array([[0.0], [1.0], [0.5]]))[0]
    np.testing.assert_allclose(pmf, [0.0, 0.5, 0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(pb_pmf(np.zeros((0, 2))), np.ones((2, 1)))


@pytest.mark.parametrize("need", [-1, 0, 2, 4, 7, 20])
def test_unserved_exact_matches_brute_force(need: int) -> None:
    """P(Z + Binomial(k, q) >= need) for Z a Poisson-binomial, by enumeration."""
    rng = np.random.default_rng(need + 10)
    probs = rng.uniform(0.0, 1.0, (6, 2))
    q = np.array([0.2, 0.45])
    got = unserved_exact(pb_pmf(probs), need, q, 6)
    for c in range(2):
        for k in range(6):
            pmf = brute_pmf([*probs[:, c], *([q[c]] * k)])
            assert got[c, k] == pytest.approx(float(pmf[max(need, 0) :].sum()), abs=1e-12)


def test_unserved_normal_is_close_to_exact_for_large_counts() -> None:
    """The refined normal is within a few percent of the exact tail, far into it."""
    rng = np.random.default_rng(1)
    probs = rng.uniform(0.0, 0.4, (300, 2))
    mean = probs.sum(axis=0)
    pq = probs * (1.0 - probs)
    var, skew3 = pq.sum(axis=0), (pq * (1.0 - 2.0 * probs)).sum(axis=0)
    q = np.array([0.3, 0.3])
    for z in (1.0, 2.0, 3.0):
        need = int(mean[0] + z * math.sqrt(var[0]))
        exact = unserved_exact(pb_pmf(probs), need, q, 8)[0]
        approx = unserved_normal(mean, var, skew3, float(need), q, 8)[0]
        np.testing.assert_allclose(approx, exact, rtol=0.05, atol=1e-5)


def test_normal_tail_is_accurate() -> None:
    xs = np.linspace(-6.0, 6.0, 49)
    want = np.array([0.5 * math.erfc(x / math.sqrt(2.0)) for x in xs])
    np.testing.assert_allclose(_norm_sf(xs), want, atol=2e-7)


def test_tables_match_the_model_they_cache() -> None:
    """Lookups in the age grids are the estimators' own values at the grid points."""
    pacer = warm_pacer()
    est = pacer.estimates
    t = _Tables.build((20.0, 0.0, 2.0), 0.0, est, 0.3, 1.0)
    ages = np.array([0.0, 0.25, 4.75, 11.0, 19.75])
    cps = t.checkpoints
    direct = est.answer_delay.p_answer_by(ages[:, None], cps[None, :], ring_timeout_s=20.0)
    np.testing.assert_allclose(_lookup(t.ringing, ages / 0.25)[:, :-1], direct, atol=1e-12)
    within_1s = est.answer_delay.p_answer_by(ages, 1.0, ring_timeout_s=20.0)
    np.testing.assert_allclose(_lookup(t.ringing, ages / 0.25)[:, -1], within_1s, atol=1e-12)
    np.testing.assert_allclose(t.q, direct[0], atol=1e-12)
    grid = _AGE_GRID[[0, 10, 40, 80, 120]]
    direct = est.handling.wrap.p_done_within(grid[:, None], (cps + 2.0)[None, :])
    np.testing.assert_allclose(_lookup(t.wrap, _age_index(grid)), direct, atol=1e-9)
    # Between grid points, a linear blend of its neighbours.
    mid = _lookup(t.ringing, np.array([10.5 / 0.25 + 0.5]))
    np.testing.assert_allclose(mid[0], 0.5 * (t.ringing[42] + t.ringing[43]))
    # A busy agent is ever likelier to be free, the further ahead one looks.
    free = _lookup(t.on_call, _age_index(np.array([5.0, 100.0, 1000.0])))
    assert np.all(np.diff(free, axis=1) >= -1e-12)
    assert np.all((free >= 0.0) & (free <= 1.0))


def test_one_table_part_is_refreshed_per_decision_the_stalest_first() -> None:
    """A refresh costs several lookups: never two parts in one decision."""
    pacer = warm_pacer()

    def stamps(now: float) -> tuple[float, float, float]:
        t = pacer._tables_for(snapshot(now_s=now))
        return t.answers_at, t.on_call_at, t.wrap_at

    assert stamps(100.0) == (100.0, 100.0, 100.0)  # the first decision builds them all
    assert stamps(105.0) == (100.0, 100.0, 100.0)  # none due yet
    assert stamps(110.0) == (110.0, 100.0, 100.0)
    assert stamps(111.0) == (110.0, 111.0, 100.0)
    assert stamps(112.0) == (110.0, 111.0, 112.0)
    assert stamps(119.0) == (110.0, 111.0, 112.0)
    assert stamps(130.0) == (130.0, 111.0, 112.0)  # late decisions: still one at a time
    assert stamps(131.0) == (130.0, 131.0, 112.0)
    # A refreshed part is what a fresh build gives.
    t = pacer._tables
    assert t is not None
    fresh = _Tables.build(t.key, 131.0, pacer.estimates, pacer.machine_connects.value, 1.0)
    np.testing.assert_array_equal(t.on_call, fresh.on_call)
    np.testing.assert_array_equal(t.ringing, fresh.ringing)


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
    """At or over the cap (theta = 0) only calls sure to find an agent are dialed."""
    pacer = warm_pacer()
    snap = snapshot(window_human_answered=400.0, window_abandoned=abandoned)
    d = pacer.decide(snap)
    assert d.explain is not None and d.explain["theta"] == 0.0
    assert d.calls <= max(0, snap.agents_ready - snap.lines_in_flight)
    # and with a free agent for every line, it still dials those
    idle = snap._replace(
        now_s=snap.now_s + 1.0,
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


def test_more_theta_never_dials_less() -> None:
    """The k-th call's chance of being unserved rises with k: a threshold picks a prefix."""
    pacer = warm_pacer()
    snap = snapshot(window_abandoned=0.0, agents_ready=3, agents_on_call=6)
    counts: list[int] = []
    for gain in (-1.5, -0.5, 0.0, 0.5, 1.5):
        pacer._log_gain = gain
        counts.append(pacer.decide(snap._replace(now_s=snap.now_s + len(counts))).calls)
    assert counts == sorted(counts)
    assert counts[0] < counts[-1]


def test_amd_false_positives_spend_the_budget() -> None:
    """With an AMD that hangs up on 3 % of people, a 3 % cap leaves nothing to overdial."""
    pacer = warm_pacer()
    snap = snapshot(
        amd_enabled=True, amd_false_positive_rate=0.03, window_abandoned=0.0, amd_detect_s=2.5
    )
    d = pacer.decide(snap)
    assert d.explain is not None and d.explain["theta"] == 0.0


def test_a_short_wait_target_holds_the_pacer_back() -> None:
    """Agents waiting less than the target: it dials less than it may."""
    free = warm_pacer()
    held = warm_pacer(target_agent_wait_s=60.0)
    snap = snapshot(window_abandoned=0.0, agents_ready=3, agents_on_call=6)
    for k in range(900):
        s = snap._replace(now_s=snap.now_s + k)
        free.decide(s)
        held.decide(s)
        held.observe(HandlingEnded(s.now_s, 100.0, 5.0))
    s = snap._replace(now_s=snap.now_s + 900)
    assert held.decide(s).calls <= free.decide(s).calls
    assert held._wait_log_gain < 0.0


def test_abandons_are_weighed_by_the_share_of_people_of_their_time() -> None:
    """Without AMD an abandoned answer is a person as often as the calls heard around then."""
    pacer = warm_pacer()  # a third of the calls agents heard were machines
    snap = snapshot(window_abandoned=0.0, window_abandoned_raw=0.0)
    raw, t = 0.0, snap.now_s
    for _ in range(40):  # 40 minutes, an abandon a minute
        for _ in range(60):
            t += 1.0
            pacer.decide(snap._replace(now_s=t, window_abandoned_raw=raw))
        raw += 1.0
        for machine in (False, True, False):
            pacer.observe(HandlingEnded(t, 100.0, 5.0, machine=machine))
    d = pacer.decide(snap._replace(now_s=t + 1.0, window_abandoned_raw=raw))
    share = 1.0 - pacer.machine_connects.value
    assert share == pytest.approx(2 / 3, abs=0.05)
    assert d.explain is not None
    assert d.explain["people_abandoned"] == pytest.approx(raw * share, rel=0.05)
    # Then every call heard is a machine for a while: the abandons of the
    # first half hour are frozen at the share of their time and keep it.
    frozen = pacer._frozen_people
    assert frozen == pytest.approx(10 * share, rel=0.2)  # the first ten minutes
    for _ in range(500):
        pacer.observe(HandlingEnded(t, 8.0, 5.0, machine=True))
    pacer.decide(snap._replace(now_s=t + 2.0, window_abandoned_raw=raw))
    assert pacer._frozen_people == frozen


def test_abandons_take_the_share_of_people_answered_with_them_not_finishing_after() -> None:
    """People answered in a burst talk long; machines after them end first.

    The abandons of the burst were people as often as the calls answered
    with them (all people here), whatever the calls agents finish later are.
    """
    pacer = warm_pacer()
    snap = snapshot(window_abandoned=0.0, window_abandoned_raw=0.0)
    start = snap.now_s
    raw = 0.0
    t = start
    pacer.decide(snap._replace(now_s=t, window_abandoned_raw=raw))
    # Ten minutes of answers that are all people (their calls end 20 minutes
    # later), an abandon a minute among them.
    for minute in range(10):
        answered = start + 60.0 * minute
        for k in range(6):
            pacer.observe(HandlingEnded(answered + k + 1200.0, 1195.0, 5.0, machine=False))
        raw += 1.0
        t = answered + 59.0
        pacer.decide(snap._replace(now_s=t, window_abandoned_raw=raw))
    # Then only machines are answered, and end within seconds, for an hour:
    # every call agents finish meanwhile but the burst's is a machine.
    while t < start + 4200.0:
        t += 10.0
        for _ in range(3):
            pacer.observe(HandlingEnded(t, 8.0, 2.0, machine=True))
        pacer.decide(snap._replace(now_s=t, window_abandoned_raw=raw))
    assert pacer.machine_connects.value > 0.9  # what agents finished lately
    d = pacer.decide(snap._replace(now_s=t + 1.0, window_abandoned_raw=raw))
    assert d.explain is not None
    assert pacer._abandons == {}  # all frozen
    # 30 people heard per bucket against a prior of 5 calls at the campaign's
    # share: over 0.8 of each abandon, where the share of late is under 0.1.
    assert d.explain["people_abandoned"] > 0.8 * raw


# ---------------------------------------------------------------- simulator
def _short(name: str, duration_s: float, seed: int) -> Any:
    from simulator.scenario import load_scenario

    sc = load_scenario(SCENARIOS / f"{name}.toml").with_overrides(mode="predictive", seed=seed)
    return sc.model_copy(update={"duration_s": duration_s})


@pytest.mark.skipif(not SCENARIOS.exists(), reason="shared scenarios not found")
@pytest.mark.parametrize(
    ("name", "seed", "duration_s"),
    [("b2c-100", 5, 1800.0), ("collections-50", 6, 5400.0), ("small-team-10", 5, 5400.0)],
)
def test_predictive_stays_under_the_cap(name: str, seed: int, duration_s: float) -> None:
    from simulator.simulation import simulate

    sc = _short(name, duration_s, seed)
    report = simulate(sc)
    assert report.human_answered > 100
    assert report.abandon_rate <= sc.campaign.max_abandon_rate
    progressive = simulate(sc.with_overrides(mode="progressive"))
    if report.human_answered > 500:
        assert report.occupancy > progressive.occupancy + 0.01
    else:
        # A window of 150 people allows four abandons, and the unseen AMD
        # false positives take two: a short small-team shift is nearly
        # progressive (over a full shift it is 3 points better).
        assert report.occupancy > progressive.occupancy - 0.01


@pytest.mark.skipif(not SCENARIOS.exists(), reason="shared scenarios not found")
def test_a_wait_target_trades_abandons_for_agent_wait() -> None:
    """Where the cap leaves room, agents wait about as long as asked."""
    from simulator.simulation import simulate

    sc = _short("b2c-100", 3600.0, 41)
    free = simulate(sc)
    campaign = sc.campaign.model_copy(update={"target_agent_wait_s": 12.0})
    held = simulate(sc.model_copy(update={"campaign": campaign}))
    assert free.mean_agent_wait_s < 8.0 < held.mean_agent_wait_s < 16.0
    assert held.abandon_rate < free.abandon_rate / 2


@pytest.mark.skipif(not SCENARIOS.exists(), reason="shared scenarios not found")
def test_decisions_are_traced_with_their_inputs() -> None:
    from simulator.simulation import simulate

    seen: list[tuple[PacingSnapshot, Any]] = []
    sc = _short("small-team-10", 1800.0, 1)
    simulate(sc, decision_log=lambda _cid, snap, d: seen.append((snap, d)))
    warm = [d for _, d in seen if d.explain and "theta" in d.explain]
    assert warm, "the pacer never left its warm-up"
    assert all(d.predicted_abandon is not None for d in warm)
    # The core hands over the raw abandon count beside its estimate.
    assert all(s.window_abandoned_raw >= s.window_abandoned - 1e-9 for s, _ in seen)
