"""The adaptive (VICIdial ADAPT-style) pacer, driven by hand-built snapshots."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacing.adaptive import MIN_HUMAN_ANSWERED, AdaptivePacer
from pacing.observations import AttemptResolved, HandlingEnded
from pacing.snapshot import Pacer, PacingDecision, PacingSnapshot

SHIFT_S = 8 * 3600.0


def snap(
    now: float,
    *,
    ready: int = 0,
    on_call: int = 0,
    wrap: int = 0,
    paused: int = 0,
    ringing: int = 0,
    amd: int = 0,
    waiting: int = 0,
    human_answered: int = 0,
    abandoned: int = 0,
    cap: float = 0.03,
    remaining: float | None = None,
) -> PacingSnapshot:
    return PacingSnapshot(
        now_s=now,
        agents_logged_in=ready + on_call + wrap + paused,
        agents_ready=ready,
        agents_on_call=on_call,
        agents_wrap_up=wrap,
        agents_paused=paused,
        lines_ringing=ringing,
        lines_answered_unclassified=amd,
        lines_waiting=waiting,
        window_human_answered=human_answered,
        window_abandoned=abandoned,
        max_abandon_rate=cap,
        window_remaining_s=SHIFT_S - now if remaining is None else remaining,
        ring_timeout_s=20.0,
        connect_deadline_s=2.0,
        amd_enabled=False,
    )


def run(
    pacer: AdaptivePacer, start: float, until: float, step: float = 1.0, **counts: int
) -> PacingDecision:
    """Call decide every ``step`` seconds from ``start`` to ``until`` included."""
    t = start
    decision = pacer.decide(snap(t, **counts))
    while t + step <= until + 1e-9:
        t += step
        decision = pacer.decide(snap(t, **counts))
    return decision


def test_it_is_a_pacer() -> None:
    pacer: Pacer = AdaptivePacer(sample_interval_s=0.5)
    assert pacer.name == "adaptive"
    assert pacer.decision_interval_s == 0.5
    assert pacer.needs_detail is False
    pacer.observe(AttemptResolved(0.0, "human", 5.0))
    pacer.observe(HandlingEnded(0.0, 60.0, 5.0))


def test_level_rises_when_agents_sit_ready() -> None:
    pacer = AdaptivePacer()
    decision = run(pacer, 0.0, 14.0, ready=5, on_call=5)
    assert pacer.level == 1.0  # no adjustment before 15 s
    decision = run(pacer, 15.0, 15.0, ready=5, on_call=5)
    # D = 5 ready - 0 waiting, m = 5 / 10 logged in: 1.0 x 1.5.
    assert pacer.level == pytest.approx(1.5)
    assert decision.dial_level == pytest.approx(1.5)
    assert decision.explain is not None
    assert decision.explain["D"] == pytest.approx(5.0)
    assert decision.explain["m"] == pytest.approx(0.5)
    assert decision.explain["mean_ready"] == pytest.approx(5.0)
    assert decision.explain["mean_waiting"] == pytest.approx(0.0)
    assert decision.explain["mean_logged_in"] == pytest.approx(10.0)
    assert decision.explain["adjusted"] is True


def test_level_falls_when_calls_wait() -> None:
    pacer = AdaptivePacer(initial_level=2.0)
    run(pacer, 0.0, 15.0, on_call=10, waiting=3)
    assert pacer.level == pytest.approx(2.0 * (1 - 0.3))


def test_intensity_and_target_shape_the_step() -> None:
    pacer = AdaptivePacer(intensity=0.5, target=-1.0)
    run(pacer, 0.0, 15.0, ready=5, on_call=5)
    # D = 5 - 0 - 1 = 4; m = 0.5 x 4 / 10.
    assert pacer.level == pytest.approx(1.2)


def test_paused_agents_count_as_logged_in_for_m() -> None:
    pacer = AdaptivePacer()
    run(pacer, 0.0, 15.0, ready=5, on_call=5, paused=10)
    assert pacer.level == pytest.approx(1.25)


def test_level_stays_clamped_to_one_and_max_level() -> None:
    pacer = AdaptivePacer(max_level=2.5)
    run(pacer, 0.0, 600.0, ready=10)
    assert pacer.level == 2.5
    run(pacer, 601.0, 1200.0, waiting=30, on_call=10)
    assert pacer.level == 1.0


def test_initial_level_is_clamped() -> None:
    assert AdaptivePacer(initial_level=0.2).level == 1.0
    assert AdaptivePacer(initial_level=9.0, max_level=3.0).level == 3.0


def test_calls_are_the_goal_less_the_calls_held() -> None:
    pacer = AdaptivePacer(initial_level=1.5)
    d = pacer.decide(snap(0.0, ready=2, on_call=6, wrap=2, paused=3, ringing=3, amd=1, waiting=1))
    # goal = round(1.5 x 10 active) = 15; held = 5 lines in flight + 6 on a
    # call + 2 in wrap-up.
    assert d.calls == 15 - 13
    assert d.explain is not None
    assert d.explain["active_agents"] == 10
    assert d.explain["goal_lines"] == 15
    assert d.explain["existing_calls"] == 13


def test_level_one_is_progressive() -> None:
    # The floor the cap rules force must not overdial: one line per ready
    # agent, none for agents on a call or in wrap-up.
    pacer = AdaptivePacer()
    assert pacer.decide(snap(0.0, on_call=6, wrap=4)).calls == 0
    assert pacer.decide(snap(0.5, ready=3, on_call=5, wrap=2)).calls == 3
    assert pacer.decide(snap(0.7, ready=3, on_call=5, wrap=2, ringing=2)).calls == 1


def test_calls_are_never_negative() -> None:
    pacer = AdaptivePacer()
    assert pacer.decide(snap(0.0, ready=1, on_call=1, ringing=10, waiting=4)).calls == 0


def test_goal_rounds_halves_up() -> None:
    pacer = AdaptivePacer(initial_level=1.25)
    assert pacer.decide(snap(0.0, ready=2)).calls == 3  # round(2.5) = 3


@settings(max_examples=300, deadline=None)
@given(
    level=st.floats(1.0, 3.0),
    ready=st.integers(0, 50),
    on_call=st.integers(0, 50),
    wrap=st.integers(0, 50),
    ringing=st.integers(0, 100),
    waiting=st.integers(0, 20),
)
def test_calls_formula(
    level: float, ready: int, on_call: int, wrap: int, ringing: int, waiting: int
) -> None:
    pacer = AdaptivePacer(initial_level=level)
    d = pacer.decide(
        snap(0.0, ready=ready, on_call=on_call, wrap=wrap, ringing=ringing, waiting=waiting)
    )
    goal = int(level * (ready + on_call + wrap) + 0.5)
    assert d.calls == max(0, goal - (ringing + waiting + on_call + wrap))
    assert 1.0 <= d.dial_level <= 3.0


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.01, 40.0), st.integers(0, 20), st.integers(0, 20)),
        min_size=1,
        max_size=60,
    )
)
def test_level_stays_in_bounds_whatever_happens(
    steps: list[tuple[float, int, int]],
) -> None:
    pacer = AdaptivePacer(max_level=2.0)
    t = 0.0
    for dt, ready, waiting in steps:
        t += dt
        d = pacer.decide(snap(t, ready=ready, on_call=20 - ready, waiting=waiting))
        assert 1.0 <= d.dial_level <= 2.0
        assert d.calls >= 0


# ------------------------------------------------------------- abandonment cap
def climbed(variant: str = "hard") -> AdaptivePacer:
    pacer = AdaptivePacer(variant=variant)  # type: ignore[arg-type]
    run(pacer, 0.0, 300.0, ready=10)
    assert pacer.level == 3.0
    return pacer


def test_hard_cap_forces_level_one_once_over_the_cap() -> None:
    pacer = climbed()
    d = pacer.decide(snap(301.0, ready=10, human_answered=60, abandoned=2))  # 3.3 % > 3 %
    assert d.dial_level == 1.0
    assert d.explain is not None and d.explain["over_cap"] is True
    assert d.calls == 10
    # And it stays there while over, though agents sit ready.
    d = run(pacer, 302.0, 400.0, ready=10, human_answered=60, abandoned=2)
    assert d.dial_level == 1.0
    # Back under the cap, it climbs again.
    run(pacer, 401.0, 500.0, ready=10, human_answered=100, abandoned=2)
    assert pacer.level > 1.0


def test_hard_cap_waits_for_fifty_human_answered_calls() -> None:
    pacer = climbed()
    d = pacer.decide(snap(301.0, ready=10, human_answered=MIN_HUMAN_ANSWERED - 1, abandoned=10))
    assert d.dial_level == 3.0
    d = pacer.decide(snap(302.0, ready=10, human_answered=MIN_HUMAN_ANSWERED, abandoned=10))
    assert d.dial_level == 1.0


def test_being_exactly_at_the_cap_is_not_over_it() -> None:
    pacer = climbed()
    d = pacer.decide(snap(301.0, ready=10, human_answered=100, abandoned=3, cap=0.03))
    assert d.dial_level == 3.0


def test_taper_cuts_the_room_above_one_by_the_window_left() -> None:
    pacer = climbed("taper")  # has seen a window of SHIFT_S
    over = {"ready": 10, "human_answered": 100, "abandoned": 10}
    d = pacer.decide(snap(301.0, remaining=SHIFT_S * 0.75, **over))
    assert d.dial_level == pytest.approx(1 + 2.0 * 0.75)
    assert d.explain is not None and d.explain["ceiling"] == pytest.approx(2.5)
    d = pacer.decide(snap(302.0, remaining=SHIFT_S * 0.25, **over))
    assert d.dial_level == pytest.approx(1.5)
    d = pacer.decide(snap(303.0, remaining=0.0, **over))
    assert d.dial_level == 1.0


def test_taper_is_gradual_and_leaves_a_low_level_alone() -> None:
    pacer = AdaptivePacer(initial_level=1.4, variant="taper")
    pacer.decide(snap(0.0, on_call=10))
    over = {"on_call": 10, "human_answered": 100, "abandoned": 10}
    levels = []
    for frac in (0.9, 0.7, 0.5, 0.3, 0.1):
        d = pacer.decide(snap(0.5, remaining=SHIFT_S * frac, **over))
        levels.append(d.dial_level)
    # The ceiling 1 + 2 f passes under 1.4 only when f < 0.2.
    assert levels[:4] == [1.4] * 4
    assert levels[4] == pytest.approx(1.2)
    assert levels == sorted(levels, reverse=True)


# ------------------------------------------------------- sampling and timing
def test_samples_once_per_interval_whatever_the_call_rate() -> None:
    pacer = AdaptivePacer()
    t = 0.0
    d = pacer.decide(snap(t, ready=1))
    for _ in range(50):  # 0.1 s steps, with the float drift of a summing clock
        t += 0.1
        d = pacer.decide(snap(t, ready=1))
    assert d.explain is not None
    assert d.explain["samples"] == 6  # at 0, 1, ..., 5 s


def test_irregular_calls_sample_at_most_once_a_call() -> None:
    pacer = AdaptivePacer()
    for t in (0.0, 2.5, 5.0, 7.5, 10.0):
        d = pacer.decide(snap(t, ready=1))
    assert d.explain is not None and d.explain["samples"] == 5


def test_keeps_only_the_last_samples() -> None:
    pacer = AdaptivePacer(samples=15)
    d = run(pacer, 0.0, 40.0, ready=2, on_call=8)
    assert d.explain is not None and d.explain["samples"] == 15


def test_adjusts_every_adjust_interval() -> None:
    pacer = AdaptivePacer(max_level=100.0)
    adjusted_at = []
    t = 0.0
    while t <= 61.0:
        d = pacer.decide(snap(t, ready=1, on_call=9))
        assert d.explain is not None
        if d.explain["adjusted"]:
            adjusted_at.append(t)
        t += 0.5
    assert adjusted_at == [15.0, 30.0, 45.0, 60.0]
    assert pacer.level == pytest.approx(1.1**4)


def test_a_long_gap_discards_stale_samples_and_restarts_the_clock() -> None:
    pacer = AdaptivePacer()
    run(pacer, 0.0, 10.0, waiting=5, on_call=10)  # callers waiting, before a pause
    d = pacer.decide(snap(600.0, ready=5, on_call=5))
    assert d.explain is not None
    assert d.explain["samples"] == 1 and d.explain["adjusted"] is False
    d = run(pacer, 601.0, 615.0, ready=5, on_call=5)
    assert pacer.level == pytest.approx(1.5)  # from fresh samples only


def test_a_clock_that_goes_back_restarts() -> None:
    pacer = AdaptivePacer()
    run(pacer, 100.0, 110.0, ready=5, on_call=5)
    d = pacer.decide(snap(50.0, ready=5, on_call=5))
    assert d.explain is not None and d.explain["samples"] == 1
    run(pacer, 51.0, 65.0, ready=5, on_call=5)
    assert pacer.level == pytest.approx(1.5)


def test_no_one_logged_in_leaves_the_level_alone() -> None:
    pacer = AdaptivePacer(initial_level=2.0)
    d = run(pacer, 0.0, 30.0)
    assert pacer.level == 2.0
    assert d.calls == 0


def test_explain_is_json_serialisable() -> None:
    pacer = AdaptivePacer()
    d = run(pacer, 0.0, 15.0, ready=3, on_call=7, waiting=1)
    text = json.dumps(d.explain)
    assert '"level"' in text and '"mean_ready"' in text


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_level": 0.5},
        {"intensity": -1.0},
        {"variant": "soft"},
        {"sample_interval_s": 0.0},
        {"adjust_interval_s": -1.0},
        {"samples": 0},
        {"initial_level": float("nan")},
    ],
)
def test_rejects_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        AdaptivePacer(**kwargs)  # type: ignore[arg-type]
