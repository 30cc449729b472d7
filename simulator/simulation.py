"""The discrete-event driver: one shift of a scenario through the real core.

The core (dialer.core.DialerCore) is the same one the service runs. This
driver plays the world around it in virtual time: callees answer, fail or ring
out; AMD judges; agents talk, wrap up and leave when the schedule says so. It
keeps the truth (who really answered) and computes the report by the
definitions of spec/scenario-format.md.

Common random numbers: every draw that belongs to a lead (its outcome uniform,
answer and fail delays, AMD uniform, talk time) comes from one stream in lead
order, so lead *i* behaves the same whatever the mode or ratio. Agent draws
(wrap-up times) come from a second stream.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from dialer.agents import AgentState
from dialer.campaign import CampaignSettings, DialMode, Lead, RunState
from dialer.clock import FixedOffsetClock
from dialer.commands import (
    AbandonCall,
    BridgeCall,
    CancelCall,
    HangUpCall,
    NotifyAgentState,
    PlaceCall,
    RequestLeads,
    ReturnLeads,
)
from dialer.core import DecisionLog, DialerCore
from dialer.events import (
    AgentHungUp,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentPaused,
    AgentReady,
    AgentRequestedDial,
    AmdClassified,
    CallAnswered,
    CallBridged,
    CallFailed,
    CallHungUp,
    CampaignUpdated,
    DispositionSubmitted,
    Event,
    LeadsClaimed,
    Tick,
)
from simulator.report import Report
from simulator.scenario import Scenario

__all__ = ["ProgressCallback", "campaign_settings", "simulate"]

ProgressCallback = Callable[[float], None]

# Kernel entry kinds.
_ANSWER = 0
_FAIL = 1
_AMD = 2
_CUSTOMER_HANGUP = 3
_AGENT_HANGUP = 4
_DISPOSITION = 5
_STAFFING = 6
_SHIFT_END = 7
_LEAVE = 8

_BLOCK = 4096
_TICK = Tick()
CAMPAIGN_ID = "sim"
# The shift starts at noon UTC: calling hours never bite in the simulator.
_SHIFT_START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

# Truth codes of an answered call.
_HUMAN = 0
_MACHINE = 1


def campaign_settings(scenario: Scenario, state: RunState = RunState.RUNNING) -> CampaignSettings:
    """The core's campaign settings for a scenario's [campaign] and [amd] tables."""
    c = scenario.campaign
    return CampaignSettings(
        id=CAMPAIGN_ID,
        name=scenario.name,
        mode=DialMode(c.mode),
        state=state,
        dial_ratio=c.dial_ratio,
        max_abandon_rate=c.max_abandon_rate,
        ring_timeout_s=c.ring_timeout_s,
        connect_deadline_s=c.connect_deadline_s,
        amd=scenario.amd.enabled,
        amd_detect_s=scenario.amd.detect_s,
        # The AMD product's stated error rate, as a real campaign would configure it.
        amd_false_positive_rate=scenario.amd.false_positive.value_at(0.0)
        if scenario.amd.enabled
        else 0.0,
        max_attempts=1,
        target_agent_wait_s=c.target_agent_wait_s,
        hopper_size=256,
        abandon_window_s=scenario.duration_s,
        cap_guard=c.cap_guard if c.cap_guard is not None else c.mode == "predictive",
        pacer_options={
            "adaptive_intensity": c.adaptive_intensity,
            "adaptive_max_level": c.adaptive_max_level,
            "adaptive_target": c.adaptive_target,
            "adaptive_variant": c.adaptive_variant,
        },
    )


class _LeadStream:
    """Per-lead draws in blocks, in lead order (common random numbers)."""

    __slots__ = ("_block", "_rng", "_rows", "_scenario")

    def __init__(self, scenario: Scenario, rng: np.random.Generator) -> None:
        self._scenario = scenario
        self._rng = rng
        self._block = -1
        self._rows: list[tuple[float, float, float, float, float, float]] = []

    def _fill(self, block: int) -> None:
        rng = self._rng
        sc = self._scenario
        u_outcome = rng.random(_BLOCK).tolist()
        u_amd = rng.random(_BLOCK).tolist()
        answer = sc.callees.answer_delay_s.sample(rng, _BLOCK).tolist()
        fail = sc.callees.fail_delay_s.sample(rng, _BLOCK).tolist()
        talk = sc.agents.talk_s.sample(rng, _BLOCK).tolist()
        mtalk = sc.callees.machine_talk_s.sample(rng, _BLOCK).tolist()
        # One tuple per lead, made here in C rather than at every placement.
        self._rows = list(zip(u_outcome, u_amd, answer, fail, talk, mtalk, strict=True))
        self._block = block

    def draws(self, lead: int) -> tuple[float, float, float, float, float, float]:
        """(outcome uniform, AMD uniform, answer delay, fail delay, talk, machine talk)."""
        block, i = divmod(lead, _BLOCK)
        if block != self._block:
            if block < self._block:
                raise ValueError("leads are drawn in order")
            while self._block < block:
                self._fill(self._block + 1)
        return self._rows[i]


class _Stepwise:
    """A schedule read as a step function, with a cached current segment."""

    __slots__ = ("_i", "_times", "_values")

    def __init__(self, steps: list[tuple[float, float]]) -> None:
        self._times = [t for t, _ in steps]
        self._values = [v for _, v in steps]
        self._i = 0

    @property
    def times(self) -> list[float]:
        return self._times

    def at(self, t: float) -> float:
        # Time only moves forward in a run, so advance the cursor.
        times = self._times
        i = self._i
        while i + 1 < len(times) and times[i + 1] <= t:
            i += 1
        self._i = i
        return self._values[i]


class _Thresholds:
    """The callee shares as cumulative thresholds for one uniform draw.

    ``at(t)`` is (human, + machine, + busy, + invalid) at ``t``, summed in that
    order; it is recomputed only when one of the four schedules steps, not at
    every placement.
    """

    __slots__ = ("_changes", "_i", "_next", "_parts", "_value")

    def __init__(self, parts: tuple[_Stepwise, _Stepwise, _Stepwise, _Stepwise]) -> None:
        self._parts = parts
        self._changes = [*sorted({t for p in parts for t in p.times}), math.inf]
        self._i = 0
        self._value = self._sum(self._changes[0])
        self._next = self._changes[1]

    def _sum(self, t: float) -> tuple[float, float, float, float]:
        human, machine, busy, invalid = self._parts
        ph = human.at(t)
        pm = ph + machine.at(t)
        pb = pm + busy.at(t)
        return ph, pm, pb, pb + invalid.at(t)

    def at(self, t: float) -> tuple[float, float, float, float]:
        if t >= self._next:
            # Time only moves forward in a run, so advance the cursor.
            changes = self._changes
            i = self._i
            while changes[i + 1] <= t:
                i += 1
            self._i = i
            self._next = changes[i + 1]
            self._value = self._sum(t)
        return self._value


@dataclass(slots=True)
class _SimCall:
    """The truth about a call that will be answered (the only ones tracked)."""

    truth: int  # _HUMAN or _MACHINE
    talk_s: float
    machine_talk_s: float
    bridged_at: float | None = None


class _Simulation:
    def __init__(
        self,
        scenario: Scenario,
        decision_log: DecisionLog | None,
        progress: ProgressCallback | None,
    ) -> None:
        from simulator.kernel import Kernel

        self.sc = scenario
        seq = np.random.SeedSequence(scenario.seed)
        lead_seq, agent_seq = seq.spawn(2)
        self.leads = _LeadStream(scenario, np.random.default_rng(lead_seq))
        self.agent_rng = np.random.default_rng(agent_seq)
        self._wrap_block: list[float] = []
        self._wrap_i = 0
        self.kernel = Kernel()
        self.core = DialerCore(
            clock=FixedOffsetClock.starting_at(_SHIFT_START),
            emit_records=False,
            id_prefix="",
            decision_log=decision_log,
        )
        self.progress = progress
        self.settings = campaign_settings(scenario)
        cal = scenario.callees
        self.shares = _Thresholds(
            (
                _Stepwise(cal.human.steps),
                _Stepwise(cal.machine.steps),
                _Stepwise(cal.busy.steps),
                _Stepwise(cal.invalid.steps),
            )
        )
        amd = scenario.amd
        self.amd = amd.enabled
        self.amd_detect_s = amd.detect_s
        self.p_fp = _Stepwise(amd.false_positive.steps)
        self.p_fn = _Stepwise(amd.false_negative.steps)
        self.ring_timeout_s = scenario.campaign.ring_timeout_s
        self.duration_s = scenario.duration_s
        self.preview = self.settings.mode is DialMode.PREVIEW
        self.next_lead = 0
        self.leads_total = scenario.campaign.leads
        # Leads the core gave back undialed (its agents all away): claimed
        # again first, as a store hands back the oldest leads first.
        self.returned: deque[int] = deque()
        self.calls: dict[str, _SimCall] = {}
        self._machine_calls: dict[str, bool] = {}  # bridged machines, until disposition
        # Agents.
        self.agent_seq = 0
        self.logged_in: dict[str, float] = {}  # agent -> login instant
        self.agent_state: dict[str, str] = {}
        # Agents leaving once their call and wrap-up are done (a dict: its
        # order, unlike a set's of strings, is the same in every process).
        self.leaving: dict[str, None] = {}
        self.idle_since: dict[str, float] = {}  # ready after a wrap-up, since
        # Report accumulators.
        self.attempts = 0
        self.human_answered = 0
        self.machine_answered = 0
        self.abandoned = 0
        self.amd_false_positive = 0
        self.connects = 0
        self.machine_connects = 0
        self.talk_s = 0.0
        self.logged_in_s = 0.0
        self.wait_total_s = 0.0
        self.wait_count = 0
        self.outcomes: Counter[str] = Counter()
        self.events = 0  # events the core handled

    # -------------------------------------------------------------- drawing
    def _wrap(self) -> float:
        if self._wrap_i >= len(self._wrap_block):
            self._wrap_block = self.sc.agents.wrap_s.sample(self.agent_rng, _BLOCK).tolist()
            self._wrap_i = 0
        v = self._wrap_block[self._wrap_i]
        self._wrap_i += 1
        return v

    # ------------------------------------------------------------- the loop
    def run(self) -> Report:
        k = self.kernel
        core = self.core
        self._feed(CampaignUpdated(self.settings, window_ends_at=self.duration_s), 0.0)
        for at, count in self.sc.agents.count.steps:
            k.schedule(at, _STAFFING, int(count))
        k.schedule(self.duration_s, _SHIFT_END)
        handlers: dict[int, Callable[[Any, Any], None]] = {
            _ANSWER: self._on_answer,
            _FAIL: self._on_fail,
            _AMD: self._on_amd,
            _CUSTOMER_HANGUP: self._on_customer_hangup,
            _AGENT_HANGUP: self._on_agent_hangup,
            _DISPOSITION: self._on_disposition,
            _STAFFING: self._on_staffing,
            _SHIFT_END: self._on_shift_end,
            _LEAVE: self._on_leave,
        }
        progress = self.progress
        next_progress = 0.0
        step = self.duration_s / 200.0
        step_before = k.step_before
        while True:
            # The core's own deadline goes first when it is due no later than
            # the world's next entry.
            deadline = core.next_deadline()
            entry = step_before(math.inf if deadline is None else deadline)
            if entry is None:
                if deadline is None:
                    break
                k.advance(deadline)
                self.events += 1
                self._process(core.handle(_TICK, k.now), k.now)
                continue
            kind, a, b = entry
            handlers[kind](a, b)
            if progress is not None and k.now >= next_progress:
                progress(min(k.now, self.duration_s))
                next_progress = k.now + step
        end = self.duration_s
        for since in self.logged_in.values():
            self.logged_in_s += max(0.0, end - since)
        self.logged_in.clear()
        if progress is not None:
            progress(self.duration_s)
        return self._report()

    def _feed(self, event: Event, now: float) -> None:
        self.events += 1
        commands = self.core.handle(event, now)
        if commands:  # a bridge confirmation, say, usually causes none
            self._process(commands, now)

    # ------------------------------------------------------- core commands
    def _process(self, commands: list[Any], now: float) -> None:
        # Dispatch on the exact type (faster than isinstance chains in this
        # hot loop); ``Any`` because mypy does not narrow on ``type(x) is``.
        # Most frequent first; CancelCall, SkipLead and RecordCall need nothing
        # from the world here.
        for cmd in commands:
            t = type(cmd)
            if t is NotifyAgentState:
                self._agent_state(cmd.agent_id, cmd.state, now)
            elif t is PlaceCall:
                self._place(cmd, now)
            elif t is CancelCall:
                continue
            elif t is BridgeCall:
                self._bridge(cmd, now)
            elif t is AbandonCall:
                if self.calls.pop(cmd.call_id).truth == _HUMAN:
                    self.abandoned += 1
            elif t is HangUpCall:
                call = self.calls.get(cmd.call_id)
                if call is not None and call.bridged_at is None:
                    # AMD said machine: a person hung up on is abandoned.
                    del self.calls[cmd.call_id]
                    if call.truth == _HUMAN:
                        self.abandoned += 1
                        self.amd_false_positive += 1
            elif t is RequestLeads:
                self._supply_leads(cmd.count, now)
            elif t is ReturnLeads:
                self.returned.extend(int(i) for i in cmd.lead_ids)

    def _supply_leads(self, count: int, now: float) -> None:
        returned = self.returned
        again = [returned.popleft() for _ in range(min(count, len(returned)))]
        start = self.next_lead
        stop = min(self.leads_total, start + count - len(again))
        self.next_lead = stop
        leads = tuple([Lead(str(i), CAMPAIGN_ID, "") for i in (*again, *range(start, stop))])
        exhausted = stop >= self.leads_total and not returned
        self._feed(LeadsClaimed(CAMPAIGN_ID, leads, exhausted=exhausted), now)

    def _place(self, cmd: PlaceCall, now: float) -> None:
        self.attempts += 1
        lead = int(cmd.lead_id)
        u, u_amd, answer_s, fail_s, talk_s, mtalk_s = self.leads.draws(lead)
        ph, pm, pb, pi = self.shares.at(now)
        k = self.kernel
        # Only calls that will be answered are tracked: the world has nothing
        # more to say about the others (their CancelCall needs no answer), and
        # keeping them would grow self.calls by every ring-out of the shift.
        if u < pm and answer_s < self.ring_timeout_s:
            self.calls[cmd.call_id] = _SimCall(_HUMAN if u < ph else _MACHINE, talk_s, mtalk_s)
            k.schedule(now + answer_s, _ANSWER, cmd.call_id, u_amd)
        elif u < pm:
            self.outcomes["no_answer"] += 1  # would answer after the ring timeout
        elif u < pi:
            k.schedule(now + fail_s, _FAIL, cmd.call_id, "busy" if u < pb else "invalid")
        else:
            self.outcomes["no_answer"] += 1

    def _bridge(self, cmd: BridgeCall, now: float) -> None:
        call = self.calls[cmd.call_id]
        call.bridged_at = now
        agent = cmd.agent_id
        since = self.idle_since.pop(agent, None)
        if since is not None and now <= self.duration_s:
            self.wait_total_s += now - since
            self.wait_count += 1
        self._feed(CallBridged(cmd.call_id), now)
        if call.truth == _HUMAN:
            if now < self.duration_s:
                self.connects += 1
            self.kernel.schedule(now + call.talk_s, _CUSTOMER_HANGUP, cmd.call_id, agent)
        else:
            self.machine_connects += 1
            self._machine_calls[cmd.call_id] = True
            self.kernel.schedule(now + call.machine_talk_s, _AGENT_HANGUP, cmd.call_id, agent)

    def _agent_state(self, agent: str, state: str, now: float) -> None:
        previous = self.agent_state.get(agent)
        self.agent_state[agent] = state
        if state == "wrap_up":
            self.kernel.schedule(now + self._wrap(), _DISPOSITION, agent, None)
        elif state == "ready":
            if previous == "wrap_up":
                self.idle_since[agent] = now
            if self.preview and self.settings.state is RunState.RUNNING:
                self._feed(AgentRequestedDial(agent, CAMPAIGN_ID), now)
        elif state != "on_call":
            # Paused or gone: that idle spell ends without a call. (On a call,
            # the bridge itself closes the spell and counts it.)
            self.idle_since.pop(agent, None)
            if state == "paused" and agent in self.leaving:
                # The pause asked for when the staffing dropped, taken at the
                # end of the wrap-up: log out once this batch of commands is done.
                self.kernel.schedule(now, _LEAVE, agent)

    # ---------------------------------------------------------- world events
    def _on_answer(self, call_id: str, u_amd: float) -> None:
        now = self.kernel.now
        call = self.calls.get(call_id)
        if call is None:
            return
        if call.truth == _HUMAN:
            self.human_answered += 1
            self.outcomes["human"] += 1
        else:
            self.machine_answered += 1
            self.outcomes["machine"] += 1
        if self.amd:
            if call.truth == _HUMAN:
                machine = u_amd < self.p_fp.at(now)
            else:
                machine = u_amd >= self.p_fn.at(now)
            self.kernel.schedule(now + self.amd_detect_s, _AMD, call_id, machine)
        self._feed(CallAnswered(call_id), now)

    def _on_fail(self, call_id: str, outcome: str) -> None:
        self.outcomes[outcome] += 1
        self._feed(CallFailed(call_id, outcome), self.kernel.now)

    def _on_amd(self, call_id: str, machine: bool) -> None:
        if call_id in self.calls:
            self._feed(AmdClassified(call_id, machine), self.kernel.now)

    def _on_customer_hangup(self, call_id: str, agent: str) -> None:
        now = self.kernel.now
        call = self.calls.pop(call_id)
        assert call.bridged_at is not None
        self.talk_s += max(0.0, min(now, self.duration_s) - min(call.bridged_at, self.duration_s))
        self._feed(CallHungUp(call_id), now)

    def _on_agent_hangup(self, call_id: str, agent: str) -> None:
        self.calls.pop(call_id, None)
        self._feed(AgentHungUp(agent, call_id), self.kernel.now)

    def _on_disposition(self, agent: str, _: object) -> None:
        call_id = self.core.agent_call(agent)
        assert call_id is not None
        # The agent knows when it was a machine (without AMD nothing else does).
        machine = self._machine_calls.pop(call_id, False)
        # Positional (no callback, no notes): keywords would cost a dict per call.
        event = DispositionSubmitted(agent, call_id, "done", None, None, machine)
        self._feed(event, self.kernel.now)

    # ------------------------------------------------------------- staffing
    def _on_staffing(self, count: int, _: object) -> None:
        now = self.kernel.now
        present = len(self.logged_in) - len(self.leaving)
        if count > present:
            # Agents due to leave stay instead of new ones logging in.
            while self.leaving and count > present:
                agent = self.leaving.popitem()[0]
                self._feed(AgentReady(agent), now)  # cancels its pending pause
                present += 1
            for _ in range(count - present):
                self.agent_seq += 1
                agent = f"a{self.agent_seq}"
                self.logged_in[agent] = now
                self._feed(AgentLoggedIn(agent, (CAMPAIGN_ID,)), now)
                self._feed(AgentReady(agent), now)
        elif count < present:
            excess = present - count
            # Ready agents leave at once; the rest after their call and wrap-up.
            ready = [a for a in self.logged_in if self.core.agent_state(a) is AgentState.READY]
            for agent in ready[:excess]:
                self._logout(agent, now)
            excess -= min(excess, len(ready))
            if excess:
                busy = [a for a in self.logged_in if a not in self.leaving]
                for agent in busy[:excess]:
                    # As an agent going home does: pause after this call, so
                    # no call is placed for them once the wrap-up ends.
                    self.leaving[agent] = None
                    self._feed(AgentPaused(agent, "leaving"), now)

    def _on_leave(self, agent: str, _: object) -> None:
        if agent in self.leaving and self.core.agent_state(agent) is AgentState.PAUSED:
            del self.leaving[agent]
            self._logout(agent, self.kernel.now)

    def _logout(self, agent: str, now: float) -> None:
        since = self.logged_in.pop(agent)
        end = min(now, self.duration_s)
        self.logged_in_s += max(0.0, end - min(since, self.duration_s))
        self.idle_since.pop(agent, None)
        self._feed(AgentLoggedOut(agent), now)
        self.agent_state.pop(agent, None)

    def _on_shift_end(self, _a: object, _b: object) -> None:
        now = self.kernel.now
        self.settings = campaign_settings(self.sc, RunState.STOPPED)
        self._feed(CampaignUpdated(self.settings, window_ends_at=self.duration_s), now)
        # Time figures stop here; agents still finish the calls in flight.
        for since in self.logged_in.values():
            self.logged_in_s += max(0.0, now - since)
        self.logged_in = {a: math.inf for a in self.logged_in}

    # --------------------------------------------------------------- report
    def _report(self) -> Report:
        sc = self.sc
        hours = self.logged_in_s / 3600.0
        return Report(
            name=sc.name,
            seed=sc.seed,
            mode=sc.campaign.mode,
            dial_ratio=sc.campaign.dial_ratio if sc.campaign.mode == "power" else None,
            duration_s=sc.duration_s,
            attempts=self.attempts,
            human_answered=self.human_answered,
            machine_answered=self.machine_answered,
            abandoned=self.abandoned,
            abandon_rate=self.abandoned / self.human_answered if self.human_answered else 0.0,
            occupancy=self.talk_s / self.logged_in_s if self.logged_in_s else 0.0,
            connects_per_agent_hour=self.connects / hours if hours else 0.0,
            mean_agent_wait_s=self.wait_total_s / self.wait_count if self.wait_count else 0.0,
            occupancy_limit=sc.occupancy_limit,
            outcomes=dict(sorted(self.outcomes.items())),
            connects=self.connects,
            machine_connects=self.machine_connects,
            amd_false_positive_abandons=self.amd_false_positive,
            agent_hours=hours,
            max_abandon_rate=sc.campaign.max_abandon_rate,
            events=self.events,
        )


def simulate(
    scenario: Scenario,
    *,
    decision_log: DecisionLog | None = None,
    progress: ProgressCallback | None = None,
) -> Report:
    """Run one shift of ``scenario`` and return its report."""
    started = time.perf_counter()
    report = _Simulation(scenario, decision_log, progress).run()
    return replace(report, wall_time_s=time.perf_counter() - started)
