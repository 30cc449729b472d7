"""The call and agent state machines: legal paths work, illegal ones raise."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dialer.agents import Agent, AgentState
from dialer.calls import Call, CallState
from dialer.campaign import CallOutcome
from dialer.errors import IllegalTransition


def new_call() -> Call:
    return Call("c1", "camp", "lead1", "+15555550100", dialed_at=10.0)


def state_of(machine: Call | Agent) -> CallState | AgentState:
    """The state now: read through a call, so the type checker does not keep
    an earlier assert's narrowing across the transition that changed it."""
    return machine.state


def test_call_answered_without_amd_waits_for_an_agent_from_the_answer() -> None:
    call = new_call()
    call.answer(15.0, amd=False)
    assert call.state is CallState.WAITING
    assert call.connect_deadline_from == 15.0
    call.offer("a1")
    call.bridge(15.5)
    call.end(100.0)
    rec = call.record()
    assert rec.outcome is CallOutcome.HUMAN
    assert (rec.answered_at, rec.bridged_at, rec.ended_at) == (15.0, 15.5, 100.0)
    assert rec.agent_id == "a1" and not rec.abandoned


def test_amd_deadline_counts_from_the_classification() -> None:
    call = new_call()
    call.answer(15.0, amd=True)
    assert call.state is CallState.ANSWERED
    call.classify(17.5, machine=False)
    assert state_of(call) is CallState.WAITING
    assert call.connect_deadline_from == 17.5


def test_amd_machine_ends_the_call_as_machine() -> None:
    call = new_call()
    call.answer(15.0, amd=True)
    call.classify(17.5, machine=True)
    assert call.state is CallState.ENDED
    assert call.outcome is CallOutcome.MACHINE


def test_abandon_marks_people_not_machines() -> None:
    call = new_call()
    call.answer(15.0, amd=False)
    call.abandon(17.0)
    assert call.abandoned and call.state is CallState.ENDED


def test_ring_timeout_is_no_answer() -> None:
    call = new_call()
    call.end(30.0)
    assert call.outcome is CallOutcome.NO_ANSWER


@pytest.mark.parametrize(
    "action",
    [
        lambda c: c.classify(1.0, True),
        lambda c: c.offer("a"),
        lambda c: c.bridge(1.0),
        lambda c: c.abandon(1.0),
    ],
)
def test_illegal_call_transitions_raise(action) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    with pytest.raises(IllegalTransition):
        action(call)


def test_ended_call_takes_nothing_more() -> None:
    call = new_call()
    call.fail(12.0, CallOutcome.BUSY)
    actions: tuple[Callable[[], object], ...] = (
        lambda: call.answer(13.0, False),
        lambda: call.end(13.0),
    )
    for action in actions:
        with pytest.raises(IllegalTransition):
            action()
    assert call.outcome is CallOutcome.BUSY


def test_agent_full_cycle() -> None:
    a = Agent("a1", ("camp",), now=0.0)
    assert state_of(a) is AgentState.LOGGED_OUT
    a.login(1.0)
    assert state_of(a) is AgentState.PAUSED
    a.ready(2.0)
    a.take_call("c1", 3.0)
    a.connected(3.0)
    a.end_call(60.0)
    assert state_of(a) is AgentState.WRAP_UP and a.since == 60.0
    a.finish_wrap_up(70.0)
    assert state_of(a) is AgentState.READY and a.call_id is None


def test_agent_pause_during_a_call_waits_for_wrap_up() -> None:
    a = Agent("a1", ("camp",), now=0.0)
    a.login(0.0)
    a.ready(0.0)
    a.take_call("c1", 1.0)
    assert a.pause(2.0) is False
    assert a.state is AgentState.ON_CALL
    a.end_call(3.0)
    a.finish_wrap_up(4.0)
    assert state_of(a) is AgentState.PAUSED


def test_agent_pause_during_wrap_up_waits_for_the_disposition() -> None:
    a = Agent("a1", ("camp",), now=0.0)
    a.login(0.0)
    a.ready(0.0)
    a.take_call("c1", 1.0)
    a.end_call(3.0)
    assert a.pause(4.0) is False
    assert a.state is AgentState.WRAP_UP and a.call_id == "c1" and a.since == 3.0
    a.finish_wrap_up(9.0)
    assert state_of(a) is AgentState.PAUSED and a.since == 9.0


@pytest.mark.parametrize(
    ("setup", "action"),
    [
        ([], lambda a: a.ready(1.0)),  # logged out
        ([], lambda a: a.take_call("c", 1.0)),
        (["login"], lambda a: a.take_call("c", 1.0)),  # paused
        (["login", "ready"], lambda a: a.end_call(1.0)),
        (["login", "ready"], lambda a: a.finish_wrap_up(1.0)),
        (["login", "ready", "call"], lambda a: a.logout(1.0)),
        (["login", "ready", "call"], lambda a: a.ready(1.0)),
        (["login"], lambda a: a.login(1.0)),
    ],
)
def test_illegal_agent_transitions_raise(setup, action) -> None:  # type: ignore[no-untyped-def]
    a = Agent("a1", ("camp",), now=0.0)
    steps = {
        "login": lambda: a.login(0.0),
        "ready": lambda: a.ready(0.0),
        "call": lambda: a.take_call("c0", 0.0),
    }
    for s in setup:
        steps[s]()
    state = a.state
    with pytest.raises(IllegalTransition):
        action(a)
    assert a.state is state  # nothing changed
