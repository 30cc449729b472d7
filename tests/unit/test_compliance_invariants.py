"""Compliance as an invariant of the core: no dial command ever breaks a rule.

Hypothesis generates whole campaigns (profile, mode, hours, limits, registry
copy), lead sets over numbers in many zones (some with a zone of their own,
some with none, some with history), do-not-call lists that grow while the
campaign runs, and clocks that start anywhere, DST transitions included. A
small harness plays the world around the real core and real gate: agents log
in, pause and take calls, calls are answered or not, leads come back from a
store after each attempt with their history, as the service's store hands
them out. Every ``PlaceCall`` is checked against the rules, computed here
from scratch (the oracle of test_compliance_rules).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from compliance_oracle import instants, oracle_open
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dialer.agents import AgentState
from dialer.campaign import CampaignSettings, DialMode, Lead, PastAttempt, RunState
from dialer.clock import FixedOffsetClock
from dialer.commands import AbandonCall, CancelCall, Command, HangUpCall, PlaceCall, SkipLead
from dialer.compliance.gate import ComplianceGate, DncIndex
from dialer.compliance.phones import zones_for_number
from dialer.compliance.profiles import PROFILES
from dialer.core import DialerCore
from dialer.errors import IllegalTransition, NotFound
from dialer.events import (
    AgentLoggedIn,
    AgentPaused,
    AgentReady,
    AgentRequestedDial,
    AmdClassified,
    CallAnswered,
    CallFailed,
    CallHungUp,
    CampaignUpdated,
    DispositionSubmitted,
    Event,
    LeadsClaimed,
    Tick,
)

PHONES = (
    "+12125550123",  # New York
    "+14155550123",  # Los Angeles
    "+18085550123",  # Honolulu
    "+18005550123",  # toll-free: every NANP zone from Guam to Newfoundland
    "+12042345678",  # Winnipeg
    "+442079460000",  # London
    "+61293744000",  # Sydney
    "+81312345678",  # Tokyo
    "+5511912345678",  # Sao Paulo
    "+917012345678",  # India
    "+881612345678",  # a satellite number: no zone
)
LEAD_ZONES = (None, None, "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Tokyo")

start_instants = st.one_of(
    # Around midday in New York on some day: most numbers here are open then,
    # so the rules that come after calling hours get exercised too.
    st.builds(
        lambda day, off: datetime(2026, 1, 1, 17, 0, tzinfo=UTC).timestamp() + day * 86400 + off,
        st.integers(0, 729),
        st.floats(min_value=-4 * 3600.0, max_value=4 * 3600.0),
    ),
    instants,  # anywhere, and around DST transitions
)


@st.composite
def campaigns(draw: st.DrawFn) -> CampaignSettings:
    prof = draw(st.sampled_from(sorted(PROFILES)))
    widest = PROFILES[prof].hours.widest
    assert widest is not None
    start = draw(st.integers(widest.start_min, widest.end_min - 60))
    end = draw(st.integers(start + 30, widest.end_min))
    mode = draw(st.sampled_from([DialMode.PROGRESSIVE, DialMode.POWER, DialMode.PREVIEW]))
    return CampaignSettings(
        id="c1",
        name="prop",
        mode=mode,
        state=RunState.RUNNING,
        dial_ratio=draw(st.sampled_from([1.5, 3.0, 6.0])),
        compliance_profile=prof,
        max_abandon_rate=PROFILES[prof].max_abandon_rate,
        calling_hours_start_min=start,
        calling_hours_end_min=end,
        max_attempts=draw(st.integers(1, 4)),
        max_attempts_per_day=draw(st.integers(1, 3)),
        amd=draw(st.booleans()),
        assume_time_zone=draw(st.sampled_from([None, "America/Chicago"])),
        scrub_national_registry=draw(st.booleans()),
        safe_harbor_message="ACME, 555-0100",
        hopper_size=8,
    )


@st.composite
def lead_sets(draw: st.DrawFn) -> list[Lead]:
    count = draw(st.integers(1, 10))
    phones = draw(st.lists(st.sampled_from(PHONES), min_size=count, max_size=count, unique=True))
    out = []
    for i, phone in enumerate(phones):
        history = draw(
            st.lists(
                st.builds(
                    PastAttempt,
                    at=st.floats(min_value=-4 * 86400.0, max_value=-60.0),
                    campaign_id=st.sampled_from(["c1", "c2"]),
                    abandoned=st.booleans(),
                    amd_machine=st.booleans(),
                ),
                max_size=3,
            )
        )
        callback = draw(st.sampled_from([None, None, "a1", "a2"]))
        out.append(
            Lead(
                id=f"l{i}",
                campaign_id="c1",
                phone=phone,
                timezone=draw(st.sampled_from(LEAD_ZONES)),
                attempts=draw(st.sampled_from([0, 0, 0, 1, 2, 4])),
                recent=tuple(history),  # relative times, made absolute at the start
                callback_at=draw(st.floats(-7200.0, 3600.0)) if callback else None,
                callback_agent_id=callback,
            )
        )
    return out


steps = st.lists(
    st.one_of(
        st.tuples(st.just("wait"), st.floats(min_value=1.0, max_value=6 * 3600.0)),
        st.tuples(st.just("login"), st.sampled_from(["a1", "a2", "a3"])),
        st.tuples(st.just("pause"), st.sampled_from(["a1", "a2", "a3"])),
        st.tuples(st.just("answer"), st.booleans()),  # True: a person
        st.tuples(st.just("fail"), st.sampled_from(["busy", "invalid"])),
        st.tuples(st.just("hangup"), st.just(None)),
        st.tuples(st.just("dispose"), st.sampled_from(["done", "callback"])),
        st.tuples(st.just("preview"), st.sampled_from(["a1", "a2", "a3"])),
        st.tuples(st.just("dnc"), st.sampled_from(PHONES)),
    ),
    min_size=5,
    max_size=40,
)


@dataclass
class World:
    """The harness: the store, the phone network and the rules' oracle around the core."""

    settings: CampaignSettings
    epoch0: float
    registry_age_days: float | None
    leads: dict[str, Lead]
    dnc: DncIndex = field(default_factory=DncIndex)
    dnc_now: set[str] = field(default_factory=set)
    now: float = 0.0
    calls: dict[str, PlaceCall] = field(default_factory=dict)  # ringing or answered
    answered: dict[str, bool] = field(default_factory=dict)  # call -> a person
    history: dict[str, list[PastAttempt]] = field(default_factory=dict)  # phone -> attempts
    attempts: dict[str, int] = field(default_factory=dict)
    in_store: dict[str, Lead] = field(default_factory=dict)  # leads not in the hopper
    wrap: dict[str, str] = field(default_factory=dict)  # agent -> call in wrap-up
    placed: int = 0

    def __post_init__(self) -> None:
        self.gate = ComplianceGate(self.dnc, registry_age=lambda _reg, _t: self.registry_age_days)
        self.core = DialerCore(clock=FixedOffsetClock(self.epoch0), gate=self.gate)
        for lead in self.leads.values():
            self.history[lead.phone] = [
                dataclasses.replace(a, at=self.epoch0 + a.at) for a in lead.recent
            ]
            self.attempts[lead.id] = lead.attempts

    @property
    def wall(self) -> float:
        return self.epoch0 + self.now

    def stored(self, lead: Lead) -> Lead:
        """A lead as the store hands it out: attempts and history from the records."""
        return dataclasses.replace(
            lead,
            attempts=self.attempts[lead.id],
            recent=tuple(a for a in self.history[lead.phone] if a.at >= self.wall - 4 * 86400),
            callback_at=None if lead.callback_at is None else self.epoch0 + lead.callback_at,
        )

    def feed(self, event: Event) -> None:
        try:
            commands = self.core.handle(event, self.now)
        except (IllegalTransition, NotFound):
            return  # the harness asked an agent for a move its state forbids
        self.check(commands)

    # --------------------------------------------------------------- oracle
    def check(self, commands: list[Command]) -> None:
        for cmd in commands:
            if isinstance(cmd, PlaceCall):
                self.check_place(cmd)
                self.calls[cmd.call_id] = cmd
                self.placed += 1
            elif isinstance(cmd, SkipLead) and cmd.lead_id in self.leads:
                self.in_store[cmd.lead_id] = self.leads[cmd.lead_id]
            elif isinstance(cmd, CancelCall) and cmd.call_id in self.calls:
                self.finish(cmd.call_id)  # rang out
            elif isinstance(cmd, AbandonCall) and cmd.call_id in self.calls:
                self.finish(cmd.call_id, abandoned=self.answered.get(cmd.call_id, False))
            elif (
                isinstance(cmd, HangUpCall)
                and cmd.call_id in self.calls
                and self.answered.get(cmd.call_id) is not None
                and self.core.call_agent(cmd.call_id) is None
            ):
                self.finish(cmd.call_id, amd_machine=True)  # AMD said machine: hung up

    def check_place(self, cmd: PlaceCall) -> None:
        s = self.settings
        lead = self.leads[cmd.lead_id]
        wall = self.wall
        prof = PROFILES[s.compliance_profile]
        assert lead.phone not in self.dnc_now, "dialed a number on a do-not-call list"
        if s.scrub_national_registry:
            assert self.registry_age_days is not None, "dialed with no registry copy"
            assert self.registry_age_days <= prof.registry_max_age_days, "stale registry"
        assert self.attempts[lead.id] < s.max_attempts, "past the lifetime attempt limit"
        if lead.timezone:
            zones: tuple[str, ...] = (lead.timezone,)
        else:
            zones = zones_for_number(lead.phone) or (
                (s.assume_time_zone,) if s.assume_time_zone else ()
            )
        assert zones, "dialed a number with no known zone"
        assert oracle_open(
            wall, zones, s.compliance_profile, s.calling_hours_start_min, s.calling_hours_end_min
        ), "dialed outside calling hours"
        days = {datetime.fromtimestamp(wall, ZoneInfo(z)).date() for z in zones}

        def same_day(at: float) -> bool:
            return {datetime.fromtimestamp(at, ZoneInfo(z)).date() for z in zones} == days

        history = self.history[lead.phone]
        mine_today = [a for a in history if a.campaign_id == "c1" and same_day(a.at)]
        assert len(mine_today) < s.max_attempts_per_day, "past the per-day attempt limit"
        if s.compliance_profile == "uk":
            guarded = any(a.abandoned and wall - a.at < 72 * 3600 for a in history) or any(
                a.amd_machine and same_day(a.at) for a in history
            )
            if guarded:
                assert cmd.agent_id is not None, "uk repeat call without a reserved agent"
                assert not cmd.amd, "a reserved agent's call went through AMD"

    # ---------------------------------------------------------------- world
    def finish(self, call_id: str, *, abandoned: bool = False, amd_machine: bool = False) -> None:
        """An attempt is over: the store counts it and takes its lead back."""
        cmd = self.calls.pop(call_id)
        self.attempts[cmd.lead_id] += 1
        self.history[cmd.phone].append(
            PastAttempt(self.wall, "c1", abandoned=abandoned, amd_machine=amd_machine)
        )
        self.in_store[cmd.lead_id] = self.leads[cmd.lead_id]

    def _unanswered(self) -> str | None:
        return next((c for c in self.calls if c not in self.answered), None)

    def _connected(self) -> str | None:
        return next((c for c in self.calls if self.core.call_agent(c) is not None), None)

    def step(self, kind: str, arg: object) -> None:
        core = self.core
        if kind == "wait":
            assert isinstance(arg, float)
            self.now += arg
            self.feed(Tick())
            if self.in_store:
                # The store hands the leads back out (due or not: the gate decides).
                back = tuple(self.stored(lead) for lead in self.in_store.values())
                self.in_store.clear()
                self.feed(LeadsClaimed("c1", back))
        elif kind == "login":
            self.feed(AgentLoggedIn(str(arg), ("c1",)))
            self.feed(AgentReady(str(arg)))
        elif kind == "pause":
            self.feed(AgentPaused(str(arg)))
        elif kind == "preview":
            self.feed(AgentRequestedDial(str(arg), "c1"))
        elif kind == "dnc":
            phone = str(arg)
            self.dnc.add(phone)  # the service does this before it answers the request
            self.dnc_now.add(phone)
        elif kind == "answer":
            call_id = self._unanswered()
            if call_id is None:
                return
            person = bool(arg)
            self.answered[call_id] = person
            self.feed(CallAnswered(call_id))
            if self.calls.get(call_id) is not None and self.calls[call_id].amd:
                self.feed(AmdClassified(call_id, machine=not person))
        elif kind == "fail":
            call_id = self._unanswered()
            if call_id is not None:
                self.feed(CallFailed(call_id, str(arg)))
                self.finish(call_id)
        elif kind == "hangup":
            call_id = self._connected()
            if call_id is not None:
                self.feed(CallHungUp(call_id))
                self.finish(call_id)
        elif kind == "dispose":
            for agent_id in ("a1", "a2", "a3"):
                call_id = core.agent_call(agent_id)
                if call_id is not None and core.agent_state(agent_id) is AgentState.WRAP_UP:
                    callback = self.wall + 1800 if arg == "callback" else None
                    self.feed(DispositionSubmitted(agent_id, call_id, str(arg), callback))
                    self.feed(AgentReady(agent_id))
                    break


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    campaign=campaigns(),
    lead_list=lead_sets(),
    epoch0=start_instants,
    registry=st.sampled_from([3.0, 3.0, 27.0, 30.9, None, 45.0]),
    listed=st.lists(st.sampled_from(PHONES), max_size=3),
    plan=steps,
)
def test_no_dial_command_ever_breaks_a_rule(
    campaign: CampaignSettings,
    lead_list: list[Lead],
    epoch0: float,
    registry: float | None,
    listed: list[str],
    plan: list[tuple[str, object]],
) -> None:
    world = World(campaign, epoch0, registry, {lead.id: lead for lead in lead_list})
    for phone in listed:
        world.dnc.add(phone, "c1" if phone.endswith("3") else None)
        world.dnc_now.add(phone)
    world.feed(CampaignUpdated(campaign))
    world.feed(LeadsClaimed("c1", tuple(world.stored(lead) for lead in lead_list)))
    world.step("login", "a1")
    for kind, arg in plan:
        world.step(kind, arg)
    event(f"{campaign.compliance_profile} placed {min(world.placed, 3)}")


def test_the_harness_does_dial_when_the_rules_allow() -> None:
    """The property above must not pass by never dialing: here every rule is met."""
    noon_ny = datetime(2026, 12, 2, 17, 0, tzinfo=UTC).timestamp()
    campaign = CampaignSettings(
        id="c1",
        mode=DialMode.PROGRESSIVE,
        state=RunState.RUNNING,
        scrub_national_registry=True,
        safe_harbor_message="ACME",
    )
    lead = Lead("l0", "c1", "+12125550123")
    world = World(campaign, noon_ny, 3.0, {"l0": lead})
    world.feed(CampaignUpdated(campaign))
    world.feed(LeadsClaimed("c1", (world.stored(lead),)))
    world.step("login", "a1")
    assert world.placed == 1
