"""Scenario files (spec/scenario-format.md, version 1): load, validate, explain mistakes.

A scenario is a TOML file describing one simulated shift. ``load_scenario``
reads one; ``parse_scenario`` validates an already parsed table. Both return a
frozen :class:`Scenario` or raise :class:`dialer.errors.ScenarioError` whose
message has one line per problem, each ``SOURCE: dotted.key: what is wrong``::

    b2c.toml: campaign.ring_timeout_s: must be at least 15 (got 10)
    b2c.toml: callees.colour: unknown key
    b2c.toml: agents.count: schedule must start at 0 (first step at 60)
    b2c.toml: agents.talk_s.mean: must be > 0 (got -3)

A key that neither the format nor the dialer defines is an error naming the
key, never silently ignored. Values are checked by their TOML type: a string
where a number belongs is refused rather than converted, and so are ``inf``
and ``nan``; an integer is accepted where a float is expected.

Values that change during the shift
-----------------------------------
``agents.count``, the four callee shares and the two AMD error rates are
:class:`Schedule` values: a number, or ``[[at_s, value], ...]`` steps, the
first at 0, times strictly increasing. At every instant
human + machine + busy + invalid must not exceed 1.

Keys the dialer adds to ``[campaign]`` (all optional)
----------------------------------------------------
- ``target_agent_wait_s`` (float > 0, default none): the predictive pacer's
  second goal, a mean agent wait to aim at where the abandonment cap leaves
  room. Without it the pacer only keeps abandonment under the cap.
- ``adaptive_intensity`` (float > 0, default 1.0), ``adaptive_max_level``
  (float >= 1, default 3.0), ``adaptive_target`` (float, default 0.0) and
  ``adaptive_variant`` (``"hard"`` | ``"taper"``, default ``"hard"``): the
  settings of the ``adaptive`` comparison mode (a VICIdial-style ADAPT
  controller): how hard it reacts, the highest dial level it may reach, the
  margin it aims at below the cap, and whether it stops dead at the cap or
  eases off towards it.
- ``cap_guard`` (bool, default: on for ``predictive``, off for the baselines
  preview, progressive, power and adaptive): whether the core's own guard
  (pace as progressive while abandonment is at the cap) runs, so that a sweep
  measures a fixed ratio as it is. The service always runs the guard.

``mode`` also accepts ``adaptive``, beside the format's four modes.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, TypeGuard

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import core_schema

from dialer.errors import ScenarioError
from simulator.distributions import DIST_NAMES, Distribution

__all__ = [
    "MIN_RING_TIMEOUT_S",
    "MODES",
    "AgentsSpec",
    "AmdSpec",
    "CalleesSpec",
    "CampaignSpec",
    "CountSchedule",
    "ProbabilitySchedule",
    "Scenario",
    "Schedule",
    "load_scenario",
    "parse_scenario",
]

#: the campaign modes a scenario may name
MODES: tuple[str, ...] = ("preview", "progressive", "power", "predictive", "adaptive")
#: an unanswered attempt must ring at least this long (the format's floor)
MIN_RING_TIMEOUT_S = 15.0
# Shares are sums of decimal literals: 0.7 + 0.2 + 0.1 is 1.0000000000000002.
_SHARE_SLACK = 1e-9


def _is_number(x: object) -> TypeGuard[int | float]:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _fmt(x: object) -> str:
    """A value as a TOML reader would recognise it in a message."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        # Whole numbers as written (100000000, not 1e+08: counts are kept as floats).
        return str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:g}"
    if isinstance(x, int):
        return str(x)
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


class Schedule:
    """A step function of time: a constant, or ``[[at_s, value], ...]`` steps from 0.

    ``value_at(t)`` is the value of the last step at or before ``t`` (the first
    step's value before 0). A constant is one step at 0. Schedules compare
    equal by their steps; they are immutable.

    As a pydantic field type it accepts the TOML forms (a number, or a list of
    two-number lists) or a Schedule, and serialises back to those forms, so a
    dumped scenario parses again to an equal one. The subclasses
    :class:`ProbabilitySchedule` and :class:`CountSchedule` add range checks.
    """

    __slots__ = ("_integral", "_times", "_values")

    # Range checks of the subclasses (None: unchecked).
    _low: ClassVar[float | None] = None
    _high: ClassVar[float | None] = None
    _integer: ClassVar[bool] = False

    def __init__(self, steps: Iterable[tuple[float, float]]) -> None:
        pairs = list(steps)
        if not pairs:
            raise ValueError("a schedule needs at least one [at_s, value] step")
        times = [float(t) for t, _ in pairs]
        values = [float(v) for _, v in pairs]
        for t, v in zip(times, values, strict=True):
            if not (math.isfinite(t) and math.isfinite(v)):
                raise ValueError(f"step [{_fmt(t)}, {_fmt(v)}] must hold finite numbers")
        if times[0] != 0.0:
            raise ValueError(f"schedule must start at 0 (first step at {_fmt(times[0])})")
        for prev, cur in itertools.pairwise(times):
            if cur <= prev:
                raise ValueError(
                    "schedule step times must increase strictly"
                    f" (step at {_fmt(cur)} after step at {_fmt(prev)})"
                )
        self._times = times
        self._values = values
        # Which values were given as ints: a count must be one, and a schedule
        # of counts serialises back as ints.
        self._integral = tuple(isinstance(v, int) and not isinstance(v, bool) for _, v in pairs)
        self._check_range()

    @classmethod
    def constant(cls, value: float) -> Self:
        return cls([(0, value)])

    @classmethod
    def parse(cls, raw: object) -> Self:
        """A schedule from its TOML form; ValueError says what is wrong."""
        if isinstance(raw, Schedule):
            raw = raw.to_raw()
        if _is_number(raw):
            sched = cls([(0, raw)])
        elif isinstance(raw, list | tuple):
            if not raw:
                raise ValueError("a schedule needs at least one [at_s, value] step")
            steps: list[tuple[float, float]] = []
            for step in raw:
                if (
                    not isinstance(step, list | tuple)
                    or len(step) != 2
                    or not all(_is_number(x) for x in step)
                ):
                    raise ValueError(
                        f"each step must be [at_s, value], two numbers (got {_fmt(step)})"
                    )
                steps.append((step[0], step[1]))
            sched = cls(steps)
        else:
            raise ValueError(f"must be a number or a list of [at_s, value] steps (got {_fmt(raw)})")
        return sched

    def _check_range(self) -> None:
        cls = type(self)
        single = len(self._times) == 1
        for t, v, integral in zip(self._times, self._values, self._integral, strict=True):
            where = "" if single else f" at {_fmt(t)} s"
            if cls._integer and not integral:
                raise ValueError(f"must be an integer (got {_fmt(v)}{where})")
            low, high = cls._low, cls._high
            if low is not None and high is not None:
                if not low <= v <= high:
                    raise ValueError(
                        f"must be in [{_fmt(low)}, {_fmt(high)}] (got {_fmt(v)}{where})"
                    )
            elif low is not None and v < low:
                raise ValueError(f"must be at least {_fmt(low)} (got {_fmt(v)}{where})")
            elif high is not None and v > high:
                raise ValueError(f"must be at most {_fmt(high)} (got {_fmt(v)}{where})")

    def value_at(self, t: float) -> float:
        """The value in force at ``t`` (O(1) for a constant, O(log n) otherwise)."""
        values = self._values
        if len(values) == 1:
            return values[0]
        i = bisect.bisect_right(self._times, t) - 1
        return values[i if i > 0 else 0]

    @property
    def steps(self) -> list[tuple[float, float]]:
        """``[(at_s, value), ...]``; a constant is ``[(0.0, value)]``."""
        return list(zip(self._times, self._values, strict=True))

    @property
    def change_times(self) -> list[float]:
        """The step times, 0.0 first."""
        return list(self._times)

    @property
    def is_constant(self) -> bool:
        return len(self._times) == 1

    def to_raw(self) -> float | int | list[list[float | int]]:
        """The TOML form: a number for a constant, else ``[[at_s, value], ...]``."""

        def num(x: float, integral: bool) -> float | int:
            return int(x) if integral and x.is_integer() else x

        if len(self._times) == 1:
            return num(self._values[0], self._integral[0])
        return [
            [num(t, True), num(v, integral)]
            for t, v, integral in zip(self._times, self._values, self._integral, strict=True)
        ]

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        def validate(raw: object) -> Schedule:
            if type(raw) is cls:
                return raw
            return cls.parse(raw)

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda s: s.to_raw(), when_used="always"
            ),
        )

    def __repr__(self) -> str:
        if len(self._times) == 1:
            return f"{type(self).__name__}({_fmt(self._values[0])})"
        return f"{type(self).__name__}({self.steps})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return self._times == other._times and self._values == other._values

    def __hash__(self) -> int:
        return hash((tuple(self._times), tuple(self._values)))


class ProbabilitySchedule(Schedule):
    """A schedule of shares, each in [0, 1]."""

    __slots__ = ()
    _low = 0.0
    _high = 1.0


class CountSchedule(Schedule):
    """A schedule of whole counts from 0 to 100,000 (agents logged in)."""

    __slots__ = ()
    _low = 0.0
    # Far above any floor (the largest public scenario has 500): a count with
    # a few zeros too many would otherwise build millions of agents and take
    # the machine's memory before the first event.
    _high = 100_000.0
    _integer = True


class _Model(BaseModel):
    # Strict: see the module docstring. Frozen: a scenario is a value.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class AgentsSpec(_Model):
    count: CountSchedule
    talk_s: Distribution
    wrap_s: Distribution


class CalleesSpec(_Model):
    human: ProbabilitySchedule
    machine: ProbabilitySchedule
    busy: ProbabilitySchedule
    invalid: ProbabilitySchedule
    answer_delay_s: Distribution
    fail_delay_s: Distribution
    machine_talk_s: Distribution

    @model_validator(mode="after")
    def _shares_fit(self) -> CalleesSpec:
        names = ("human", "machine", "busy", "invalid")
        scheds = [getattr(self, n) for n in names]
        for t in sorted({t for s in scheds for t in s.change_times}):
            values = [s.value_at(t) for s in scheds]
            total = sum(values)
            if total > 1.0 + _SHARE_SLACK:
                parts = ", ".join(f"{n} {_fmt(v)}" for n, v in zip(names, values, strict=True))
                raise ValueError(
                    f"human + machine + busy + invalid = {total:.6g} > 1 at t = {_fmt(t)} s"
                    f" ({parts})"
                )
        return self


class AmdSpec(_Model):
    enabled: bool = False
    detect_s: float = Field(default=2.5, ge=0)
    false_positive: ProbabilitySchedule = Field(
        default_factory=lambda: ProbabilitySchedule.constant(0.0)
    )
    false_negative: ProbabilitySchedule = Field(
        default_factory=lambda: ProbabilitySchedule.constant(0.0)
    )


class CampaignSpec(_Model):
    mode: Literal["preview", "progressive", "power", "predictive", "adaptive"]
    # A ratio past 100 lines per ready agent means nothing for pacing, and
    # the lead supply recursed past Python's limit at 100,000.
    dial_ratio: float = Field(default=2.0, gt=0, le=100)
    max_abandon_rate: float = Field(default=0.03, ge=0, le=1)
    ring_timeout_s: float = Field(default=20.0, ge=MIN_RING_TIMEOUT_S)
    connect_deadline_s: float = Field(default=2.0, gt=0)
    leads: int = Field(gt=0)
    # The dialer's own keys (module docstring).
    target_agent_wait_s: float | None = Field(default=None, gt=0)
    adaptive_intensity: float = Field(default=1.0, gt=0)
    adaptive_max_level: float = Field(default=3.0, ge=1.0)
    adaptive_target: float = 0.0
    adaptive_variant: Literal["hard", "taper"] = "hard"
    cap_guard: bool | None = None


class Scenario(_Model):
    name: str
    seed: int = Field(ge=0)  # numpy's SeedSequence refuses negative seeds
    duration_s: float = Field(gt=0)
    agents: AgentsSpec
    callees: CalleesSpec
    amd: AmdSpec = Field(default_factory=AmdSpec)
    campaign: CampaignSpec

    @property
    def occupancy_limit(self) -> float:
        """E[talk] / (E[talk] + E[wrap]): the share of time agents can spend talking."""
        talk = self.agents.talk_s.mean
        if talk <= 0.0:
            return 0.0
        return talk / (talk + self.agents.wrap_s.mean)

    def with_overrides(
        self,
        *,
        mode: str | None = None,
        dial_ratio: float | None = None,
        seed: int | None = None,
    ) -> Scenario:
        """A validated copy with the campaign's mode or dial ratio, or the seed, replaced.

        An invalid override raises ScenarioError like a bad file would.
        """
        data = self.model_dump()
        if mode is not None:
            data["campaign"]["mode"] = mode
        if dial_ratio is not None:
            data["campaign"]["dial_ratio"] = dial_ratio
        if seed is not None:
            data["seed"] = seed
        return parse_scenario(data, source=f"{self.name} (overridden)")


# ------------------------------------------------------------------ errors


def _path(loc: Sequence[int | str]) -> str:
    """Pydantic's ``loc`` as the dotted key a file's author wrote."""
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            if parts:
                parts[-1] += f"[{item}]"
            continue
        # The union's tag (``talk_s.lognormal.mean``) is not a key of the file.
        if item in DIST_NAMES and i > 0:
            continue
        parts.append(item)
    return ".".join(parts) or "(top level)"


_BOUNDS = {
    "greater_than": ("gt", "must be > {}"),
    "greater_than_equal": ("ge", "must be at least {}"),
    "less_than": ("lt", "must be < {}"),
    "less_than_equal": ("le", "must be at most {}"),
}
_TYPES = {
    "float_type": "must be a number",
    "int_type": "must be an integer",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "finite_number": "must be a finite number",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "dict_type": "must be a table",
}
_DISTS = ", ".join(DIST_NAMES)


def _problem(err: Any) -> str:
    kind: str = err["type"]
    got = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        return f"unknown distribution {_fmt(ctx.get('tag'))} (expected one of: {_DISTS})"
    if kind == "union_tag_not_found":
        if not isinstance(got, dict):
            example = "{ dist = 'fixed', value = 8 }"
            return f"must be a distribution table such as {example} (got {_fmt(got)})"
        return f"a distribution needs a 'dist' key (one of: {_DISTS})"
    if kind in _BOUNDS:
        key, text = _BOUNDS[kind]
        return text.format(_fmt(ctx.get(key))) + f" (got {_fmt(got)})"
    if kind in _TYPES:
        return f"{_TYPES[kind]} (got {_fmt(got)})"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '?')} (got {_fmt(got)})"
    msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return msg.replace("Input should be", "must be")


def _scenario_error(source: str, exc: ValidationError) -> ScenarioError:
    errors = exc.errors(include_url=False)
    lines = [f"{source}: {_path(e['loc'])}: {_problem(e)}" for e in errors]
    return ScenarioError("\n".join(lines), field=_path(errors[0]["loc"]) if errors else None)


def parse_scenario(data: dict[str, Any], source: str = "<dict>") -> Scenario:
    """Validate a scenario given as a table (a parsed TOML file).

    ``source`` names where it came from in error messages.
    """
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise _scenario_error(source, exc) from None


_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file; ScenarioError says what is wrong."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(f"{p}: no such scenario file") from None
    except IsADirectoryError:
        raise ScenarioError(f"{p}: is a directory, not a scenario file") from None
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read: {exc.strerror or exc}") from None
    try:
        # utf-8-sig: Windows editors put a byte-order mark before the text.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _TOML_WHERE.search(msg)
        if m:
            where = f"line {m.group(1)}, column {m.group(2)}"
            msg = msg[: m.start()]
        else:
            lines = text.count("\n") + (0 if text.endswith("\n") else 1)
            where = f"line {max(lines, 1)} (end of file)"
            msg = msg.replace(" (at end of document)", "")
        raise ScenarioError(f"{p}: {where}: TOML syntax error: {msg}") from None
    return parse_scenario(data, source=str(p))
