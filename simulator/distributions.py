"""The scenario format's four distributions, drawn from a seeded numpy Generator.

A distribution is a TOML inline table tagged by ``dist``::

    { dist = "fixed", value = v }                 # v >= 0
    { dist = "exponential", mean = m }            # m > 0
    { dist = "lognormal", mean = m, sd = s }      # m > 0, s >= 0
    { dist = "uniform", low = a, high = b }       # 0 <= a <= b

``lognormal`` takes the mean and sd of the distribution itself, not of its
logarithm; the log's parameters follow from sigma^2 = ln(1 + sd^2 / mean^2)
and mu = ln(mean) - sigma^2 / 2, so that E[X] = mean and SD[X] = sd exactly.

Every distribution has ``.mean`` and ``.sd`` (the true moments), a vectorised
``.sample(rng, size)`` (float64 array; the simulator draws in blocks) and
``.sample_one(rng)``, which consumes the generator exactly as
``sample(rng, 1)`` does. They never hold a generator themselves: randomness is
passed in, so a run is reproducible from its seed.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "DIST_NAMES",
    "AnyDistribution",
    "Distribution",
    "Exponential",
    "Fixed",
    "FloatArray",
    "LogNormal",
    "Uniform",
    "parse_distribution",
]

FloatArray = npt.NDArray[np.float64]

#: the tags of ``dist``, in the order the format lists them
DIST_NAMES: tuple[str, ...] = ("fixed", "exponential", "lognormal", "uniform")


class _Dist(BaseModel):
    # Strict: TOML is typed, so a string where a number belongs is a mistake to
    # report, not a value to coerce. Infinities and NaN are refused too.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:  # pragma: no cover
        raise NotImplementedError

    def sample_one(self, rng: np.random.Generator) -> float:  # pragma: no cover
        raise NotImplementedError


class Fixed(_Dist):
    """Always ``value``."""

    dist: Literal["fixed"] = "fixed"
    value: float = Field(ge=0)

    @property
    def mean(self) -> float:
        return self.value

    @property
    def sd(self) -> float:
        return 0.0

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        return np.full(size, self.value, dtype=np.float64)

    def sample_one(self, rng: np.random.Generator) -> float:
        return self.value


class Exponential(_Dist):
    """Exponential with the given ``mean`` (numpy's ``scale``)."""

    dist: Literal["exponential"] = "exponential"
    mean: float = Field(gt=0)

    @property
    def sd(self) -> float:
        return self.mean

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        return rng.exponential(self.mean, size)

    def sample_one(self, rng: np.random.Generator) -> float:
        return float(rng.exponential(self.mean))


_MAX_CV = 100.0


class LogNormal(_Dist):
    """Lognormal with the given ``mean`` and ``sd`` of the distribution itself."""

    dist: Literal["lognormal"] = "lognormal"
    mean: float = Field(gt=0)
    sd: float = Field(ge=0)

    _mu: float = PrivateAttr(default=0.0)
    _sigma: float = PrivateAttr(default=0.0)

    @model_validator(mode="after")
    def _spread_is_drawable(self) -> LogNormal:
        # Past this the log's parameters overflow (sd / mean of 1e300 made
        # every draw NaN and the report inconsistent); no real duration comes
        # near it (talk times have sd / mean around 1 to 3).
        if self.sd > _MAX_CV * self.mean:
            raise ValueError(
                f"sd must be at most {_MAX_CV:g} times the mean (got sd {self.sd:g}, "
                f"mean {self.mean:g})"
            )
        return self

    def model_post_init(self, context: Any, /) -> None:
        sigma2 = math.log1p((self.sd / self.mean) ** 2)
        self._mu = math.log(self.mean) - sigma2 / 2
        self._sigma = math.sqrt(sigma2)

    @property
    def log_params(self) -> tuple[float, float]:
        """(mu, sigma) of the underlying normal: numpy's ``lognormal(mu, sigma)``."""
        return self._mu, self._sigma

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        return rng.lognormal(self._mu, self._sigma, size)

    def sample_one(self, rng: np.random.Generator) -> float:
        return float(rng.lognormal(self._mu, self._sigma))


class Uniform(_Dist):
    """Uniform on [low, high]."""

    dist: Literal["uniform"] = "uniform"
    low: float = Field(ge=0)
    high: float = Field(ge=0)

    @field_validator("high")
    @classmethod
    def _not_below_low(cls, high: float, info: ValidationInfo) -> float:
        low = info.data.get("low")
        if low is not None and high < low:
            raise ValueError(f"must be at least low = {low:g} (got {high:g})")
        return high

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def sd(self) -> float:
        return (self.high - self.low) / math.sqrt(12.0)

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        return rng.uniform(self.low, self.high, size)

    def sample_one(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))


AnyDistribution = Fixed | Exponential | LogNormal | Uniform
#: the field type: a distribution table, told apart by its ``dist`` key
Distribution = Annotated[AnyDistribution, Field(discriminator="dist")]

_ADAPTER: TypeAdapter[AnyDistribution] = TypeAdapter(Distribution)


def parse_distribution(data: Any) -> AnyDistribution:
    """Validate one distribution table (raises pydantic's ValidationError)."""
    return _ADAPTER.validate_python(data)
