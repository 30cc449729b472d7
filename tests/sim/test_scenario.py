"""Scenario files: the public ones load, every mistake is refused by name."""

from __future__ import annotations

import copy
import itertools
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.errors import InvalidInput, ScenarioError
from simulator.distributions import Exponential, Fixed, LogNormal, Uniform
from simulator.scenario import (
    CountSchedule,
    ProbabilitySchedule,
    Scenario,
    Schedule,
    load_scenario,
    parse_scenario,
)

# /work/shared/spec/scenarios, beside the repository.
SCENARIOS = Path(__file__).resolve().parents[3] / "shared" / "spec" / "scenarios"
PUBLIC = ("b2c-100", "collections-50", "large-500", "shifting-day-40", "small-team-10")

needs_public = pytest.mark.skipif(
    not SCENARIOS.is_dir(), reason=f"the shared spec's scenarios are not at {SCENARIOS}"
)


def minimal() -> dict[str, Any]:
    return {
        "name": "unit",
        "seed": 7,
        "duration_s": 3600,
        "agents": {
            "count": 10,
            "talk_s": {"dist": "lognormal", "mean": 180.0, "sd": 120.0},
            "wrap_s": {"dist": "exponential", "mean": 15.0},
        },
        "callees": {
            "human": 0.25,
            "machine": 0.15,
            "busy": 0.05,
            "invalid": 0.05,
            "answer_delay_s": {"dist": "lognormal", "mean": 8.0, "sd": 4.0},
            "fail_delay_s": {"dist": "uniform", "low": 1.0, "high": 4.0},
            "machine_talk_s": {"dist": "fixed", "value": 8.0},
        },
        "campaign": {"mode": "predictive", "leads": 1000},
    }


def refused(data: dict[str, Any], source: str = "bad.toml") -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, source=source)
    return info.value


# ------------------------------------------------------------ public files


@needs_public
@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_scenario_loads(name: str) -> None:
    sc = load_scenario(SCENARIOS / f"{name}.toml")
    assert sc.name == name
    assert sc.campaign.mode == "predictive"
    assert 0.0 < sc.occupancy_limit < 1.0
    # A loaded scenario dumps to plain data that parses back to an equal one.
    assert parse_scenario(sc.model_dump()) == sc


@needs_public
def test_the_public_directory_holds_exactly_the_known_files() -> None:
    assert sorted(p.stem for p in SCENARIOS.glob("*.toml")) == sorted(PUBLIC)


@needs_public
def test_b2c_100_reads_as_written() -> None:
    sc = load_scenario(str(SCENARIOS / "b2c-100.toml"))
    assert sc.seed == 37
    assert sc.duration_s == 28800.0
    assert sc.agents.count.value_at(0) == 100
    assert sc.agents.talk_s == LogNormal(mean=150.0, sd=110.0)
    assert sc.agents.wrap_s == Exponential(mean=15.0)
    assert sc.callees.fail_delay_s == Uniform(low=1.0, high=4.0)
    assert sc.callees.machine_talk_s == Fixed(value=8.0)
    assert sc.callees.human.value_at(12345.0) == 0.25
    assert sc.campaign.leads == 1_000_000
    assert sc.campaign.dial_ratio == 2.0  # default
    assert sc.amd.enabled is False  # no [amd] table
    assert sc.occupancy_limit == pytest.approx(150.0 / 165.0)


@needs_public
def test_shifting_day_schedules_change_when_the_file_says() -> None:
    sc = load_scenario(SCENARIOS / "shifting-day-40.toml")
    count = sc.agents.count
    assert [count.value_at(t) for t in (0, 10799.9, 10800, 14400, 30000)] == [40, 40, 25, 40, 30]
    human = sc.callees.human
    assert human.steps == [(0.0, 0.30), (7200.0, 0.18), (18000.0, 0.10), (27000.0, 0.22)]
    assert sc.callees.machine.change_times == [0.0, 18000.0]
    assert sc.callees.busy.steps == [(0.0, 0.05)]


@needs_public
def test_small_team_has_amd() -> None:
    amd = load_scenario(SCENARIOS / "small-team-10.toml").amd
    assert amd.enabled is True
    assert amd.detect_s == 2.5
    assert amd.false_positive.value_at(0) == 0.01
    assert amd.false_negative.value_at(0) == 0.10


# ---------------------------------------------------------------- defaults


def test_defaults_of_the_optional_keys() -> None:
    sc = parse_scenario(minimal())
    assert sc.amd.enabled is False
    assert sc.amd.detect_s == 2.5
    assert sc.amd.false_positive.value_at(0) == 0.0
    assert sc.amd.false_negative.value_at(0) == 0.0
    c = sc.campaign
    assert (c.dial_ratio, c.max_abandon_rate, c.ring_timeout_s, c.connect_deadline_s) == (
        2.0,
        0.03,
        20.0,
        2.0,
    )
    assert c.target_agent_wait_s is None
    assert (c.adaptive_intensity, c.adaptive_max_level, c.adaptive_target) == (1.0, 3.0, 0.0)
    assert c.adaptive_variant == "hard"
    assert c.cap_guard is None


def test_the_dialers_own_campaign_keys_are_accepted() -> None:
    data = minimal()
    data["campaign"].update(
        mode="adaptive",
        target_agent_wait_s=12.5,
        adaptive_intensity=2.0,
        adaptive_max_level=4.0,
        adaptive_target=-0.005,
        adaptive_variant="taper",
        cap_guard=True,
    )
    c = parse_scenario(data).campaign
    assert c.mode == "adaptive"
    assert c.target_agent_wait_s == 12.5
    assert c.adaptive_variant == "taper"
    assert c.cap_guard is True


def test_integers_are_accepted_where_floats_are_expected() -> None:
    data = minimal()
    data["campaign"]["ring_timeout_s"] = 15
    data["agents"]["talk_s"] = {"dist": "exponential", "mean": 100}
    sc = parse_scenario(data)
    assert sc.campaign.ring_timeout_s == 15.0
    assert isinstance(sc.duration_s, float)


def test_occupancy_limit_is_talk_over_talk_plus_wrap() -> None:
    data = minimal()
    data["agents"]["talk_s"] = {"dist": "uniform", "low": 100.0, "high": 140.0}
    data["agents"]["wrap_s"] = {"dist": "fixed", "value": 30.0}
    assert parse_scenario(data).occupancy_limit == pytest.approx(120.0 / 150.0)


def test_shares_may_sum_to_exactly_one() -> None:
    data = minimal()
    data["callees"].update(human=0.7, machine=0.2, busy=0.1, invalid=0.0)
    parse_scenario(data)  # 0.7 + 0.2 + 0.1 is 1.0000000000000002 in floats


# ---------------------------------------------------------------- overrides


def test_with_overrides_returns_a_validated_copy() -> None:
    sc = parse_scenario(minimal())
    power = sc.with_overrides(mode="power", dial_ratio=2.5, seed=99)
    assert (power.campaign.mode, power.campaign.dial_ratio, power.seed) == ("power", 2.5, 99)
    assert sc.campaign.mode == "predictive"
    assert sc.seed == 7
    assert power.agents == sc.agents
    assert power.callees == sc.callees
    assert sc.with_overrides() == sc


def test_with_overrides_keeps_schedules() -> None:
    data = minimal()
    data["agents"]["count"] = [[0, 10], [1800, 4]]
    data["callees"]["human"] = [[0, 0.3], [900, 0.1]]
    sc = parse_scenario(data).with_overrides(seed=1)
    assert sc.agents.count.steps == [(0.0, 10.0), (1800.0, 4.0)]
    assert sc.callees.human.value_at(1000) == 0.1


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"mode": "turbo"}, "campaign.mode"),
        ({"dial_ratio": 0.0}, "campaign.dial_ratio"),
        ({"seed": -1}, "seed"),
    ],
)
def test_invalid_overrides_are_refused(kwargs: dict[str, Any], key: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(minimal()).with_overrides(**kwargs)
    assert info.value.field == key
    assert f"{key}: " in str(info.value)


def test_scenarios_are_frozen() -> None:
    sc = parse_scenario(minimal())
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        sc.seed = 3


# ------------------------------------------------------------ bad scenarios

Mutation = Callable[[dict[str, Any]], Any]


def _set(section: str | None, **values: Any) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        (d if section is None else d[section]).update(values)

    return mutate


def _drop(section: str | None, key: str) -> Mutation:
    return lambda d: (d if section is None else d[section]).pop(key)


BAD: list[tuple[str, Mutation, str, str]] = [
    # (id, mutation, the key the message names, what it says)
    ("unknown top-level key", _set(None, colour="red"), "colour", "unknown key"),
    ("unknown table", _set(None, extras={"a": 1}), "extras", "unknown key"),
    ("unknown nested key", _set("callees", colour="red"), "callees.colour", "unknown key"),
    (
        "unknown campaign key",
        _set("campaign", dial_raito=2.0),
        "campaign.dial_raito",
        "unknown key",
    ),
    (
        "unknown key in a distribution",
        _set("agents", wrap_s={"dist": "exponential", "mean": 15.0, "sd": 3.0}),
        "agents.wrap_s.sd",
        "unknown key",
    ),
    (
        "shares over 1",
        _set("callees", human=0.7, machine=0.3),
        "callees",
        "human + machine + busy + invalid = 1.1 > 1 at t = 0 s",
    ),
    (
        "ring timeout under 15",
        _set("campaign", ring_timeout_s=10),
        "campaign.ring_timeout_s",
        "must be at least 15 (got 10)",
    ),
    (
        "negative mean",
        _set("agents", talk_s={"dist": "lognormal", "mean": -3.0, "sd": 1.0}),
        "agents.talk_s.mean",
        "must be > 0 (got -3)",
    ),
    (
        "zero exponential mean",
        _set("agents", wrap_s={"dist": "exponential", "mean": 0}),
        "agents.wrap_s.mean",
        "must be > 0 (got 0)",
    ),
    (
        # A few zeros too many built 10^8 agents before the first event.
        "agent count beyond any floor",
        _set("agents", count=100_000_000),
        "agents.count",
        "must be in [0, 100000] (got 100000000)",
    ),
    (
        "agent schedule step beyond any floor",
        _set("agents", count=[[0, 50], [3600, 5_000_000]]),
        "agents.count",
        "(got 5000000 at 3600 s)",
    ),
    (
        "negative sd",
        _set("callees", answer_delay_s={"dist": "lognormal", "mean": 8.0, "sd": -4.0}),
        "callees.answer_delay_s.sd",
        "must be at least 0 (got -4)",
    ),
    (
        "negative fixed value",
        _set("callees", machine_talk_s={"dist": "fixed", "value": -1}),
        "callees.machine_talk_s.value",
        "must be at least 0",
    ),
    (
        "uniform high under low",
        _set("callees", fail_delay_s={"dist": "uniform", "low": 4.0, "high": 1.0}),
        "callees.fail_delay_s.high",
        "must be at least low",
    ),
    (
        "schedule not starting at 0",
        _set("agents", count=[[60, 10], [120, 5]]),
        "agents.count",
        "schedule must start at 0",
    ),
    (
        "schedule not increasing",
        _set("callees", human=[[0, 0.2], [600, 0.1], [300, 0.3]]),
        "callees.human",
        "must increase strictly",
    ),
    (
        "schedule with a repeated time",
        _set("agents", count=[[0, 10], [0, 5]]),
        "agents.count",
        "must increase strictly",
    ),
    ("empty schedule", _set("agents", count=[]), "agents.count", "at least one"),
    (
        "malformed step",
        _set("agents", count=[[0, 10, 3]]),
        "agents.count",
        "each step must be [at_s, value]",
    ),
    ("share over 1", _set("callees", human=1.5), "callees.human", "must be in [0, 1] (got 1.5)"),
    ("negative share", _set("callees", busy=-0.1), "callees.busy", "must be in [0, 1]"),
    (
        "share over 1 in a schedule",
        _set("callees", human=[[0, 0.2], [3600, 1.2]]),
        "callees.human",
        "(got 1.2 at 3600 s)",
    ),
    (
        "amd share over 1",
        _set(None, amd={"enabled": True, "false_negative": 2}),
        "amd.false_negative",
        "must be in [0, 1]",
    ),
    (
        "negative agent count",
        _set("agents", count=-1),
        "agents.count",
        "must be in [0, 100000] (got -1)",
    ),
    (
        "fractional agent count",
        _set("agents", count=[[0, 10], [60, 2.5]]),
        "agents.count",
        "must be an integer (got 2.5 at 60 s)",
    ),
    ("missing name", _drop(None, "name"), "name", "required key is missing"),
    ("missing seed", _drop(None, "seed"), "seed", "required key is missing"),
    ("missing duration", _drop(None, "duration_s"), "duration_s", "required key is missing"),
    ("missing table", _drop(None, "callees"), "callees", "required key is missing"),
    ("missing leads", _drop("campaign", "leads"), "campaign.leads", "required key is missing"),
    (
        "missing distribution key",
        _set("agents", talk_s={"dist": "lognormal", "mean": 180.0}),
        "agents.talk_s.sd",
        "required key is missing",
    ),
    (
        "string for a number",
        _set(None, duration_s="28800"),
        "duration_s",
        "must be a number (got '28800')",
    ),
    ("string for an integer", _set(None, seed="7"), "seed", "must be an integer"),
    (
        "string for a share",
        _set("callees", human="0.25"),
        "callees.human",
        "must be a number or a list",
    ),
    (
        "string in a distribution",
        _set("agents", wrap_s={"dist": "exponential", "mean": "15"}),
        "agents.wrap_s.mean",
        "must be a number",
    ),
    ("boolean for a number", _set("campaign", leads=True), "campaign.leads", "must be an integer"),
    ("float for an integer", _set("campaign", leads=1.5), "campaign.leads", "must be an integer"),
    ("number for a string", _set(None, name=42), "name", "must be a string"),
    ("number for a table", _set(None, agents=5), "agents", "must be a table"),
    ("infinite duration", _set(None, duration_s=float("inf")), "duration_s", "finite"),
    ("zero duration", _set(None, duration_s=0), "duration_s", "must be > 0"),
    ("negative seed", _set(None, seed=-1), "seed", "must be at least 0"),
    (
        "bad dist name",
        _set("agents", talk_s={"dist": "gamma", "mean": 3.0}),
        "agents.talk_s",
        "unknown distribution 'gamma'",
    ),
    ("dist missing", _set("agents", talk_s={"mean": 3.0}), "agents.talk_s", "needs a 'dist' key"),
    ("number for a distribution", _set("agents", talk_s=180.0), "agents.talk_s", "must be a"),
    ("bad mode", _set("campaign", mode="turbo"), "campaign.mode", "must be one of"),
    (
        "bad adaptive variant",
        _set("campaign", adaptive_variant="soft"),
        "campaign.adaptive_variant",
        "must be one of",
    ),
    (
        "abandon cap over 1",
        _set("campaign", max_abandon_rate=1.5),
        "campaign.max_abandon_rate",
        "must be at most 1",
    ),
    ("zero dial ratio", _set("campaign", dial_ratio=0), "campaign.dial_ratio", "must be > 0"),
    (
        "zero connect deadline",
        _set("campaign", connect_deadline_s=0),
        "campaign.connect_deadline_s",
        "must be > 0",
    ),
    ("zero leads", _set("campaign", leads=0), "campaign.leads", "must be > 0"),
    (
        "negative detect time",
        _set(None, amd={"detect_s": -1.0}),
        "amd.detect_s",
        "must be at least 0",
    ),
    (
        "non-boolean amd switch",
        _set(None, amd={"enabled": "yes"}),
        "amd.enabled",
        "must be true or false",
    ),
    (
        "zero target wait",
        _set("campaign", target_agent_wait_s=0),
        "campaign.target_agent_wait_s",
        "must be > 0",
    ),
]


@pytest.mark.parametrize(("mutate", "key", "what"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_scenarios_are_refused_by_key(mutate: Mutation, key: str, what: str) -> None:
    data = minimal()
    mutate(data)
    err = refused(data)
    assert isinstance(err, InvalidInput)
    assert err.field == key
    first = str(err).splitlines()[0]
    assert first.startswith(f"bad.toml: {key}: ")
    assert what in first


def test_shares_over_1_through_schedules_name_the_instant() -> None:
    data = minimal()
    # Fine at 0 (0.5) and until 7200; at 7200 the machine share rises while
    # human is still 0.6: 0.6 + 0.3 + 0.05 + 0.05 = 1.0; at 9000 busy rises too.
    data["callees"].update(
        human=[[0, 0.3], [3600, 0.6]],
        machine=[[0, 0.1], [7200, 0.3]],
        busy=[[0, 0.05], [9000, 0.1]],
    )
    err = refused(data)
    assert err.field == "callees"
    msg = str(err)
    assert "human + machine + busy + invalid" in msg
    assert "at t = 9000 s" in msg
    assert "human 0.6, machine 0.3, busy 0.1, invalid 0.05" in msg


def test_every_problem_gets_its_own_line() -> None:
    data = minimal()
    data["colour"] = "red"
    data["campaign"]["ring_timeout_s"] = 10
    data["agents"]["talk_s"]["mean"] = -1.0
    lines = str(refused(data)).splitlines()
    assert lines == [
        "bad.toml: agents.talk_s.mean: must be > 0 (got -1)",
        "bad.toml: campaign.ring_timeout_s: must be at least 15 (got 10)",
        "bad.toml: colour: unknown key",
    ]


def test_parse_names_its_source() -> None:
    data = minimal()
    del data["seed"]
    assert str(refused(data, source="<dict>")).startswith("<dict>: seed: ")


def test_a_non_table_is_refused() -> None:
    with pytest.raises(ScenarioError, match="must be a table"):
        parse_scenario([1, 2])  # type: ignore[arg-type]


# -------------------------------------------------------------------- files


def _toml(data: dict[str, Any]) -> str:
    """Just enough TOML for the minimal scenario and its variations."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]"] + [f"{kk} = {value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def test_a_written_file_loads_and_matches_its_dict(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(_toml(minimal()))
    assert load_scenario(path) == parse_scenario(minimal())


def test_file_errors_name_the_file_and_the_key(tmp_path: Path) -> None:
    data = minimal()
    data["callees"]["colour"] = 3
    path = tmp_path / "colour.toml"
    path.write_text(_toml(data))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}: callees.colour: unknown key"
    assert info.value.field == "callees.colour"


def test_toml_syntax_error_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\nseed = 1\nduration_s = = 3\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: line 3")
    assert "TOML syntax error" in msg


def test_toml_error_at_the_end_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "unterminated.toml"
    path.write_text('name = "x\n')
    with pytest.raises(ScenarioError, match=r"line \d+.*TOML syntax error"):
        load_scenario(path)


def test_a_duplicate_key_is_a_toml_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.toml"
    path.write_text('name = "a"\nname = "b"\n')
    with pytest.raises(ScenarioError, match="line 2"):
        load_scenario(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(path) in str(info.value)
    assert "no such scenario file" in str(info.value)


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="directory"):
        load_scenario(tmp_path)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ScenarioError, match="UTF-8"):
        load_scenario(path)


# ---------------------------------------------------------------- schedules


def test_value_at_steps_and_between() -> None:
    s = Schedule.parse([[0, 0.30], [10800, 0.18], [21600, 0.25]])
    assert s.value_at(0) == 0.30
    assert s.value_at(5000) == 0.30
    assert s.value_at(10799.999) == 0.30
    assert s.value_at(10800) == 0.18
    assert s.value_at(15000.5) == 0.18
    assert s.value_at(21600) == 0.25
    assert s.value_at(1e9) == 0.25
    assert s.value_at(-5) == 0.30  # before the shift: the first step
    assert s.steps == [(0.0, 0.30), (10800.0, 0.18), (21600.0, 0.25)]
    assert s.change_times == [0.0, 10800.0, 21600.0]
    assert not s.is_constant


def test_a_constant_is_one_step_at_0() -> None:
    s = Schedule.parse(0.25)
    assert s.steps == [(0.0, 0.25)]
    assert s.change_times == [0.0]
    assert s.is_constant
    assert s.value_at(0) == s.value_at(99999) == 0.25
    assert s == Schedule.constant(0.25) == Schedule.parse([[0, 0.25]])
    assert s.to_raw() == 0.25


def test_counts_serialise_as_integers() -> None:
    s = CountSchedule.parse([[0, 40], [10800, 25]])
    assert s.to_raw() == [[0, 40], [10800, 25]]
    assert all(isinstance(v, int) for step in s.to_raw() for v in step)  # type: ignore[union-attr]
    assert CountSchedule.parse(12).to_raw() == 12
    assert isinstance(s.value_at(0), float)


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        ([[5, 1.0]], "must start at 0"),
        ([[0, 1.0], [10, 2.0], [10, 3.0]], "increase strictly"),
        ([[0, 1.0], [10, 2.0], [5, 3.0]], "increase strictly"),
        ([], "at least one"),
        ([[0]], "each step"),
        ([[0, "a"]], "each step"),
        ([[0, True]], "each step"),
        ("0.5", "must be a number or a list"),
        (True, "must be a number or a list"),
        ([[0, 1.0], [float("inf"), 2.0]], "finite"),
        (float("nan"), "finite"),
    ],
)
def test_malformed_schedules(raw: Any, what: str) -> None:
    with pytest.raises(ValueError, match=what.replace("[", r"\[")):
        Schedule.parse(raw)


def test_range_checks_of_the_subclasses() -> None:
    with pytest.raises(ValueError, match=r"must be in \[0, 1\] \(got 1.1 at 60 s\)"):
        ProbabilitySchedule.parse([[0, 0.5], [60, 1.1]])
    with pytest.raises(ValueError, match="must be an integer"):
        CountSchedule.parse(2.0)
    with pytest.raises(ValueError, match=r"must be in \[0, 100000\] \(got -1 at 60 s\)"):
        CountSchedule.parse([[0, 3], [60, -1]])
    assert ProbabilitySchedule.parse(Schedule.parse(0.5)) == Schedule.parse(0.5)
    with pytest.raises(ValueError, match="must be in"):
        ProbabilitySchedule.parse(Schedule.parse(2.0))


_steps = st.lists(
    st.tuples(
        st.floats(min_value=0.001, max_value=1e6, allow_nan=False),
        st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
    ),
    max_size=20,
).map(lambda gaps: [(sum(g for g, _ in gaps[: i + 1]), v) for i, (_, v) in enumerate(gaps)])


@given(first=st.floats(0.0, 1.0), rest=_steps, probes=st.lists(st.floats(-10.0, 3e7), max_size=30))
def test_value_at_agrees_with_a_linear_scan(
    first: float, rest: list[tuple[float, float]], probes: list[float]
) -> None:
    steps = [(0.0, first)] + [(t, v) for t, v in rest]
    times = [t for t, _ in steps]
    if any(b <= a for a, b in itertools.pairwise(times)):
        return  # float sums can tie: not a valid schedule
    s = ProbabilitySchedule.parse([[t, v] for t, v in steps])
    assert s.steps == steps
    assert s.change_times == times
    for t in probes + times:
        expected = steps[0][1]
        for at, v in steps:
            if at <= t:
                expected = v
        assert s.value_at(t) == expected
    # The TOML form round-trips.
    assert ProbabilitySchedule.parse(s.to_raw()) == s
    assert hash(ProbabilitySchedule.parse(s.to_raw())) == hash(s)


@given(
    shares=st.lists(st.lists(st.floats(0.0, 0.5), min_size=4, max_size=4), min_size=1, max_size=4)
)
def test_share_check_matches_the_sum_at_every_step(shares: list[list[float]]) -> None:
    data = minimal()
    names = ("human", "machine", "busy", "invalid")
    for j, name in enumerate(names):
        data["callees"][name] = [[i * 600, row[j]] for i, row in enumerate(shares)]
    too_much = [i for i, row in enumerate(shares) if sum(row) > 1.0 + 1e-9]
    if too_much:
        err = refused(copy.deepcopy(data))
        assert f"at t = {too_much[0] * 600} s" in str(err)
    else:
        sc = parse_scenario(data)
        assert sc.callees.human.value_at(600 * (len(shares) - 1)) == shares[-1][0]


def test_the_toml_example_of_the_spec_parses() -> None:
    spec = SCENARIOS.parent / "scenario-format.md"
    if not spec.is_file():
        pytest.skip(f"the shared spec is not at {spec}")
    text = spec.read_text()
    block = text.split("```toml", 1)[1].split("```", 1)[0]
    sc = parse_scenario(tomllib.loads(block), source=str(spec))
    assert isinstance(sc, Scenario)
    assert sc.amd.enabled is True
    assert sc.campaign.leads == 200000


def test_constructing_a_checked_schedule_checks_it() -> None:
    with pytest.raises(ValueError, match="must be in"):
        ProbabilitySchedule([(0.0, 0.5), (60.0, 1.5)])
    with pytest.raises(ValueError, match="must start at 0"):
        Schedule([(1.0, 0.5)])
    assert ProbabilitySchedule.constant(0.2).value_at(5) == 0.2
