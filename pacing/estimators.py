"""Online estimators learned from a campaign's own outcomes, with forgetting.

A predictive pacer needs a handful of distributions: how attempts resolve
(:class:`OutcomeShares`), when a ringing call is answered
(:class:`AnswerDelayModel`), and how long talk, wrap-up and machines hold an
agent (:class:`DurationModel`, bundled in :class:`HandlingTimes`). Each is
learned online from the observations the core feeds the pacer, and each
*forgets*, so it follows the day as it changes (the people who answer at 10:00
are not those who answer at 18:00).

Forgetting is by event count
----------------------------
Every estimator weighs its observations geometrically by how many
observations have arrived since: the one ``k`` observations old weighs
``2**(-k / half_life)``. We forget by count rather than by clock time because

- the precision of an estimate depends on how many outcomes back it, not on
  how many seconds passed: a lull (a break, a paused campaign, a night) must
  not erase what was learned and send the pacer back to its prior;
- dialing volume scales with the team, so a large campaign, which has the
  data to do so, follows a change faster in wall-clock time, and a small one
  does not chase noise;
- no clock is needed, so the simulator (virtual time) and the service (real
  time) learn the same thing from the same sequence of calls.

The price: a small campaign follows a change slowly in wall-clock time; give
it a shorter half-life. With forgetting the *effective* number of
observations saturates at ``1 / (1 - 2**(-1/h)) ~ 1.44 h``, which is what
``n_effective`` reports (the prior excluded).

Rather than decaying every stored weight at every observation, the newest
observation gets a weight that *grows* by ``2**(1/h)`` each time (what counts
is the ratio between weights), which makes an update O(1) even for a
histogram; storage is rescaled, O(bins), on the rare occasion the weights
near overflow.

Priors are pseudo-observations made just before the first real one: they
fade like data, so after a few half-lives the estimate is the data's. They
never fade below a tiny floor, so a region the data never reached (answer
delays past today's ring timeout, a talk time longer than any seen) still
follows the prior's shape instead of being undefined.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from typing import Final, get_args

import numpy as np
import numpy.typing as npt

from pacing.observations import AttemptResolved, HandlingEnded, Observation, Outcome

__all__ = [
    "DEFAULT_OUTCOME_PRIOR",
    "OTHER_EXITS",
    "OUTCOMES",
    "AnswerDelayModel",
    "CampaignEstimates",
    "DurationModel",
    "Ewma",
    "EwmaRate",
    "HandlingTimes",
    "OutcomeShares",
    "log_edges",
]

FloatArray = npt.NDArray[np.float64]

#: Every outcome an attempt can resolve to, in a fixed order.
OUTCOMES: Final[tuple[Outcome, ...]] = get_args(Outcome)
#: Outcomes that end a ringing call early without an answer.
OTHER_EXITS: Final[frozenset[Outcome]] = frozenset({"busy", "invalid", "failed"})
#: A plausible outbound B2C mix, only for the first few dozen attempts.
DEFAULT_OUTCOME_PRIOR: Final[Mapping[Outcome, float]] = {
    "human": 0.25,
    "machine": 0.10,
    "busy": 0.07,
    "invalid": 0.05,
    "no_answer": 0.50,
    "failed": 0.03,
}

# Storage weights are rescaled past this: far from overflow (1.8e308), and a
# histogram's few hundred bins times it stay finite.
_RESCALE_AT: Final = 1e150
# The prior never weighs less than this fraction of its initial weight,
# relative to the newest observation (see the module docstring).
_PRIOR_FLOOR: Final = 1e-9
# Survival below this is treated as zero (a state that has, in effect,
# probability zero).
_TINY: Final = 1e-300


class _Fading:
    """The geometric weights shared by every estimator here.

    ``w`` is the storage weight of the newest observation; the prior was
    stored with weight 1 at the start and its storage weight is ``prior``
    (shrunk by rescales). In *current units* (newest observation = 1) an
    accumulator ``x`` is ``x / w``.
    """

    __slots__ = ("growth", "half_life", "prior", "w")

    def __init__(self, half_life: float) -> None:
        if not half_life > 0 or math.isinf(half_life):
            raise ValueError("half_life must be a positive, finite number of observations")
        self.half_life = float(half_life)
        self.growth = 2.0 ** (1.0 / half_life)
        self.w = 1.0
        self.prior = 1.0

    def tick(self) -> float:
        """The storage weight of a new observation; check :meth:`due` after."""
        self.w *= self.growth
        return self.w

    def due(self) -> bool:
        return self.w > _RESCALE_AT

    def rescale(self) -> float:
        """Make the newest weight 1 again; callers divide their storage by the result."""
        factor = self.w
        self.w = 1.0
        self.prior /= factor
        return factor

    def prior_factor(self) -> float:
        """The prior's storage weight, floored (see the module docstring)."""
        return max(self.prior, _PRIOR_FLOOR * self.w)


def _as_array(x: npt.ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


# --------------------------------------------------------------------- shares
class OutcomeShares:
    """Shares of each outcome among resolved attempts, with forgetting.

    ``share(o) = (n_o + a_o) / (n + a)`` where ``n_o`` is the faded count of
    outcome ``o``, ``n`` their sum, and ``a_o`` the prior pseudo-counts
    (``prior`` normalised to sum to ``prior_weight``), fading like data. This is
    the posterior mean of a Dirichlet-multinomial with a discounted past.

    A corrected observation (``AttemptResolved(corrected=True)``: a machine the
    core first reported as a person) moves one current-weight count from human
    to machine. Current weight, not the weight the original report has faded
    to: corrections arrive at the same rate as the mistaken reports, only
    later, so in a steady state the corrections and the reports they cancel
    carry equal total weight and the shares are unbiased; they only lag by the
    correction delay (a talk plus a wrap-up without AMD).
    """

    __slots__ = ("_counts", "_data_total", "_fade", "_prior", "_prior_weight")

    def __init__(
        self,
        *,
        half_life: float = 500.0,
        prior: Mapping[Outcome, float] | None = None,
        prior_weight: float = 20.0,
    ) -> None:
        prior = DEFAULT_OUTCOME_PRIOR if prior is None else prior
        unknown = set(prior) - set(OUTCOMES)
        if unknown:
            raise ValueError(f"unknown outcomes in prior: {sorted(unknown)}")
        raw = [float(prior.get(o, 0.0)) for o in OUTCOMES]
        if any(v < 0 for v in raw) or sum(raw) <= 0:
            raise ValueError("prior shares must be non-negative and not all zero")
        if not prior_weight > 0:
            raise ValueError("prior_weight must be positive")
        total = sum(raw)
        self._prior = [v / total * prior_weight for v in raw]
        self._prior_weight = float(prior_weight)
        self._counts = [0.0] * len(OUTCOMES)
        self._data_total = 0.0
        self._fade = _Fading(half_life)

    @property
    def half_life(self) -> float:
        return self._fade.half_life

    def observe(self, observation: AttemptResolved) -> None:
        if observation.corrected:
            self.correct_human_to_machine()
        else:
            self.add(observation.outcome)

    def add(self, outcome: Outcome) -> None:
        w = self._fade.tick()
        self._counts[_OUTCOME_INDEX[outcome]] += w
        self._data_total += w
        if self._fade.due():
            f = self._fade.rescale()
            self._counts = [c / f for c in self._counts]
            self._data_total /= f

    def correct_human_to_machine(self) -> None:
        """One attempt counted as human was a machine (see the class docstring)."""
        h, m = _OUTCOME_INDEX["human"], _OUTCOME_INDEX["machine"]
        # Capped: a correction cannot remove more human weight than there is
        # (it can arrive after the report it corrects has faded away).
        amount = min(self._fade.w, self._counts[h])
        self._counts[h] -= amount
        self._counts[m] += amount

    def share(self, outcome: Outcome) -> float:
        i = _OUTCOME_INDEX[outcome]
        pf = self._fade.prior_factor()
        return (self._counts[i] + pf * self._prior[i]) / (
            self._data_total + pf * self._prior_weight
        )

    def shares(self) -> dict[Outcome, float]:
        pf = self._fade.prior_factor()
        total = self._data_total + pf * self._prior_weight
        return {o: (self._counts[i] + pf * self._prior[i]) / total for i, o in enumerate(OUTCOMES)}

    @property
    def answered(self) -> float:
        """Share of attempts answered, by a person or a machine."""
        return self.share("human") + self.share("machine")

    @property
    def human_given_answered(self) -> float:
        """P(a person | answered): the share of answers that need an agent without AMD."""
        h, m = self.share("human"), self.share("machine")
        return h / (h + m) if h + m > 0 else 0.0

    @property
    def n_effective(self) -> float:
        """Faded number of observations backing the shares (prior excluded)."""
        return self._data_total / self._fade.w


_OUTCOME_INDEX: Final[Mapping[Outcome, int]] = {o: i for i, o in enumerate(OUTCOMES)}


# --------------------------------------------------------------- answer delay
class AnswerDelayModel:
    """When a ringing call is answered: a competing-risks life table with forgetting.

    Time since the call was placed is cut into fixed bins ``[k b, (k+1) b)``
    up to ``max_delay_s`` (which should be at least the longest ring timeout).
    Each resolved attempt is one observation of how a ringing call ends:

    - answered (human or machine) at ``delay_s``: an *answer* in its bin;
    - busy / invalid / failed at ``delay_s``: an *other exit* in its bin, a
      competing risk that resolves the call early without an answer;
    - no answer after ``delay_s`` of ringing: *right-censored* there. We gave
      up; the person might have answered later. The call is at risk up to
      ``delay_s`` and then leaves the table, counted at risk for the
      fraction of its last bin it rang through.

    With faded weights per bin (answers ``A_k``, other exits ``O_k``,
    censored ``C_k`` and ``P_k``, the censored weight times the fraction of
    the bin it covers), the number at risk in bin ``k`` is
    ``n_k = sum_{j>k} (A_j + O_j + C_j) + A_k + O_k + P_k``; the cause-specific
    hazards are ``a_k = A_k / n_k`` and ``o_k = O_k / n_k``. The Aalen-Johansen
    (discrete Kaplan-Meier) recursions at the bin edges give

    - ``S(t)``, the probability a call is still unresolved at ``t`` had we
      rung forever: ``S_{k+1} = S_k (1 - a_k - o_k)``, ``S_0 = 1``;
    - ``I(t)``, the probability it is answered by ``t``:
      ``I_{k+1} = I_k + S_k a_k``, ``I_0 = 0``,

    interpolated linearly inside a bin. For a call still ringing at age ``a``
    (so unresolved by any cause, which is what a ringing line is), the
    probability it is answered in ``(a, b]`` is ``(I(b) - I(a)) / S(a)``, with
    ``b`` cut at the ring timeout, when the dialer gives up.

    Busy and invalid numbers are thus accounted for through their own hazard:
    early in the ring they make the chance of an answer lower than the answer
    share alone says; a call that has rung past them is no longer diluted by
    them. The answer share is built in (``I(T)`` is the share answered with
    ring timeout ``T``); callers do not multiply by
    :attr:`OutcomeShares.answered` again. To count only people, multiply by
    :attr:`OutcomeShares.human_given_answered` (which assumes that people and
    machines answer after the same delays).

    Censoring makes the table learn correctly from a mix of ring timeouts and
    keeps the prior in charge of the bins past the longest ring seen. Cold
    start: ``prior_weight`` pseudo-attempts, answered with probability
    ``prior_answer`` after an exponential delay of mean ``prior_mean_delay_s``,
    resolved otherwise with probability ``prior_other`` uniformly within
    ``prior_other_within_s``, and ringing until ``max_delay_s`` otherwise.

    An update is O(1); the first query after an update is O(bins) (cached).
    """

    __slots__ = (
        "_a",
        "_bin_s",
        "_c",
        "_cache",
        "_data_total",
        "_edges",
        "_fade",
        "_k",
        "_max",
        "_o",
        "_p",
        "_prior",
    )

    def __init__(
        self,
        *,
        half_life: float = 500.0,
        bin_s: float = 0.5,
        max_delay_s: float = 60.0,
        prior_answer: float = 0.35,
        prior_mean_delay_s: float = 10.0,
        prior_other: float = 0.10,
        prior_other_within_s: float = 5.0,
        prior_weight: float = 10.0,
    ) -> None:
        if not bin_s > 0 or not max_delay_s > bin_s:
            raise ValueError("need 0 < bin_s < max_delay_s")
        if not (prior_answer > 0 and prior_other >= 0 and prior_answer + prior_other < 1):
            raise ValueError("need prior_answer > 0, prior_other >= 0, their sum < 1")
        if not (prior_mean_delay_s > 0 and prior_other_within_s > 0 and prior_weight > 0):
            raise ValueError("prior means, window and weight must be positive")
        k = math.ceil(max_delay_s / bin_s - 1e-9)
        self._k = k
        self._bin_s = float(bin_s)
        self._max = k * self._bin_s
        self._edges = np.arange(k + 1, dtype=np.float64) * self._bin_s
        self._fade = _Fading(half_life)
        self._a = np.zeros(k)
        self._o = np.zeros(k)
        self._c = np.zeros(k)
        self._p = np.zeros(k)
        self._data_total = 0.0
        self._cache: tuple[FloatArray, FloatArray] | None = None

        lo, hi = self._edges[:-1], self._edges[1:]
        a0 = prior_answer * (np.exp(-lo / prior_mean_delay_s) - np.exp(-hi / prior_mean_delay_s))
        overlap = np.clip(np.minimum(hi, prior_other_within_s) - lo, 0.0, None)
        o0 = prior_other * overlap / prior_other_within_s
        c0 = np.zeros(k)
        # Everything else (including answers the exponential puts past the
        # last bin) rings to the end of the table.
        c0[-1] = 1.0 - float(a0.sum()) - float(o0.sum())
        self._prior = (a0 * prior_weight, o0 * prior_weight, c0 * prior_weight, c0 * prior_weight)

    @property
    def half_life(self) -> float:
        return self._fade.half_life

    @property
    def max_delay_s(self) -> float:
        return self._max

    @property
    def n_effective(self) -> float:
        """Faded number of attempts backing the table (prior excluded)."""
        return self._data_total / self._fade.w

    def observe(self, observation: AttemptResolved) -> None:
        """Learn from one resolution; a correction changes nothing here."""
        if observation.corrected:
            return  # the delay was learned as an answer already; a machine is one too
        outcome = observation.outcome
        if outcome in ("human", "machine"):
            self.add_answer(observation.delay_s)
        elif outcome == "no_answer":
            self.add_censored(observation.delay_s)
        else:
            self.add_other(observation.delay_s)

    def add_answer(self, delay_s: float) -> None:
        self._a[self._bin(delay_s)] += self._tick()

    def add_other(self, delay_s: float) -> None:
        """A call resolved without an answer before it was given up (busy, invalid, ...)."""
        self._o[self._bin(delay_s)] += self._tick()

    def add_censored(self, rang_s: float) -> None:
        """A call given up, unanswered, after ringing ``rang_s``."""
        w = self._tick()
        if rang_s >= self._max:
            k, frac = self._k - 1, 1.0
        else:
            k = self._bin(rang_s)
            frac = min(max((rang_s - k * self._bin_s) / self._bin_s, 0.0), 1.0)
        self._c[k] += w
        self._p[k] += w * frac

    def p_answer_by(
        self,
        age_s: npt.ArrayLike,
        horizon_s: npt.ArrayLike,
        *,
        ring_timeout_s: float | None = None,
    ) -> FloatArray:
        """P(answered within ``horizon_s`` | still ringing at ``age_s``), elementwise.

        ``age_s`` and ``horizon_s`` broadcast (typically an array of ringing
        calls' ages and one horizon). With ``ring_timeout_s`` the window is cut
        where the dialer gives up. Ages at or past the end of the table give 0.
        Returns an array of the broadcast shape (0-d for scalars).
        """
        surv, inc = self._curves()
        age = np.clip(_as_array(age_s), 0.0, self._max)
        end = age + np.maximum(_as_array(horizon_s), 0.0)
        if ring_timeout_s is not None:
            end = np.minimum(end, ring_timeout_s)
        end = np.minimum(np.maximum(end, age), self._max)
        s_a = np.interp(age, self._edges, surv)
        gained = np.interp(end, self._edges, inc) - np.interp(age, self._edges, inc)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(s_a > _TINY, gained / s_a, 0.0)
        return np.clip(p, 0.0, 1.0)

    def p_eventually_answered(self, age_s: npt.ArrayLike, ring_timeout_s: float) -> FloatArray:
        """P(answered before the ring timeout | still ringing at ``age_s``), elementwise."""
        return self.p_answer_by(age_s, self._max, ring_timeout_s=ring_timeout_s)

    def answer_share(self, ring_timeout_s: float) -> float:
        """P(a new attempt is answered before ``ring_timeout_s``): ``I(T)``."""
        return float(self.p_eventually_answered(0.0, ring_timeout_s))

    def mean_answer_delay_s(self, ring_timeout_s: float) -> float:
        """E[delay | answered before ``ring_timeout_s``] = ``T - int_0^T I(t) dt / I(T)``."""
        _, inc = self._curves()
        t = min(max(ring_timeout_s, 0.0), self._max)
        grid = np.append(self._edges[self._edges < t], t)
        vals = np.interp(grid, self._edges, inc)
        total = float(vals[-1])
        if total <= _TINY:
            return t
        area = float(np.sum((vals[1:] + vals[:-1]) * np.diff(grid))) / 2.0
        return t - area / total

    def survival(self, t_s: npt.ArrayLike) -> FloatArray:
        """``S(t)``: P(unresolved at ``t`` had it rung forever), elementwise."""
        surv, _ = self._curves()
        return np.interp(np.clip(_as_array(t_s), 0.0, self._max), self._edges, surv)

    # ------------------------------------------------------------- internals
    def _bin(self, x: float) -> int:
        if not x > 0:  # also NaN
            return 0
        return min(int(x / self._bin_s), self._k - 1)

    def _tick(self) -> float:
        w = self._fade.tick()
        self._data_total += w
        self._cache = None
        if self._fade.due():
            # Rescale before the caller adds w: divide w along with storage.
            f = self._fade.rescale()
            for arr in (self._a, self._o, self._c, self._p):
                arr /= f
            self._data_total /= f
            w /= f
        return w

    def _curves(self) -> tuple[FloatArray, FloatArray]:
        """``S`` and ``I`` at the bin edges, from data plus the faded prior."""
        if self._cache is not None:
            return self._cache
        pf = self._fade.prior_factor()
        a0, o0, c0, p0 = self._prior
        a = self._a + pf * a0
        o = self._o + pf * o0
        exits = a + o + self._c + pf * c0
        beyond = np.append(np.cumsum(exits[::-1])[::-1][1:], 0.0)  # exits in later bins
        at_risk = beyond + a + o + self._p + pf * p0
        with np.errstate(divide="ignore", invalid="ignore"):
            h_a = np.where(at_risk > 0, a / at_risk, 0.0)
            h_o = np.where(at_risk > 0, o / at_risk, 0.0)
        step = np.clip(1.0 - h_a - h_o, 0.0, 1.0)
        surv = np.concatenate(([1.0], np.cumprod(step)))
        inc = np.concatenate(([0.0], np.cumsum(surv[:-1] * h_a)))
        self._cache = (surv, inc)
        return self._cache


# ------------------------------------------------------------------ durations
def log_edges(min_s: float, max_s: float, bins: int) -> FloatArray:
    """``[0, min_s, ..., max_s]``: one linear first bin, then ``bins`` log-spaced ones."""
    if not (0 < min_s < max_s) or bins < 1:
        raise ValueError("need 0 < min_s < max_s and bins >= 1")
    return np.concatenate(([0.0], np.geomspace(min_s, max_s, bins + 1)))


class DurationModel:
    """The distribution of a duration (talk, wrap-up, a machine's hold), with forgetting.

    A histogram on ``log_edges(min_s, max_s, bins)``: log-spaced bins keep
    the relative resolution constant, which suits heavy-tailed times, plus an
    open bin past ``max_s`` whose tail is modelled as exponential with the mean
    excess seen there. Bin weights fade by observation count.

    The survival ``S(t) = P(T > t)`` is known at the edges (tail sums of the
    weights, summed from the top so small tails stay accurate) and
    interpolated *log-linearly* inside a bin, i.e. the hazard is constant
    within a bin. That makes the histogram exact for an exponential, whatever
    the bin widths, and keeps residual-life probabilities smooth. The
    residual-life probability of a spell already ``e`` long is

        ``p_done_within(e, h) = P(T <= e + h | T > e) = 1 - S(e + h) / S(e)``.

    ``mean`` is the faded mean of the raw values (not of the histogram), blended
    with the prior.

    Cold start: an exponential of mean ``prior_mean_s`` with weight
    ``prior_weight`` pseudo-observations, fading like data. Where even the
    floored prior has no mass left (an underflow far in a short prior's tail),
    the survival continues with the prior's hazard, ``1 / prior_mean_s``.
    """

    __slots__ = (
        "_cache",
        "_data_total",
        "_edges",
        "_edges_list",
        "_fade",
        "_max",
        "_over",
        "_over_excess",
        "_prior",
        "_prior_mean",
        "_prior_weight",
        "_sum",
        "_weights",
    )

    def __init__(
        self,
        *,
        prior_mean_s: float,
        half_life: float = 300.0,
        prior_weight: float = 5.0,
        min_s: float = 1.0,
        max_s: float = 3600.0,
        bins: int = 60,
    ) -> None:
        if not (prior_mean_s > 0 and prior_weight > 0):
            raise ValueError("prior_mean_s and prior_weight must be positive")
        self._edges = log_edges(min_s, max_s, bins)
        self._edges_list = [float(e) for e in self._edges]
        self._max = float(self._edges[-1])
        self._fade = _Fading(half_life)
        self._weights = np.zeros(len(self._edges) - 1)
        self._over = 0.0  # weight past max_s
        self._over_excess = 0.0  # weighted sum of (x - max_s) past max_s
        self._sum = 0.0
        self._data_total = 0.0
        self._prior_mean = float(prior_mean_s)
        self._prior_weight = float(prior_weight)
        tail = np.exp(-self._edges / prior_mean_s)
        over0 = float(tail[-1])
        self._prior = (
            -np.diff(tail) * prior_weight,
            over0 * prior_weight,
            over0 * prior_mean_s * prior_weight,  # memoryless: mean excess = mean
        )
        self._cache: tuple[FloatArray, float] | None = None

    @property
    def half_life(self) -> float:
        return self._fade.half_life

    @property
    def n_effective(self) -> float:
        """Faded number of observations backing the estimate (prior excluded)."""
        return self._data_total / self._fade.w

    def add(self, duration_s: float) -> None:
        x = duration_s if duration_s > 0 else 0.0  # also NaN
        w = self._fade.tick()
        if self._fade.due():
            f = self._fade.rescale()
            self._weights /= f
            self._over /= f
            self._over_excess /= f
            self._sum /= f
            self._data_total /= f
            w /= f
        if x >= self._max:
            self._over += w
            self._over_excess += w * (x - self._max)
        else:
            self._weights[bisect.bisect_right(self._edges_list, x) - 1] += w
        self._sum += w * x
        self._data_total += w
        self._cache = None

    @property
    def mean(self) -> float:
        pf = self._fade.prior_factor()
        return (self._sum + pf * self._prior_weight * self._prior_mean) / (
            self._data_total + pf * self._prior_weight
        )

    def log_survival(self, t_s: npt.ArrayLike) -> FloatArray:
        """``log S(t)``, elementwise (``S(t) = P(duration > t)``)."""
        log_s, tau = self._curves()
        t = np.maximum(_as_array(t_s), 0.0)
        inside = np.interp(np.minimum(t, self._max), self._edges, log_s)
        return inside - np.maximum(t - self._max, 0.0) / tau

    def survival(self, t_s: npt.ArrayLike) -> FloatArray:
        return np.exp(self.log_survival(t_s))

    def p_done_within(self, elapsed_s: npt.ArrayLike, horizon_s: npt.ArrayLike) -> FloatArray:
        """P(a spell ``elapsed_s`` long so far ends within ``horizon_s`` more), elementwise."""
        e = np.maximum(_as_array(elapsed_s), 0.0)
        h = np.maximum(_as_array(horizon_s), 0.0)
        diff = self.log_survival(e + h) - self.log_survival(e)
        return np.clip(-np.expm1(diff), 0.0, 1.0)

    def _curves(self) -> tuple[FloatArray, float]:
        """``log S`` at the edges and the tail's mean excess past ``max_s``."""
        if self._cache is not None:
            return self._cache
        pf = self._fade.prior_factor()
        w0, over0, excess0 = self._prior
        weights = self._weights + pf * w0
        over = self._over + pf * over0
        excess = self._over_excess + pf * excess0
        # Tail sums from the top: S at edge k is the mass in bins >= k, plus
        # the open bin, over everything.
        tails = np.append(np.cumsum(weights[::-1])[::-1], 0.0) + over
        log_s = np.full(len(tails), -np.inf)
        positive = tails > 0
        log_s[positive] = np.log(tails[positive] / tails[0])
        if not positive.all():
            # Tail sums only decrease, so the zeros are a suffix: continue it
            # with the prior's hazard rather than claim certainty.
            j = int(np.argmin(positive))
            log_s[j:] = log_s[j - 1] - (self._edges[j:] - self._edges[j - 1]) / self._prior_mean
        tau = excess / over if over > 0 and excess > 0 else self._prior_mean
        self._cache = (log_s, tau)
        return self._cache


class HandlingTimes:
    """How long a connected call holds an agent: talk, machine hold and wrap-up.

    :meth:`observe` routes :class:`~pacing.observations.HandlingEnded`: ``talk_s``
    to ``machine`` when the call was an answering machine, to ``talk``
    otherwise; ``wrap_s`` to ``wrap`` (one wrap-up model: an agent wraps up
    after a machine as after any call). Either may be None (the core reports
    talk and wrap-up apart when the wrap-up is not over at talk end).
    """

    __slots__ = ("machine", "talk", "wrap")

    def __init__(
        self,
        *,
        talk: DurationModel | None = None,
        machine: DurationModel | None = None,
        wrap: DurationModel | None = None,
    ) -> None:
        self.talk = talk if talk is not None else DurationModel(prior_mean_s=120.0)
        self.machine = (
            machine
            if machine is not None
            else DurationModel(prior_mean_s=10.0, min_s=0.5, max_s=600.0, bins=50)
        )
        self.wrap = (
            wrap
            if wrap is not None
            else DurationModel(prior_mean_s=15.0, min_s=0.5, max_s=1800.0, bins=60)
        )

    def observe(self, observation: HandlingEnded) -> None:
        if observation.talk_s is not None:
            (self.machine if observation.machine else self.talk).add(observation.talk_s)
        if observation.wrap_s is not None:
            self.wrap.add(observation.wrap_s)


class CampaignEstimates:
    """Every estimator a pacer needs, fed by one :meth:`observe`."""

    __slots__ = ("answer_delay", "handling", "outcomes")

    def __init__(
        self,
        *,
        outcomes: OutcomeShares | None = None,
        answer_delay: AnswerDelayModel | None = None,
        handling: HandlingTimes | None = None,
    ) -> None:
        self.outcomes = outcomes if outcomes is not None else OutcomeShares()
        self.answer_delay = answer_delay if answer_delay is not None else AnswerDelayModel()
        self.handling = handling if handling is not None else HandlingTimes()

    def observe(self, observation: Observation) -> None:
        if isinstance(observation, AttemptResolved):
            self.outcomes.observe(observation)
            self.answer_delay.observe(observation)
        else:
            self.handling.observe(observation)


# ---------------------------------------------------------------- small EWMAs
class Ewma:
    """An exponentially weighted mean of a stream of values, forgetting by count.

    ``value = (sum_i d**(n-i) x_i + d**n a m) / (sum_i d**(n-i) + d**n a)``
    with ``d = 2**(-1/half_life)``, prior mean ``m`` and prior weight ``a``.
    Useful for ratios a pacer tracks itself (e.g. abandons seen / predicted).
    """

    __slots__ = ("_d", "_data", "_num", "_prior_mean", "_prior_w")

    def __init__(self, *, half_life: float, prior: float, prior_weight: float = 1.0) -> None:
        if not half_life > 0 or not prior_weight > 0:
            raise ValueError("half_life and prior_weight must be positive")
        self._d = 2.0 ** (-1.0 / half_life)
        self._prior_mean = float(prior)
        self._prior_w = float(prior_weight)
        self._num = 0.0
        self._data = 0.0

    def add(self, x: float, weight: float = 1.0) -> None:
        d = self._d
        self._num = d * self._num + weight * x
        self._data = d * self._data + weight
        self._prior_w *= d

    @property
    def value(self) -> float:
        return (self._num + self._prior_w * self._prior_mean) / (self._data + self._prior_w)

    @property
    def n_effective(self) -> float:
        return self._data


class EwmaRate:
    """Events per second over an exponentially fading window of *time*.

    ``rate(t) = M(t) / int_{t0}^{t} 2**(-(t-u)/h) du`` where ``M(t)`` is the
    sum of event amounts, each faded by ``2**(-age/h)``; the denominator is
    the faded length of time observed since ``t0``, the first instant the
    estimator saw (so the rate is not biased low while history is short).
    Time, not count, because a rate is a count per time.
    """

    __slots__ = ("_h", "_last", "_mass", "_start")

    def __init__(self, *, half_life_s: float) -> None:
        if not half_life_s > 0:
            raise ValueError("half_life_s must be positive")
        self._h = float(half_life_s)
        self._mass = 0.0
        self._last: float | None = None
        self._start: float | None = None

    def _advance(self, at_s: float) -> None:
        if self._last is None:
            self._start = self._last = at_s
            return
        dt = at_s - self._last
        if dt > 0:  # a clock that went back changes nothing
            self._mass *= 2.0 ** (-dt / self._h)
            self._last = at_s

    def add(self, at_s: float, amount: float = 1.0) -> None:
        self._advance(at_s)
        self._mass += amount

    def rate(self, now_s: float) -> float:
        self._advance(now_s)
        assert self._start is not None and self._last is not None
        span = self._last - self._start
        if span <= 0:
            return 0.0
        exposure = self._h / math.log(2.0) * -math.expm1(-span * math.log(2.0) / self._h)
        return self._mass / exposure
