"""Scenario files (spec/scenario-format.md): load, validate, explain mistakes.

A key that neither the format nor the dialer defines is an error naming the
key. Every problem is reported as ``file: dotted.key: what is wrong``.

Keys the dialer adds to ``[campaign]`` (all optional):

- ``target_agent_wait_s``: the predictive pacer's second goal, a mean agent
  wait to aim at where the abandonment cap leaves room.
- ``adaptive_intensity`` (1.0), ``adaptive_max_level`` (3.0),
  ``adaptive_target`` (0.0), ``adaptive_variant`` ("hard" | "taper"): the
  settings of the ``adaptive`` comparison mode.
- ``cap_guard``: whether the core's own guard (pace as progressive while the
  abandonment is at the cap) runs. Default: on for ``predictive``, off for the
  baselines (preview, progressive, power, adaptive), so that a sweep measures
  a fixed ratio as it is. The service always runs the guard.
"""

from __future__ import annotations

import bisect
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dialer.errors import ScenarioError
from simulator.distributions import Distribution

__all__ = [
    "AgentsSpec",
    "AmdSpec",
    "CalleesSpec",
    "CampaignSpec",
    "Scenario",
    "Schedule",
    "load_scenario",
    "parse_scenario",
]


class Schedule:
    """A constant, or ``[[at_s, value], ...]`` steps starting at 0 (a step function)."""

    __slots__ = ("_times", "_values")

    def __init__(self, steps: list[tuple[float, float]]) -> None:
        self._times = [t for t, _ in steps]
        self._values = [v for _, v in steps]

    @classmethod
    def parse(cls, raw: Any, *, integer: bool = False) -> Schedule:
        if isinstance(raw, bool):
            raise ValueError("must be a number or a list of [at_s, value] steps")
        if isinstance(raw, int | float):
            return cls([(0.0, float(raw))])
        if not isinstance(raw, list) or not raw:
            raise ValueError("must be a number or a non-empty list of [at_s, value] steps")
        steps: list[tuple[float, float]] = []
        for i, step in enumerate(raw):
            if (
                not isinstance(step, list | tuple)
                or len(step) != 2
                or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in step)
            ):
                raise ValueError(f"step {i} must be [at_s, value] with two numbers")
            at, value = float(step[0]), float(step[1])
            if integer and value != int(value):
                raise ValueError(f"step {i}: value must be a whole number")
            steps.append((at, value))
        if steps[0][0] != 0.0:
            raise ValueError("schedule must start at 0")
        for (a, _), (b, _) in zip(steps, steps[1:], strict=False):
            if b <= a:
                raise ValueError("schedule step times must increase")
        return cls(steps)

    def value_at(self, t: float) -> float:
        return self._values[bisect.bisect_right(self._times, t) - 1]

    @property
    def steps(self) -> list[tuple[float, float]]:
        return list(zip(self._times, self._values, strict=True))

    @property
    def change_times(self) -> list[float]:
        return list(self._times)

    def check_range(self, low: float, high: float) -> None:
        for v in self._values:
            if not low <= v <= high:
                raise ValueError(f"must be in [{low:g}, {high:g}] (got {v:g})")

    def __repr__(self) -> str:
        if len(self._times) == 1:
            return f"Schedule({self._values[0]:g})"
        return f"Schedule({self.steps})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and self.steps == other.steps

    def __hash__(self) -> int:
        return hash(tuple(self.steps))


def _probability(raw: Any) -> Schedule:
    if isinstance(raw, Schedule):
        return raw
    sched = Schedule.parse(raw)
    sched.check_range(0.0, 1.0)
    return sched


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class AgentsSpec(_Model):
    count: Schedule
    talk_s: Distribution
    wrap_s: Distribution

    @field_validator("count", mode="before")
    @classmethod
    def _count(cls, raw: Any) -> Schedule:
        if isinstance(raw, Schedule):
            return raw
        sched = Schedule.parse(raw, integer=True)
        sched.check_range(0, 1_000_000)
        return sched


class CalleesSpec(_Model):
    human: Schedule
    machine: Schedule
    busy: Schedule
    invalid: Schedule
    answer_delay_s: Distribution
    fail_delay_s: Distribution
    machine_talk_s: Distribution

    _prob = field_validator("human", "machine", "busy", "invalid", mode="before")(
        lambda cls, raw: _probability(raw)
    )

    @model_validator(mode="after")
    def _shares(self) -> CalleesSpec:
        scheds = (self.human, self.machine, self.busy, self.invalid)
        times = sorted({t for s in scheds for t in s.change_times})
        for t in times:
            total = sum(s.value_at(t) for s in scheds)
            if total > 1.0 + 1e-9:
                raise ValueError(
                    f"human + machine + busy + invalid = {total:g} > 1 at t = {t:g} s"
                )
        return self


class AmdSpec(_Model):
    enabled: bool = False
    detect_s: float = Field(default=2.5, ge=0)
    false_positive: Schedule = Field(default_factory=lambda: Schedule([(0.0, 0.0)]))
    false_negative: Schedule = Field(default_factory=lambda: Schedule([(0.0, 0.0)]))

    _prob = field_validator("false_positive", "false_negative", mode="before")(
        lambda cls, raw: _probability(raw)
    )


class CampaignSpec(_Model):
    mode: Literal["preview", "progressive", "power", "predictive", "adaptive"]
    dial_ratio: float = Field(default=2.0, gt=0)
    max_abandon_rate: float = Field(default=0.03, ge=0, le=1)
    ring_timeout_s: float = Field(default=20.0)
    connect_deadline_s: float = Field(default=2.0, gt=0)
    leads: int = Field(gt=0)
    # The dialer's own keys (module docstring).
    target_agent_wait_s: float | None = Field(default=None, gt=0)
    adaptive_intensity: float = Field(default=1.0, gt=0)
    adaptive_max_level: float = Field(default=3.0, ge=1.0)
    adaptive_target: float = 0.0
    adaptive_variant: Literal["hard", "taper"] = "hard"
    cap_guard: bool | None = None

    @field_validator("ring_timeout_s")
    @classmethod
    def _ring(cls, v: float) -> float:
        if v < 15.0:
            raise ValueError(f"must be at least 15 (got {v:g}): unanswered calls ring 15 s")
        return v


class Scenario(_Model):
    name: str
    seed: int
    duration_s: float = Field(gt=0)
    agents: AgentsSpec
    callees: CalleesSpec
    amd: AmdSpec = Field(default_factory=AmdSpec)
    campaign: CampaignSpec

    @property
    def occupancy_limit(self) -> float:
        """E[talk] / (E[talk] + E[wrap]): agents can talk no more than this."""
        talk = self.agents.talk_s.mean
        return talk / (talk + self.agents.wrap_s.mean)

    def with_overrides(
        self,
        *,
        mode: str | None = None,
        dial_ratio: float | None = None,
        seed: int | None = None,
    ) -> Scenario:
        campaign: dict[str, Any] = {}
        if mode is not None:
            campaign["mode"] = mode
        if dial_ratio is not None:
            campaign["dial_ratio"] = dial_ratio
        data = self.model_dump(by_alias=True)
        data["campaign"].update(campaign)
        for section, keys in (("agents", ("count",)),
                              ("callees", ("human", "machine", "busy", "invalid")),
                              ("amd", ("false_positive", "false_negative"))):
            for key in keys:
                data[section][key] = getattr(getattr(self, section), key)
        if seed is not None:
            data["seed"] = seed
        return parse_scenario(data, source=f"{self.name} (overridden)")


def _loc(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if item in ("fixed", "exponential", "lognormal", "uniform"):
            continue  # the union's tag is not a key of the file
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item.startswith("function-") or item == "[key]":
            continue
        else:
            parts.append(item)
    text = ".".join(p for p in parts if not p.startswith("["))
    return text or "(top level)"


def _message(err: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        return (
            f"unknown distribution {err.get('input', {}).get('dist')!r}"
            " (use fixed, exponential, lognormal or uniform)"
        )
    if kind == "union_tag_not_found":
        return "a distribution needs a 'dist' key"
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    got = err.get("input")
    if kind in ("greater_than", "greater_than_equal", "less_than_equal", "less_than"):
        msg = msg.replace("Input should be", "must be") + f" (got {got!r})"
    elif kind.endswith("_parsing") or kind.endswith("_type"):
        msg = msg.replace("Input should be", "must be") + f" (got {got!r})"
    return msg


def parse_scenario(data: dict[str, Any], source: str = "<dict>") -> Scenario:
    """Validate a scenario given as a dict (a parsed TOML file)."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = [f"{_loc(e['loc'])}: {_message(dict(e))}" for e in exc.errors()]
        raise ScenarioError(
            f"{source}: invalid scenario:\n  " + "\n  ".join(lines),
            field=_loc(exc.errors()[0]["loc"]),
        ) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file; ScenarioError says what is wrong."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{p}: no such scenario file") from None
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p}: not valid TOML: {exc}") from None
    return parse_scenario(data, source=str(p))
