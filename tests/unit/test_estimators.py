"""Online estimators against known parameters, on seeded synthetic data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacing.estimators import (
    DEFAULT_OUTCOME_PRIOR,
    OUTCOMES,
    AnswerDelayModel,
    CampaignEstimates,
    DurationModel,
    Ewma,
    EwmaRate,
    HandlingTimes,
    OutcomeShares,
    log_edges,
)
from pacing.observations import AttemptResolved, HandlingEnded, Outcome

NO_FORGETTING = 1e12  # a half-life no test reaches

# ------------------------------------------------------------------ shares
TRUE_SHARES: dict[Outcome, float] = {
    "human": 0.30,
    "machine": 0.12,
    "busy": 0.08,
    "invalid": 0.05,
    "no_answer": 0.40,
    "failed": 0.05,
}


def draw_outcomes(rng: np.random.Generator, shares: dict[Outcome, float], n: int) -> list[Outcome]:
    names = list(shares)
    idx = rng.choice(len(names), size=n, p=[shares[o] for o in names])
    return [names[i] for i in idx]


def test_outcome_shares_cold_start_is_the_prior() -> None:
    est = OutcomeShares()
    total = sum(DEFAULT_OUTCOME_PRIOR.values())
    for o in OUTCOMES:
        assert est.share(o) == pytest.approx(DEFAULT_OUTCOME_PRIOR[o] / total)
    assert est.n_effective == 0.0
    assert sum(est.shares().values()) == pytest.approx(1.0)


def test_outcome_shares_custom_prior_is_normalised() -> None:
    est = OutcomeShares(prior={"human": 2.0, "no_answer": 6.0})
    assert est.share("human") == pytest.approx(0.25)
    assert est.share("no_answer") == pytest.approx(0.75)
    assert est.share("busy") == 0.0


def test_outcome_shares_converge_to_the_true_shares() -> None:
    rng = np.random.default_rng(7)
    est = OutcomeShares(half_life=NO_FORGETTING)
    for o in draw_outcomes(rng, TRUE_SHARES, 20_000):
        est.observe(AttemptResolved(0.0, o, 1.0))
    for o, p in TRUE_SHARES.items():
        assert est.share(o) == pytest.approx(p, abs=0.01)
    assert est.answered == pytest.approx(0.42, abs=0.015)
    assert est.human_given_answered == pytest.approx(0.30 / 0.42, abs=0.02)
    assert est.n_effective == pytest.approx(20_000, rel=1e-6)


def test_outcome_shares_with_forgetting_are_still_unbiased() -> None:
    rng = np.random.default_rng(8)
    est = OutcomeShares(half_life=500)
    for o in draw_outcomes(rng, TRUE_SHARES, 10_000):
        est.add(o)
    for o, p in TRUE_SHARES.items():
        assert est.share(o) == pytest.approx(p, abs=0.04)


def test_n_effective_saturates_at_the_faded_sample_size() -> None:
    est = OutcomeShares(half_life=100)
    for _ in range(5_000):
        est.add("human")
    assert est.n_effective == pytest.approx(1 / (1 - 2 ** (-1 / 100)), rel=1e-6)


def test_forgetting_follows_a_change_within_a_few_half_lives() -> None:
    rng = np.random.default_rng(9)
    h = 400
    est = OutcomeShares(half_life=h)
    before = {**TRUE_SHARES}
    after: dict[Outcome, float] = {**TRUE_SHARES, "human": 0.10, "no_answer": 0.60}
    for o in draw_outcomes(rng, before, 10 * h):
        est.add(o)
    assert est.share("human") == pytest.approx(0.30, abs=0.04)
    for o in draw_outcomes(rng, after, h):
        est.add(o)
    # One half-life on, the old regime still weighs half.
    assert est.share("human") == pytest.approx(0.20, abs=0.04)
    for o in draw_outcomes(rng, after, 4 * h):
        est.add(o)
    # Five half-lives: the old weighs 1/32.
    assert est.share("human") == pytest.approx(0.10, abs=0.03)
    assert est.share("no_answer") == pytest.approx(0.60, abs=0.04)


def test_a_correction_moves_one_count_from_human_to_machine() -> None:
    est = OutcomeShares(half_life=NO_FORGETTING, prior_weight=1e-9)
    human: list[Outcome] = ["human"]
    machine: list[Outcome] = ["machine"]
    no_answer: list[Outcome] = ["no_answer"]
    seen = human * 6 + machine * 2 + no_answer * 2
    for o in seen:
        est.add(o)
    est.observe(AttemptResolved(0.0, "machine", 3.0, corrected=True))
    assert est.share("human") == pytest.approx(0.5)
    assert est.share("machine") == pytest.approx(0.3)
    assert est.n_effective == pytest.approx(10)  # a move, not a new attempt


def test_a_correction_cannot_make_the_human_count_negative() -> None:
    est = OutcomeShares(prior={"human": 1.0, "no_answer": 1.0})
    est.add("no_answer")
    est.correct_human_to_machine()
    est.correct_human_to_machine()
    assert all(v >= 0 for v in est.shares().values())
    assert est.share("human") >= 0.0


def test_late_corrections_leave_the_shares_unbiased_in_a_steady_state() -> None:
    # Without AMD a machine is reported as a person and corrected a talk and a
    # wrap-up later: here 1000 attempts later, twice the half-life.
    rng = np.random.default_rng(10)
    est = OutcomeShares(half_life=500)
    lag = 1000
    pending: list[int] = []
    for i, o in enumerate(draw_outcomes(rng, TRUE_SHARES, 20_000)):
        if o == "machine":
            est.add("human")
            pending.append(i + lag)
        else:
            est.add(o)
        while pending and pending[0] <= i:
            pending.pop(0)
            est.observe(AttemptResolved(0.0, "machine", 3.0, corrected=True))
    assert est.share("human") == pytest.approx(0.30, abs=0.04)
    assert est.share("machine") == pytest.approx(0.12, abs=0.03)


def test_outcome_shares_reject_bad_priors() -> None:
    with pytest.raises(ValueError):
        OutcomeShares(prior={"human": 0.0})
    with pytest.raises(ValueError):
        OutcomeShares(prior={"nobody": 1.0})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        OutcomeShares(half_life=0)


def test_rescaling_keeps_the_estimates() -> None:
    # A tiny half-life overflows the growing weights quickly.
    est = OutcomeShares(half_life=0.5)
    for _ in range(2_000):
        est.add("human")
        est.add("busy")
    assert est.share("human") + est.share("busy") == pytest.approx(1.0)
    assert math.isfinite(est.n_effective)


# ------------------------------------------------------------- answer delay
def exp_delay_world(
    rng: np.random.Generator,
    model: AnswerDelayModel,
    n: int,
    *,
    q: float,
    mean: float,
    busy: float,
    timeouts: tuple[float, ...],
) -> None:
    """A share ``busy`` resolve uniformly in [1, 4) s; the rest would answer with
    probability ``q`` after Exp(``mean``) had they rung forever, and are given
    up after a ring timeout drawn from ``timeouts``."""
    for _ in range(n):
        if rng.random() < busy:
            model.observe(AttemptResolved(0.0, "busy", float(rng.uniform(1.0, 4.0))))
            continue
        timeout = float(rng.choice(timeouts))
        if rng.random() < q:
            x = float(rng.exponential(mean))
            if x < timeout:
                model.observe(AttemptResolved(0.0, "human", x))
                continue
        model.observe(AttemptResolved(0.0, "no_answer", timeout))


def exp_world_p(a: float, end: float, *, q: float, mean: float, busy: float) -> float:
    """Closed form: P(answered in (a, end] | unresolved at a) in that world."""
    unresolved = busy * min(max((4.0 - a) / 3.0, 0.0), 1.0) + (1 - busy) * (
        q * math.exp(-a / mean) + 1 - q
    )
    answered = (1 - busy) * q * (math.exp(-a / mean) - math.exp(-end / mean))
    return answered / unresolved


def test_answer_delay_cold_start_is_the_prior() -> None:
    model = AnswerDelayModel(prior_answer=0.4, prior_mean_delay_s=8.0, prior_other=0.1)
    assert model.n_effective == 0.0
    # At age 0 nothing has resolved yet: exactly the prior's exponential.
    for h in (1.0, 5.0, 20.0):
        assert float(model.p_answer_by(0.0, h)) == pytest.approx(
            0.4 * (1 - math.exp(-h / 8.0)), abs=1e-3
        )
    assert model.answer_share(60.0) == pytest.approx(0.4 * (1 - math.exp(-60 / 8)), abs=1e-3)


def test_answer_delay_matches_the_closed_form_with_competing_exits() -> None:
    rng = np.random.default_rng(11)
    q, mean, busy, timeout = 0.6, 8.0, 0.1, 25.0
    model = AnswerDelayModel(half_life=NO_FORGETTING)
    exp_delay_world(rng, model, 60_000, q=q, mean=mean, busy=busy, timeouts=(timeout,))
    ages = np.array([0.0, 2.0, 5.0, 10.0, 18.0, 24.0])
    for h in (2.0, 5.0, 30.0):
        got = model.p_answer_by(ages, h, ring_timeout_s=timeout)
        want = [exp_world_p(a, min(a + h, timeout), q=q, mean=mean, busy=busy) for a in ages]
        np.testing.assert_allclose(got, want, atol=0.012)
    got = model.p_eventually_answered(ages, timeout)
    want = [exp_world_p(a, timeout, q=q, mean=mean, busy=busy) for a in ages]
    np.testing.assert_allclose(got, want, atol=0.012)
    # E[delay | answered before T] for a truncated exponential.
    trunc_mean = mean - timeout * math.exp(-timeout / mean) / (1 - math.exp(-timeout / mean))
    assert model.mean_answer_delay_s(timeout) == pytest.approx(trunc_mean, abs=0.15)


def test_answer_delay_learns_through_censoring_at_mixed_ring_timeouts() -> None:
    # Half the calls are given up at 15 s: the table must still know 15-30 s
    # from the other half, not read the early give-ups as "never answers".
    rng = np.random.default_rng(12)
    q, mean, busy = 0.5, 10.0, 0.0
    model = AnswerDelayModel(half_life=NO_FORGETTING)
    exp_delay_world(rng, model, 80_000, q=q, mean=mean, busy=busy, timeouts=(15.0, 30.0))
    ages = np.array([0.0, 5.0, 14.0, 16.0, 25.0])
    got = model.p_eventually_answered(ages, 30.0)
    want = [exp_world_p(a, 30.0, q=q, mean=mean, busy=busy) for a in ages]
    np.testing.assert_allclose(got, want, atol=0.015)


def test_answer_delay_beyond_the_ring_timeout_is_zero() -> None:
    model = AnswerDelayModel()
    assert float(model.p_answer_by(25.0, 10.0, ring_timeout_s=20.0)) == 0.0
    assert float(model.p_eventually_answered(20.0, 20.0)) == 0.0
    assert float(model.p_answer_by(model.max_delay_s + 5, 10.0)) == 0.0


def test_answer_delay_forgets() -> None:
    rng = np.random.default_rng(13)
    h = 300
    model = AnswerDelayModel(half_life=h)
    exp_delay_world(rng, model, 10 * h, q=0.7, mean=5.0, busy=0.0, timeouts=(20.0,))
    assert model.answer_share(20.0) == pytest.approx(0.7 * (1 - math.exp(-4)), abs=0.06)
    exp_delay_world(rng, model, 6 * h, q=0.2, mean=5.0, busy=0.0, timeouts=(20.0,))
    assert model.answer_share(20.0) == pytest.approx(0.2 * (1 - math.exp(-4)), abs=0.05)
    assert model.n_effective == pytest.approx(1 / (1 - 2 ** (-1 / h)), rel=0.01)


def test_answer_delay_ignores_corrections_and_counts_machines_as_answers() -> None:
    model = AnswerDelayModel(half_life=NO_FORGETTING, prior_weight=1e-6)
    model.observe(AttemptResolved(0.0, "machine", 3.2))
    model.observe(AttemptResolved(0.0, "no_answer", 20.0))
    before = float(model.answer_share(20.0))
    model.observe(AttemptResolved(1.0, "machine", 3.2, corrected=True))
    assert float(model.answer_share(20.0)) == before == pytest.approx(0.5, abs=1e-4)
    assert model.n_effective == pytest.approx(2)


def test_answer_delay_is_vectorised() -> None:
    model = AnswerDelayModel()
    ages = np.linspace(0.0, 30.0, 1000)
    p = model.p_answer_by(ages, 4.0, ring_timeout_s=20.0)
    assert p.shape == (1000,)
    assert np.all((p >= 0) & (p <= 1))
    assert np.all(p[ages >= 20.0] == 0.0)


@settings(max_examples=200, deadline=None)
@given(
    age=st.floats(-5.0, 80.0),
    h1=st.floats(0.0, 60.0),
    h2=st.floats(0.0, 60.0),
    timeout=st.floats(1.0, 70.0),
)
def test_answer_probability_is_a_probability_and_grows_with_the_horizon(
    age: float, h1: float, h2: float, timeout: float
) -> None:
    model = _trained_answer_model()
    lo, hi = sorted((h1, h2))
    p_lo = float(model.p_answer_by(age, lo, ring_timeout_s=timeout))
    p_hi = float(model.p_answer_by(age, hi, ring_timeout_s=timeout))
    assert 0.0 <= p_lo <= p_hi + 1e-12 <= 1.0 + 1e-12


_TRAINED: list[AnswerDelayModel] = []


def _trained_answer_model() -> AnswerDelayModel:
    if not _TRAINED:
        model = AnswerDelayModel(half_life=2000)
        exp_delay_world(
            np.random.default_rng(14), model, 3000, q=0.5, mean=7.0, busy=0.1, timeouts=(20.0,)
        )
        _TRAINED.append(model)
    return _TRAINED[0]


# ---------------------------------------------------------------- durations
def lognormal_params(mean: float, sd: float) -> tuple[float, float]:
    sigma2 = math.log(1 + (sd / mean) ** 2)
    return math.log(mean) - sigma2 / 2, math.sqrt(sigma2)


def lognormal_survival(t: float, mu: float, sigma: float) -> float:
    if t <= 0:
        return 1.0
    return 0.5 * math.erfc((math.log(t) - mu) / (sigma * math.sqrt(2)))


def test_log_edges() -> None:
    edges = log_edges(1.0, 1000.0, 3)
    np.testing.assert_allclose(edges, [0.0, 1.0, 10.0, 100.0, 1000.0])
    with pytest.raises(ValueError):
        log_edges(5.0, 1.0, 3)


def test_duration_cold_start_is_the_exponential_prior() -> None:
    model = DurationModel(prior_mean_s=90.0)
    assert model.mean == pytest.approx(90.0)
    assert model.n_effective == 0.0
    elapsed = np.array([0.0, 10.0, 90.0, 500.0, 5000.0])
    np.testing.assert_allclose(
        model.p_done_within(elapsed, 30.0), 1 - math.exp(-30 / 90), atol=1e-9
    )


def test_duration_learns_an_exponential_and_its_memorylessness() -> None:
    rng = np.random.default_rng(21)
    model = DurationModel(prior_mean_s=30.0, half_life=NO_FORGETTING)
    for x in rng.exponential(120.0, 40_000):
        model.add(float(x))
    assert model.mean == pytest.approx(120.0, rel=0.02)
    elapsed = np.array([0.0, 5.0, 30.0, 120.0, 300.0])
    for h in (10.0, 30.0, 120.0):
        np.testing.assert_allclose(
            model.p_done_within(elapsed, h), 1 - math.exp(-h / 120.0), atol=0.02
        )


def test_duration_learns_a_lognormal_and_its_residual_life() -> None:
    rng = np.random.default_rng(22)
    mean, sd = 180.0, 120.0
    mu, sigma = lognormal_params(mean, sd)
    model = DurationModel(prior_mean_s=60.0, half_life=NO_FORGETTING)
    for x in rng.lognormal(mu, sigma, 40_000):
        model.add(float(x))
    assert model.mean == pytest.approx(mean, rel=0.02)
    for e in (0.0, 30.0, 100.0, 180.0, 400.0):
        for h in (15.0, 60.0):
            s_e = lognormal_survival(e, mu, sigma)
            want = 1 - lognormal_survival(e + h, mu, sigma) / s_e
            got = float(model.p_done_within(e, h))
            assert got == pytest.approx(want, abs=0.025), (e, h)
    # An increasing hazard at first: a call 100 s in is likelier to end soon
    # than a new one.
    p = model.p_done_within(np.array([0.0, 100.0]), 30.0)
    assert p[1] > p[0]


def test_duration_tail_past_the_last_bin_is_exponential() -> None:
    model = DurationModel(prior_mean_s=10.0, max_s=100.0, bins=20, half_life=NO_FORGETTING)
    for x in (150.0, 200.0, 250.0):  # mean excess 100 s past max_s
        model.add(x)
    p = model.p_done_within(np.array([120.0, 400.0]), 50.0)
    np.testing.assert_allclose(p, 1 - math.exp(-0.5), atol=1e-3)


def test_duration_forgets() -> None:
    rng = np.random.default_rng(23)
    h = 200
    model = DurationModel(prior_mean_s=100.0, half_life=h)
    for x in rng.exponential(60.0, 10 * h):
        model.add(float(x))
    assert model.mean == pytest.approx(60.0, rel=0.12)
    for x in rng.exponential(240.0, 6 * h):
        model.add(float(x))
    assert model.mean == pytest.approx(240.0, rel=0.12)
    assert float(model.p_done_within(60.0, 60.0)) == pytest.approx(1 - math.exp(-0.25), abs=0.05)


def test_duration_handles_zero_and_negative_and_huge_values() -> None:
    model = DurationModel(prior_mean_s=5.0, half_life=0.5)  # rescales often, too
    for x in [0.0, -3.0, 1e9, 2.0] * 500:
        model.add(x)
    p = model.p_done_within(np.array([0.0, 1.0, 1e6, 2e9]), 10.0)
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))
    assert math.isfinite(model.mean)


@settings(max_examples=200, deadline=None)
@given(e=st.floats(-10.0, 1e5), h1=st.floats(0.0, 1e4), h2=st.floats(0.0, 1e4))
def test_residual_probability_is_a_probability_and_grows_with_the_horizon(
    e: float, h1: float, h2: float
) -> None:
    model = _trained_duration_model()
    lo, hi = sorted((h1, h2))
    p_lo = float(model.p_done_within(e, lo))
    p_hi = float(model.p_done_within(e, hi))
    assert 0.0 <= p_lo <= p_hi + 1e-12 <= 1.0 + 1e-12


_TRAINED_D: list[DurationModel] = []


def _trained_duration_model() -> DurationModel:
    if not _TRAINED_D:
        model = DurationModel(prior_mean_s=8.0, min_s=0.5, max_s=600.0, bins=40)
        for x in [8.0] * 300:  # a fixed machine hold: a point mass
            model.add(x)
        _TRAINED_D.append(model)
    return _TRAINED_D[0]


def test_handling_times_route_observations() -> None:
    times = HandlingTimes()
    for _ in range(2000):
        times.observe(HandlingEnded(0.0, talk_s=200.0, wrap_s=None))
        times.observe(HandlingEnded(0.0, talk_s=None, wrap_s=20.0))
        times.observe(HandlingEnded(0.0, talk_s=8.0, wrap_s=4.0, machine=True))
    assert times.talk.mean == pytest.approx(200.0, rel=1e-3)
    assert times.machine.mean == pytest.approx(8.0, rel=1e-3)
    assert times.wrap.mean == pytest.approx(12.0, rel=1e-2)
    assert times.talk.n_effective == pytest.approx(times.machine.n_effective)


def test_campaign_estimates_feed_every_model() -> None:
    est = CampaignEstimates()
    est.observe(AttemptResolved(0.0, "human", 6.0))
    est.observe(AttemptResolved(1.0, "no_answer", 20.0))
    est.observe(HandlingEnded(2.0, talk_s=100.0, wrap_s=10.0))
    assert est.outcomes.n_effective == pytest.approx(2.0, rel=0.01)
    assert est.answer_delay.n_effective == pytest.approx(2.0, rel=0.01)
    assert est.handling.talk.n_effective == pytest.approx(1.0)
    assert est.handling.wrap.n_effective == pytest.approx(1.0)


# ---------------------------------------------------------------- the EWMAs
def test_ewma_starts_at_the_prior_and_follows_the_data() -> None:
    ewma = Ewma(half_life=50, prior=1.0, prior_weight=5.0)
    assert ewma.value == 1.0
    rng = np.random.default_rng(31)
    for x in rng.normal(3.0, 1.0, 1000):
        ewma.add(float(x))
    assert ewma.value == pytest.approx(3.0, abs=0.3)
    assert ewma.n_effective == pytest.approx(1 / (1 - 2 ** (-1 / 50)), rel=1e-3)


def test_ewma_rate_measures_a_poisson_process() -> None:
    rng = np.random.default_rng(32)
    rate = EwmaRate(half_life_s=120.0)
    assert rate.rate(0.0) == 0.0
    t = 0.0
    while t < 2000.0:
        t += float(rng.exponential(1 / 3.0))
        rate.add(t)
    assert rate.rate(t) == pytest.approx(3.0, rel=0.15)
    # Early on, the short history is accounted for: no bias towards zero.
    early = EwmaRate(half_life_s=600.0)
    for i in range(1, 61):
        early.add(i * 0.5)
    assert early.rate(30.0) == pytest.approx(2.0, rel=0.05)
