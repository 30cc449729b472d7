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
cap, and the room left in the compliance window (abandons still allowed over
the people expected to answer before the window ends) sets how bold to be. A
calibration ratio (abandons seen / abandons predicted, with forgetting)
corrects the model's bias. Until the estimates have data, it dials as
progressive (one line per ready agent), which is safe.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from pacing.learning import DecayingHistogram, DecayingShares, log_edges
from pacing.observations import AttemptResolved, HandlingEnded, Observation
from pacing.snapshot import PacingDecision, PacingSnapshot

__all__ = ["PredictivePacer"]

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
_ANSWER_EDGES = np.arange(0.0, 90.0, 0.5)
_HANDLING_EDGES = log_edges(1.0, 7200.0, 80)
_WRAP_EDGES = log_edges(0.5, 3600.0, 60)


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
        decision_interval_s: float = 1.0,
        setpoint: float = 0.85,
        boldness: float = 1.0,
        calibrate: bool = False,
        warmup_attempts: int = 200,
        warmup_handled: int = 30,
    ) -> None:
        self.decision_interval_s: float | None = decision_interval_s
        self.target_agent_wait_s = target_agent_wait_s
        self.setpoint = setpoint
        self.calibrate = calibrate
        self.boldness = boldness
        self.warmup_attempts = warmup_attempts
        self.warmup_handled = warmup_handled
        self.shares = DecayingShares(
            {
                "human": 0.2,
                "machine": 0.2,
                "busy": 0.05,
                "invalid": 0.05,
                "failed": 0.0,
                "no_answer": 0.5,
            },
            half_life=1500.0,
            prior_weight=10.0,
        )
        self.answer_delay = DecayingHistogram(_ANSWER_EDGES, half_life=800.0, prior_mean=8.0)
        self.fail_delay = DecayingHistogram(_ANSWER_EDGES, half_life=400.0, prior_mean=3.0)
        self.handling = DecayingHistogram(_HANDLING_EDGES, half_life=400.0, prior_mean=120.0)
        self.wrap = DecayingHistogram(_WRAP_EDGES, half_life=400.0, prior_mean=20.0)
        self.attempts_seen = 0
        self.handled_seen = 0
        # Feedback state.
        self._last_t: float | None = None
        self._last_humans = 0.0
        self._last_abandoned = 0.0
        self._human_rate = 0.0  # people answering per second, smoothed
        self._pred = 2.0  # predicted abandons (decaying), prior
        self._real = 2.0  # abandons seen (decaying), prior: calibration 1
        self._wait_gain = 1.0

    # ------------------------------------------------------------- learning
    def observe(self, observation: Observation) -> None:
        if isinstance(observation, AttemptResolved):
            if observation.corrected:
                self.shares.move("human", "machine")
                return
            self.attempts_seen += 1
            outcome = observation.outcome
            self.shares.add(outcome)
            if outcome in ("human", "machine"):
                self.answer_delay.add(observation.delay_s)
            elif outcome != "no_answer":
                self.fail_delay.add(observation.delay_s)
        elif isinstance(observation, HandlingEnded):
            self.handled_seen += 1
            if observation.talk_s is not None:
                self.handling.add(observation.talk_s)
            if observation.wrap_s is not None:
                self.wrap.add(observation.wrap_s)

    # ------------------------------------------------------------- deciding
    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        self._track(snap)
        ready = snap.agents_ready
        in_flight = snap.lines_in_flight
        warm = (
            self.attempts_seen >= self.warmup_attempts and self.handled_seen >= self.warmup_handled
        )
        if not warm or snap.agents_logged_in == 0:
            calls = max(0, ready - in_flight)
            return PacingDecision(calls, 1.0, None, {"phase": "warmup"})

        sh = self.shares
        p_h, p_m = sh.share("human"), sh.share("machine")
        p_fail = sh.share("busy") + sh.share("invalid") + sh.share("failed")
        p_ans = p_h + p_m
        # With AMD the observed shares are the verdicts: only "human" needs an agent.
        need_share = p_h / p_ans if snap.amd_enabled and p_ans > 0 else 1.0
        detect = snap.amd_detect_s if snap.amd_enabled else 0.0
        rt = snap.ring_timeout_s
        deadline = snap.connect_deadline_s
        # Checkpoints: a person answering at any of these instants must find
        # an agent freed by then (plus the connect deadline). The binding one
        # decides; early ones protect against bursts, late ones against the
        # tail of answers from calls already placed.
        last = rt + detect
        checkpoints = np.array([c for c in _CHECKPOINTS if c < last] + [last])
        answer_by = np.maximum(checkpoints - detect, 0.0)

        ages = snap.ringing_ages_s
        if len(ages):
            g0 = self.answer_delay.cdf(ages)
            gf = self.fail_delay.cdf(ages)
            unresolved = np.maximum(1.0 - p_ans * g0 - p_fail * gf, 1e-6)
            g1 = self.answer_delay.cdf(np.minimum(ages[:, None] + answer_by[None, :], rt))
            ring_p = np.clip(p_ans * (g1 - g0[:, None]) / unresolved[:, None], 0.0, 1.0)
            ring_p *= need_share  # (calls, checkpoints)
        else:
            ring_p = np.zeros((0, len(checkpoints)))
        amd_p = np.full(snap.lines_answered_unclassified, p_h / p_ans if p_ans else 0.0)
        free_p = self._free_probs(snap.on_call_ages_s, snap.wrap_up_ages_s, checkpoints + deadline)
        q_all = p_ans * self.answer_delay.cdf(np.minimum(answer_by, rt)) * need_share

        theta, explain = self._theta(snap)
        limit = max(1, snap.agents_logged_in - snap.agents_paused) * 2
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
                supply_pmf, supply_lo = _bernoulli_sum_pmf(free_p[:, i], snap.agents_ready)
                x_pmf = np.convolve(demand_pmf, supply_pmf[::-1])
                x_lo = demand_lo - (supply_lo + len(supply_pmf) - 1)
                n, pred = _max_calls_exact(x_pmf, x_lo, q, theta, calls)
            else:
                d_mean, d_var = _moments(demand_terms, snap.lines_waiting)
                f_mean, f_var = _moments(free_p[:, i], snap.agents_ready)
                n, pred = _max_calls_normal(d_mean - f_mean, d_var + f_var, q, theta, calls)
            if n < calls or binding < 0:
                calls, predicted, binding = n, pred, float(c)
        if calls == limit and binding < 0:
            calls = 0
        self._pred += predicted
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
        parts: list[FloatArray] = []
        if len(wrap):
            c0 = self.wrap.cdf(wrap)
            surv = np.maximum(1.0 - c0, 1e-9)
            c1 = self.wrap.cdf(wrap[:, None] + horizons[None, :])
            p = (c1 - c0[:, None]) / surv[:, None]
            parts.append(np.clip(p, 0.0, 1.0))
        if len(on_call):
            h = float(horizons[-1])
            k = max(1, math.ceil(h))
            step = h / k
            offsets = np.arange(k + 1) * step
            cdf = self.handling.cdf(on_call[:, None] + offsets[None, :])
            surv = np.maximum(1.0 - cdf[:, :1], 1e-9)
            pmf = np.diff(cdf, axis=1) / surv  # the call ends in each slice
            mids = (np.arange(k) + 0.5) * step
            # wrap done by each horizon, for a call ending mid-slice
            left = horizons[None, :] - mids[:, None]
            wrap_done = np.where(left > 0, self.wrap.cdf(np.maximum(left, 0.0)), 0.0)
            p = pmf @ wrap_done
            stale = (1.0 - cdf[:, 0]) <= 1e-9
            if stale.any():
                mean = max(self.handling.mean, 1.0)
                tail = (1.0 - np.exp(-horizons / mean)) * self.wrap.cdf(horizons / 2)
                p[stale] = tail
            parts.append(np.clip(p, 0.0, 1.0))
        if not parts:
            return np.zeros((0, len(horizons)))
        return np.concatenate(parts)

    # ------------------------------------------------------------- feedback
    def _track(self, snap: PacingSnapshot) -> None:
        """Follow the answer rate and realised abandons between decisions."""
        if self._last_t is not None:
            dt = snap.now_s - self._last_t
            humans = snap.window_human_answered - self._last_humans
            abandons = snap.window_abandoned - self._last_abandoned
            if dt > 0:
                alpha = min(1.0, dt / 600.0)
                self._human_rate += alpha * (max(humans, 0) / dt - self._human_rate)
            if abandons > 0:
                self._real += abandons
            # Forget calibration evidence slowly (about 40 abandons' worth).
            decay = 0.5 ** (max(dt, 0.0) / 3600.0)
            self._real = 1.0 + (self._real - 1.0) * decay
            self._pred = 1.0 + (self._pred - 1.0) * decay
        self._last_t = snap.now_s
        self._last_humans = snap.window_human_answered
        self._last_abandoned = snap.window_abandoned

    def _theta(self, snap: PacingSnapshot) -> tuple[float, dict[str, Any]]:
        cap = snap.max_abandon_rate
        target = cap * self.setpoint
        humans = snap.window_human_answered
        abandoned = snap.window_abandoned
        if snap.amd_enabled and snap.amd_false_positive_rate > 0:
            # People AMD hung up on count as abandoned; the core never sees them.
            fp = snap.amd_false_positive_rate
            unseen = humans * fp / max(1.0 - fp, 1e-9)
            humans += unseen
            abandoned += unseen
        future = self._human_rate * snap.window_remaining_s
        room = target * (humans + future) - abandoned
        rate_room = room / max(future, 1.0)
        rate_room = min(max(rate_room, 0.0), 2.0 * cap)
        calibration = self._real / max(self._pred, 1e-6)
        calibration = min(max(calibration, 0.25), 4.0) if self.calibrate else 1.0
        theta = rate_room * self.boldness / calibration
        return theta, {
            "theta": round(theta, 5),
            "room_rate": round(rate_room, 5),
            "calibration": round(calibration, 3),
        }
