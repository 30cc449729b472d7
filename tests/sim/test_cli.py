"""``dialer simulate`` and ``dialer sweep`` as a user runs them: output, files, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dialer.cli import EXIT_BAD_INPUT, app
from simulator.sweep import parse_ratios

SHORT = """
name = "cli-short"
seed = 5
duration_s = 1800
[agents]
count = 6
talk_s = { dist = "exponential", mean = 60.0 }
wrap_s = { dist = "exponential", mean = 10.0 }
[callees]
human = 0.3
machine = 0.1
busy = 0.05
invalid = 0.05
answer_delay_s = { dist = "lognormal", mean = 8.0, sd = 4.0 }
fail_delay_s = { dist = "uniform", low = 1.0, high = 4.0 }
machine_talk_s = { dist = "fixed", value = 8.0 }
[campaign]
mode = "progressive"
max_abandon_rate = 0.03
ring_timeout_s = 20.0
leads = 100000
"""

REPORT_KEYS = {
    "name", "seed", "mode", "duration_s", "attempts", "human_answered", "machine_answered",
    "abandoned", "abandon_rate", "occupancy", "connects_per_agent_hour", "mean_agent_wait_s",
    "occupancy_limit",
}  # fmt: skip


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "short.toml"
    path.write_text(SHORT)
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_simulate_prints_a_summary(scenario: Path) -> None:
    code, out, _ = run("simulate", str(scenario))
    assert code == 0
    for label in ("occupancy", "abandonment", "connects per agent hour", "mean agent wait"):
        assert label in out
    assert "limit" in out  # the occupancy limit beside the occupancy


def test_simulate_json_is_the_report_object_and_overrides_apply(scenario: Path) -> None:
    code, out, _ = run(
        "simulate", str(scenario), "--json", "--mode", "power", "--dial-ratio", "2.5", "--seed", "9"
    )
    assert code == 0
    report = json.loads(out)
    assert set(report) >= REPORT_KEYS
    assert (report["mode"], report["dial_ratio"], report["seed"]) == ("power", 2.5, 9)
    assert report["occupancy_limit"] == pytest.approx(60 / 70)
    again = json.loads(run("simulate", str(scenario), "--json", "--seed", "9")[1])
    assert again["seed"] == 9 and again["mode"] == "progressive"
    assert again["abandoned"] == 0  # progressive without AMD


def test_simulate_writes_a_decision_trace(scenario: Path, tmp_path: Path) -> None:
    trace = tmp_path / "decisions.jsonl"
    code, _, _ = run("simulate", str(scenario), "--mode", "predictive", "--trace", str(trace))
    assert code == 0
    lines = trace.read_text().splitlines()
    assert len(lines) > 100
    rows = [json.loads(line) for line in lines]
    assert {"t", "calls", "dial_level", "agents_ready", "lines_ringing"} <= set(rows[0])
    assert [r["t"] for r in rows] == sorted(r["t"] for r in rows)
    # Once warm, a decision says what abandonment it predicted.
    assert any("predicted_abandon" in r for r in rows)


@pytest.mark.parametrize(
    ("replace", "key"),
    [
        (("seed = 5\n", "seed = 5\nsurprise = 1\n"), "surprise"),
        (("human = 0.3", "human = 0.9"), "callees"),
        (("ring_timeout_s = 20.0", "ring_timeout_s = 14.0"), "campaign.ring_timeout_s"),
        (("mean = 60.0 }", "mean = -60.0 }"), "agents.talk_s.mean"),
        (("count = 6", "count = [[60, 6]]"), "agents.count"),
    ],
)
def test_a_bad_scenario_exits_2_naming_the_key(
    tmp_path: Path, replace: tuple[str, str], key: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(SHORT.replace(*replace))
    code, out, err = run("simulate", str(path))
    assert code == EXIT_BAD_INPUT
    assert key in err and out == ""


def test_bad_overrides_exit_2(scenario: Path) -> None:
    assert run("simulate", str(scenario), "--mode", "psychic")[0] == EXIT_BAD_INPUT
    assert run("simulate", str(scenario), "--dial-ratio", "0")[0] == EXIT_BAD_INPUT
    assert run("simulate", str(scenario.with_name("missing.toml")))[0] == EXIT_BAD_INPUT


def test_sweep_names_the_best_ratio_and_writes_the_plot(scenario: Path, tmp_path: Path) -> None:
    plot = tmp_path / "sweep.png"
    code, out, _ = run(
        "sweep", str(scenario), "--ratios", "1.0:3.0:1.0", "--seeds", "2", "--plot", str(plot),
        "--workers", "1",
    )  # fmt: skip
    assert code == 0
    assert "Hindsight-best fixed ratio" in out or "No ratio kept" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = run(
        "sweep", str(scenario), "--ratios", "1,2", "--seeds", "2", "--json", "--workers", "1"
    )
    table = json.loads(out)
    assert [p["ratio"] for p in table["points"]] == [1.0, 2.0]
    best = table["best_ratio"]
    within = [p for p in table["points"] if p["within_cap"]]
    assert best == max(within, key=lambda p: p["occupancy"])["ratio"]


@pytest.mark.parametrize(
    ("ratios", "said"),
    [
        ("3:1:0.5", "0 < start <= stop"),
        ("1:2", "start:stop:step"),
        ("a:2:0.1", "'a' is not a number"),
        ("nan:2:0.1", "'nan' is not a finite number"),
        ("1,inf", "'inf' is not a finite number"),
        ("1,-2", "positive"),
        # A typo in the step would have built 10^18 ratios and hung.
        ("1:1e9:1e-9", "at most 1,000 (a larger step?)"),
        # The count overflowed a float: an OverflowError traceback before.
        ("1:1e308:1e-308", "at most 1,000 (a larger step?)"),
    ],
)
def test_sweep_refuses_a_bad_grid_saying_why(scenario: Path, ratios: str, said: str) -> None:
    code, _, err = run("sweep", str(scenario), "--ratios", ratios)
    assert code == EXIT_BAD_INPUT
    assert said in err


def test_sweep_refuses_no_seeds(scenario: Path) -> None:
    assert run("sweep", str(scenario), "--seeds", "0")[0] == EXIT_BAD_INPUT


@pytest.mark.parametrize("command", [["serve"], ["migrate"]])
def test_a_bad_setting_exits_2_naming_its_variable(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIALER_DEFAULT_REGION", "XX")
    monkeypatch.setenv("DIALER_PROCESS_LEASE_S", "-1")
    code, _, err = run(*command)
    assert code == EXIT_BAD_INPUT
    assert "DIALER_DEFAULT_REGION" in err and "'XX' is not a region code" in err
    assert "DIALER_PROCESS_LEASE_S" in err


def test_a_grid_never_goes_past_stop_nor_loses_a_tiny_start() -> None:
    """1:2:0.6 gave 1, 1.6 and 2.2 (then named best, outside the range asked
    for); a start of 1e-7 was rounded to 0 and refused as a bad dial_ratio."""
    assert parse_ratios("1:2:0.6") == [1.0, 1.6]
    assert parse_ratios("1:2:0.1")[-1] == 2.0  # stop kept despite float noise
    assert parse_ratios("0.0000001:1:0.5") == [1e-7, 0.5000001]


def test_square_brackets_in_what_the_user_wrote_are_shown_as_written(tmp_path: Path) -> None:
    """Messages and titles went through rich markup: "[at_s, value]" vanished
    from messages, and a "[/]" in a name or path crashed with a traceback."""
    code, _, err = run("simulate", str(tmp_path / "nofile[/].toml"))
    assert code == EXIT_BAD_INPUT and "nofile[/].toml" in err
    bad = tmp_path / "bad.toml"
    bad.write_text(
        SHORT.replace("count = 6", "count = []"),
        encoding="utf-8",
    )
    code, _, err = run("simulate", str(bad))
    assert code == EXIT_BAD_INPUT and "[at_s, value]" in err
    named = tmp_path / "named.toml"
    named.write_text(SHORT.replace('name = "cli-short"', 'name = "spring [/] promo"'))
    code, out, err = run("simulate", str(named))
    assert code == 0, err
    assert "spring [/] promo" in out


def test_an_unusable_output_path_is_refused_before_any_work(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(SHORT)
    code, _, err = run("simulate", str(scenario), "--trace", str(tmp_path / "no" / "t.jsonl"))
    assert code == EXIT_BAD_INPUT and "--trace" in err and "does not exist" in err
    code, _, err = run("simulate", str(scenario), "--trace", str(tmp_path))
    assert code == EXIT_BAD_INPUT and "is a directory" in err
    code, _, err = run("sweep", str(scenario), "--ratios", "1,2", "--plot", "out.txt")
    assert code == EXIT_BAD_INPUT and "--plot" in err and ".png" in err


def test_a_lognormal_whose_log_parameters_overflow_is_refused(tmp_path: Path) -> None:
    """sd / mean of 1e600 made every draw NaN: exit 0 with a report whose
    outcomes did not add up to its attempts."""
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        SHORT.replace(
            'talk_s = { dist = "exponential", mean = 60.0 }',
            'talk_s = { dist = "lognormal", mean = 1e-300, sd = 1e300 }',
        )
    )
    code, _, err = run("simulate", str(scenario))
    assert code == EXIT_BAD_INPUT and "agents.talk_s" in err and "at most 100 times" in err


def test_a_dial_ratio_past_100_is_refused(scenario: Path) -> None:
    """100,000 crashed with a RecursionError in the simulated lead supply."""
    code, _, err = run("simulate", str(scenario), "--dial-ratio", "1e5")
    assert code == EXIT_BAD_INPUT and "dial_ratio" in err and "at most 100" in err


def test_migrate_names_a_bad_or_unreachable_database() -> None:
    code, _, err = run("migrate", "--database-url", "notaurl")
    assert code == EXIT_BAD_INPUT and "not a database URL" in err
    code, _, err = run("migrate", "--database-url", "postgresql+asyncpg://nobody@127.0.0.1:1/x")
    assert code == EXIT_BAD_INPUT and "cannot migrate" in err


def test_a_dial_ratio_outside_power_mode_is_refused_not_ignored(scenario: Path) -> None:
    code, out, err = run("simulate", str(scenario), "--mode", "progressive", "--dial-ratio", "2.5")
    assert code == EXIT_BAD_INPUT and out == ""
    assert "--dial-ratio" in err and "power mode only" in err and "progressive" in err
    assert run("simulate", str(scenario), "--mode", "power", "--dial-ratio", "2.5")[0] == 0


@pytest.mark.parametrize("workers", ["0", "-2"])
def test_sweep_refuses_fewer_than_one_worker(scenario: Path, workers: str) -> None:
    code, _, err = run("sweep", str(scenario), "--ratios", "1,2", "--workers", workers)
    assert code == EXIT_BAD_INPUT and "--workers" in err


def test_a_scenario_saved_with_a_byte_order_mark_loads(scenario: Path, tmp_path: Path) -> None:
    """Windows editors put one before the text: it was a TOML syntax error at 1:1."""
    marked = tmp_path / "bom.toml"
    marked.write_bytes(b"\xef\xbb\xbf" + scenario.read_bytes())
    code, out, _ = run("simulate", str(marked), "--json")
    assert code == 0
    with_mark, plain = json.loads(out), json.loads(run("simulate", str(scenario), "--json")[1])
    del with_mark["wall_time_s"], plain["wall_time_s"]
    assert with_mark == plain
