"""The simulator is right, not just running: closed forms, invariants, determinism."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from simulator.scenario import parse_scenario
from simulator.simulation import simulate


def base(**campaign: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "unit",
        "seed": 5,
        "duration_s": 4 * 3600.0,
        "agents": {
            "count": 10,
            "talk_s": {"dist": "exponential", "mean": 120.0},
            "wrap_s": {"dist": "exponential", "mean": 10.0},
        },
        "callees": {
            "human": 0.30,
            "machine": 0.10,
            "busy": 0.05,
            "invalid": 0.05,
            "answer_delay_s": {"dist": "exponential", "mean": 8.0},
            "fail_delay_s": {"dist": "fixed", "value": 3.0},
            "machine_talk_s": {"dist": "fixed", "value": 6.0},
        },
        "campaign": {"mode": "progressive", "ring_timeout_s": 20.0, "leads": 10_000_000},
    }
    data["campaign"].update(campaign)
    return data


def renewal_reward_occupancy(data: dict[str, Any]) -> float:
    """Occupancy of progressive dialing from the renewal-reward theorem.

    In progressive mode every ready agent has exactly one line, and whichever
    agent takes an answered call, the number of ready agents evolves as if each
    agent dialed for itself; so one agent's cycle gives the occupancy. A cycle
    is: attempts until one is answered, then talk (person) or machine time,
    then wrap-up. With exponential answer delay of mean A and ring timeout R,
    an answer comes in time with q = 1 - exp(-R/A), and an answered attempt
    lasts E[D | D < R] = A - R e^{-R/A} / q.

        p_c  = (p_h + p_m) q                      connect share per attempt
        p_n  = 1 - p_h - p_m - p_b - p_i + (p_h + p_m)(1 - q)   rings out
        E[idle] = (1/p_c - 1) * ((p_b + p_i) F + p_n R) / (1 - p_c) + E[D | D < R]
        h    = p_h / (p_h + p_m)                 a connect is a person
        E[C] = E[idle] + h T + (1 - h) M + W
        occupancy = h T / E[C]

    with T, W the talk and wrap means, M the machine handling time, F the fail delay.
    """
    c = data["callees"]
    ph, pm, pb, pi = c["human"], c["machine"], c["busy"], c["invalid"]
    a = c["answer_delay_s"]["mean"]
    r = data["campaign"]["ring_timeout_s"]
    f = c["fail_delay_s"]["value"]
    m = c["machine_talk_s"]["value"]
    t = data["agents"]["talk_s"]["mean"]
    w = data["agents"]["wrap_s"]["mean"]
    q = 1 - math.exp(-r / a)
    p_c = (ph + pm) * q
    p_n = 1 - ph - pm - pb - pi + (ph + pm) * (1 - q)
    answered_delay = a - r * math.exp(-r / a) / q
    idle = (1 / p_c - 1) * ((pb + pi) * f + p_n * r) / (1 - p_c) + answered_delay
    h = ph / (ph + pm)
    cycle = idle + h * t + (1 - h) * m + w
    return float(h * t / cycle)


def test_progressive_occupancy_matches_the_renewal_reward_closed_form() -> None:
    data = base()
    data["duration_s"] = 60 * 3600.0
    data["agents"]["count"] = 20
    report = simulate(parse_scenario(data))
    expected = renewal_reward_occupancy(data)
    assert report.occupancy == pytest.approx(expected, rel=0.02)
    assert report.abandoned == 0


def test_progressive_without_amd_never_abandons() -> None:
    for seed in (1, 2, 3):
        data = base()
        data["seed"] = seed
        data["callees"]["answer_delay_s"] = {"dist": "lognormal", "mean": 8.0, "sd": 6.0}
        report = simulate(parse_scenario(data))
        assert report.human_answered > 100
        assert report.abandoned == 0


def test_abandonment_rises_with_the_power_ratio() -> None:
    rates = []
    for ratio in (1.5, 2.5, 4.0, 6.0):
        data = base(mode="power", dial_ratio=ratio)
        data["agents"]["count"] = 20
        rates.append(simulate(parse_scenario(data)).abandon_rate)
    assert rates == sorted(rates)
    assert rates[0] < rates[-1]
    assert rates[-1] > 0.05


def test_occupancy_stays_under_its_physical_limit() -> None:
    report = simulate(parse_scenario(base(mode="power", dial_ratio=5.0)))
    assert report.occupancy_limit == pytest.approx(120 / 130)
    assert 0.5 < report.occupancy <= report.occupancy_limit


def test_same_seed_same_report_and_another_seed_differs() -> None:
    a = simulate(parse_scenario(base(mode="power", dial_ratio=2.0)))
    b = simulate(parse_scenario(base(mode="power", dial_ratio=2.0)))
    fields = ("attempts", "human_answered", "abandoned", "occupancy", "mean_agent_wait_s")
    assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
    data = base(mode="power", dial_ratio=2.0)
    data["seed"] = 6
    c = simulate(parse_scenario(data))
    assert (c.attempts, c.occupancy) != (a.attempts, a.occupancy)


def test_common_random_numbers_lead_outcomes_do_not_depend_on_the_mode() -> None:
    """Lead i has the same fate whatever the mode: the first attempts agree."""
    from simulator.simulation import _LeadStream

    sc = parse_scenario(base())
    import numpy as np

    one = _LeadStream(sc, np.random.default_rng(1))
    two = _LeadStream(sc, np.random.default_rng(1))
    picks = [one.draws(i) for i in range(0, 9000, 7)]
    assert picks == [two.draws(i) for i in range(0, 9000, 7)]
    # Progressive and power dial leads in order, each once: the answered share
    # over the same leads is what the probabilities say either way.
    prog = simulate(parse_scenario(base()))
    power = simulate(parse_scenario(base(mode="power", dial_ratio=3.0)))
    for rep in (prog, power):
        assert rep.human_answered / rep.attempts == pytest.approx(
            0.30 * (1 - math.exp(-2.5)), rel=0.08
        )


def test_agent_schedule_steps_take_effect() -> None:
    data = base()
    data["agents"]["count"] = [[0, 10], [7200, 2]]
    low = simulate(parse_scenario(data))
    flat = simulate(parse_scenario(base()))
    # 10 agents for 2 h then 2 for 2 h: 24 agent-hours against 40.
    assert low.agent_hours == pytest.approx(24.0, rel=0.02)
    assert flat.agent_hours == pytest.approx(40.0, rel=0.001)


def test_a_floor_that_empties_for_an_hour_loses_no_lead_and_dials_none_twice() -> None:
    # With nobody logged in, the core gives its hopper back (ReturnLeads) and
    # claims it again when the agents return: every lead is tried once.
    data = base(leads=1000)
    data["agents"]["count"] = [[0, 10], [3600, 0], [7200, 10]]
    report = simulate(parse_scenario(data))
    assert report.attempts == 1000  # 710 an hour: some were in hand at the break


def test_callee_schedule_steps_take_effect() -> None:
    data = base(mode="power", dial_ratio=2.0)
    data["callees"]["human"] = [[0, 0.30], [7200, 0.05]]
    shifted = simulate(parse_scenario(data))
    flat = simulate(parse_scenario(base(mode="power", dial_ratio=2.0)))
    assert shifted.human_answered < 0.8 * flat.human_answered
    assert shifted.attempts > flat.attempts


def test_amd_false_positives_count_as_abandoned() -> None:
    data = base()
    data["amd"] = {"enabled": True, "detect_s": 2.5, "false_positive": 0.2, "false_negative": 0.0}
    report = simulate(parse_scenario(data))
    assert report.amd_false_positive_abandons > 0
    assert report.abandoned >= report.amd_false_positive_abandons
    assert report.abandon_rate == pytest.approx(0.2, abs=0.04)


def test_nothing_is_dialed_after_the_shift() -> None:
    data = base(mode="power", dial_ratio=3.0)
    data["duration_s"] = 600.0
    report = simulate(parse_scenario(data))
    longer = copy.deepcopy(data)
    longer["duration_s"] = 1200.0
    assert simulate(parse_scenario(longer)).attempts > report.attempts
    assert report.agent_hours == pytest.approx(10 * 600 / 3600)


@pytest.mark.parametrize("mode", ["predictive", "adaptive"])
def test_a_shift_whose_leads_run_out_costs_only_the_events_of_its_calls(mode: str) -> None:
    """A month-long run on 300 leads: the pacer stops deciding once they are gone.

    Before, it was woken every second to the end (2.6 million decisions,
    most of an hour). The figures still cover the whole shift: agents are
    logged in, idle, to the end.
    """
    data = base(mode=mode, leads=300)
    data["duration_s"] = 30 * 86400.0
    report = simulate(parse_scenario(data))
    assert report.attempts == 300
    assert report.events < 20 * 300  # the calls' events; no idle seconds
    assert report.agent_hours == pytest.approx(10 * 30 * 24)


def test_preview_mode_never_abandons_and_keeps_agents_dialing() -> None:
    report = simulate(parse_scenario(base(mode="preview")))
    assert report.abandoned == 0
    assert report.connects > 0


def test_agent_wait_is_measured_and_falls_as_the_ratio_rises() -> None:
    waits = [
        simulate(parse_scenario(base(mode="power", dial_ratio=r))).mean_agent_wait_s
        for r in (1.0, 2.0, 4.0)
    ]
    assert waits[0] > waits[1] > waits[2] > 0.0


def test_staffing_drops_while_calls_wait_let_agents_finish_first() -> None:
    """Agents leave after their call and wrap-up, even when a call is waiting for them."""
    data = base(mode="power", dial_ratio=4.0)
    data["duration_s"] = 7200.0
    data["agents"]["count"] = [[0, 20], [1800, 5], [3600, 15], [5400, 3]]
    report = simulate(parse_scenario(data))
    # 20 x 0.5 h + 5 x 0.5 h + 15 x 0.5 h + 3 x 0.5 h, less a little for leavers
    # finishing their calls after the step (they count while they work).
    assert report.agent_hours == pytest.approx(21.5, rel=0.05)
    assert report.connects > 0


def test_agents_leaving_after_their_wrap_up_get_no_call_placed_for_them() -> None:
    """A leaver pauses at the end of the wrap-up, as a person going home does.

    Three agents take a call at once (everyone answers after 1 s, talk 100 s,
    wrap-up 10 s); the floor drops to one at 50 s, while all three talk. If
    the two leavers went through "ready" at 111 s, progressive would place a
    line for each and their people would answer at 112 s to one free agent.
    """
    data = base()
    data["duration_s"] = 300.0
    data["agents"] = {
        "count": [[0, 3], [50, 1]],
        "talk_s": {"dist": "fixed", "value": 100.0},
        "wrap_s": {"dist": "fixed", "value": 10.0},
    }
    data["callees"].update(
        human=1.0,
        machine=0.0,
        busy=0.0,
        invalid=0.0,
        answer_delay_s={"dist": "fixed", "value": 1.0},
    )
    report = simulate(parse_scenario(data))
    assert report.abandoned == 0
    # Three calls at the start, then one per 111 s cycle of the one who stays.
    assert report.attempts == 5
    assert report.agent_hours == pytest.approx((3 * 111 + 189) / 3600, rel=0.01)
