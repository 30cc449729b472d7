"""The four distributions: their moments, their draws, their validation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from simulator.distributions import (
    AnyDistribution,
    Exponential,
    Fixed,
    LogNormal,
    Uniform,
    parse_distribution,
)

N = 400_000

CASES: list[dict[str, Any]] = [
    {"dist": "fixed", "value": 8.0},
    {"dist": "exponential", "mean": 15.0},
    {"dist": "lognormal", "mean": 180.0, "sd": 120.0},
    {"dist": "lognormal", "mean": 300.0, "sd": 300.0},
    {"dist": "lognormal", "mean": 8.0, "sd": 0.0},
    {"dist": "uniform", "low": 1.0, "high": 4.0},
    {"dist": "uniform", "low": 2.0, "high": 2.0},
]


def _id(case: dict[str, Any]) -> str:
    return "-".join(str(v) for v in case.values())


@pytest.fixture(params=CASES, ids=_id)
def dist(request: pytest.FixtureRequest) -> AnyDistribution:
    return parse_distribution(request.param)


def test_parse_picks_the_class_by_its_dist_tag() -> None:
    kinds = [type(parse_distribution(c)) for c in CASES]
    assert kinds == [Fixed, Exponential, LogNormal, LogNormal, LogNormal, Uniform, Uniform]


def test_true_means_and_sds() -> None:
    assert Fixed(value=8.0).mean == 8.0
    assert Fixed(value=8.0).sd == 0.0
    assert Exponential(mean=15.0).mean == 15.0
    assert Exponential(mean=15.0).sd == 15.0
    assert LogNormal(mean=180.0, sd=120.0).mean == 180.0
    assert LogNormal(mean=180.0, sd=120.0).sd == 120.0
    assert Uniform(low=1.0, high=4.0).mean == 2.5
    assert Uniform(low=1.0, high=4.0).sd == pytest.approx(3.0 / math.sqrt(12.0))


def test_sample_mean_and_sd_match_the_distribution(dist: AnyDistribution) -> None:
    x = dist.sample(np.random.default_rng(20240601), N)
    # Five standard errors: a deterministic seed, but a tolerance that would
    # hold for almost any seed, so the test checks the maths, not the luck.
    tol = 5 * dist.sd / math.sqrt(N) + 1e-12
    assert abs(float(x.mean()) - dist.mean) <= tol
    assert float(x.std()) == pytest.approx(dist.sd, rel=0.05, abs=1e-12)


def test_lognormal_takes_the_moments_of_the_distribution_not_of_its_log() -> None:
    d = LogNormal(mean=180.0, sd=120.0)
    sigma2 = math.log(1 + (120.0 / 180.0) ** 2)
    mu, sigma = d.log_params
    assert sigma == pytest.approx(math.sqrt(sigma2))
    assert mu == pytest.approx(math.log(180.0) - sigma2 / 2)
    logs = np.log(d.sample(np.random.default_rng(3), N))
    assert float(logs.mean()) == pytest.approx(mu, abs=5 * sigma / math.sqrt(N))
    assert float(logs.std()) == pytest.approx(sigma, rel=0.01)
    x = d.sample(np.random.default_rng(4), N)
    assert float(x.std()) == pytest.approx(120.0, rel=0.02)


@given(
    mean=st.floats(min_value=1e-3, max_value=1e5),
    cv=st.floats(min_value=0.0, max_value=5.0),
)
def test_lognormal_log_params_give_back_the_mean_and_sd(mean: float, cv: float) -> None:
    d = LogNormal(mean=mean, sd=mean * cv)
    mu, sigma = d.log_params
    assert math.exp(mu + sigma**2 / 2) == pytest.approx(mean, rel=1e-9)
    sd = math.sqrt(math.expm1(sigma**2)) * math.exp(mu + sigma**2 / 2)
    assert sd == pytest.approx(mean * cv, rel=1e-9, abs=1e-12)


def test_samples_are_float64_arrays_of_the_size_asked(dist: AnyDistribution) -> None:
    rng = np.random.default_rng(1)
    for size in (0, 1, 4096):
        x = dist.sample(rng, size)
        assert isinstance(x, np.ndarray)
        assert x.dtype == np.float64
        assert x.shape == (size,)
    assert isinstance(dist.sample_one(rng), float)


def test_samples_stay_in_the_support(dist: AnyDistribution) -> None:
    x = dist.sample(np.random.default_rng(2), 50_000)
    assert np.all(x >= 0.0)
    if isinstance(dist, Uniform):
        assert np.all((x >= dist.low) & (x <= dist.high))
    if isinstance(dist, Fixed):
        assert np.all(x == dist.value)


def test_same_seed_same_draws_another_seed_other_draws(dist: AnyDistribution) -> None:
    a = dist.sample(np.random.default_rng(7), 1000)
    b = dist.sample(np.random.default_rng(7), 1000)
    assert np.array_equal(a, b)
    c = dist.sample(np.random.default_rng(8), 1000)
    if dist.sd > 0:
        assert not np.array_equal(a, c)


def test_sample_one_draws_what_sample_of_one_draws(dist: AnyDistribution) -> None:
    one, block = np.random.default_rng(11), np.random.default_rng(11)
    for _ in range(5):
        assert dist.sample_one(one) == float(dist.sample(block, 1)[0])


def test_blocks_continue_the_stream() -> None:
    """Drawing 2 x 500 gives the 1000 values one block of 1000 gives."""
    d = Exponential(mean=15.0)
    rng = np.random.default_rng(5)
    halves = np.concatenate([d.sample(rng, 500), d.sample(rng, 500)])
    assert np.array_equal(halves, d.sample(np.random.default_rng(5), 1000))


@pytest.mark.parametrize(
    ("data", "where", "what"),
    [
        ({"dist": "fixed", "value": -1.0}, "value", "greater than or equal to 0"),
        ({"dist": "exponential", "mean": 0.0}, "mean", "greater than 0"),
        ({"dist": "exponential", "mean": -2.0}, "mean", "greater than 0"),
        ({"dist": "lognormal", "mean": -1.0, "sd": 1.0}, "mean", "greater than 0"),
        ({"dist": "lognormal", "mean": 1.0, "sd": -1.0}, "sd", "greater than or equal to 0"),
        ({"dist": "lognormal", "mean": 1.0}, "sd", "Field required"),
        ({"dist": "uniform", "low": -1.0, "high": 1.0}, "low", "greater than or equal to 0"),
        ({"dist": "uniform", "low": 3.0, "high": 1.0}, "high", "must be at least low"),
        ({"dist": "exponential", "mean": 1.0, "sd": 2.0}, "sd", "Extra inputs"),
        ({"dist": "exponential", "mean": "15"}, "mean", "valid number"),
        ({"dist": "exponential", "mean": float("inf")}, "mean", "finite"),
        ({"dist": "gamma", "mean": 1.0}, "", "does not match any of the expected tags"),
        ({"mean": 1.0}, "", "Unable to extract tag"),
    ],
)
def test_invalid_distributions_are_refused(data: dict[str, Any], where: str, what: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_distribution(data)
    err = info.value.errors()[0]
    assert what in err["msg"]
    if where:
        assert err["loc"][-1] == where


def test_distributions_are_frozen_values() -> None:
    d = Exponential(mean=15.0)
    with pytest.raises(ValidationError):
        d.mean = 3.0
    assert d == parse_distribution({"dist": "exponential", "mean": 15})
    assert d.model_dump() == {"dist": "exponential", "mean": 15.0}
    assert parse_distribution(LogNormal(mean=2.0, sd=1.0).model_dump()) == LogNormal(
        mean=2.0, sd=1.0
    )
