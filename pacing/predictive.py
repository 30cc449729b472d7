"""The predictive pacer: spend the abandonment budget where it buys agent time.

Two layers, one configuration for every campaign.

**Which calls to place now** (:meth:`PredictivePacer.decide`). A call placed
now that is answered by a person (and, with AMD, judged one) at some instant
must find an agent freed by then plus the connect deadline. For a handful of
checkpoints ``c`` (2 s ... the ring timeout) the pacer counts

- *demand* by ``c``: callers waiting now, calls in AMD that will be sent to
  an agent, and ringing calls that will be answered and sent to an agent by
  then (the learned answer-delay life table, conditional on each call's age);
- *supply* by ``c`` + the deadline: ready agents, and busy agents whose call
  and wrap-up end by then (learned talk, machine-hold and wrap-up
  distributions, conditional on how long each has been at it; a call is a
  person or a machine, weighed by how likely each is to have lasted so long).

Each is a sum of independent Bernoulli variables, so ``demand - supply`` is
one Poisson-binomial (a busy agent who stays busy is a Bernoulli of
``1 - P(free)``). Small counts use its exact distribution (the discrete
Fourier transform of its generating function): small teams live in the
tails, where normal approximations are badly wrong. Large counts use the
normal approximation with its skewness correction. The k-th new call is
unserved at ``c`` when ``demand + (new calls answered among the first k-1) >=
supply``. New calls are placed while the next one would be unserved, at
every checkpoint, with a chance of at most ``theta``: one price for an
abandon, the same in every decision, so the budget goes where a call is least
likely to be wasted (a Lagrangian rule).

Three corrections follow the day as it changes, from what the dialer sees:
answers lately against those the model expected (an answer rate that jumps
or collapses shows within a few dozen answers, long before the outcome
shares move); the share of agents finishing a call who log out or pause
instead of taking another without saying so first (a floor going to lunch;
an agent who asked during the call to pause after it is not counted on at
all, the core leaves them out of the busy agents); and, without AMD, the
share of people among the calls agents heard around the time of each
abandoned answer (never heard itself, so person or machine unknown), where
the core uses the share over the whole campaign.

**How bold to be** (:meth:`PredictivePacer._theta`). The cap is on
abandoned / people answered over the compliance window. The *room* is the
abandons the window can still take, spread over the people still expected in
it (from the answer rate and the time left), after two reserves:

- for what the dialer never sees and so can never correct: AMD false
  positives (people hung up on as machines; their expected number is spent in
  advance, their Poisson noise reserved), and whether each abandoned answer
  was a person or a machine (a binomial coin on every abandon, heavy when
  machines are many and AMD is off);
- for the noise of the abandons still to come, ``z sqrt(x)`` for ``x`` of
  them: the controller corrects early noise itself, but not the last.

Both shrink, relative to the window, as it grows: this is why a 500-agent
floor can spend nearly all of its budget and a 4-agent team keeps a good part
of it in reserve. The room also keeps the running rate under the cap, where
the core would force progressive dialing. ``theta`` is the room times a
learned gain: the model's chance that the marginal call is unserved is not
the rate it buys (most calls placed are safer than the marginal one, and
calls placed later compete with it), and the gain, an integral on the
abandons realized against those the room asked for, learns the ratio. Its
memory holds at least 40 expected abandons, so a small team keeps its prior
rather than chase noise. This is feedback on the budget itself: a window
under-spent widens the room, one over-spent closes it, near the end the
reserve makes it careful.

The optional second goal, ``target_agent_wait_s``: while agents wait less
than the target (Little's law on the ready agents), it lowers ``theta``, then
stops counting on busy agents, down to progressive; the cap always wins.

Until the estimates have data (200 attempts, and 30 handled calls or one per
agent if more) it dials as progressive, which is safe; it never dials with no agent logged in. The
model's probabilities are cached on grids of ages and refreshed every ten
seconds, so a 500-agent decision costs about half a millisecond. It decides
once a second; in between, the core gives every agent who frees up a line at
once (``tops_up``), a sure call the rule would place anyway: on a small team
that second would otherwise come back on every call.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Final, NamedTuple

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
from pacing.observations import AttemptResolved, Observation
from pacing.snapshot import PacingDecision, PacingSnapshot

__all__ = [
    "PredictivePacer",
    "default_estimates",
    "pb_pmf",
    "unserved_exact",
    "unserved_normal",
]

FloatArray = npt.NDArray[np.float64]
#: Poisson-binomial exactly up to this many uncertain terms.
_EXACT_MAX_TERMS: Final = 64
#: Seconds after now at which answers are checked against free agents.
_CHECKPOINTS: Final = (2.0, 5.0, 9.0, 14.0, 20.0, 30.0, 45.0)
_SLICES: Final = 16  # time slices over which a busy agent's call may end
_MIN_RATE_S: Final = 300.0  # seconds of answers before the window's future is projected
_CERTAIN: Final = 1e-9  # a Bernoulli this close to 0 or 1 is a constant
# Reserves, in standard deviations (see the module docstring).
_Z_OPEN: Final = 3.0  # noise the dialer never observes
_Z_FUTURE: Final = 1.0  # noise of the abandons still to come
_SETPOINT: Final = 0.98  # of the cap: a margin for what the model leaves out
_RUNNING: Final = 0.95  # of the cap: the highest running rate aimed at
_RUNNING_S: Final = 600.0  # ... over this horizon
_ROOM_MAX: Final = 2.0  # the room never exceeds this many caps
_THETA_MAX: Final = 0.5
# log(theta / room): where it starts, its range, and its memory (see _integrate).
_LOG_GAIN_PRIOR: Final = 0.0
_LOG_GAIN_MIN, _LOG_GAIN_MAX = -1.5, 1.5
_GAIN_MEMORY_S: Final = 1800.0
_GAIN_ABANDONS: Final = 40.0
_BLOCK: Final = 16  # new calls evaluated at once
_SURPRISE_MEMORY: Final = 40.0  # expected answers of memory of the answer surprise
_SURPRISE_PRIOR: Final = 20.0  # ... and the weight of "as expected"
_BUCKET_S: Final = 300.0  # abandons are weighed by the share of people answering then
_FREEZE_S: Final = 1800.0  # ... measured once the bucket's calls have had this long to end
_SHARE_PRIOR: Final = 5.0  # calls' weight of the campaign's share in a bucket's own
_WAIT_SPAN: Final = 4.0  # log units of theta the wait goal takes, then as many of supply
_LEAVE_MEMORY: Final = 10.0  # agents finishing a call: memory of the share who leave
_LEAVE_PRIOR: Final = 3.0  # ... and the weight of "nobody leaves"


# ---------------------------------------------------------------------- maths
_OMEGA: dict[int, npt.NDArray[np.complex128]] = {}


def pb_pmf(probs: FloatArray) -> FloatArray:
    """Exact pmfs of sums of independent Bernoullis, one sum per column.

    ``probs`` is (terms, sums); returns (sums, terms + 1), row ``j`` the pmf
    of ``sum_i Bernoulli(probs[i, j])`` on 0..terms. By the DFT of the
    probability generating function evaluated at the roots of unity, which is
    a product (so every column is done in one vectorised step).
    """
    n, m = probs.shape
    if n == 0:
        return np.ones((m, 1))
    omega = _OMEGA.get(n)
    if omega is None:
        omega = _OMEGA[n] = np.exp(2j * np.pi * np.arange(n + 1) / (n + 1))
    p = probs.T[:, :, None]  # (sums, terms, 1)
    phi = np.prod(1.0 - p + p * omega[None, None, :], axis=1)  # (sums, n + 1)
    pmf: FloatArray = np.maximum(np.fft.fft(phi, axis=1).real / (n + 1), 0.0)
    pmf /= pmf.sum(axis=1, keepdims=True)
    return pmf


_LOG_FACT = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, 4097, dtype=np.float64)))))


def _binomial_rows(q: FloatArray, kmax: int) -> FloatArray:
    """(len(q), kmax, kmax): ``[c, k, j] = P(Binomial(k, q[c]) = j)``."""
    k = np.arange(kmax)[:, None]
    j = np.arange(kmax)[None, :]
    valid = j <= k
    logc = np.where(
        valid, _LOG_FACT[k] - _LOG_FACT[np.minimum(j, k)] - _LOG_FACT[k - np.minimum(j, k)], -np.inf
    )
    qc = np.clip(q, 1e-12, 1.0 - 1e-12)[:, None, None]
    logp = logc[None] + j[None] * np.log(qc) + (k - j)[None] * np.log1p(-qc)
    return np.where(valid[None], np.exp(logp), 0.0)


def unserved_exact(
    pmf: FloatArray, need: int, q: FloatArray, kmax: int, binom: FloatArray | None = None
) -> FloatArray:
    """P(the k-th new call is unserved), k = 1..kmax, per checkpoint (rows).

    ``pmf[c]`` is the pmf of ``Z_c`` on 0..n, the uncertain part of demand
    minus supply shifted to be non-negative; the k-th call is unserved at
    checkpoint ``c`` when ``Z_c + Binomial(k - 1, q[c]) >= need`` (the new
    calls before it that are answered and sent to an agent by ``c``).
    """
    width = pmf.shape[1]
    tail = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]  # tail[c, s] = P(Z_c >= s)
    s = need - np.arange(kmax)  # Z must reach need - j when j new calls took agents
    tv = np.where(s[None, :] <= 0, 1.0, tail[:, np.clip(s, 0, width - 1)])
    tv = np.where(s[None, :] >= width, 0.0, tv)
    if binom is None or binom.shape[1] != kmax:
        binom = _binomial_rows(q, kmax)  # [c, k-1, j]
    out: FloatArray = np.einsum("ckj,cj->ck", binom, tv)
    return out


def _phi(x: FloatArray) -> FloatArray:
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _norm_sf(x: FloatArray) -> FloatArray:
    """1 - Phi(x), vectorised (erfc by Abramowitz and Stegun 7.1.26, |error| < 1.5e-7)."""
    z = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    half_erfc = 0.5 * poly * np.exp(-z * z)
    return np.where(x >= 0, half_erfc, 1.0 - half_erfc)


def unserved_normal(
    mean: FloatArray, var: FloatArray, skew3: FloatArray, need: float, q: FloatArray, kmax: int
) -> FloatArray:
    """The same as :func:`unserved_exact` from moments, for large counts.

    ``Z_c`` has mean, variance and third central moment ``mean[c]``,
    ``var[c]``, ``skew3[c]``. The refined normal approximation of a
    Poisson-binomial (Volkova 1996: the normal plus its first Edgeworth
    term, with a continuity correction) is accurate to a fraction of a
    percent of the tail far into it, where the plain normal is not.
    """
    k = np.arange(kmax, dtype=np.float64)[None, :]
    qc = q[:, None]
    mu = mean[:, None] + k * qc
    v = var[:, None] + k * qc * (1.0 - qc)
    k3 = skew3[:, None] + k * qc * (1.0 - qc) * (1.0 - 2.0 * qc)
    sd = np.sqrt(np.maximum(v, 1e-12))
    x = (need - 0.5 - mu) / sd
    gamma = k3 / (sd * sd * sd)
    # np.minimum/np.maximum rather than np.clip: the same values, without
    # np.clip's Python layers, which cost more than the arithmetic here.
    p: FloatArray = np.minimum(
        np.maximum(_norm_sf(x) + gamma * (x * x - 1.0) * _phi(x) / 6.0, 0.0), 1.0
    )
    return p


# --------------------------------------------------------------------- tables
_RING_STEP_S: Final = 0.25  # grid of ringing ages
_AGE_SCALE_S: Final = 10.0  # busy ages on a grid uniform in log(1 + age / scale)
_AGE_STEP: Final = 0.04  # ... in steps of this (4 % of the age past a few minutes)
_AGE_MAX_S: Final = 4 * 3600.0
_TABLE_REFRESH_S: Final = 10.0


def _age_index(ages: FloatArray) -> FloatArray:
    """Fractional index of busy agents' ages in the busy tables' grid."""
    out: FloatArray = np.log1p(ages / _AGE_SCALE_S) / _AGE_STEP
    return out


def _age_grid() -> FloatArray:
    u_max = math.log1p(_AGE_MAX_S / _AGE_SCALE_S)
    n = math.ceil(u_max / _AGE_STEP) + 1
    out: FloatArray = _AGE_SCALE_S * np.expm1(np.arange(n) * _AGE_STEP)
    return out


_AGE_GRID: Final = _age_grid()


def _lookup(table: FloatArray, index: FloatArray) -> FloatArray:
    """Rows of ``table`` interpolated linearly at fractional row ``index`` (clamped)."""
    top = table.shape[0] - 1
    f = np.minimum(np.maximum(index, 0.0), top - 1e-9)  # np.clip, minus its overhead
    i = f.astype(np.int64)
    w = (f - i)[:, None]
    out: FloatArray = table[i] * (1.0 - w) + table[i + 1] * w
    return out


class _Tables(NamedTuple):
    key: tuple[float, float, float]  # ring timeout, AMD delay, connect deadline
    checkpoints: FloatArray  # seconds from now until a person is ready for an agent
    # The answer part, built at answers_at.
    answers_at: float
    routed: float  # share of answers sent to an agent
    q: FloatArray  # P(a new call is answered and sent to an agent by each checkpoint)
    binomial: FloatArray  # _binomial_rows(q, _BLOCK + 1)
    # [age / _RING_STEP_S, checkpoint]: P(answered by it | ringing), and a
    # last column, P(answered within the next second | ringing).
    ringing: FloatArray
    # The busy parts, each built at its own instant.
    on_call_at: float
    on_call: FloatArray  # [age index, checkpoint]: P(free by it + deadline | on a call)
    wrap_at: float
    wrap: FloatArray  # [age index, checkpoint]: P(free by it + deadline | wrapping up)

    @classmethod
    def build(
        cls,
        key: tuple[float, float, float],
        now: float,
        est: CampaignEstimates,
        machine_share: float,
        routed: float,
    ) -> _Tables:
        checkpoints = _checkpoints(key)
        empty = np.zeros((0, 0))
        t = cls(key, checkpoints, now, routed, empty, empty, empty, now, empty, now, empty)
        return (
            t.with_answers(now, est, routed)
            .with_on_call(now, est, machine_share)
            .with_wrap(now, est)
        )

    def with_answers(self, now: float, est: CampaignEstimates, routed: float) -> _Tables:
        rt, detect, _ = self.key
        answer_by = np.maximum(self.checkpoints - detect, 0.0)
        delay = est.answer_delay
        q = delay.p_answer_by(0.0, answer_by, ring_timeout_s=rt) * routed
        ages = np.arange(math.ceil(rt / _RING_STEP_S) + 2) * _RING_STEP_S
        horizons = np.append(answer_by, 1.0)
        ringing = delay.p_answer_by(ages[:, None], horizons[None, :], ring_timeout_s=rt)
        binomial = _binomial_rows(q, _BLOCK + 1)
        return self._replace(
            answers_at=now,
            routed=routed,
            q=q,
            binomial=binomial,
            ringing=ringing,
        )

    def with_wrap(self, now: float, est: CampaignEstimates) -> _Tables:
        horizons = self.checkpoints + self.key[2]
        wrap = est.handling.wrap.p_done_within(_AGE_GRID[:, None], horizons[None, :])
        return self._replace(wrap_at=now, wrap=wrap)

    def with_on_call(self, now: float, est: CampaignEstimates, machine_share: float) -> _Tables:
        handling = est.handling
        # On a call: it ends in one of a few slices of the horizon, then the
        # wrap-up must end too. The call is a person or a machine: a mixture,
        # weighed by how likely each is to have lasted this long already.
        t, left, after = _on_call_grid(self.key)
        surv = (1.0 - machine_share) * handling.talk.survival(t)
        surv += machine_share * handling.machine.survival(t)
        s0 = np.maximum(surv[:, :1], 1e-300)
        ends = -np.diff(surv, axis=1) / s0  # (ages, slices)
        wrap_done = np.where(after, 1.0 - handling.wrap.survival(left), 0.0)
        on_call = np.clip(ends @ wrap_done, 0.0, 1.0)
        return self._replace(on_call_at=now, on_call=on_call)


@functools.lru_cache(maxsize=16)
def _on_call_grid(
    key: tuple[float, float, float],
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """The ages at which a call may end, and the wrap-up time left after each slice.

    ``[age, slice]`` ends of the slices of the longest horizon after each busy
    age; ``[slice, checkpoint]`` the time a wrap-up has to end in if the call
    ended mid-slice (clamped at 0), and whether it has any. Fixed per key, so
    built once rather than at every refresh.
    """
    horizons = _checkpoints(key) + key[2]
    step = float(horizons[-1]) / _SLICES
    t = _AGE_GRID[:, None] + np.arange(_SLICES + 1)[None, :] * step
    left = horizons[None, :] - ((np.arange(_SLICES) + 0.5) * step)[:, None]
    clamped: FloatArray = np.maximum(left, 0.0)
    after: npt.NDArray[np.bool_] = left > 0
    for a in (t, clamped, after):
        a.flags.writeable = False  # shared by every pacer with this key
    return t, clamped, after


def _checkpoints(key: tuple[float, float, float]) -> FloatArray:
    """Seconds from now at which answers are checked: ``_CHECKPOINTS`` to the last answer."""
    rt, detect, _ = key
    # A person answering by a checkpoint must find an agent freed by it
    # plus the connect deadline. Early checkpoints guard against bursts,
    # late ones against the tail of answers from calls already placed.
    last = rt + detect
    return np.array([c for c in _CHECKPOINTS if c < last] + [last])


# ---------------------------------------------------------------------- pacer
class PredictivePacer:
    """See the module docstring. One configuration for every campaign."""

    name = "predictive"
    needs_detail = True

    def __init__(
        self,
        *,
        target_agent_wait_s: float | None = None,
        decision_interval_s: float | None = 1.0,
        warmup_attempts: int = 200,
        warmup_handled: int = 30,
        estimates: CampaignEstimates | None = None,
    ) -> None:
        self.decision_interval_s = decision_interval_s
        # One line per ready agent cannot leave a person unserved, and the
        # rule places such a sure call whenever its model sees it so (no
        # decision below it in the traces): the core may place those calls
        # between decisions, as soon as an agent frees (see CountPacer).
        self.tops_up = True
        self.target_agent_wait_s = target_agent_wait_s
        self.warmup_attempts = warmup_attempts
        self.warmup_handled = warmup_handled
        self.estimates = estimates if estimates is not None else default_estimates()
        # Share of the calls reaching agents that are machines (AMD false
        # negatives, or every machine without AMD): they hold an agent only
        # briefly, which matters for when a busy agent will be free, and
        # they are not people, which matters for the abandonment count.
        self.machine_connects = Ewma(half_life=300.0, prior=0.1, prior_weight=5.0)
        # Share of answers sent to an agent: every one without AMD, those AMD
        # calls people with it, machines it lets through included (the
        # outcome shares are corrected by what agents say; this is not).
        self.routed = Ewma(half_life=800.0, prior=0.7, prior_weight=10.0)
        self._raw_seen = -1.0  # raw abandoned answers at the last decision
        # By five minutes of answer time (see _window_people): raw abandons,
        # and [people, machines] among the calls answered then that agents
        # heard; and the abandons already weighed for good.
        self._abandons: dict[int, float] = {}
        self._heard: dict[int, list[float]] = {}
        self._frozen_people = 0.0
        self._frozen_var = 0.0
        # Agents who log out rather than take the next call, per agent done
        # with a call, faded by that count (see _track_staffing).
        self._left = 0.0
        self._finished = 0.0
        self._finished_since = 0
        self._last_active: int | None = None
        self._last_pausing = 0
        # Answers seen against answers expected, faded by the expected count.
        self._answers_since = 0
        self._expected_next = 0.0  # answers the last decision expected in a second
        self._seen_answers = 0.0
        self._expected_answers = 0.0

        self._share_var = 0.0  # variance of the people among the raw abandons so far
        self.attempts_seen = 0
        self.handled_seen = 0
        self._peak_active = 0
        # Feedback state.
        self._last_t: float | None = None
        self._first_t: float | None = None
        self._last_humans = 0.0
        self._last_abandoned = 0.0
        self._human_rate = EwmaRate(half_life_s=600.0)  # people answering per second
        self._ready_mean = 0.0  # ready agents, smoothed over time
        self._handled_rate = 0.0  # calls reaching agents per second, smoothed
        self._handled_since = 0
        self._wait_log_gain = 0.0  # <= 0: how much the wait goal holds theta back
        self._tables: _Tables | None = None
        # log(theta / room): the learned ratio between the marginal call's
        # chance of being unserved and the rate it buys (the average call is
        # safer than the marginal one, and later calls compete with it).
        self._log_gain = _LOG_GAIN_PRIOR
        self._room = 0.0  # the room at the last decision

    # ------------------------------------------------------------- learning
    def observe(self, observation: Observation) -> None:
        self.estimates.observe(observation)
        if isinstance(observation, AttemptResolved):
            if not observation.corrected:
                self.attempts_seen += 1
                if observation.outcome in ("human", "machine"):
                    self.routed.add(1.0 if observation.outcome == "human" else 0.0)
                    self._answers_since += 1
            return
        if observation.wrap_s is not None:
            self._finished_since += 1  # an agent is done with a call: ready, or gone
        if observation.talk_s is not None:
            self.handled_seen += 1
            self._handled_since += 1
            self.machine_connects.add(1.0 if observation.machine else 0.0)
            # Bridged within the connect deadline of its answer: close enough.
            answered = observation.at_s - observation.talk_s - (observation.wrap_s or 0.0)
            heard = self._heard.setdefault(int(answered // _BUCKET_S), [0.0, 0.0])
            heard[1 if observation.machine else 0] += 1.0

    @property
    def warm(self) -> bool:
        """Whether the estimates have data enough to pace by.

        At least ``warmup_handled`` calls heard, and as many as the most
        agents seen at once: the first calls to end are the shortest ones
        (machines, quick refusals), so a talk model learned from fewer than
        a call per agent believes every agent is about to be free. On a
        500-agent floor that logs in at once, 30 calls end in seconds, and
        the burst of abandons that followed cost 7 % of the day's budget.
        """
        return self.attempts_seen >= self.warmup_attempts and self.handled_seen >= max(
            self.warmup_handled, self._peak_active
        )

    # ------------------------------------------------------------- deciding
    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        self._track(snap)
        ready = snap.agents_ready
        in_flight = snap.lines_in_flight
        active = snap.agents_logged_in - snap.agents_paused
        self._peak_active = max(self._peak_active, active)
        if active <= 0 or (ready == 0 and snap.agents_on_call + snap.agents_wrap_up == 0):
            return PacingDecision(0, 0.0, None, {"phase": "no agents"})
        if not self.warm:
            calls = max(0, ready - in_flight)
            return PacingDecision(calls, 1.0, None, {"phase": "warmup"})

        tables = self._tables_for(snap)
        routed = tables.routed
        checkpoints = tables.checkpoints
        # Answers lately against what the model expected of the calls that
        # were ringing: a sudden change of the answer rate shows here within
        # a few dozen answers, long before the outcome shares move.
        surprise = self.surprise
        ages = snap.ringing_ages_s
        ring = _lookup(tables.ringing, ages / _RING_STEP_S) if len(ages) else None
        self._expected_next = float(ring[:, -1].sum()) if ring is not None else 0.0
        binom: FloatArray | None = tables.binomial
        q = tables.q
        if abs(surprise - 1.0) > 0.02:
            q = np.minimum(q * surprise, 1.0 - 1e-9)
            binom = None  # rebuilt from q if the exact path needs it
        q_total = float(q[-1])
        # Where the new call's answer falls: the chance it is answered in
        # each span between checkpoints, for the average abandon chance.
        dq = np.empty_like(q)  # np.diff(q, prepend=0.0), minus its overhead
        dq[0] = q[0]
        np.subtract(q[1:], q[:-1], out=dq[1:])

        terms: list[FloatArray] = []
        if ring is not None:
            terms.append(np.minimum(ring[:, :-1] * (routed * surprise), 1.0))
        if snap.lines_answered_unclassified:
            terms.append(np.full((snap.lines_answered_unclassified, len(checkpoints)), routed))
        busy = len(snap.on_call_ages_s) + len(snap.wrap_up_ages_s)
        # A busy agent who finishes may log out instead (a break, the end of a
        # shift): by the recent share of agents who did.
        stay = 1.0 - self.leaving
        # The wait goal, once theta is all but zero and agents still wait less
        # than the target, stops counting on busy agents at all: down to one
        # line per ready agent, progressive, whose wait is the longest a
        # dialer that keeps its agents fed can give.
        stay *= min(max(1.0 + (self._wait_log_gain + _WAIT_SPAN) / _WAIT_SPAN, 0.0), 1.0)
        if len(snap.on_call_ages_s):
            free = _lookup(tables.on_call, _age_index(snap.on_call_ages_s))
            terms.append(1.0 - free * stay)
        if len(snap.wrap_up_ages_s):
            terms.append(1.0 - _lookup(tables.wrap, _age_index(snap.wrap_up_ages_s)) * stay)
        probs = np.concatenate(terms) if terms else np.zeros((0, len(checkpoints)))
        # Constants out: a busy agent sure to stay busy, a call sure not to answer.
        hi = probs.min(axis=1) > 1.0 - _CERTAIN
        lo = probs.max(axis=1) < _CERTAIN
        ones = int(hi.sum())
        probs = probs[~(hi | lo)]
        need = ready + busy - snap.lines_waiting - ones

        theta, explain = self._theta(snap)
        limit = max(1, 2 * active)
        calls, unserved = self._choose(probs, need, q, dq, q_total, theta, limit, binom)
        predicted = float(unserved[:calls].sum()) if calls else 0.0
        level = (in_flight + calls) / ready if ready else float(in_flight + calls)
        explain.update(
            {
                "q_total": round(q_total, 4),
                "routed": round(routed, 4),
                "need": need,
                "leaving": round(self.leaving, 3),
                "surprise": round(surprise, 3),
                "terms": len(probs),
                "marginal": round(float(unserved[calls]) / q_total, 5)
                if calls < len(unserved) and q_total > 0
                else None,
            }
        )
        return PacingDecision(calls, level, predicted, explain)

    def _choose(
        self,
        probs: FloatArray,
        need: int,
        q: FloatArray,
        dq: FloatArray,
        q_total: float,
        theta: float,
        limit: int,
        binom: FloatArray | None,
    ) -> tuple[int, FloatArray]:
        """How many new calls, and each one's expected abandons (answers unserved).

        The k-th call goes out while its chance of being unserved, given that
        it is answered, is at most ``theta``; that chance rises with k.
        """
        if q_total <= 1e-9:
            return 0, np.zeros(0)
        exact = len(probs) <= _EXACT_MAX_TERMS
        if exact:
            pmf = pb_pmf(probs)
        else:
            pq = probs * (1.0 - probs)
            mean = probs.sum(axis=0)
            var = pq.sum(axis=0)
            skew3 = (pq * (1.0 - 2.0 * probs)).sum(axis=0)
        # Most decisions place a few calls: look at a block of them first,
        # then at eight times more while they all pass.
        kmax = min(limit, _BLOCK)
        while True:
            if exact:
                p_unserved = unserved_exact(pmf, need, q, kmax + 1, binom)
            else:
                p_unserved = unserved_normal(mean, var, skew3, float(need), q, kmax + 1)
            # Expected unserved answers of the k-th call: by when it is answered.
            expected = dq @ p_unserved  # (kmax + 1,)
            # The rule: unserved at no checkpoint more often than theta. The
            # average over when the call is answered was the first idea; the
            # worst checkpoint held abandons as low with more talk in trials:
            # it does not let an early burst of answers hide behind a late lull.
            worst = (p_unserved * (q[:, None] > 1e-6)).max(axis=0)
            ok = worst <= theta + 1e-15
            if not ok.all() or kmax >= limit:
                calls = int(np.argmin(ok)) if not ok.all() else kmax
                return min(calls, limit), expected
            kmax = min(limit, kmax * 8)

    def _tables_for(self, snap: PacingSnapshot) -> _Tables:
        """The model's probabilities on grids of ages, refreshed every few seconds.

        The estimates move by a fraction of a percent per observation, so a
        table a few seconds old is as good as a fresh one, and a decision
        then costs a lookup per call and per agent instead of a model
        evaluation. The three parts (answers, agents on a call, agents
        wrapping up) are refreshed at different decisions, the stalest one
        first, never two at once: a refresh costs several times a lookup
        (the estimators' curves are rebuilt too), and one part at a time
        keeps the decisions that pay for it near the others.
        """
        detect = snap.amd_detect_s if snap.amd_enabled else 0.0
        key = (snap.ring_timeout_s, detect, snap.connect_deadline_s)
        now = snap.now_s
        routed = min(max(self.routed.value, 0.0), 1.0) if snap.amd_enabled else 1.0
        machine_share = min(max(self.machine_connects.value, 0.0), 1.0)
        t = self._tables
        if t is None or t.key != key:
            t = _Tables.build(key, now, self.estimates, machine_share, routed)
        elif now - (oldest := min(t.answers_at, t.on_call_at, t.wrap_at)) >= _TABLE_REFRESH_S:
            # The stalest part: one part per decision at most.
            if oldest == t.answers_at:
                t = t.with_answers(now, self.estimates, routed)
            elif oldest == t.on_call_at:
                t = t.with_on_call(now, self.estimates, machine_share)
            else:
                t = t.with_wrap(now, self.estimates)
        self._tables = t
        return t

    # ------------------------------------------------------------- feedback
    def _track(self, snap: PacingSnapshot) -> None:
        """Follow abandons, the answer rate, ready agents and the wait goal."""
        humans, abandoned = self._window_people(snap)
        self._track_staffing(snap)
        self._track_answers(snap)
        if self._last_t is not None:
            dt = snap.now_s - self._last_t
            d_humans = humans - self._last_humans
            d_abandoned = abandoned - self._last_abandoned
            if dt > 0:
                # Net of corrections: without AMD every answer counts as a
                # person until an agent says it was a machine (most of them,
                # on some campaigns), so the steps go down as well as up.
                self._human_rate.add(snap.now_s, d_humans)
                # Ready agents and calls reaching them, over about 5 minutes.
                alpha = min(1.0, dt / 300.0)
                self._ready_mean += alpha * (snap.agents_ready - self._ready_mean)
                self._handled_rate += alpha * (self._handled_since / dt - self._handled_rate)
                self._handled_since = 0
                target = self.target_agent_wait_s
                if target is not None and self.warm and self._handled_rate > 0:
                    # Little's law on the ready queue: mean wait = ready / departures.
                    wait = self._ready_mean / self._handled_rate
                    err = (wait - target) / max(target, 1.0)
                    # A full swing (2 x _WAIT_SPAN) in about a quarter of an hour.
                    step = min(dt / 120.0, 1.0) * max(min(err, 1.0), -1.0)
                    self._wait_log_gain = min(0.0, max(-2 * _WAIT_SPAN, self._wait_log_gain + step))
            if self.warm:
                self._integrate(snap, d_humans, d_abandoned)
        else:
            self._first_t = snap.now_s
            self._human_rate.add(snap.now_s, 0.0)
        self._last_t = snap.now_s
        self._last_humans = humans
        self._last_abandoned = abandoned

    def _track_staffing(self, snap: PacingSnapshot) -> None:
        """Learn how often an agent done with a call logs out (or pauses) instead.

        When a floor shrinks (a break, a shift change) its agents leave as
        they finish their calls, and the dialer only learns it as they go:
        a busy agent the model counts on may never take another call. The
        share of recent finishers who left (logouts over calls finished, with
        a memory of ``_LEAVE_MEMORY`` finishers) scales the supply of busy
        agents; on a steady floor it is near zero.
        """
        # Logged in and not paused: a pause after a call is a departure too.
        active = snap.agents_logged_in - snap.agents_paused
        last = self._last_active
        self._last_active = active
        pausing = snap.agents_pausing
        last_pausing = self._last_pausing
        self._last_pausing = pausing
        finished = self._finished_since
        self._finished_since = 0
        if last is None:
            return
        # Agents who said they would go (a pause asked for during a call) are
        # out of the supply already: only the others are news.
        left = max(last - active - max(last_pausing - pausing, 0), 0)
        if left == 0 and finished == 0:
            return
        fade = 2.0 ** (-max(finished, left) / _LEAVE_MEMORY)
        self._left = self._left * fade + left
        self._finished = self._finished * fade + max(finished, left)

    def _track_answers(self, snap: PacingSnapshot) -> None:
        seen = self._answers_since
        self._answers_since = 0
        if self._last_t is None:
            return
        dt = snap.now_s - self._last_t
        if dt <= 0:
            return
        expected = self._expected_next * min(dt, 5.0)
        if expected <= 0 and seen == 0:
            return
        fade = 2.0 ** (-expected / _SURPRISE_MEMORY)
        self._seen_answers = self._seen_answers * fade + seen
        self._expected_answers = self._expected_answers * fade + expected

    @property
    def surprise(self) -> float:
        """Answers seen over answers expected lately, shrunk towards 1."""
        ratio = (self._seen_answers + _SURPRISE_PRIOR) / (self._expected_answers + _SURPRISE_PRIOR)
        return min(max(ratio, 0.5), 2.0)

    @property
    def leaving(self) -> float:
        """Share of agents finishing a call who log out instead of taking another."""
        return min(self._left / (self._finished + _LEAVE_PRIOR), 1.0)

    def _window_people(self, snap: PacingSnapshot) -> tuple[float, float]:
        """(people answered, people abandoned) in the window, by this pacer's count.

        An abandoned answer nobody heard was a person with the probability
        that a call answered at the same time was one: a person and a machine
        answered together wait alike for an agent. The core weighs every
        abandon by the share over the whole campaign, which lags a change of
        mix by hours (people stop answering at lunch and machines take over,
        then people come back). The share among calls agents *finished* lately
        is biased instead: the calls that end first are the short ones,
        machines. So abandons and the calls agents heard are both kept by
        five minutes of answer time, and a bucket's abandons are weighed by
        the share of people among its own heard calls (shrunk to the
        campaign's share when they are few) once its calls have had half an
        hour to end; until then, by the campaign's current share. Both are
        estimates of a coin nobody sees land: its variance (the coins', and
        the share's own) feeds the pacer's reserve.
        """
        raw = snap.window_abandoned_raw
        now = snap.now_s
        abandons = self._abandons
        if raw < self._raw_seen or self._raw_seen < 0:
            # First sight, or a new window: start from the core's estimate,
            # with the binomial noise of the share over the whole campaign.
            share = snap.window_abandoned / raw if raw > 0 else 1.0
            self._frozen_people = snap.window_abandoned
            self._frozen_var = raw * share * (1.0 - share)
            abandons.clear()
        elif raw > self._raw_seen:
            # Abandoned at the connect deadline after its answer: the bucket
            # of now, but for the calls answered in its first seconds.
            key = int(now // _BUCKET_S)
            abandons[key] = abandons.get(key, 0.0) + raw - self._raw_seen
        self._raw_seen = raw
        share = 1.0 - min(max(self.machine_connects.value, 0.0), 1.0)
        ripe = int((now - _FREEZE_S) // _BUCKET_S)  # buckets ended half an hour ago
        heard = self._heard
        for key in sorted(k for k in abandons if k < ripe):
            count = abandons.pop(key)
            people, machines = heard.get(key, (0.0, 0.0))
            n = people + machines + _SHARE_PRIOR
            own = (people + _SHARE_PRIOR * share) / n
            coin = own * (1.0 - own)
            self._frozen_people += count * own
            self._frozen_var += count * coin + count * count * coin / n
        if len(heard) > 64:
            for key in [k for k in heard if k < ripe - 2]:
                del heard[key]
        recent = sum(abandons.values())
        coin = share * (1.0 - share)
        people = self._frozen_people + recent * share
        self._share_var = self._frozen_var + recent * coin
        # The core's count of people answered has its machines among the
        # abandoned taken out by its own estimate: put ours instead.
        humans = snap.window_human_answered - snap.window_abandoned + people
        return humans, people

    def _people_rate(self, now: float) -> float:
        """People answering per second (net of corrections, so never below 0)."""
        return max(self._human_rate.rate(now), 0.0)

    def _integrate(self, snap: PacingSnapshot, humans: float, abandoned: float) -> None:
        """Move log(theta / room) so that the rate realized follows the room.

        Each person answered asks for ``room`` abandons; each abandon spends
        one. The step is that difference over the abandons expected in the
        integral's memory, which is at least ``_GAIN_MEMORY_S`` and long
        enough to hold ``_GAIN_ABANDONS`` of them: a large floor learns the
        ratio in minutes, a small team (a few abandons an hour) mostly keeps
        its prior rather than chase noise; the room still holds its budget.
        Frozen while the core holds the campaign at the cap (it dials as
        progressive then, whatever theta says) and while the wait goal holds
        theta back.
        """
        room = self._room
        if room <= 0 or self._wait_log_gain < -0.05:
            # Nothing asked, or the wait goal holding theta back: what is not
            # spent then is not the model's error, and must not wind it up.
            return
        if snap.window_abandoned > 0 and snap.window_abandon_rate >= snap.max_abandon_rate:
            return
        rate = self._people_rate(snap.now_s)
        if rate <= 0:
            return
        expected = room * rate  # abandons per second the room asks for
        memory = max(_GAIN_MEMORY_S, _GAIN_ABANDONS / expected)
        step = (room * humans - abandoned) / (expected * memory)
        self._log_gain = min(max(self._log_gain + step, _LOG_GAIN_MIN), _LOG_GAIN_MAX)

    def _theta(self, snap: PacingSnapshot) -> tuple[float, dict[str, Any]]:
        cap = snap.max_abandon_rate
        humans, abandoned = self._last_humans, self._last_abandoned
        fp = snap.amd_false_positive_rate if snap.amd_enabled else 0.0
        fp = min(max(fp, 0.0), 0.999)
        # People AMD hung up on count as abandoned; the core never sees them.
        unseen = humans * fp / (1.0 - fp)
        humans += unseen
        abandoned += unseen
        seen_s = snap.now_s - (self._first_t if self._first_t is not None else snap.now_s)
        human_share = 1.0 - min(max(self.machine_connects.value, 0.0), 1.0)
        if seen_s < _MIN_RATE_S:
            # Too early to know how many people the rest of the window holds.
            room = max(cap * 0.8 - fp, 0.0) if abandoned <= cap * 0.8 * humans else 0.0
            future = 0.0
            reserve = 0.0
        else:
            future = self._people_rate(snap.now_s) * snap.window_remaining_s / (1.0 - fp)
            total = humans + future
            # Noise nobody observes: which AMD false positives happen, and
            # (an abandoned answer nobody heard) whether it was a person:
            # known for the abandons so far, at today's share for the rest.
            open_var = fp * total + self._share_var + cap * future * (1.0 - human_share)
            reserve = _Z_OPEN * math.sqrt(max(open_var, 0.0))
            budget = _SETPOINT * cap * total - abandoned - fp * future - reserve
            # x abandons still to come, with a reserve for their own noise:
            # x + z sqrt(x) = budget.
            if budget > 0:
                root = (-_Z_FUTURE + math.sqrt(_Z_FUTURE**2 + 4.0 * budget)) / 2.0
                x = root * root
            else:
                x = 0.0
            room = x / max(future, 1.0)
            # The core paces as progressive whenever the rate so far reaches
            # the cap, however much the rest of the window could dilute it:
            # keep the running rate under it too, over the next minutes.
            soon = self._people_rate(snap.now_s) * min(_RUNNING_S, snap.window_remaining_s)
            if soon > 1.0:
                running = _RUNNING * cap * (snap.window_human_answered + soon)
                room = min(room, (running - snap.window_abandoned) / soon)
        room = min(max(room, 0.0), _ROOM_MAX * cap)
        # theta is a chance per answer sent to an agent; the room, per
        # person. The same thing: a person and a machine sent to an agent
        # are as likely to find none.
        self._room = room
        wait = max(self._wait_log_gain, -_WAIT_SPAN)
        theta = min(room * math.exp(self._log_gain + wait), _THETA_MAX)
        return theta, {
            "theta": round(theta, 5),
            "room_rate": round(room, 5),
            "reserve": round(reserve, 2),
            "future": round(future, 1),
            "gain": round(math.exp(self._log_gain), 4),
            "people": round(humans, 1),
            "people_abandoned": round(abandoned, 2),
            "human_share": round(human_share, 4),
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
