"""The predictive pacer: dial the calls whose person would find an agent.

Every decision looks a short horizon ahead (the mean answer delay) and asks,
call by call, what the chance is that one more connect at that moment finds
no free agent:

- **demand** at the horizon: callers waiting now, calls in AMD that will turn
  out to need an agent, ringing calls that will be answered by then (from the
  learned answer-delay distribution, conditional on each call's age), and the
  new calls;
- **supply** at the horizon plus the connect deadline: ready agents, and busy
  agents whose call and wrap-up end by then (from the learned talk and wrap
  distributions, conditional on how long each has been at it).

Both are sums of independent Bernoulli variables. Their exact distribution
(Poisson-binomial, by convolution) is used for small counts, where normal
approximations are badly wrong, and a discretised normal for large ones. The
k-th new call is dialed while P(demand with k-1 new calls >= supply) stays
under a threshold theta.

theta comes from the abandonment budget, by feedback: a setpoint under the
cap (by 5 %, and by a margin for the count noise of the window,
``0.6 sqrt(cap / N)`` with N the people expected in the whole window, so a
small team is more careful), and the room left in the compliance window
(abandons still allowed over the people expected to answer before the window
ends) sets how bold to be. With AMD, the people its false positives will hang
up on are taken out of the room first. An integral term on the budget spent
so far only ever holds theta back (an upward one wound up and overshot the cap
in trials). The optional second goal, ``target_agent_wait_s``, lowers theta
further while agents wait less than the target (Little's law on the ready
agents); the cap always wins.

The estimates are :mod:`pacing.estimators`, learned from this campaign's own
outcomes with forgetting: outcome shares, the answer delay as a competing-
risks life table (so a ringing call's chance of an answer depends on its
age), and talk, machine-hold and wrap-up durations with residual life. A busy
agent's call is a mixture of a person and a machine (the share of machines
among the calls reaching agents is learned), weighed by how long it has
lasted: without AMD most machines go to agents and free them quickly.

Until the estimates have data (200 attempts and 30 handled calls), it dials
as progressive (one line per ready agent), which is safe; it never dials with
no agent logged in.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from pacing.estimators import (
    AnswerDelayModel,
    CampaignEstimates,
    DurationModel,
    Ewma,
    EwmaRate,
    HandlingTimes,
    OutcomeShares,
)
from pacing.observations import AttemptResolved, HandlingEnded, Observation
from pacing.snapshot import PacingDecision, PacingSnapshot

__all__ = ["PredictivePacer", "default_estimates"]

FloatArray = npt.NDArray[np.float64]

_EXACT_MAX_TERMS = 60
_CHECKPOINTS = (
    2.0,
    5.0,
    9.0,
    14.0,
    20.0,
    30.0,
    45.0,
)  # Poisson-binomial by convolution up to this many terms
_MIN_RATE_S = 300.0  # seconds of answers before the window's future is projected
_SLICES = 24  # time slices over which a busy agent's call may end
_NOISE_Z = 0.6  # margin under the cap, in binomial standard deviations of the window
_INTEGRAL_S = 1800.0  # time constant of the budget's integral feedback
# Its range in log units: it only ever holds back (an upward integral wound up
# and overshot the cap in trials).
_GAIN_MIN, _GAIN_MAX = -1.0, 0.0


def _bernoulli_sum_pmf(probs: FloatArray, fixed: int = 0) -> tuple[FloatArray, int]:
    """pmf of ``fixed + sum(Bernoulli(p))`` as (pmf array, value of index 0).

    Exact (the Poisson-binomial, through its characteristic function) up to
    ``_EXACT_MAX_TERMS`` terms; a discretised normal beyond, where it is good.
    """
    probs = probs[probs > 1e-9]
    n = len(probs)
    if n == 0:
        return np.ones(1), fixed
    if n <= _EXACT_MAX_TERMS:
        omega = np.exp(2j * np.pi * np.arange(n + 1) / (n + 1))
        phi = np.prod(1.0 - probs[None, :] + probs[None, :] * omega[:, None], axis=1)
        pmf = np.maximum(np.fft.fft(phi).real / (n + 1), 0.0)
        return pmf / pmf.sum(), fixed
    mu = float(probs.sum())
    var = float((probs * (1.0 - probs)).sum())
    sd = math.sqrt(max(var, 1e-12))
    lo = max(0, math.floor(mu - 7 * sd))
    hi = min(n, math.ceil(mu + 7 * sd))
    ks = (np.arange(lo, hi + 2, dtype=np.float64) - 0.5 - mu) / (sd * math.sqrt(2.0))
    cdf = 0.5 * (1.0 + np.array([math.erf(k) for k in ks]))
    pmf = np.diff(cdf)
    total = pmf.sum()
    if total <= 0:
        return np.ones(1), fixed + round(mu)
    return pmf / total, fixed + lo


_LOG_FACT = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, 20001, dtype=np.float64)))))
_NORMAL = NormalDist()
_ARANGE = np.arange(20001, dtype=np.float64)
_IARANGE = np.arange(20001, dtype=np.int64)


def _p_block(k: int, q: float, tv: FloatArray) -> float:
    """P(X + Binomial(k, q) >= 0), given tv[j] = P(X >= -j)."""
    j = _IARANGE[: k + 1]
    jf = _ARANGE[: k + 1]
    logpmf = (
        _LOG_FACT[k]
        - _LOG_FACT[j]
        - _LOG_FACT[k - j]
        + jf * math.log(q)
        + (k - jf) * math.log1p(-q)
    )
    return float(np.exp(logpmf) @ tv[: k + 1])


def _max_calls_exact(
    x_pmf: FloatArray, x_lo: int, q: float, theta: float, limit: int
) -> tuple[int, float]:
    """Largest k with P(the k-th new call is unserved) <= theta, exactly.

    The k-th new call is unserved when X + (connects among the first k-1) >= 0;
    that probability rises with k, so a bisection finds the largest k.
    Returns k and the abandons the k calls are expected to add (an upper
    estimate: k times the last call's chance).
    """
    if limit <= 0:
        return 0, 0.0
    q = min(max(q, 1e-9), 1.0 - 1e-9)
    tail = np.cumsum(x_pmf[::-1])[::-1]  # tail[i] = P(X >= x_lo + i)
    idx = (-x_lo - _ARANGE[:limit]).astype(np.int64)  # where the value -j sits
    tv = np.where(idx < 0, 1.0, tail[np.clip(idx, 0, len(tail) - 1)])
    tv[idx >= len(tail)] = 0.0
    if _p_block(0, q, tv) > theta:
        return 0, 0.0
    lo, hi = 1, limit  # invariant: the lo-th call passes
    if _p_block(hi - 1, q, tv) <= theta:
        lo = hi
    else:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _p_block(mid - 1, q, tv) <= theta:
                lo = mid
            else:
                hi = mid
    return lo, q * lo * _p_block(lo - 1, q, tv)


def _max_calls_normal(
    mean: float, var: float, q: float, theta: float, limit: int
) -> tuple[int, float]:
    """The same for large counts, with X normal: solve the quadratic in k.

    P(X + kq-ish >= 0) <= theta  <=>  -0.5 - mean - k q >= z sqrt(var + k q (1 - q)).
    """
    if theta <= 0.0 or limit <= 0:
        return 0, 0.0
    z = _NORMAL.inv_cdf(1.0 - min(theta, 0.999))

    def ok(k: int) -> bool:
        return -0.5 - mean - k * q >= z * math.sqrt(max(var + k * q * (1 - q), 1e-12))

    if not ok(0):
        return 0, 0.0
    lo, hi = 0, limit
    if ok(hi - 1):
        lo = hi - 1
    else:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ok(mid):
                lo = mid
            else:
                hi = mid
    k = lo + 1
    sd = math.sqrt(max(var + lo * q * (1 - q), 1e-12))
    p_last = 1.0 - _NORMAL.cdf((-0.5 - mean - lo * q) / sd)
    return k, q * k * p_last


def _moments(probs: FloatArray, fixed: int) -> tuple[float, float]:
    return fixed + float(probs.sum()), float((probs * (1.0 - probs)).sum())


class PredictivePacer:
    """See the module docstring. One configuration for every campaign."""

    name = "predictive"
    needs_detail = True

    def __init__(
        self,
        *,
        target_agent_wait_s: float | None = None,
        decision_interval_s: float | None = 1.0,
        setpoint: float = 0.95,
        boldness: float = 1.0,
        warmup_attempts: int = 200,
        warmup_handled: int = 30,
        estimates: CampaignEstimates | None = None,
    ) -> None:
        self.decision_interval_s = decision_interval_s
        self.target_agent_wait_s = target_agent_wait_s
        self.setpoint = setpoint
        self.boldness = boldness
        self.warmup_attempts = warmup_attempts
        self.warmup_handled = warmup_handled
        self.estimates = estimates if estimates is not None else default_estimates()
        # Share of the calls reaching agents that are machines (AMD false
        # negatives, or every machine without AMD): they hold an agent only
        # briefly, which matters for when a busy agent will be free.
        self.machine_connects = Ewma(half_life=300.0, prior=0.1, prior_weight=5.0)
        self.attempts_seen = 0
        self.handled_seen = 0
        # Feedback state.
        self._last_t: float | None = None
        self._last_humans = 0.0
        self._human_rate = EwmaRate(half_life_s=600.0)  # people answering per second
        self._first_t: float | None = None
        self._ready_mean = 0.0  # ready agents, smoothed over time
        self._handled_rate = 0.0  # calls reaching agents per second, smoothed
        self._handled_since = 0
        self._wait_log_gain = 0.0  # <= 0: how much the wait goal holds theta back
        self._budget_log_gain = 0.0  # integral feedback: budget under- or over-spent

    # ------------------------------------------------------------- learning
    def observe(self, observation: Observation) -> None:
        self.estimates.observe(observation)
        if isinstance(observation, AttemptResolved):
            if not observation.corrected:
                self.attempts_seen += 1
        elif isinstance(observation, HandlingEnded) and observation.talk_s is not None:
            self.handled_seen += 1
            self._handled_since += 1
            self.machine_connects.add(1.0 if observation.machine else 0.0)

    @property
    def warm(self) -> bool:
        return (
            self.attempts_seen >= self.warmup_attempts and self.handled_seen >= self.warmup_handled
        )

    # ------------------------------------------------------------- deciding
    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        self._track(snap)
        ready = snap.agents_ready
        in_flight = snap.lines_in_flight
        active = snap.agents_logged_in - snap.agents_paused
        if active <= 0 or (ready == 0 and snap.agents_on_call + snap.agents_wrap_up == 0):
            return PacingDecision(0, 0.0, None, {"phase": "no agents"})
        if not self.warm:
            calls = max(0, ready - in_flight)
            return PacingDecision(calls, 1.0, None, {"phase": "warmup"})

        est = self.estimates
        shares = est.outcomes
        p_h, p_m = shares.share("human"), shares.share("machine")
        p_ans = p_h + p_m
        # With AMD the observed shares are the verdicts: only "human" needs an
        # agent. Without it every answer does, person or machine.
        need_share = p_h / p_ans if snap.amd_enabled and p_ans > 0 else 1.0
        detect = snap.amd_detect_s if snap.amd_enabled else 0.0
        rt = snap.ring_timeout_s
        deadline = snap.connect_deadline_s
        # Checkpoints: a person answering by any of these instants must find
        # an agent freed by then (plus the connect deadline). The binding one
        # decides; early ones protect against bursts, late ones against the
        # tail of answers from calls already placed.
        last = rt + detect
        checkpoints = np.array([c for c in _CHECKPOINTS if c < last] + [last])
        answer_by = np.maximum(checkpoints - detect, 0.0)

        delay = est.answer_delay
        ages = snap.ringing_ages_s
        if len(ages):
            ring_p = delay.p_answer_by(ages[:, None], answer_by[None, :], ring_timeout_s=rt)
            ring_p = ring_p * need_share  # (calls, checkpoints)
        else:
            ring_p = np.zeros((0, len(checkpoints)))
        amd_p = np.full(snap.lines_answered_unclassified, p_h / p_ans if p_ans else 0.0)
        free_p = self._free_probs(snap.on_call_ages_s, snap.wrap_up_ages_s, checkpoints + deadline)
        q_all = delay.p_answer_by(0.0, answer_by, ring_timeout_s=rt) * need_share

        theta, explain = self._theta(snap)
        limit = max(1, active) * 2
        calls = limit
        predicted = 0.0
        binding = -1.0
        exact = len(ring_p) + len(amd_p) + len(free_p) <= _EXACT_MAX_TERMS
        for i, c in enumerate(checkpoints):
            q = float(q_all[i])
            if q <= 1e-6:
                continue
            demand_terms = np.concatenate((ring_p[:, i], amd_p))
            if exact:
                demand_pmf, demand_lo = _bernoulli_sum_pmf(demand_terms, snap.lines_waiting)
                supply_pmf, supply_lo = _bernoulli_sum_pmf(free_p[:, i], ready)
                x_pmf = np.convolve(demand_pmf, supply_pmf[::-1])
                x_lo = demand_lo - (supply_lo + len(supply_pmf) - 1)
                n, pred = _max_calls_exact(x_pmf, x_lo, q, theta, calls)
            else:
                d_mean, d_var = _moments(demand_terms, snap.lines_waiting)
                f_mean, f_var = _moments(free_p[:, i], ready)
                n, pred = _max_calls_normal(d_mean - f_mean, d_var + f_var, q, theta, calls)
            if n < calls or binding < 0:
                calls, predicted, binding = n, pred, float(c)
        if binding < 0:
            calls = 0
        level = (in_flight + calls) / ready if ready else float(in_flight + calls)
        explain.update(
            {
                "p_human": round(p_h, 4),
                "p_machine": round(p_m, 4),
                "binding_s": binding,
                "expected_free_last": round(ready + float(free_p[:, -1].sum()), 2),
                "expected_demand_last": round(
                    float(ring_p[:, -1].sum() + amd_p.sum()) + snap.lines_waiting, 2
                ),
                "q_new_last": round(float(q_all[-1]), 4),
            }
        )
        return PacingDecision(calls, level, predicted, explain)

    def _free_probs(
        self, on_call: FloatArray, wrap: FloatArray, horizons: FloatArray
    ) -> FloatArray:
        """P(agent free within each horizon): rows per busy agent, columns per horizon."""
        handling = self.estimates.handling
        parts: list[FloatArray] = []
        if len(wrap):
            parts.append(handling.wrap.p_done_within(wrap[:, None], horizons[None, :]))
        if len(on_call):
            h = float(horizons[-1])
            step = h / _SLICES
            offsets = np.arange(_SLICES + 1) * step
            # The call is a person or a machine: a mixture, weighed by how
            # likely each is to have lasted this long already.
            pi = min(max(self.machine_connects.value, 0.0), 1.0)
            t = on_call[:, None] + offsets[None, :]
            surv = (1.0 - pi) * handling.talk.survival(t) + pi * handling.machine.survival(t)
            s0 = np.maximum(surv[:, :1], 1e-300)
            pmf = -np.diff(surv, axis=1) / s0  # the call ends in each slice
            mids = (np.arange(_SLICES) + 0.5) * step
            left = horizons[None, :] - mids[:, None]  # (slices, horizons)
            wrap_done = np.where(left > 0, 1.0 - handling.wrap.survival(np.maximum(left, 0.0)), 0.0)
            parts.append(np.clip(pmf @ wrap_done, 0.0, 1.0))
        if not parts:
            return np.zeros((0, len(horizons)))
        return np.concatenate(parts)

    # ------------------------------------------------------------- feedback
    def _track(self, snap: PacingSnapshot) -> None:
        """Follow the answer rate, ready agents and the wait goal between decisions."""
        if self._last_t is not None:
            dt = snap.now_s - self._last_t
            if dt > 0:
                humans = snap.window_human_answered - self._last_humans
                self._human_rate.add(snap.now_s, max(humans, 0.0))
                alpha = min(1.0, dt / 600.0)
                self._ready_mean += alpha * (snap.agents_ready - self._ready_mean)
                self._handled_rate += alpha * (self._handled_since / dt - self._handled_rate)
                self._handled_since = 0
                target = self.target_agent_wait_s
                if target is not None and self.warm and self._handled_rate > 0:
                    # Little's law on the ready queue: mean wait = ready / departures.
                    wait = self._ready_mean / self._handled_rate
                    err = (wait - target) / max(target, 1.0)
                    step = min(dt / 300.0, 1.0) * max(min(err, 1.0), -1.0)
                    self._wait_log_gain = min(0.0, max(-8.0, self._wait_log_gain + step))
        else:
            self._first_t = snap.now_s
            self._human_rate.add(snap.now_s, 0.0)
        if self._last_t is not None and self.warm:
            self._integrate(snap, snap.now_s - self._last_t)
        self._last_t = snap.now_s
        self._last_humans = snap.window_human_answered

    def _target(self, snap: PacingSnapshot) -> float:
        """The setpoint: under the cap by a margin for the count noise of the window.

        A window with few people in it ends far from its expectation (one
        abandon is 0.14 points of 700 calls): its margin grows as
        ``sqrt(cap / N)``, N the people expected in the whole window.
        """
        cap = snap.max_abandon_rate
        n = snap.window_human_answered
        if self._first_t is not None and snap.now_s - self._first_t >= _MIN_RATE_S:
            n += self._human_rate.rate(snap.now_s) * snap.window_remaining_s
        n = max(n, 100.0)
        return max(cap * self.setpoint - _NOISE_Z * math.sqrt(cap / n), 0.0)

    def _integrate(self, snap: PacingSnapshot, dt: float) -> None:
        """Integral feedback on the budget spent: the model's bias, corrected slowly."""
        if dt <= 0:
            return
        target = self._target(snap)
        humans = snap.window_human_answered
        if humans < 100 or target <= 0:
            return
        err = (target * humans - snap.window_abandoned) / (target * humans)
        err = min(max(err, -1.0), 1.0)
        self._budget_log_gain += err * dt / _INTEGRAL_S
        self._budget_log_gain = min(max(self._budget_log_gain, _GAIN_MIN), _GAIN_MAX)

    def _theta(self, snap: PacingSnapshot) -> tuple[float, dict[str, Any]]:
        cap = snap.max_abandon_rate
        target = self._target(snap)
        humans = snap.window_human_answered
        abandoned = snap.window_abandoned
        if snap.amd_enabled and snap.amd_false_positive_rate > 0:
            # People AMD hung up on count as abandoned; the core never sees them.
            fp = snap.amd_false_positive_rate
            unseen = humans * fp / max(1.0 - fp, 1e-9)
            humans += unseen
            abandoned += unseen
        else:
            fp = 0.0
        seen_s = snap.now_s - (self._first_t if self._first_t is not None else snap.now_s)
        if seen_s < _MIN_RATE_S:
            # Too early to know how many people the rest of the window holds.
            rate_room = max(target - fp, 0.0) if abandoned <= target * humans else 0.0
        else:
            future = self._human_rate.rate(snap.now_s) * snap.window_remaining_s
            # AMD will hang up on a share fp of the people still to answer:
            # those abandons are spent already.
            room = target * (humans + future) - abandoned - fp * future
            rate_room = room / max(future, 1.0)
        rate_room = min(max(rate_room, 0.0), 2.0 * cap)
        gain = math.exp(self._budget_log_gain + self._wait_log_gain)
        theta = min(rate_room * self.boldness * gain, 2.0 * cap)
        return theta, {
            "theta": round(theta, 5),
            "room_rate": round(rate_room, 5),
            "target": round(target, 5),
            "budget_gain": round(math.exp(self._budget_log_gain), 4),
            "wait_gain": round(math.exp(self._wait_log_gain), 4),
        }


def default_estimates() -> CampaignEstimates:
    """The estimators with this pacer's one configuration of priors and half-lives."""
    return CampaignEstimates(
        outcomes=OutcomeShares(half_life=800.0, prior_weight=20.0),
        answer_delay=AnswerDelayModel(half_life=800.0, max_delay_s=90.0),
        handling=HandlingTimes(
            talk=DurationModel(prior_mean_s=120.0, half_life=300.0, max_s=7200.0, bins=70),
            machine=DurationModel(
                prior_mean_s=10.0, half_life=200.0, min_s=0.5, max_s=600.0, bins=50
            ),
            wrap=DurationModel(
                prior_mean_s=15.0, half_life=300.0, min_s=0.5, max_s=1800.0, bins=60
            ),
        ),
    )
