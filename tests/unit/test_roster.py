"""The agents' age arrays the core keeps for the predictive pacer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from test_core import settings

from dialer.agents import AgentState
from dialer.campaign import CampaignSettings, DialMode, Lead
from dialer.clock import FixedOffsetClock
from dialer.commands import BridgeCall, Command
from dialer.core import DialerCore
from dialer.errors import IllegalTransition
from dialer.events import (
    AgentCampaignsChanged,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentPaused,
    AgentReady,
    CallAnswered,
    CallBridged,
    CallHungUp,
    CampaignUpdated,
    DispositionSubmitted,
    Event,
    LeadsClaimed,
    Tick,
)
from dialer.roster import Roster
from pacing.observations import Observation
from pacing.snapshot import PacingDecision, PacingSnapshot

STATES = (0, 1, 2, 3)

# (op, agent, state, since): op 0 adds (or sets, if present), 1 removes.
ops = st.lists(
    st.tuples(
        st.integers(0, 1),
        st.integers(0, 90),
        st.sampled_from(STATES),
        st.floats(0.0, 1e5, allow_nan=False),
    ),
    max_size=400,
)


@examples(max_examples=150, deadline=None)
@given(ops, st.floats(0.0, 2e5, allow_nan=False))
def test_ages_match_a_walk_over_an_ordered_table(script: list, now: float) -> None:  # type: ignore[type-arg]
    roster = Roster()
    table: dict[str, tuple[int, float]] = {}  # insertion order = log-in order
    for op, n, state, since in script:
        agent = f"a{n}"
        if op == 0 and agent not in table:
            roster.add(agent, state, since)
            table[agent] = (state, since)
        elif op == 0:
            roster.set(agent, state, since)
            table[agent] = (state, since)
        elif agent in table:
            roster.remove(agent)
            del table[agent]
    assert len(roster) == len(table)
    for state in STATES:
        want = [now - since for s, since in table.values() if s == state]
        got = roster.ages(state, now)
        assert got.dtype == np.float64
        assert got.tolist() == want  # same order, same bits


def test_an_agent_cannot_join_twice_and_unknown_agents_are_refused() -> None:
    roster = Roster()
    roster.add("a", 1, 0.0)
    with pytest.raises(ValueError, match="already"):
        roster.add("a", 1, 0.0)
    with pytest.raises(KeyError):
        roster.set("b", 1, 0.0)
    with pytest.raises(KeyError):
        roster.remove("b")


def test_churn_compacts_and_keeps_log_in_order() -> None:
    roster = Roster()
    for i in range(200):
        roster.add(f"a{i}", 1, float(i))
    for i in range(0, 190):
        roster.remove(f"a{i}")
    # The empty slots outnumbered the used ones: compacted, order kept.
    assert roster._used < 200
    for i in range(200, 210):
        roster.add(f"a{i}", 1, float(i))
    assert roster.ages(1, 1000.0).tolist() == [1000.0 - i for i in range(190, 210)]


def test_agents_leaving_after_their_call_are_left_out_of_the_staying_ages() -> None:
    roster = Roster()
    for i in range(100):  # past the first growth
        roster.add(f"a{i}", 1, float(i))
    for i in range(0, 100, 3):
        roster.set_leaving(f"a{i}", True)
    roster.set_leaving("a3", False)  # changed their mind
    staying = [i for i in range(100) if i % 3 or i == 3]
    assert roster.ages(1, 500.0, staying=True).tolist() == [500.0 - i for i in staying]
    assert len(roster.ages(1, 500.0)) == 100  # all still on a call
    for i in range(0, 80):
        roster.remove(f"a{i}")  # compacted: the flags move with their agents
    assert roster._used < 100
    assert roster.ages(1, 500.0, staying=True).tolist() == [500.0 - i for i in staying if i >= 80]
    roster.add("new", 1, 400.0)  # a new slot never inherits a flag
    assert roster.ages(1, 500.0, staying=True).tolist()[-1] == 100.0


class _Recorder:
    """A pacer that reads every agent's age and never dials."""

    name = "predictive"
    decision_interval_s: float | None = 1.0
    needs_detail = True

    def __init__(self) -> None:
        self.snapshots: list[PacingSnapshot] = []

    def decide(self, snapshot: PacingSnapshot) -> PacingDecision:
        self.snapshots.append(snapshot)
        return PacingDecision(0, 1.0)

    def observe(self, observation: Observation) -> None:
        pass


def _walk(core: DialerCore, cid: str, state: AgentState, now: float) -> list[float]:
    """The ages as the core used to find them: a walk over its agent table.

    Busy agents who asked to pause after their call are not counted on.
    """
    return [
        now - a.since
        for a in core._agents.values()
        if cid in a.campaign_ids and a.state is state and not a.pause_pending
    ]


# (op, agent, campaigns): 0 log in, 1 ready, 2 pause, 3 log out, 4 move to
# the campaigns given.
memberships = st.sampled_from([(), ("c1",), ("c2",), ("c1", "c2")])
agent_ops = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 80), memberships), max_size=300)


@examples(max_examples=60, deadline=None)
@given(agent_ops)
def test_the_core_s_snapshots_carry_the_ages_a_walk_would_find(script: list) -> None:  # type: ignore[type-arg]
    pacers: dict[str, _Recorder] = {}

    def factory(s: CampaignSettings) -> _Recorder:
        return pacers.setdefault(s.id, _Recorder())

    core = DialerCore(clock=FixedOffsetClock(1_700_000_000.0), pacer_factory=factory)
    base = settings(id="c1", mode=DialMode.PREDICTIVE)
    now = 0.0
    core.handle(CampaignUpdated(base), now)
    moved = False
    # Agents log in before and after the first decision builds the roster.
    for i, (op, n, campaigns) in enumerate(script):
        now += 0.37
        agent = f"a{n}"
        if i == len(script) // 2:
            core.handle(CampaignUpdated(replace(base, id="c2")), now)
        known = agent in core._agents
        if op == 0 and not known:
            core.handle(AgentLoggedIn(agent, campaigns), now)
        elif op == 1 and known:
            core.handle(AgentReady(agent), now)
        elif op == 2 and known:
            core.handle(AgentPaused(agent), now)
        elif op == 3 and known:
            core.handle(AgentLoggedOut(agent), now)
        elif op == 4 and known:
            core.handle(AgentCampaignsChanged(agent, campaigns), now)
            moved = True
        core.handle(Tick(), now)  # the core's clock moves on whatever the step did
        # A moved agent joins its new campaigns' rosters at the end, as a new
        # log-in does: the same ages, no longer in the agent table's order.
        order = sorted if moved else list
        for cid, pacer in pacers.items():
            pacer.snapshots.clear()
            core._pace(cid, core._runs[cid])
            (snap,) = pacer.snapshots
            for ages, state in (
                (snap.ready_ages_s, AgentState.READY),
                (snap.on_call_ages_s, AgentState.ON_CALL),
                (snap.wrap_up_ages_s, AgentState.WRAP_UP),
            ):
                assert order(ages.tolist()) == order(_walk(core, cid, state, now))
            members = [a for a in core._agents.values() if cid in a.campaign_ids]
            assert snap.agents_ready == sum(a.state is AgentState.READY for a in members)
            assert snap.agents_paused == sum(a.state is AgentState.PAUSED for a in members)


class _OnePerReady(_Recorder):
    """Dials a line for each ready agent not yet covered, and records what it saw."""

    def decide(self, snapshot: PacingSnapshot) -> PacingDecision:
        self.snapshots.append(snapshot)
        busy = snapshot.lines_ringing + snapshot.lines_waiting
        return PacingDecision(max(0, snapshot.agents_ready - busy), 1.0)


# (op, index, campaigns): 0 log in, 1 ready, 2 pause, 3 log out, 4 move to the
# campaigns given, 5 a person answers, 6 the person hangs up, 7 a disposition.
call_ops = st.lists(
    st.tuples(st.integers(0, 7), st.integers(0, 30), memberships), min_size=100, max_size=250
)


@examples(max_examples=80, deadline=None)
@given(call_ops)
def test_moving_busy_agents_between_campaigns_keeps_counts_and_ages_true(script: list) -> None:  # type: ignore[type-arg]
    """The pacer's figures after agents move mid-call, mid-wrap-up or with a
    pause pending: what a walk over the agents (where they are now) finds."""
    pacers: dict[str, _OnePerReady] = {}

    def factory(s: CampaignSettings) -> _OnePerReady:
        return pacers.setdefault(s.id, _OnePerReady())

    core = DialerCore(clock=FixedOffsetClock(1_700_000_000.0), pacer_factory=factory)
    now = 0.0
    for cid in ("c1", "c2"):
        core.handle(CampaignUpdated(settings(id=cid, mode=DialMode.PREDICTIVE)), now)
        lead_list = tuple(Lead(f"{cid}-{i}", cid, f"+1555{cid[1]}00{i:04d}") for i in range(300))
        core.handle(LeadsClaimed(cid, lead_list), now)

    def feed(event: Event) -> None:
        try:
            cmds: list[Command] = core.handle(event, now)
        except IllegalTransition:
            return  # a step that does not fit the agent's state: refused, nothing changed
        for cmd in cmds:
            if isinstance(cmd, BridgeCall):
                feed(CallBridged(cmd.call_id))

    for op, n, campaigns in script:
        now += 0.7
        agent = f"a{n % 12}"
        known = agent in core._agents
        calls = list(core._calls.values())
        if op == 0 and not known:
            feed(AgentLoggedIn(agent, campaigns))
        elif op == 1 and known:
            feed(AgentReady(agent))
        elif op == 2 and known:
            feed(AgentPaused(agent))
        elif op == 3 and known:
            feed(AgentLoggedOut(agent))
        elif op == 4 and known:
            feed(AgentCampaignsChanged(agent, campaigns))
        elif op == 5 and calls:
            call = calls[n % len(calls)]
            if call.answered_at is None and call.agent_id is None:
                feed(CallAnswered(call.id))
        elif op == 6 and known and core._agents[agent].call_id in core._calls:
            feed(CallHungUp(core._agents[agent].call_id or ""))
        elif op == 7 and known and core._agents[agent].state is AgentState.WRAP_UP:
            feed(DispositionSubmitted(agent, core._agents[agent].call_id or "", "done"))
        feed(Tick())
        for cid, pacer in pacers.items():
            pacer.snapshots.clear()
            core._pace(cid, core._runs[cid])
            snap = pacer.snapshots[0]
            members = [a for a in core._agents.values() if cid in a.campaign_ids]
            for got, state in (
                (snap.agents_ready, AgentState.READY),
                (snap.agents_on_call, AgentState.ON_CALL),
                (snap.agents_wrap_up, AgentState.WRAP_UP),
                (snap.agents_paused, AgentState.PAUSED),
            ):
                assert got == sum(a.state is state for a in members), (cid, state)
            assert snap.agents_pausing == sum(a.pause_pending for a in members)
            for ages, state in (
                (snap.on_call_ages_s, AgentState.ON_CALL),
                (snap.wrap_up_ages_s, AgentState.WRAP_UP),
            ):
                assert sorted(ages.tolist()) == sorted(_walk(core, cid, state, now)), (cid, state)
