"""The sans-I/O core driven by hand: no event loop, no simulator."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dialer.campaign import CampaignSettings, DialMode, Lead, RunState
from dialer.clock import FixedOffsetClock
from dialer.commands import (
    AbandonCall,
    BridgeCall,
    CancelCall,
    Command,
    DialRefused,
    NotifyAgentState,
    PlaceCall,
    RecordCall,
    RequestLeads,
    ReturnLeads,
    SkipLead,
)
from dialer.core import DialerCore
from dialer.errors import IllegalTransition, NotFound
from dialer.events import (
    AgentCampaignsChanged,
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
    CampaignRemoved,
    CampaignUpdated,
    DispositionSubmitted,
    LeadsClaimed,
    LeadsRevoked,
    Tick,
)
from dialer.ports import GateVerdict
from pacing.fixed import PowerPacer
from pacing.observations import Observation
from pacing.snapshot import PacingDecision, PacingSnapshot


def settings(**kw: object) -> CampaignSettings:
    base = CampaignSettings(
        id="camp",
        name="test",
        mode=DialMode.PROGRESSIVE,
        state=RunState.RUNNING,
        safe_harbor_message="This was ACME; call 555-0100.",
        hopper_size=10,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def leads(n: int, start: int = 0) -> tuple[Lead, ...]:
    return tuple(Lead(f"l{i}", "camp", f"+1555555{i:04d}") for i in range(start, start + n))


def of(cmds: list[Command], kind: type) -> list:  # type: ignore[type-arg]
    return [c for c in cmds if isinstance(c, kind)]


def make_core(**kw: object) -> DialerCore:
    core = DialerCore(clock=FixedOffsetClock(1_700_000_000.0), **kw)  # type: ignore[arg-type]
    cmds = core.handle(CampaignUpdated(settings()), 0.0)
    assert of(cmds, RequestLeads) == []  # no agent here yet: no leads claimed for none
    core.handle(LeadsClaimed("camp", leads(10)), 0.0)
    return core


def login(core: DialerCore, agent: str, now: float) -> list[Command]:
    core.handle(AgentLoggedIn(agent, ("camp",)), now)
    return core.handle(AgentReady(agent), now)


def test_progressive_dials_one_line_per_ready_agent() -> None:
    core = make_core()
    cmds = login(core, "a1", 1.0)
    placed = of(cmds, PlaceCall)
    assert len(placed) == 1
    assert placed[0].ring_timeout_s == 20.0 and placed[0].lead_id == "l0"
    assert NotifyAgentState("a1", "ready") in cmds
    # Nothing more while that line is in flight.
    assert of(core.handle(Tick(), 2.0), PlaceCall) == []


def test_answered_call_goes_to_the_longest_ready_agent() -> None:
    core = make_core()
    c1 = of(login(core, "a1", 1.0), PlaceCall)[0]
    login(core, "a2", 2.0)
    cmds = core.handle(CallAnswered(c1.call_id), 5.0)
    assert of(cmds, BridgeCall) == [BridgeCall(c1.call_id, "a1")]
    assert NotifyAgentState("a1", "on_call") in cmds
    assert core.stats("camp").agents.on_call == 1


def test_unbridged_person_is_abandoned_with_the_safe_harbor_message() -> None:
    core = make_core(pacer_factory=lambda s: PowerPacer(3))
    cmds = login(core, "a1", 0.0)
    calls = [c.call_id for c in of(cmds, PlaceCall)]
    assert len(calls) == 3
    core.handle(CallAnswered(calls[0]), 5.0)  # takes a1
    core.handle(CallAnswered(calls[1]), 6.0)  # waits
    assert core.next_deadline() == pytest.approx(8.0)
    assert of(core.handle(Tick(), 7.99), AbandonCall) == []
    cmds = core.handle(Tick(), 8.0)
    assert of(cmds, AbandonCall) == [AbandonCall(calls[1], "This was ACME; call 555-0100.")]
    st = core.stats("camp")
    assert (st.abandoned, st.human_answered) == (1, 2)
    ended = [r.record for r in of(cmds, RecordCall) if r.record.id == calls[1]]
    assert ended and ended[-1].abandoned and ended[-1].ended_at == 8.0


def test_waiting_call_is_bridged_when_an_agent_frees_up_in_time() -> None:
    core = make_core(pacer_factory=lambda s: PowerPacer(2))
    calls = [c.call_id for c in of(login(core, "a1", 0.0), PlaceCall)]
    core.handle(CallAnswered(calls[0]), 5.0)
    core.handle(CallBridged(calls[0]), 5.0)
    core.handle(CallAnswered(calls[1]), 6.0)
    core.handle(CallHungUp(calls[0]), 6.5)  # customer ends call 0: agent wraps up
    assert core.agent_state("a1").value == "wrap_up"
    cmds = core.handle(DispositionSubmitted("a1", calls[0], "sale"), 7.5)
    assert of(cmds, BridgeCall) == [BridgeCall(calls[1], "a1")]
    assert of(core.handle(Tick(), 9.0), AbandonCall) == []


def test_ring_timeout_cancels_and_a_late_answer_is_ignored() -> None:
    core = make_core()
    c1 = of(login(core, "a1", 0.0), PlaceCall)[0]
    assert core.next_deadline() == pytest.approx(20.0)
    cmds = core.handle(Tick(), 20.0)
    assert CancelCall(c1.call_id) in cmds
    assert len(of(cmds, PlaceCall)) == 1  # the agent is still ready: next lead
    assert of(core.handle(CallAnswered(c1.call_id), 20.5), BridgeCall) == []


def test_failed_calls_free_the_line() -> None:
    core = make_core()
    c1 = of(login(core, "a1", 0.0), PlaceCall)[0]
    cmds = core.handle(CallFailed(c1.call_id, "busy"), 2.0)
    assert len(of(cmds, PlaceCall)) == 1
    assert core.stats("camp").dialed == 2


def test_paused_agents_get_no_calls() -> None:
    core = make_core(pacer_factory=lambda s: PowerPacer(2))
    calls = [c.call_id for c in of(login(core, "a1", 0.0), PlaceCall)]
    core.handle(AgentPaused("a1", "lunch"), 1.0)
    cmds = core.handle(CallAnswered(calls[0]), 2.0)
    assert of(cmds, BridgeCall) == []
    assert len(of(core.handle(Tick(), 4.0), AbandonCall)) == 1


def test_pause_while_on_call_takes_effect_after_wrap_up() -> None:
    core = make_core()
    c1 = of(login(core, "a1", 0.0), PlaceCall)[0]
    core.handle(CallAnswered(c1.call_id), 1.0)
    core.handle(CallBridged(c1.call_id), 1.0)
    core.handle(AgentPaused("a1"), 2.0)
    core.handle(AgentHungUp("a1", c1.call_id), 3.0)
    cmds = core.handle(DispositionSubmitted("a1", c1.call_id, "ok"), 4.0)
    assert NotifyAgentState("a1", "paused") in cmds
    assert of(cmds, PlaceCall) == []


def _in_wrap_up(core: DialerCore) -> str:
    call: str = of(login(core, "a1", 0.0), PlaceCall)[0].call_id
    core.handle(CallAnswered(call), 1.0)
    core.handle(CallBridged(call), 1.0)
    core.handle(CallHungUp(call), 30.0)
    assert core.agent_state("a1").value == "wrap_up"
    return call


def test_a_pause_in_wrap_up_keeps_the_disposition_and_is_taken_after_it() -> None:
    # A softphone that drops in wrap-up is paused: its disposition (a dnc,
    # say) must still be taken when it comes back.
    core = make_core()
    call = _in_wrap_up(core)
    assert core.handle(AgentPaused("a1", "disconnected"), 31.0) == []
    assert core.agent_state("a1").value == "wrap_up"
    cmds = core.handle(DispositionSubmitted("a1", call, "dnc"), 40.0)
    records = [r.record for r in of(cmds, RecordCall) if r.record.id == call]
    assert records and records[-1].disposition == "dnc"
    assert NotifyAgentState("a1", "paused") in cmds
    assert of(cmds, PlaceCall) == []
    assert core.agent_call("a1") is None


def test_ready_after_a_pause_in_wrap_up_means_ready_once_the_disposition_is_in() -> None:
    core = make_core()
    call = _in_wrap_up(core)
    core.handle(AgentPaused("a1", "disconnected"), 31.0)
    assert core.handle(AgentReady("a1"), 35.0) == []  # the softphone is back
    cmds = core.handle(DispositionSubmitted("a1", call, "sale"), 40.0)
    assert NotifyAgentState("a1", "ready") in cmds
    assert len(of(cmds, PlaceCall)) == 1


def test_ready_in_wrap_up_without_a_pause_is_still_refused() -> None:
    core = make_core()
    _in_wrap_up(core)
    with pytest.raises(IllegalTransition):
        core.handle(AgentReady("a1"), 35.0)
    assert core.agent_state("a1").value == "wrap_up"


def test_the_wrap_up_limit_closes_a_paused_wrap_up_into_the_pause() -> None:
    core = DialerCore(clock=FixedOffsetClock(1_700_000_000.0))
    core.handle(CampaignUpdated(settings(wrap_up_limit_s=30.0)), 0.0)
    core.handle(LeadsClaimed("camp", leads(10)), 0.0)
    call = _in_wrap_up(core)  # wrap-up from 30.0
    core.handle(AgentPaused("a1"), 31.0)
    cmds = core.handle(Tick(), 60.0)
    records = [r.record for r in of(cmds, RecordCall) if r.record.id == call]
    assert records and records[-1].disposition == "wrap_timeout"
    assert core.agent_state("a1").value == "paused"


def test_amd_machine_is_hung_up_and_human_waits_from_classification() -> None:
    core = DialerCore(clock=FixedOffsetClock(0.0))
    core.handle(CampaignUpdated(settings(amd=True)), 0.0)
    core.handle(LeadsClaimed("camp", leads(10)), 0.0)
    c1 = of(login(core, "a1", 0.0), PlaceCall)[0]
    assert c1.amd
    core.handle(CallAnswered(c1.call_id), 5.0)
    core.handle(AgentPaused("a1"), 5.5)
    core.handle(AmdClassified(c1.call_id, machine=False), 7.5)
    assert core.next_deadline() == pytest.approx(9.5)


def test_cap_forces_progressive() -> None:
    core = DialerCore(clock=FixedOffsetClock(0.0), pacer_factory=lambda s: PowerPacer(5))
    core.handle(
        CampaignUpdated(settings(amd=True), window_human_answered=100, window_abandoned=3), 0.0
    )
    core.handle(LeadsClaimed("camp", leads(10)), 0.0)
    assert core.stats("camp").capped
    cmds = login(core, "a1", 0.0)
    assert len(of(cmds, PlaceCall)) == 1


def test_gate_refusal_skips_the_lead_and_dials_the_next() -> None:
    class NoEvenLeads:
        def check(self, lead: Lead, campaign: CampaignSettings, wall: float) -> GateVerdict:
            if int(lead.id[1:]) % 2 == 0:
                return GateVerdict(False, "dnc")
            return GateVerdict(True, "ok")

    core = make_core(gate=NoEvenLeads())
    cmds = login(core, "a1", 0.0)
    assert of(cmds, SkipLead) == [SkipLead("camp", "l0", "dnc", phone="+15555550000")]
    assert [c.lead_id for c in of(cmds, PlaceCall)] == ["l1"]


def test_leads_past_their_attempt_limit_are_never_dialed() -> None:
    core = DialerCore(clock=FixedOffsetClock(0.0))
    core.handle(CampaignUpdated(settings(max_attempts=2)), 0.0)
    core.handle(LeadsClaimed("camp", (replace(leads(1)[0], attempts=2), leads(1, 1)[0])), 0.0)
    cmds = login(core, "a1", 0.0)
    assert [c.lead_id for c in of(cmds, PlaceCall)] == ["l1"]
    assert of(cmds, SkipLead)[0].reason == "max_attempts"


def test_preview_dials_only_on_request_and_bridges_to_that_agent() -> None:
    core = DialerCore(clock=FixedOffsetClock(0.0))
    core.handle(CampaignUpdated(settings(mode=DialMode.PREVIEW)), 0.0)
    core.handle(LeadsClaimed("camp", leads(5)), 0.0)
    assert of(login(core, "a1", 0.0), PlaceCall) == []
    login(core, "a2", 0.0)
    cmds = core.handle(AgentRequestedDial("a2", "camp"), 1.0)
    (placed,) = of(cmds, PlaceCall)
    assert placed.agent_id == "a2"
    cmds = core.handle(CallAnswered(placed.call_id), 6.0)
    assert of(cmds, BridgeCall) == [BridgeCall(placed.call_id, "a2")]


def test_leads_are_claimed_for_the_agents_logged_in_here_only() -> None:
    """Found with two processes on one database: one with no agents claimed
    every lead (a hopper of 200 whatever its floor), and the other's agents
    got none."""
    big = replace(settings(), hopper_size=200)
    core = DialerCore(clock=FixedOffsetClock(0.0))
    assert of(core.handle(CampaignUpdated(big), 0.0), RequestLeads) == []
    assert of(core.handle(AgentLoggedIn("a1", ("camp",)), 1.0), RequestLeads) == []  # paused
    cmds = core.handle(AgentReady("a1"), 1.0)
    assert of(cmds, RequestLeads) == [RequestLeads("camp", 25)]  # one agent's worth
    # Nine agents (225 leads' worth) get the whole hopper, no more.
    floor = DialerCore(clock=FixedOffsetClock(0.0))
    floor.handle(CampaignUpdated(replace(big, state=RunState.STOPPED)), 0.0)
    for i in range(9):
        floor.handle(AgentLoggedIn(f"a{i}", ("camp",)), 1.0)
        floor.handle(AgentReady(f"a{i}"), 1.0)
    assert of(floor.handle(CampaignUpdated(big), 2.0), RequestLeads) == [RequestLeads("camp", 200)]


def _preview_with_leads(agent_ready_at: float = 0.0) -> DialerCore:
    """A preview campaign (nothing dials by itself) whose hopper holds ten
    leads claimed for one agent, a1, ready."""
    core = DialerCore(clock=FixedOffsetClock(0.0))
    core.handle(CampaignUpdated(settings(mode=DialMode.PREVIEW)), 0.0)
    cmds = login(core, "a1", agent_ready_at)
    assert of(cmds, RequestLeads) == [RequestLeads("camp", 10)]
    core.handle(LeadsClaimed("camp", leads(10)), agent_ready_at)
    return core


def test_leads_held_while_every_agent_here_is_away_go_back_to_the_store() -> None:
    """Found looking at two processes on one database: a process whose
    softphones had all gone (away means paused) kept its claimed leads for
    ever, and the other process's agents could not have them."""
    core = _preview_with_leads()
    assert of(core.handle(AgentPaused("a1", "disconnected"), 10.0), ReturnLeads) == []
    assert core.next_deadline() == 70.0  # a minute away: a break, or gone?
    assert of(core.handle(Tick(), 69.9), ReturnLeads) == []
    cmds = core.handle(Tick(), 70.0)
    assert of(cmds, ReturnLeads) == [ReturnLeads("camp", tuple(f"l{i}" for i in range(10)))]
    assert core.stats("camp").hopper == 0 and not core.stats("camp").leads_exhausted
    # Nothing is claimed again while nobody is here to dial...
    for t in (71.0, 200.0):
        assert of(core.handle(Tick(), t), RequestLeads) == []
    # ...and an agent back is claimed for at once, a preview agent included.
    assert of(core.handle(AgentReady("a1"), 300.0), RequestLeads) == [RequestLeads("camp", 10)]


def test_a_short_break_keeps_the_leads_and_a_second_one_counts_afresh() -> None:
    core = _preview_with_leads()
    core.handle(AgentPaused("a1"), 10.0)
    core.handle(AgentReady("a1"), 40.0)  # back within the minute
    core.handle(AgentPaused("a1"), 50.0)  # and away again: a minute from now
    assert of(core.handle(Tick(), 70.0), ReturnLeads) == []
    assert core.stats("camp").hopper == 10
    assert of(core.handle(Tick(), 109.9), ReturnLeads) == []
    assert len(of(core.handle(Tick(), 110.0), ReturnLeads)[0].lead_ids) == 10


def test_leads_are_kept_while_any_agent_of_the_campaign_is_still_here() -> None:
    core = _preview_with_leads()
    login(core, "a2", 0.0)
    core.handle(AgentPaused("a1"), 10.0)
    core.handle(AgentLoggedOut("a1"), 20.0)
    for t in (70.0, 500.0):
        assert of(core.handle(Tick(), t), ReturnLeads) == []
    # The last one leaves (logs out, moves to another campaign): back they go.
    core.handle(AgentCampaignsChanged("a2", ("other",)), 600.0)
    assert of(core.handle(Tick(), 660.0), ReturnLeads) != []


def test_leads_that_arrive_after_the_agents_left_go_back_too() -> None:
    core = DialerCore(clock=FixedOffsetClock(0.0))
    core.handle(CampaignUpdated(settings(mode=DialMode.PREVIEW)), 0.0)
    login(core, "a1", 0.0)  # the claim goes out...
    core.handle(AgentPaused("a1"), 5.0)  # ...the agent goes...
    core.handle(LeadsClaimed("camp", leads(10)), 6.0)  # ...the leads come
    assert of(core.handle(Tick(), 64.9), ReturnLeads) == []
    assert len(of(core.handle(Tick(), 65.0), ReturnLeads)[0].lead_ids) == 10


def test_a_preview_dial_with_no_lead_at_hand_is_refused_not_ignored() -> None:
    """Found with a real softphone: a dial with no lead left got no answer at
    all, and the softphone waited for ever."""
    core = DialerCore(clock=FixedOffsetClock(0.0))
    core.handle(CampaignUpdated(settings(mode=DialMode.PREVIEW)), 0.0)
    core.handle(LeadsClaimed("camp", leads(1), exhausted=True), 0.0)
    login(core, "a1", 0.0)
    (placed,) = of(core.handle(AgentRequestedDial("a1", "camp"), 1.0), PlaceCall)
    core.handle(CallFailed(placed.call_id, "busy"), 2.0)
    cmds = core.handle(AgentRequestedDial("a1", "camp"), 3.0)
    assert of(cmds, PlaceCall) == []
    assert of(cmds, DialRefused) == [DialRefused("a1", "camp", None, "no_leads")]
    assert core.agent_state("a1").value == "ready"


def test_stopped_campaign_dials_nothing() -> None:
    core = DialerCore(clock=FixedOffsetClock(0.0))
    core.handle(CampaignUpdated(settings(state=RunState.STOPPED)), 0.0)
    core.handle(LeadsClaimed("camp", leads(5)), 0.0)
    assert of(login(core, "a1", 0.0), PlaceCall) == []


def test_unknown_ids_and_bad_requests_raise_without_changing_state() -> None:
    core = make_core()
    with pytest.raises(NotFound):
        core.handle(AgentReady("ghost"), 0.0)
    login(core, "a1", 0.0)
    with pytest.raises(IllegalTransition):
        core.handle(DispositionSubmitted("a1", "nope", "x"), 1.0)
    assert core.agent_state("a1").value == "ready"


def test_ready_while_on_a_call_cancels_a_pending_pause_and_nothing_else() -> None:
    core = make_core()
    c1 = of(login(core, "a1", 0.0), PlaceCall)[0]
    core.handle(CallAnswered(c1.call_id), 1.0)
    core.handle(CallBridged(c1.call_id), 1.0)
    core.handle(AgentPaused("a1"), 2.0)
    assert core.handle(AgentReady("a1"), 3.0) == []
    assert core.agent_state("a1").value == "on_call"
    core.handle(CallHungUp(c1.call_id), 4.0)
    cmds = core.handle(DispositionSubmitted("a1", c1.call_id, "ok"), 5.0)
    assert NotifyAgentState("a1", "ready") in cmds


# ------------------------------------------------------- compliance verdicts
class ScriptedGate:
    """A gate whose verdict per lead id the test sets."""

    def __init__(self, verdicts: dict[str, GateVerdict]) -> None:
        self.verdicts = verdicts

    def check(self, lead: Lead, campaign: CampaignSettings, wall: float) -> GateVerdict:
        return self.verdicts.get(lead.id, GateVerdict(True, "allowed"))


def test_a_call_that_needs_an_agent_reserves_the_longest_ready_one() -> None:
    gate = ScriptedGate({"l0": GateVerdict(True, "abandoned_recently", 99.0, needs_agent=True)})
    core = DialerCore(clock=FixedOffsetClock(0.0), gate=gate)
    core.handle(CampaignUpdated(settings(mode=DialMode.POWER, dial_ratio=1.0, amd=True)), 0.0)
    login(core, "a1", 0.0)
    login(core, "a2", 1.0)
    cmds = core.handle(LeadsClaimed("camp", leads(2)), 2.0)
    first, second = of(cmds, PlaceCall)
    # The guarded lead went to a1 (ready longest), dialed without AMD, a1 held for it.
    assert (first.lead_id, first.agent_id, first.amd) == ("l0", "a1", False)
    assert core.agent_state("a1").value == "on_call"
    assert (second.lead_id, second.agent_id, second.amd) == ("l1", None, True)
    # A person answers: straight to the agent who waited, never abandoned.
    cmds = core.handle(CallAnswered(first.call_id), 5.0)
    assert of(cmds, BridgeCall) == [BridgeCall(first.call_id, "a1")]
    rec = [c.record for c in of(cmds, RecordCall)][-1]
    assert rec.decision == "abandoned_recently:reserved_agent"


def test_with_no_agent_to_reserve_the_lead_waits() -> None:
    gate = ScriptedGate({"l0": GateVerdict(True, "personal_callback", 120.0, True, "ada")})
    core = DialerCore(clock=FixedOffsetClock(0.0), gate=gate)
    core.handle(CampaignUpdated(settings()), 0.0)
    core.handle(LeadsClaimed("camp", leads(2)), 0.0)
    cmds = login(core, "bob", 1.0)
    # ada's callback is not bob's: the core holds it for her; bob gets the next lead.
    assert of(cmds, SkipLead) == []
    assert [(c.lead_id, c.agent_id) for c in of(cmds, PlaceCall)] == [("l1", None)]
    cmds = login(core, "ada", 3.0)
    assert [(c.lead_id, c.agent_id) for c in of(cmds, PlaceCall)] == [("l0", "ada")]


def test_a_callback_held_for_an_agent_goes_back_too_when_every_agent_is_away() -> None:
    """Ada's personal callback waits in this core for her; if she comes back
    on another process, it must be there to have: it goes back with the rest."""
    gate = ScriptedGate({"l0": GateVerdict(True, "personal_callback", 120.0, True, "ada")})
    core = DialerCore(clock=FixedOffsetClock(0.0), gate=gate)
    core.handle(CampaignUpdated(settings(mode=DialMode.PREVIEW)), 0.0)
    login(core, "bob", 0.0)
    core.handle(LeadsClaimed("camp", leads(1)), 0.0)
    assert of(core.handle(AgentRequestedDial("bob", "camp"), 1.0), PlaceCall) == []
    assert core.stats("camp").hopper == 0  # not bob's: held for ada
    core.handle(AgentPaused("bob"), 3.0)
    assert of(core.handle(Tick(), 63.0), ReturnLeads) == [ReturnLeads("camp", ("l0",))]


def test_a_campaign_blocked_by_the_gate_dials_nothing_and_says_why() -> None:
    stale = GateVerdict(False, "registry_stale:us", campaign_blocked=True)
    gate = ScriptedGate({f"l{i}": stale for i in range(3)})
    core = DialerCore(clock=FixedOffsetClock(0.0), gate=gate)
    core.handle(CampaignUpdated(settings()), 0.0)
    core.handle(LeadsClaimed("camp", leads(3)), 0.0)
    cmds = login(core, "a1", 1.0)
    assert of(cmds, PlaceCall) == [] and of(cmds, SkipLead) == []
    stats = core.stats("camp")
    assert stats.blocked_reason == "registry_stale:us" and stats.hopper == 3
    gate.verdicts.clear()
    # The driver re-announces its campaigns when a fresh copy is loaded.
    cmds = core.handle(CampaignUpdated(settings()), 2.0)
    assert [c.lead_id for c in of(cmds, PlaceCall)] == ["l0"]
    assert core.stats("camp").blocked_reason is None


def test_a_manual_dial_passes_the_gate_for_that_agent() -> None:
    gate = ScriptedGate({"l7": GateVerdict(False, "outside_calling_hours", 500.0)})
    core = DialerCore(clock=FixedOffsetClock(0.0), gate=gate)
    core.handle(CampaignUpdated(settings(mode=DialMode.PREVIEW)), 0.0)
    login(core, "a1", 0.0)
    wanted = Lead("l8", "camp", "+15555550008")
    (placed,) = of(core.handle(AgentRequestedDial("a1", "camp", lead=wanted), 1.0), PlaceCall)
    assert (placed.lead_id, placed.agent_id) == ("l8", "a1")
    login(core, "a2", 1.0)
    refused = Lead("l7", "camp", "+15555550007")
    cmds = core.handle(AgentRequestedDial("a2", "camp", lead=refused), 2.0)
    assert of(cmds, PlaceCall) == []
    assert of(cmds, SkipLead) == [
        SkipLead("camp", "l7", "outside_calling_hours", 500.0, "+15555550007")
    ]
    assert of(cmds, DialRefused) == [
        DialRefused("a2", "camp", "l7", "outside_calling_hours", 500.0)
    ]
    assert core.agent_state("a2").value == "ready"


def test_count_pacers_answer_through_decide_counts_as_decide_would() -> None:
    from pacing.fixed import PreviewPacer, ProgressivePacer
    from pacing.snapshot import PacingSnapshot

    for pacer in (PowerPacer(2.5), PowerPacer(0.3), ProgressivePacer(), PreviewPacer()):
        for ready in range(0, 12):
            for lines in range(0, 30, 3):
                snap = PacingSnapshot(
                    0.0, ready, ready, 0, 0, 0, lines, 0, 0, 0.0, 0.0, 0.03, 60.0, 20.0, 2.0, False
                )
                decision = pacer.decide(snap)
                assert pacer.decide_counts(ready, lines) == (decision.calls, decision.dial_level)


def _scripted_run(decision_log: object | None) -> list[Command]:
    """One campaign through answers, waits, an abandon and a ring timeout."""
    core = DialerCore(
        clock=FixedOffsetClock(0.0),
        pacer_factory=lambda s: PowerPacer(2.5),
        decision_log=decision_log,  # type: ignore[arg-type]
    )
    out = core.handle(CampaignUpdated(settings()), 0.0)
    out += core.handle(LeadsClaimed("camp", leads(40)), 0.0)
    out += login(core, "a1", 0.0) + login(core, "a2", 0.5)
    placed = [c.call_id for c in of(out, PlaceCall)]
    out += core.handle(CallAnswered(placed[0]), 3.0)
    out += core.handle(CallBridged(placed[0]), 3.0)
    out += core.handle(CallFailed(placed[1], "busy"), 3.5)
    out += core.handle(CallAnswered(placed[2]), 4.0)
    out += core.handle(CallAnswered(placed[3]), 4.5)
    out += core.handle(Tick(), 7.0)
    out += core.handle(CallHungUp(placed[0]), 30.0)
    out += core.handle(DispositionSubmitted("a1", placed[0], "ok"), 35.0)
    return out


def test_a_traced_core_decides_exactly_as_an_untraced_one() -> None:
    # With a decision log the core builds a snapshot and asks ``decide``;
    # without one it takes the count pacer's shortcut. Same commands either way.
    seen: list[object] = []
    traced = _scripted_run(lambda cid, snap, decision: seen.append(decision))
    assert seen
    assert traced == _scripted_run(None)


def test_ring_timeouts_fire_in_time_order_across_campaigns_with_different_timeouts() -> None:
    core = DialerCore(clock=FixedOffsetClock(0.0))
    for cid, ring in (("slow", 30.0), ("fast", 20.0)):
        core.handle(CampaignUpdated(settings(id=cid, ring_timeout_s=ring)), 0.0)
        core.handle(LeadsClaimed(cid, tuple(replace(x, campaign_id=cid) for x in leads(3))), 0.0)
    core.handle(AgentLoggedIn("a1", ("slow",)), 0.0)
    slow = of(core.handle(AgentReady("a1"), 0.0), PlaceCall)[0]
    core.handle(AgentLoggedIn("a2", ("fast",)), 1.0)
    fast = of(core.handle(AgentReady("a2"), 1.0), PlaceCall)[0]
    assert core.next_deadline() == pytest.approx(21.0)  # the later call rings out first
    cmds = core.handle(Tick(), 21.0)
    assert of(cmds, CancelCall) == [CancelCall(fast.call_id)]
    (fast2,) = of(cmds, PlaceCall)  # rings out at 41
    assert core.next_deadline() == pytest.approx(30.0)
    cmds = core.handle(Tick(), 30.0)
    assert of(cmds, CancelCall) == [CancelCall(slow.call_id)]
    (slow2,) = of(cmds, PlaceCall)  # rings out at 60
    # A call answered before its ring timeout leaves no deadline behind.
    core.handle(CallAnswered(fast2.call_id), 35.0)
    core.handle(CallBridged(fast2.call_id), 35.0)
    assert core.next_deadline() == pytest.approx(60.0)
    assert of(core.handle(Tick(), 60.0), CancelCall) == [CancelCall(slow2.call_id)]


def test_settings_older_than_the_core_holds_only_bring_their_counts() -> None:
    """A periodic refresh that read a campaign before its start was announced
    must not stop it again; its window counts still apply."""
    core = DialerCore(clock=FixedOffsetClock(0.0))
    stopped = settings(state=RunState.STOPPED)
    core.handle(CampaignUpdated(stopped, version=1.0), 0.0)
    core.handle(CampaignUpdated(settings(), version=2.0), 1.0)  # started
    core.handle(CampaignUpdated(stopped, 40, 2, version=1.0), 2.0)  # the stale refresh
    stats = core.stats("camp")
    assert stats.state is RunState.RUNNING
    assert (stats.window_human_answered, stats.window_abandoned) == (40, 2)
    core.handle(CampaignUpdated(stopped, version=3.0), 3.0)  # a real stop
    assert core.stats("camp").state is RunState.STOPPED


def test_a_campaign_removed_mid_call_lets_its_calls_end_then_forgets_it() -> None:
    core = make_core(pacer_factory=lambda s: PowerPacer(2))
    calls = [c.call_id for c in of(login(core, "a1", 0.0), PlaceCall)]
    core.handle(CallAnswered(calls[0]), 5.0)
    core.handle(CallBridged(calls[0]), 5.0)
    core.handle(CampaignRemoved("camp"), 6.0)
    # Nothing new is dialed for it, and its live calls still end properly.
    assert core.stats("camp").state is RunState.STOPPED
    cmds = core.handle(CallAnswered(calls[1]), 7.0)  # nobody free: waits, then abandons
    assert of(cmds, PlaceCall) == []
    cmds = core.handle(Tick(), 9.0)
    assert [a.call_id for a in of(cmds, AbandonCall)] == [calls[1]]
    core.handle(CallHungUp(calls[1]), 9.5)  # the message played
    core.handle(CallHungUp(calls[0]), 10.0)
    cmds = core.handle(DispositionSubmitted("a1", calls[0], "sale"), 11.0)
    assert of(cmds, PlaceCall) == []
    assert core.agent_state("a1").value == "ready"
    with pytest.raises(NotFound):
        core.stats("camp")


def test_a_campaign_removed_with_no_calls_is_forgotten_at_once() -> None:
    core = make_core()
    core.handle(CampaignRemoved("camp"), 1.0)
    with pytest.raises(NotFound):
        core.stats("camp")
    assert of(login(core, "a1", 2.0), PlaceCall) == []


def _talk_and_hang_up(core: DialerCore, call_id: str, at: float) -> None:
    core.handle(CallAnswered(call_id), at)
    core.handle(CallBridged(call_id), at)
    core.handle(CallHungUp(call_id), at + 1.0)


def test_the_wrap_up_limit_ends_a_wrap_up_with_wrap_timeout() -> None:
    core = DialerCore(clock=FixedOffsetClock(1_700_000_000.0))
    core.handle(CampaignUpdated(settings(wrap_up_limit_s=30.0)), 0.0)
    core.handle(LeadsClaimed("camp", leads(10)), 0.0)
    call = of(login(core, "a1", 0.0), PlaceCall)[0].call_id
    _talk_and_hang_up(core, call, 5.0)  # wrap-up from 6.0
    assert core.next_deadline() == pytest.approx(36.0)
    assert core.agent_state("a1").value == "wrap_up"
    cmds = core.handle(Tick(), 36.0)
    records = [r.record for r in of(cmds, RecordCall) if r.record.id == call]
    assert records and records[-1].disposition == "wrap_timeout"
    assert core.agent_state("a1").value == "ready"


def test_an_early_disposition_leaves_the_next_wrap_up_its_full_limit() -> None:
    core = DialerCore(clock=FixedOffsetClock(1_700_000_000.0))
    core.handle(CampaignUpdated(settings(wrap_up_limit_s=30.0)), 0.0)
    core.handle(LeadsClaimed("camp", leads(10)), 0.0)
    first = of(login(core, "a1", 0.0), PlaceCall)[0].call_id
    _talk_and_hang_up(core, first, 5.0)  # wrap-up from 6.0, limit at 36.0
    cmds = core.handle(DispositionSubmitted("a1", first, "sale"), 7.0)
    second = of(cmds, PlaceCall)[0].call_id
    _talk_and_hang_up(core, second, 20.0)  # wrap-up from 21.0, limit at 51.0
    core.handle(Tick(), 36.0)  # the first call's limit: stale
    assert core.agent_state("a1").value == "wrap_up"
    cmds = core.handle(Tick(), 51.0)
    records = [r.record for r in of(cmds, RecordCall) if r.record.id == second]
    assert records and records[-1].disposition == "wrap_timeout"


class _Periodic:
    """A periodic pacer that never dials itself: what the core adds shows alone."""

    name = "periodic"
    needs_detail = False
    decision_interval_s: float | None = 5.0

    def __init__(self, tops_up: bool) -> None:
        self.tops_up = tops_up
        self.decisions = 0

    def decide(self, snapshot: PacingSnapshot) -> PacingDecision:
        self.decisions += 1
        return PacingDecision(0, 0.0, None, {})

    def observe(self, observation: Observation) -> None:
        pass


def test_a_periodic_pacer_that_tops_up_gets_a_line_for_each_agent_freed_at_once() -> None:
    core = make_core(pacer_factory=lambda s: _Periodic(tops_up=True))
    assert len(of(login(core, "a1", 1.0), PlaceCall)) == 1
    cmds = login(core, "a2", 1.5)
    assert len(of(cmds, PlaceCall)) == 1
    # Two ready agents, two lines: nothing more until one ends.
    assert of(core.handle(Tick(), 2.0), PlaceCall) == []
    assert core.stats("camp").lines_in_flight == 2


def test_a_line_that_ends_between_decisions_is_replaced_at_once() -> None:
    core = make_core(pacer_factory=lambda s: _Periodic(tops_up=True))
    call = of(login(core, "a1", 1.0), PlaceCall)[0]
    cmds = core.handle(CallFailed(call.call_id, "busy"), 3.0)
    assert len(of(cmds, PlaceCall)) == 1


def test_without_tops_up_the_core_waits_for_the_pacer() -> None:
    pacer = _Periodic(tops_up=False)
    core = make_core(pacer_factory=lambda s: pacer)
    assert of(login(core, "a1", 1.0), PlaceCall) == []
    assert of(core.handle(Tick(), 30.0), PlaceCall) == []
    assert pacer.decisions > 0  # it was asked, and said none


def test_no_top_up_for_a_paused_campaign() -> None:
    core = make_core(pacer_factory=lambda s: _Periodic(tops_up=True))
    core.handle(CampaignUpdated(settings(state=RunState.PAUSED)), 0.5)
    assert of(login(core, "a1", 1.0), PlaceCall) == []


def test_top_ups_are_traced_with_their_phase() -> None:
    rows: list[tuple[str, PacingSnapshot, PacingDecision]] = []
    core = DialerCore(
        clock=FixedOffsetClock(1_700_000_000.0),
        pacer_factory=lambda s: _Periodic(tops_up=True),
        decision_log=lambda cid, snap, d: rows.append((cid, snap, d)),
    )
    core.handle(CampaignUpdated(settings()), 0.0)
    core.handle(LeadsClaimed("camp", leads(10)), 0.0)
    login(core, "a1", 1.0)
    top_ups = [(s, d) for _, s, d in rows if d.explain and d.explain.get("phase") == "top-up"]
    assert len(top_ups) == 1
    snap, decision = top_ups[0]
    assert (snap.agents_ready, snap.lines_in_flight, decision.calls) == (1, 0, 1)


class _Watcher:
    """A detail pacer that dials as progressive and keeps every snapshot it saw."""

    name = "watcher"
    needs_detail = True
    decision_interval_s: float | None = None

    def __init__(self) -> None:
        self.seen: list[PacingSnapshot] = []

    def decide(self, snapshot: PacingSnapshot) -> PacingDecision:
        self.seen.append(snapshot)
        return PacingDecision(max(0, snapshot.agents_ready - snapshot.lines_in_flight), 1.0)

    def observe(self, observation: Observation) -> None:
        pass


def test_a_busy_agent_who_asked_to_pause_is_no_longer_counted_on() -> None:
    # "Pause after this call" is known at once: the pacer must not count on
    # that agent freeing up, which without it would send a person to nobody.
    pacer = _Watcher()
    core = make_core(pacer_factory=lambda s: pacer)
    calls = [of(login(core, a, 0.0), PlaceCall)[0].call_id for a in ("a1", "a2")]
    for c in calls:
        core.handle(CallAnswered(c), 1.0)
        core.handle(CallBridged(c), 1.0)

    def last() -> PacingSnapshot:
        core.handle(Tick(), core._now + 1.0)  # any event: the counts are dirty
        return pacer.seen[-1]

    assert (last().agents_pausing, len(last().on_call_ages_s)) == (0, 2)
    core.handle(AgentPaused("a1", "break"), 5.0)
    snap = last()
    assert (snap.agents_pausing, snap.agents_on_call, len(snap.on_call_ages_s)) == (1, 2, 1)
    core.handle(AgentReady("a1"), 7.0)  # changed their mind
    assert (last().agents_pausing, len(last().on_call_ages_s)) == (0, 2)
    core.handle(AgentPaused("a1", "break"), 9.0)
    core.handle(CallHungUp(calls[0]), 20.0)
    snap = last()  # in wrap-up now, still on the way out
    assert (snap.agents_pausing, len(snap.wrap_up_ages_s), len(snap.on_call_ages_s)) == (1, 0, 1)
    core.handle(DispositionSubmitted("a1", calls[0], "sale"), 30.0)
    snap = last()
    assert (snap.agents_pausing, snap.agents_paused, len(snap.wrap_up_ages_s)) == (0, 1, 0)


def test_a_pending_pause_is_forgotten_when_the_agent_logs_out() -> None:
    pacer = _Watcher()
    core = make_core(pacer_factory=lambda s: pacer)
    _in_wrap_up(core)
    core.handle(AgentPaused("a1", "disconnected"), 31.0)
    core.handle(Tick(), 32.0)
    assert pacer.seen[-1].agents_pausing == 1
    core.handle(AgentLoggedOut("a1"), 33.0)  # gone from wrap-up, pause and all
    login(core, "a1", 40.0)
    snap = pacer.seen[-1]
    assert (snap.agents_pausing, snap.agents_ready, len(snap.on_call_ages_s)) == (0, 1, 0)


class _EverySecond:
    """A periodic pacer that records its decisions and dials one line per ready agent."""

    name = "every-second"
    needs_detail = False
    tops_up = False
    decision_interval_s: float | None = 1.0

    def __init__(self) -> None:
        self.decided_at: list[float] = []

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        self.decided_at.append(snap.now_s)
        return PacingDecision(max(0, snap.agents_ready - snap.lines_in_flight), 1.0, None, {})

    def observe(self, observation: Observation) -> None:
        pass


def test_a_periodic_pacer_is_not_woken_while_its_campaign_has_no_leads() -> None:
    pacer = _EverySecond()
    core = DialerCore(clock=FixedOffsetClock(0.0), pacer_factory=lambda s: pacer)
    core.handle(CampaignUpdated(settings()), 0.0)
    core.handle(LeadsClaimed("camp", leads(1), exhausted=True), 0.0)
    login(core, "a1", 0.0)
    now = 0.0
    while (deadline := core.next_deadline()) is not None and deadline < 100.0:
        now = deadline
        placed = of(core.handle(Tick(), now), PlaceCall)
        for call in placed:  # the one lead rings out
            assert call.lead_id == "l0"
    # Decisions stop once the last lead is gone: only its ring timeout is left.
    assert pacer.decided_at and max(pacer.decided_at) <= 1.0
    assert core.next_deadline() is None
    assert core.stats("camp").leads_exhausted
    # Leads come (the service's poll, or a load): decisions resume and dial them.
    cmds = core.handle(LeadsClaimed("camp", leads(2, start=1)), 150.0)
    assert core.next_deadline() == 151.0
    cmds += core.handle(Tick(), 151.0)
    assert [c.lead_id for c in of(cmds, PlaceCall)] == ["l1"]
    assert pacer.decided_at[-1] == 151.0


def test_a_person_offered_in_time_but_connected_late_counts_as_abandoned() -> None:
    """The audit found people bridged 2-16 s after they answered (the bridge
    waited for a write stuck behind a big lead load) recorded as not
    abandoned: the law counts anyone not connected within the deadline."""
    core = make_core(pacer_factory=lambda s: PowerPacer(2))
    calls = [c.call_id for c in of(login(core, "a1", 0.0), PlaceCall)]
    login(core, "a2", 0.0)
    core.handle(CallAnswered(calls[0]), 5.0)
    core.handle(CallAnswered(calls[1]), 5.0)
    core.handle(CallBridged(calls[0]), 6.9)  # 1.9 s: in time
    cmds = core.handle(CallBridged(calls[1]), 7.1)  # 2.1 s: too late
    st = core.stats("camp")
    assert (st.abandoned, st.human_answered) == (1, 2)
    late = [r.record for r in of(cmds, RecordCall) if r.record.id == calls[1]]
    assert late and late[-1].abandoned and late[-1].bridged_at == 7.1
    assert core.agent_state("a2").value == "on_call"  # the call itself goes on


def test_revoked_leads_are_never_dialed_and_the_store_is_asked_afresh() -> None:
    """Another process took this one for dead and handed its claimed leads
    back to the store: the hopper is no longer this core's to dial."""
    core = make_core()
    assert core.stats("camp").hopper == 10
    cmds = core.handle(LeadsRevoked(), 1.0)
    assert of(cmds, RequestLeads) == []  # no agent here to claim for
    assert core.stats("camp").hopper == 0
    core.handle(AgentLoggedIn("a1", ("camp",)), 2.0)
    cmds = core.handle(AgentReady("a1"), 2.0)
    assert of(cmds, RequestLeads) == [RequestLeads("camp", 10)]
    assert of(cmds, PlaceCall) == []  # nothing left to dial
    placed = of(core.handle(LeadsClaimed("camp", leads(2, start=50)), 3.0), PlaceCall)
    assert [p.lead_id for p in placed] == ["l50"]


def _two_campaigns() -> DialerCore:
    """``camp`` and ``other``, both progressive and with leads."""
    core = make_core()
    core.handle(CampaignUpdated(settings(id="other")), 0.0)
    others = tuple(Lead(f"o{i}", "other", f"+1555666{i:04d}") for i in range(10))
    core.handle(LeadsClaimed("other", others), 0.0)
    return core


def _agents(core: DialerCore, cid: str) -> tuple[int, int, int, int]:
    a = core.stats(cid).agents
    return (a.ready, a.on_call, a.wrap_up, a.paused)


def test_a_ready_agent_moved_to_another_campaign_takes_its_calls_at_once() -> None:
    core = _two_campaigns()
    core.handle(AgentLoggedIn("a1", ("camp",)), 0.0)
    core.handle(AgentPaused("a1"), 0.0)
    assert _agents(core, "camp") == (0, 0, 0, 1)
    cmds = core.handle(AgentCampaignsChanged("a1", ("other",)), 1.0)
    assert (_agents(core, "camp"), _agents(core, "other")) == ((0, 0, 0, 0), (0, 0, 0, 1))
    assert of(cmds, PlaceCall) == []  # still paused
    placed = of(core.handle(AgentReady("a1"), 2.0), PlaceCall)
    assert [p.campaign_id for p in placed] == ["other"]
    assert core.agent_campaigns("a1") == ("other",)


def test_a_waiting_person_of_the_new_campaign_is_bridged_to_the_moved_agent() -> None:
    core = make_core(pacer_factory=lambda s: PowerPacer(2))
    core.handle(CampaignUpdated(settings(id="other")), 0.0)
    two = tuple(Lead(f"o{i}", "other", f"+155566600{i:02d}") for i in range(2))
    core.handle(LeadsClaimed("other", two), 0.0)
    core.handle(AgentLoggedIn("b1", ("other",)), 0.0)
    first, second = of(core.handle(AgentReady("b1"), 0.0), PlaceCall)
    core.handle(CallAnswered(first.call_id), 1.0)  # b1 takes it
    login(core, "a1", 1.0)  # camp's agent, ready
    cmds = core.handle(CallAnswered(second.call_id), 2.0)
    assert of(cmds, BridgeCall) == []  # nobody of "other" is ready: the person waits
    cmds = core.handle(AgentCampaignsChanged("a1", ("camp", "other")), 2.5)
    assert BridgeCall(second.call_id, "a1") in cmds
    assert core.stats("other").abandoned == 0


def test_an_agent_moved_mid_call_finishes_it_for_its_campaign_then_serves_the_new() -> None:
    core = _two_campaigns()
    call = of(login(core, "a1", 0.0), PlaceCall)[0].call_id
    core.handle(CallAnswered(call), 1.0)
    core.handle(CallBridged(call), 1.0)
    core.handle(AgentPaused("a1", "break"), 2.0)  # a pause after the call moves too
    core.handle(AgentCampaignsChanged("a1", ("other",)), 3.0)
    assert (_agents(core, "camp"), _agents(core, "other")) == ((0, 0, 0, 0), (0, 1, 0, 0))
    assert core._counts["camp"][-1] == 0 and core._counts["other"][-1] == 1  # pausing
    core.handle(CallHungUp(call), 10.0)
    assert _agents(core, "other") == (0, 0, 1, 0)
    cmds = core.handle(DispositionSubmitted("a1", call, "sale"), 12.0)
    records = [r.record for r in of(cmds, RecordCall) if r.record.id == call]
    assert records[-1].campaign_id == "camp" and records[-1].disposition == "sale"
    assert _agents(core, "other") == (0, 0, 0, 1)  # the pause asked for is taken
    assert core._counts["other"][-1] == 0
    placed = of(core.handle(AgentReady("a1"), 13.0), PlaceCall)
    assert [p.campaign_id for p in placed] == ["other"]
    core.handle(AgentPaused("a1"), 14.0)
    core.handle(AgentLoggedOut("a1"), 15.0)
    assert _agents(core, "other") == (0, 0, 0, 0)


def test_campaigns_changed_for_an_agent_not_logged_in_here_changes_nothing() -> None:
    core = _two_campaigns()
    assert core.handle(AgentCampaignsChanged("nobody", ("other",)), 1.0) == []
    assert core.agent_campaigns("nobody") is None
    core.handle(AgentLoggedIn("a1", ("camp",)), 1.0)
    # The same campaigns (a duplicate named twice) is no change.
    assert core.handle(AgentCampaignsChanged("a1", ("camp", "camp")), 2.0) == []
    assert _agents(core, "camp") == (0, 0, 0, 1)
