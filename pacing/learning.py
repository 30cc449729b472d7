"""Online estimates with forgetting, cheap enough for a decision every half second.

Forgetting is by observation count: each new observation weighs ``2**(1/h)``
times the one before it, so an observation ``h`` observations old counts half
(``h`` is the half-life). The weights grow geometrically instead of old ones
being decayed, which makes an update O(1); they are rescaled before they
overflow.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["DecayingHistogram", "DecayingShares"]

FloatArray = npt.NDArray[np.float64]
_RESCALE_AT = 1e200


class DecayingShares:
    """Shares of a fixed set of categories, with pseudo-count priors."""

    __slots__ = ("_g", "_prior", "_total", "_w", "counts", "names")

    def __init__(self, prior: dict[str, float], half_life: float, prior_weight: float) -> None:
        self.names = tuple(prior)
        total = sum(prior.values())
        self._prior = {k: v / total * prior_weight for k, v in prior.items()}
        self.counts = dict(self._prior)
        self._total = prior_weight
        self._g = 2.0 ** (1.0 / half_life)
        self._w = 1.0

    def add(self, name: str, amount: float = 1.0) -> None:
        self._w *= self._g
        if self._w > _RESCALE_AT:
            self._rescale()
        self.counts[name] += self._w * amount
        self._total += self._w * amount

    def move(self, src: str, dst: str) -> None:
        """Reclassify one recent observation (a machine first taken for a person)."""
        amount = min(self._w, self.counts[src])
        self.counts[src] -= amount
        self.counts[dst] += amount

    def _rescale(self) -> None:
        w = self._w
        self.counts = {k: v / w for k, v in self.counts.items()}
        self._total /= w
        self._w = 1.0

    def share(self, name: str) -> float:
        return self.counts[name] / self._total

    @property
    def n_effective(self) -> float:
        """Roughly how many recent observations back the shares (prior excluded)."""
        return max(0.0, self._total / self._w - sum(self._prior.values()) / self._w)


class DecayingHistogram:
    """A distribution of durations on fixed bin edges, with forgetting.

    ``cdf(x)`` interpolates linearly inside bins; values past the last edge
    fall in an open last bin whose mass is spread to ``edges[-1] * 2``.
    """

    __slots__ = ("_cdf_cache", "_edges", "_g", "_sum", "_total", "_w", "_weights", "_xs")

    def __init__(
        self, edges: FloatArray, half_life: float, prior_mean: float, prior_weight: float = 5.0
    ) -> None:
        self._edges = np.asarray(edges, dtype=np.float64)
        self._weights = np.zeros(len(edges), dtype=np.float64)  # last: overflow bin
        self._g = 2.0 ** (1.0 / half_life)
        self._w = 1.0
        self._total = 0.0
        self._sum = 0.0
        self._cdf_cache: FloatArray | None = None
        self._xs = np.append(self._edges, self._edges[-1] * 2.0)
        # An exponential prior of the given mean, as pseudo-observations.
        cdf = 1.0 - np.exp(-self._xs / prior_mean)
        mass = np.diff(cdf)
        mass[-1] += 1.0 - cdf[-1]
        self._weights += mass * prior_weight
        self._total = prior_weight
        self._sum = prior_mean * prior_weight

    def add(self, x: float) -> None:
        self._w *= self._g
        if self._w > _RESCALE_AT:
            w = self._w
            self._weights /= w
            self._total /= w
            self._sum /= w
            self._w = 1.0
        i = int(np.searchsorted(self._edges, x, side="right")) - 1
        i = min(max(i, 0), len(self._weights) - 1)
        self._weights[i] += self._w
        self._total += self._w
        self._sum += self._w * x
        self._cdf_cache = None

    @property
    def mean(self) -> float:
        return self._sum / self._total

    def _cdf_points(self) -> FloatArray:
        if self._cdf_cache is None:
            cum = np.concatenate(([0.0], np.cumsum(self._weights))) / self._total
            self._cdf_cache = np.minimum(cum, 1.0)
        return self._cdf_cache

    def cdf(self, x: FloatArray | float) -> FloatArray:
        return np.asarray(np.interp(x, self._xs, self._cdf_points()), dtype=np.float64)

    def residual_done_within(self, elapsed: FloatArray, horizon: float) -> FloatArray:
        """P(a spell already ``elapsed`` long ends within ``horizon`` more), per spell."""
        c0 = self.cdf(elapsed)
        c1 = self.cdf(elapsed + horizon)
        surv = 1.0 - c0
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(surv > 1e-9, (c1 - c0) / surv, 0.0)
        # Beyond anything seen: fall back to a memoryless tail of the mean.
        tail = 1.0 - math.exp(-horizon / max(self.mean, 1e-9))
        return np.where(surv > 1e-9, p, tail)


def log_edges(low: float, high: float, n: int) -> FloatArray:
    """Bin edges starting at 0, then log-spaced from ``low`` to ``high``."""
    return np.concatenate(([0.0], np.geomspace(low, high, n)))
