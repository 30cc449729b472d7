"""The scenario format's four distributions, drawn from a seeded numpy Generator.

``{dist = "lognormal", mean, sd}`` gives the mean and sd of the distribution
itself; the log's parameters follow from sigma^2 = ln(1 + sd^2 / mean^2) and
mu = ln(mean) - sigma^2 / 2.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

__all__ = [
    "Distribution",
    "Exponential",
    "Fixed",
    "LogNormal",
    "Uniform",
    "parse_distribution",
]

FloatArray = npt.NDArray[np.float64]


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @property
    def mean(self) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:  # pragma: no cover
        raise NotImplementedError

    def sample_one(self, rng: np.random.Generator) -> float:
        return float(self.sample(rng, 1)[0])


class Fixed(_Dist):
    dist: Literal["fixed"]
    value: float = Field(ge=0)

    @property
    def mean(self) -> float:
        return self.value

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        return np.full(size, self.value, dtype=np.float64)


class Exponential(_Dist):
    dist: Literal["exponential"]
    mean_: float = Field(alias="mean", gt=0)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def mean(self) -> float:
        return self.mean_

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        return rng.exponential(self.mean_, size)


class LogNormal(_Dist):
    dist: Literal["lognormal"]
    mean_: float = Field(alias="mean", gt=0)
    sd: float = Field(ge=0)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def log_params(self) -> tuple[float, float]:
        sigma2 = math.log1p((self.sd / self.mean_) ** 2)
        return math.log(self.mean_) - sigma2 / 2, math.sqrt(sigma2)

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        mu, sigma = self.log_params
        return rng.lognormal(mu, sigma, size)


class Uniform(_Dist):
    dist: Literal["uniform"]
    low: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("high must be >= low")
        return self

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        return rng.uniform(self.low, self.high, size)


Distribution = Annotated[Fixed | Exponential | LogNormal | Uniform, Field(discriminator="dist")]
_ADAPTER: TypeAdapter[Fixed | Exponential | LogNormal | Uniform] = TypeAdapter(Distribution)


def parse_distribution(data: dict[str, Any]) -> Fixed | Exponential | LogNormal | Uniform:
    return _ADAPTER.validate_python(data)
