"""The dialer core: one sans-I/O state machine for campaigns, calls and agents.

``core.handle(event, now) -> list[Command]`` and ``core.next_deadline()`` are
the whole interface a driver needs (the discrete-event simulator and the
asyncio service both drive this same class). The core never reads a clock,
never draws a random number and does no I/O: time comes in as ``now`` (driver
seconds) and, for calling hours, through the injected :class:`Clock`.

Pacing runs for a campaign after every change of its agents or lines when its
pacer is event-driven (``decision_interval_s is None``), or on a periodic timer
otherwise. Whatever the pacer answers, two guards of the core's own apply: a
campaign whose abandonment in its window has reached its cap is paced as
progressive until it is back under, and every lead passes the :class:`DialGate`
just before it is dialed.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from dialer.agents import Agent, AgentState
from dialer.calls import Call, CallState
from dialer.campaign import CallOutcome, CampaignSettings, DialMode, Lead, RunState
from dialer.clock import Clock
from dialer.commands import (
    AbandonCall,
    BridgeCall,
    CancelCall,
    Command,
    DialRefused,
    HangUpCall,
    NotifyAgentState,
    PlaceCall,
    RecordCall,
    RequestLeads,
    ReturnLeads,
    SkipLead,
)
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
    Event,
    LeadsClaimed,
    LeadsRevoked,
    Tick,
)
from dialer.pacers import make_pacer
from dialer.ports import DialGate
from dialer.roster import Roster
from pacing.observations import AttemptResolved, HandlingEnded
from pacing.snapshot import EMPTY, Pacer, PacingDecision, PacingSnapshot

__all__ = [
    "HAND_BACK_AFTER_S",
    "WRAP_TIMEOUT",
    "AgentCounts",
    "CampaignStats",
    "DecisionLog",
    "DialerCore",
]

import numpy as np

#: The disposition the core files when a campaign's wrap-up limit runs out.
WRAP_TIMEOUT = "wrap_timeout"

# Enum members as module constants: Python 3.11's EnumType.__getattr__ sends
# every ``CallState.X`` through a slow lookup (about ten times a global's
# cost), and the core tests states several times for every event it handles.
_LOGGED_OUT = AgentState.LOGGED_OUT
_READY = AgentState.READY
_ON_CALL = AgentState.ON_CALL
_WRAP_UP = AgentState.WRAP_UP
_PAUSED = AgentState.PAUSED
_DIALING = CallState.DIALING
_ANSWERED = CallState.ANSWERED
_WAITING = CallState.WAITING
_OFFERED = CallState.OFFERED
_BRIDGED = CallState.BRIDGED
_ENDED = CallState.ENDED
_RUNNING = RunState.RUNNING
_PREVIEW = DialMode.PREVIEW
_MACHINE = CallOutcome.MACHINE
_FAILED = CallOutcome.FAILED
# CallFailed's outcome string to the member: ``CallOutcome(value)`` runs
# EnumType.__call__ in Python, dozens of times dearer than this lookup.
_OUTCOMES = {o.value: o for o in CallOutcome}

_STATES = tuple(AgentState)
# Keyed by the member's value: an Enum key would hash through a Python-level
# ``Enum.__hash__`` on every agent transition.
_STATE_INDEX = {s._value_: i for i, s in enumerate(_STATES)}
_I_READY = _STATE_INDEX[_READY._value_]
_I_ON_CALL = _STATE_INDEX[_ON_CALL._value_]
_I_WRAP = _STATE_INDEX[_WRAP_UP._value_]
_I_PAUSED = _STATE_INDEX[_PAUSED._value_]
_I_LOGGED_OUT = _STATE_INDEX[_LOGGED_OUT._value_]
# Past the states in each campaign's counts: busy agents with a pause pending.
_I_PAUSING = len(_STATES)
# The most leads the hopper holds per logged-in agent: enough for a dial
# ratio of 20 (the API's most) with some to spare.
_LEADS_PER_AGENT = 25
# How long a campaign's leads stay claimed here once none of its agents here
# is ready, on a call or wrapping one up (all paused, away or gone): then
# they go back to the store, for agents on other processes on the database.
# Long enough that a short break does not give back and claim again.
HAND_BACK_AFTER_S = 60.0

# Timer kinds (heap entries are (at, seq, kind, key); stale ones are skipped).
# Ring timers usually live in a FIFO of their own instead: see _schedule_ring.
_RING = 0
_CONNECT = 1
_PACE = 2
_WRAP_LIMIT = 3
_HAND_BACK = 4

DecisionLog = Callable[[str, PacingSnapshot, PacingDecision], None]
_new_snapshot = tuple.__new__


@dataclass(frozen=True, slots=True)
class AgentCounts:
    ready: int = 0
    on_call: int = 0
    wrap_up: int = 0
    paused: int = 0

    @property
    def logged_in(self) -> int:
        return self.ready + self.on_call + self.wrap_up + self.paused


@dataclass(frozen=True, slots=True)
class CampaignStats:
    """A campaign's live figures as the core knows them (no database needed)."""

    campaign_id: str
    state: RunState
    mode: DialMode
    lines_in_flight: int
    agents: AgentCounts
    dialed: int
    human_answered: int
    machine_answered: int
    abandoned: int
    window_human_answered: int
    window_abandoned: int
    dial_level: float
    hopper: int
    capped: bool
    leads_exhausted: bool
    extra: dict[str, float] = field(default_factory=dict)
    # Why the campaign dials nothing although it runs (a stale registry copy).
    blocked_reason: str | None = None


class _Run:
    """One campaign's live state inside the core."""

    __slots__ = (
        "abandoned",
        "amd_pending",
        "blocked_reason",
        "capped",
        "counts",
        "decide_counts",
        "dial_level",
        "dialed",
        "dialing",
        "exhausted",
        "hand_back_at",
        "held",
        "hopper",
        "human_answered",
        "idle_since",
        "leads_requested",
        "machine_answered",
        "next_decision_at",
        "observes",
        "pacer",
        "settings",
        "tops_up",
        "verified_humans",
        "verified_machines",
        "version",
        "waiting",
        "window_abandoned",
        "window_ends_at",
        "window_human_answered",
    )

    def __init__(self, settings: CampaignSettings, pacer: Pacer, counts: list[int]) -> None:
        self.settings = settings
        self.set_pacer(pacer)
        self.counts = counts  # agents by state index, shared with the core's table
        self.hopper: deque[Lead] = deque()
        # Leads the gate allows only with an agent reserved, none free yet.
        self.held: deque[Lead] = deque()
        self.leads_requested = False
        self.exhausted = False
        self.dialing: dict[str, Call] = {}
        self.amd_pending: dict[str, Call] = {}
        self.waiting: dict[str, Call] = {}  # FIFO: oldest answer first
        self.dialed = 0
        self.human_answered = 0
        self.machine_answered = 0
        self.abandoned = 0
        self.window_human_answered = 0
        self.window_abandoned = 0
        # Answered calls an agent heard, by what the agent said they were.
        self.verified_humans = 0
        self.verified_machines = 0
        self.window_ends_at: float | None = None
        self.dial_level = 0.0
        self.capped = False
        self.blocked_reason: str | None = None
        self.version: float | None = None  # when the settings held were stored
        self.next_decision_at: float | None = None
        self.hand_back_at: float | None = None  # see HAND_BACK_AFTER_S
        self.idle_since: float | None = None  # its last agent here went away

    def set_pacer(self, pacer: Pacer) -> None:
        self.pacer = pacer
        # The optional parts of the pacer protocol (see pacing.snapshot.CountPacer).
        self.decide_counts: Callable[[int, int], tuple[int, float]] | None = getattr(
            pacer, "decide_counts", None
        )
        self.observes: bool = getattr(pacer, "observes", True)
        self.tops_up: bool = (
            pacer.decision_interval_s is not None and getattr(pacer, "tops_up", False) is True
        )

    @property
    def lines_in_flight(self) -> int:
        return len(self.dialing) + len(self.amd_pending) + len(self.waiting)


class DialerCore:
    """The sans-I/O dialer. See the module docstring."""

    def __init__(
        self,
        *,
        clock: Clock,
        gate: DialGate | None = None,
        pacer_factory: Callable[[CampaignSettings], Pacer] = make_pacer,
        id_prefix: str = "call-",
        emit_records: bool = True,
        decision_log: DecisionLog | None = None,
        hand_back_after_s: float = HAND_BACK_AFTER_S,
    ) -> None:
        self._clock = clock
        self._hand_back_after_s = hand_back_after_s
        self._gate = gate
        self._pacer_factory = pacer_factory
        self._id_prefix = id_prefix
        self._emit_records = emit_records
        self._decision_log = decision_log
        self._runs: dict[str, _Run] = {}
        self._counts: dict[str, list[int]] = {}
        self._agents: dict[str, Agent] = {}
        # Agents' states and ages as arrays, for the campaigns whose pacer
        # reads every agent's age (made at its first decision, then kept).
        self._rosters: dict[str, Roster] = {}
        self._ready: dict[str, Agent] = {}  # insertion order = longest ready first
        # Busy agents whose pending pause is booked in the counts and rosters.
        self._pausing: set[str] = set()
        self._calls: dict[str, Call] = {}  # live calls, and ended ones awaiting disposition
        # Campaigns removed while calls were live: kept, stopped, until the last ends.
        self._removing: set[str] = set()
        # Each logged-in agent's NotifyAgentState for every state, by state index:
        # commands are immutable values, so one made at log-in serves every
        # transition (an agent changes state several times per call).
        self._notices: dict[str, tuple[NotifyAgentState, ...]] = {}
        self._timers: list[tuple[float, int, int, str]] = []
        # Ring timers as (at, seq, call), in the order they fall due.
        self._rings: deque[tuple[float, int, Call]] = deque()
        self._seq = 0
        self._call_seq = 0
        self._dirty: dict[str, None] = {}
        self._out: list[Command] = []
        self._now = 0.0
        self._handlers: dict[type, Callable[[Event], None]] = {
            CampaignUpdated: self._on_campaign_updated,  # type: ignore[dict-item]
            CampaignRemoved: self._on_campaign_removed,  # type: ignore[dict-item]
            LeadsClaimed: self._on_leads_claimed,  # type: ignore[dict-item]
            AgentLoggedIn: self._on_agent_logged_in,  # type: ignore[dict-item]
            AgentCampaignsChanged: self._on_agent_campaigns_changed,  # type: ignore[dict-item]
            AgentReady: self._on_agent_ready,  # type: ignore[dict-item]
            AgentPaused: self._on_agent_paused,  # type: ignore[dict-item]
            AgentLoggedOut: self._on_agent_logged_out,  # type: ignore[dict-item]
            AgentHungUp: self._on_agent_hung_up,  # type: ignore[dict-item]
            DispositionSubmitted: self._on_disposition,  # type: ignore[dict-item]
            AgentRequestedDial: self._on_agent_requested_dial,  # type: ignore[dict-item]
            CallAnswered: self._on_call_answered,  # type: ignore[dict-item]
            AmdClassified: self._on_amd_classified,  # type: ignore[dict-item]
            CallFailed: self._on_call_failed,  # type: ignore[dict-item]
            CallBridged: self._on_call_bridged,  # type: ignore[dict-item]
            CallHungUp: self._on_call_hung_up,  # type: ignore[dict-item]
            Tick: self._on_tick,  # type: ignore[dict-item]
            LeadsRevoked: self._on_leads_revoked,  # type: ignore[dict-item]
        }

    # ------------------------------------------------------------------ API
    def handle(self, event: Event, now: float) -> list[Command]:
        """Apply one event at driver instant ``now``; return the commands it causes.

        Raises :class:`IllegalTransition` (with nothing changed) when the event
        asks for something the agent's or call's state does not allow, and
        :class:`NotFound` for unknown agents or campaigns.
        """
        if now < self._now:
            now = self._now  # time never runs backwards inside the core
        self._now = now
        out: list[Command] = []
        self._out = out
        self._handlers[type(event)](event)
        # Most events have no timer due and the core's own calls to check.
        rings = self._rings
        timers = self._timers
        if (rings and rings[0][0] <= now) or (timers and timers[0][0] <= now):
            self._fire_timers(now)
        if self._dirty:
            self._pace_dirty()
        return out

    def next_deadline(self) -> float | None:
        """When the core next needs waking with a ``Tick`` (None: only on events)."""
        rings = self._rings
        while rings and rings[0][2].state is not _DIALING:
            rings.popleft()  # answered, failed or hung up before it rang out
        timers = self._timers
        while timers:
            at, _, kind, key = timers[0]
            if self._timer_live(kind, key, at):
                return at if not rings or at < rings[0][0] else rings[0][0]
            heapq.heappop(timers)
        return rings[0][0] if rings else None

    def stats(self, campaign_id: str) -> CampaignStats:
        run = self._run(campaign_id)
        c = run.counts
        return CampaignStats(
            campaign_id=campaign_id,
            state=run.settings.state,
            mode=run.settings.mode,
            lines_in_flight=run.lines_in_flight,
            agents=AgentCounts(c[_I_READY], c[_I_ON_CALL], c[_I_WRAP], c[_I_PAUSED]),
            dialed=run.dialed,
            human_answered=run.human_answered,
            machine_answered=run.machine_answered,
            abandoned=run.abandoned,
            window_human_answered=run.window_human_answered,
            window_abandoned=run.window_abandoned,
            dial_level=run.dial_level,
            hopper=len(run.hopper),
            capped=run.capped,
            leads_exhausted=run.exhausted and not run.hopper,
            blocked_reason=run.blocked_reason,
        )

    def agent_state(self, agent_id: str) -> AgentState:
        agent = self._agents.get(agent_id)
        return agent.state if agent is not None else _LOGGED_OUT

    def agent_call(self, agent_id: str) -> str | None:
        agent = self._agents.get(agent_id)
        return agent.call_id if agent is not None else None

    def agent_campaigns(self, agent_id: str) -> tuple[str, ...] | None:
        """The campaigns a logged-in agent takes calls for; None if logged out."""
        agent = self._agents.get(agent_id)
        return agent.campaign_ids if agent is not None else None

    def logged_in_agents(self) -> list[str]:
        """The agents logged in here, whatever their state."""
        return list(self._agents)

    def call_decision(self, call_id: str) -> str | None:
        """The compliance decision a live call was placed on (for its record)."""
        call = self._calls.get(call_id)
        return call.decision if call is not None else None

    def call_agent(self, call_id: str) -> str | None:
        """The agent a live call has reached (offered or bridged); None otherwise."""
        call = self._calls.get(call_id)
        if call is None or call.state is _ENDED:
            return None
        return call.agent_id

    def campaign_ids(self) -> list[str]:
        return list(self._runs)

    def live_call_count(self) -> int:
        return len(self._calls)

    # ------------------------------------------------------------ internals
    def _run(self, campaign_id: str) -> _Run:
        run = self._runs.get(campaign_id)
        if run is None:
            raise NotFound("campaign", campaign_id)
        return run

    def _counts_for(self, campaign_id: str) -> list[int]:
        counts = self._counts.get(campaign_id)
        if counts is None:
            counts = self._counts[campaign_id] = [0] * (len(_STATES) + 1)
        return counts

    def _agent(self, agent_id: str) -> Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise NotFound("agent", agent_id)
        return agent

    def _schedule(self, at: float, kind: int, key: str) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (at, self._seq, kind, key))

    def _schedule_ring(self, at: float, call: Call) -> None:
        """The ring timeout of a call just placed.

        Every call of a campaign rings for the same time and ``now`` never
        goes back, so ring timers come due in the order they are set: a FIFO
        holds them without heap operations (one per call placed). A timer
        that would fall due before the last one queued (campaigns with
        different ring timeouts) goes on the heap instead. Both share the
        sequence numbers, so timers fire in (at, seq) order as before.
        """
        self._seq += 1
        rings = self._rings
        if rings and at < rings[-1][0]:
            heapq.heappush(self._timers, (at, self._seq, _RING, call.id))
        else:
            rings.append((at, self._seq, call))

    def _timer_live(self, kind: int, key: str, at: float) -> bool:
        if kind == _RING:
            call = self._calls.get(key)
            return call is not None and call.state is _DIALING
        if kind == _CONNECT:
            call = self._calls.get(key)
            return call is not None and call.state is _WAITING
        if kind == _PACE:
            run = self._runs.get(key)
            return run is not None and run.next_decision_at == at
        if kind == _HAND_BACK:
            run = self._runs.get(key)
            return run is not None and run.hand_back_at == at
        # A wrap-up limit is keyed by its call: an agent who finished that
        # wrap-up early and is wrapping up another call keeps the full limit.
        call = self._calls.get(key)
        agent = self._agents.get(call.agent_id) if call is not None and call.agent_id else None
        return agent is not None and agent.state is _WRAP_UP and agent.call_id == key

    def _fire_timers(self, now: float) -> None:
        rings = self._rings
        timers = self._timers
        while True:
            if (
                rings
                and rings[0][0] <= now
                and not (timers and timers[0][:2] < rings[0][:2])  # the heap's is older
            ):
                call = rings.popleft()[2]
                if call.state is _DIALING:
                    self._ring_timeout(call)
                continue
            if not timers or timers[0][0] > now:
                return
            at, _, kind, key = heapq.heappop(timers)
            if not self._timer_live(kind, key, at):
                continue
            if kind == _RING:
                self._ring_timeout(self._calls[key])
            elif kind == _CONNECT:
                self._abandon(self._calls[key])
            elif kind == _PACE:
                run = self._runs[key]
                run.next_decision_at = None
                self._pace(key, run)
                self._schedule_decision(key, run)
            elif kind == _HAND_BACK:
                self._hand_back(key, self._runs[key])
            else:
                call = self._calls[key]
                assert call.agent_id is not None  # checked by _timer_live
                self._wrap_limit(self._agents[call.agent_id])

    def _set_agent(self, agent: Agent, before: AgentState) -> None:
        """Book an agent's transition from ``before`` in the per-campaign counts."""
        after = agent.state
        if agent.pause_pending or self._pausing:
            self._book_pausing(agent)
        if after is before:
            return
        b = _STATE_INDEX[before._value_]
        a = _STATE_INDEX[after._value_]
        for cid in agent.campaign_ids:
            counts = self._counts[cid]  # made at log-in
            counts[b] -= 1
            counts[a] += 1
            if cid in self._runs:
                self._dirty[cid] = None
        if after is _READY:
            self._ready[agent.id] = agent
        elif before is _READY:
            del self._ready[agent.id]
        if after is _PAUSED or after is _LOGGED_OUT:
            for cid in agent.campaign_ids:
                self._watch_idle_hopper(cid, went=True)
        rosters = self._rosters
        if rosters:  # only with a predictive campaign
            for cid in agent.campaign_ids:
                roster = rosters.get(cid)
                if roster is None:
                    continue
                if before is _LOGGED_OUT:
                    roster.add(agent.id, a, agent.since)
                elif after is _LOGGED_OUT:
                    roster.remove(agent.id)
                else:
                    roster.set(agent.id, a, agent.since)
        self._out.append(self._notices[agent.id][a])

    def _book_pausing(self, agent: Agent) -> None:
        """Keep the counts and rosters of busy agents who will pause after their call."""
        pending = agent.pause_pending and agent.state is not _LOGGED_OUT
        if pending is (agent.id in self._pausing):
            return
        if pending:
            self._pausing.add(agent.id)
        else:
            self._pausing.discard(agent.id)
        delta = 1 if pending else -1
        for cid in agent.campaign_ids:
            self._counts[cid][_I_PAUSING] += delta
            if cid in self._runs:
                self._dirty[cid] = None
            roster = self._rosters.get(cid)
            if roster is not None and agent.state is not _LOGGED_OUT:
                roster.set_leaving(agent.id, pending)

    def _record(self, call: Call) -> None:
        """Emit the call's record; callers check ``_emit_records`` (off in the simulator)."""
        self._out.append(RecordCall(call.record()))

    # ------------------------------------------------------------ campaigns
    def _on_campaign_updated(self, ev: CampaignUpdated) -> None:
        s = ev.settings
        run = self._runs.get(s.id)
        if run is None:
            run = _Run(s, self._pacer_factory(s), self._counts_for(s.id))
            self._runs[s.id] = run
        elif ev.version is not None and run.version is not None and ev.version < run.version:
            # Settings read before a newer change was announced (a periodic
            # refresh racing a start or a PATCH): only their counts are news.
            s = run.settings
        else:
            old = run.settings
            if old.mode != s.mode or old.dial_ratio != s.dial_ratio:
                run.set_pacer(self._pacer_factory(s))
            run.settings = s
        if ev.version is not None and (run.version is None or ev.version > run.version):
            run.version = ev.version
        # Counts from the records win: they cover restarts, other processes,
        # and calls leaving a rolling window.
        if ev.window_human_answered is not None:
            run.window_human_answered = ev.window_human_answered
        if ev.window_abandoned is not None:
            run.window_abandoned = ev.window_abandoned
        run.window_ends_at = ev.window_ends_at
        self._update_cap(run)
        if s.state is _RUNNING:
            self._dirty[s.id] = None
            self._schedule_decision(s.id, run)
            self._want_leads(s.id, run)
        else:
            run.next_decision_at = None

    def _on_campaign_removed(self, ev: CampaignRemoved) -> None:
        run = self._runs.get(ev.campaign_id)
        if run is None:
            return
        self._dirty.pop(ev.campaign_id, None)
        if self._has_calls(ev.campaign_id):
            # Its calls still ring, talk or wait for a disposition, and each
            # needs the campaign's settings to end properly: stop dialing
            # now, forget the campaign when the last of them is finished.
            self._removing.add(ev.campaign_id)
            run.settings = replace(run.settings, state=RunState.STOPPED)
            run.next_decision_at = None
            run.hopper.clear()
            run.held.clear()
        else:
            del self._runs[ev.campaign_id]

    def _has_calls(self, campaign_id: str) -> bool:
        return any(c.campaign_id == campaign_id for c in self._calls.values())

    def _on_leads_claimed(self, ev: LeadsClaimed) -> None:
        run = self._run(ev.campaign_id)
        run.hopper.extend(ev.leads)
        run.leads_requested = False
        run.exhausted = ev.exhausted
        self._dirty[ev.campaign_id] = None
        self._watch_idle_hopper(ev.campaign_id, went=False)  # its agents may have gone since
        self._schedule_decision(ev.campaign_id, run)  # resumed, if it had run dry

    def _on_leads_revoked(self, ev: LeadsRevoked) -> None:
        for cid, run in self._runs.items():
            if ev.campaign_id is not None and cid != ev.campaign_id:
                continue
            run.hopper.clear()
            run.held.clear()
            run.leads_requested = False
            run.exhausted = False
            if run.settings.state is _RUNNING:
                self._want_leads(cid, run)

    def _want_leads(self, campaign_id: str, run: _Run) -> None:
        c = run.counts
        active = c[_I_READY] + c[_I_ON_CALL] + c[_I_WRAP]
        if active == 0:
            return  # nobody here to dial for (what is held goes back: _hand_back)
        agents = active + c[_I_PAUSED]
        # Leads in hand for the agents here, not the whole hopper whatever
        # the floor: with several processes on one database, one with no
        # agents held every lead and the others' agents got none.
        want = min(run.settings.hopper_size, _LEADS_PER_AGENT * agents)
        if want == 0:
            return
        if run.leads_requested or run.exhausted or len(run.hopper) * 2 > want:
            return
        run.leads_requested = True
        self._out.append(RequestLeads(campaign_id, want - len(run.hopper)))

    def _watch_idle_hopper(self, campaign_id: str, *, went: bool) -> None:
        """With none of the campaign's agents here ready, on a call or wrapping
        one up (``went``: one of them has just left), set the timer that hands
        its leads back if it stays so (``hand_back_after_s``).

        Called on pauses and log-outs only, not on every agent transition: a
        timer that fires after an agent came back and went again looks at
        ``idle_since`` and waits the rest of the time.
        """
        run = self._runs.get(campaign_id)
        if run is None:
            return
        c = run.counts
        if c[_I_READY] + c[_I_ON_CALL] + c[_I_WRAP]:
            return
        if went or run.idle_since is None:
            run.idle_since = self._now
        if (run.hopper or run.held) and run.hand_back_at is None:
            run.hand_back_at = max(self._now, run.idle_since + self._hand_back_after_s)
            self._schedule(run.hand_back_at, _HAND_BACK, campaign_id)

    def _hand_back(self, campaign_id: str, run: _Run) -> None:
        run.hand_back_at = None
        c = run.counts
        if not (run.hopper or run.held) or c[_I_READY] + c[_I_ON_CALL] + c[_I_WRAP]:
            return  # an agent is back: its break was short
        assert run.idle_since is not None  # set when the last one went
        due = run.idle_since + self._hand_back_after_s
        if due > self._now:  # back and away again meanwhile: wait the rest
            run.hand_back_at = due
            self._schedule(due, _HAND_BACK, campaign_id)
            return
        # Held leads too (each waits for an agent, or a given one, to be
        # free): the agent a personal callback waits for may be back on
        # another process, and would never get it from this one.
        lead_ids = tuple(lead.id for lead in (*run.hopper, *run.held))
        run.hopper.clear()
        run.held.clear()
        run.exhausted = False  # the store has these again, at least
        self._out.append(ReturnLeads(campaign_id, lead_ids))

    def _schedule_decision(self, campaign_id: str, run: _Run) -> None:
        interval = run.pacer.decision_interval_s
        if interval is None or run.settings.state is not _RUNNING:
            return
        if run.exhausted and not run.hopper:
            # Nothing to dial until leads come (LeadsClaimed schedules one
            # again): a campaign run dry does not wake the core every second,
            # and a simulated shift whose leads ran out ends in no time.
            return
        if run.next_decision_at is None:
            run.next_decision_at = self._now + interval
            self._schedule(run.next_decision_at, _PACE, campaign_id)

    # --------------------------------------------------------------- agents
    def _on_agent_logged_in(self, ev: AgentLoggedIn) -> None:
        agent = self._agents.get(ev.agent_id)
        if agent is not None and agent.state is not _LOGGED_OUT:
            if agent.campaign_ids == ev.campaign_ids:
                return  # a reconnect that logs in again changes nothing
            raise IllegalTransition("agent", agent.state.value, "log in to other campaigns")
        agent = Agent(ev.agent_id, ev.campaign_ids, self._now)
        self._agents[ev.agent_id] = agent
        self._notices[agent.id] = tuple(NotifyAgentState(agent.id, st.value) for st in _STATES)
        for cid in agent.campaign_ids:
            self._counts_for(cid)[_I_LOGGED_OUT] += 1
        agent.login(self._now)
        self._set_agent(agent, _LOGGED_OUT)
        for cid in agent.campaign_ids:  # leads are claimed for the agents logged in
            run = self._runs.get(cid)
            if run is not None and run.settings.state is _RUNNING:
                self._want_leads(cid, run)

    def _on_agent_campaigns_changed(self, ev: AgentCampaignsChanged) -> None:
        agent = self._agents.get(ev.agent_id)
        new = tuple(dict.fromkeys(ev.campaign_ids))
        if agent is None or agent.campaign_ids == new:
            return  # logged out: it logs in with its new campaigns
        # The agent leaves the counts and rosters of the campaigns it no longer
        # serves and joins the others' in the state it is in, as a log-in
        # would: their pacers see it at once (a busy agent will free up for
        # them, not for its old campaign).
        state = _STATE_INDEX[agent.state._value_]
        pausing = agent.id in self._pausing
        old = agent.campaign_ids
        for cid in old:
            if cid in new:
                continue
            counts = self._counts[cid]
            counts[state] -= 1
            counts[_I_PAUSING] -= pausing
            roster = self._rosters.get(cid)
            if roster is not None:
                roster.remove(agent.id)
            if cid in self._runs:
                self._dirty[cid] = None
                self._watch_idle_hopper(cid, went=True)
        agent.campaign_ids = new
        for cid in new:
            if cid in old:
                continue
            counts = self._counts_for(cid)
            counts[state] += 1
            counts[_I_PAUSING] += pausing
            roster = self._rosters.get(cid)
            if roster is not None:  # at the end, like a new log-in
                roster.add(agent.id, state, agent.since)
                roster.set_leaving(agent.id, pausing)
            run = self._runs.get(cid)
            if run is not None:
                self._dirty[cid] = None
                if run.settings.state is _RUNNING:
                    self._want_leads(cid, run)
        if agent.state is _READY:
            self._offer_waiting(agent)

    def _on_agent_ready(self, ev: AgentReady) -> None:
        agent = self._agent(ev.agent_id)
        if agent.state is _READY:
            return
        if agent.state is _ON_CALL or (agent.state is _WRAP_UP and agent.pause_pending):
            # "Ready" while a call or its paused wrap-up is still open can only
            # mean "keep me taking calls after it": it races with the next offer
            # after a disposition, or is a softphone back after dropping in
            # wrap-up. Drop the pause asked for meanwhile.
            agent.pause_pending = False
            self._book_pausing(agent)
            return
        before = agent.state
        if before is _WRAP_UP:
            raise IllegalTransition("agent", before.value, "become ready before a disposition")
        agent.ready(self._now)
        self._set_agent(agent, before)
        self._offer_waiting(agent)

    def _on_agent_paused(self, ev: AgentPaused) -> None:
        agent = self._agent(ev.agent_id)
        if agent.state is _LOGGED_OUT:
            return
        before = agent.state
        agent.pause(self._now)
        self._set_agent(agent, before)

    def _on_agent_logged_out(self, ev: AgentLoggedOut) -> None:
        agent = self._agent(ev.agent_id)
        before = agent.state
        agent.logout(self._now)
        self._set_agent(agent, before)
        for cid in agent.campaign_ids:
            self._counts_for(cid)[_I_LOGGED_OUT] -= 1
        del self._agents[agent.id]
        del self._notices[agent.id]

    def _on_agent_hung_up(self, ev: AgentHungUp) -> None:
        agent = self._agent(ev.agent_id)
        call = self._calls.get(ev.call_id)
        if call is None or agent.call_id != ev.call_id:
            raise IllegalTransition("agent", agent.state.value, f"hang up call {ev.call_id}")
        if call.state in (_OFFERED, _BRIDGED):
            self._out.append(HangUpCall(call.id))
            self._end_connected(call, agent)

    def _on_disposition(self, ev: DispositionSubmitted) -> None:
        agent = self._agent(ev.agent_id)
        if agent.state is not _WRAP_UP or agent.call_id != ev.call_id:
            raise IllegalTransition("agent", agent.state.value, f"disposition {ev.call_id}")
        call = self._calls.pop(ev.call_id)
        call.disposition = ev.code
        run = self._runs.get(call.campaign_id)
        if ev.machine and not call.machine:
            # Without AMD only the agent can tell a machine from a person.
            call.machine = True
            call.outcome = _MACHINE
            if run is not None:
                run.human_answered -= 1
                run.machine_answered += 1
                run.window_human_answered -= 1
                if run.observes:
                    run.pacer.observe(
                        AttemptResolved(self._now, "machine", _answer_delay(call), corrected=True)
                    )
        if run is not None and call.bridged_at is not None:
            if call.machine:
                run.verified_machines += 1
            else:
                run.verified_humans += 1
        if (
            run is not None
            and run.observes
            and call.bridged_at is not None
            and call.ended_at is not None
        ):
            run.pacer.observe(
                HandlingEnded(
                    self._now,
                    talk_s=call.ended_at - call.bridged_at,
                    wrap_s=self._now - call.ended_at,
                    machine=call.machine,
                )
            )
        if self._emit_records:
            self._record(call)
        self._forget_if_removed(call.campaign_id)
        before = agent.state
        agent.finish_wrap_up(self._now)
        self._set_agent(agent, before)
        if agent.state is _READY:  # or paused, if asked
            self._offer_waiting(agent)

    def _wrap_limit(self, agent: Agent) -> None:
        if agent.call_id is not None:
            self._on_disposition(DispositionSubmitted(agent.id, agent.call_id, WRAP_TIMEOUT))

    def _on_agent_requested_dial(self, ev: AgentRequestedDial) -> None:
        agent = self._agent(ev.agent_id)
        run = self._run(ev.campaign_id)
        if agent.state is not _READY or ev.campaign_id not in agent.campaign_ids:
            raise IllegalTransition("agent", agent.state.value, "dial a preview call")
        if run.settings.state is not _RUNNING:
            raise IllegalTransition("campaign", run.settings.state.value, "dial")
        if ev.lead is not None:
            self._try_dial(ev.campaign_id, run, ev.lead, agent, chosen=True)
        else:
            out_before = len(self._out)
            call = self._dial_next(ev.campaign_id, run, agent)
            if call is None and not any(
                isinstance(cmd, DialRefused) for cmd in self._out[out_before:]
            ):
                # Nothing to dial: say so (the softphone waited for ever).
                self._out.append(DialRefused(agent.id, ev.campaign_id, None, "no_leads"))
        self._want_leads(ev.campaign_id, run)

    # ---------------------------------------------------------------- calls
    def _live_call(self, call_id: str) -> Call | None:
        """A call an adapter event is about; None for calls already over."""
        call = self._calls.get(call_id)
        if call is None or call.state is _ENDED:
            return None
        return call

    def _on_call_answered(self, ev: CallAnswered) -> None:
        call = self._calls.get(ev.call_id)  # ended calls are not dialing
        if call is None or call.state is not _DIALING:
            return  # the answer lost the race with our ring timeout or cancel
        run = self._runs[call.campaign_id]
        del run.dialing[call.id]
        amd = run.settings.amd and call.preview_agent_id is None
        call.answer(self._now, amd)
        self._dirty[call.campaign_id] = None
        if amd:
            run.amd_pending[call.id] = call
            return
        if run.observes:
            run.pacer.observe(AttemptResolved(self._now, "human", _answer_delay(call)))
        self._human_waiting(call, run)

    def _on_amd_classified(self, ev: AmdClassified) -> None:
        call = self._calls.get(ev.call_id)  # ended calls are not answered
        if call is None or call.state is not _ANSWERED:
            return
        run = self._runs[call.campaign_id]
        del run.amd_pending[call.id]
        self._dirty[call.campaign_id] = None
        call.classify(self._now, ev.machine)
        if ev.machine:
            run.machine_answered += 1
            if run.observes:
                run.pacer.observe(AttemptResolved(self._now, "machine", _answer_delay(call)))
            self._out.append(HangUpCall(call.id))
            self._finish(call)
            return
        if run.observes:
            run.pacer.observe(AttemptResolved(self._now, "human", _answer_delay(call)))
        self._human_waiting(call, run)

    def _human_waiting(self, call: Call, run: _Run) -> None:
        run.human_answered += 1
        run.window_human_answered += 1
        if call.preview_agent_id is not None:
            agent = self._agents.get(call.preview_agent_id)
            if agent is not None and agent.call_id == call.id:
                call.offer(agent.id)
                self._out.append(BridgeCall(call.id, agent.id))
                if self._emit_records:
                    self._record(call)
                return
        agent = self._longest_ready(call.campaign_id)
        if agent is not None:
            self._bridge(call, agent)
            return
        run.waiting[call.id] = call
        assert call.classified_at is not None
        self._schedule(call.classified_at + run.settings.connect_deadline_s, _CONNECT, call.id)

    def _longest_ready(self, campaign_id: str) -> Agent | None:
        for agent in self._ready.values():
            if campaign_id in agent.campaign_ids:
                return agent
        return None

    def _offer_waiting(self, agent: Agent) -> None:
        """An agent just became ready: give it the oldest waiting call it may take."""
        best: Call | None = None
        for cid in agent.campaign_ids:
            run = self._runs.get(cid)
            if run is None or not run.waiting:
                continue
            call = next(iter(run.waiting.values()))
            if best is None or (call.classified_at or 0.0) < (best.classified_at or 0.0):
                best = call
        if best is not None:
            del self._runs[best.campaign_id].waiting[best.id]
            self._bridge(best, agent)

    def _bridge(self, call: Call, agent: Agent) -> None:
        call.offer(agent.id)
        before = agent.state
        agent.take_call(call.id, self._now)
        self._set_agent(agent, before)
        if self._emit_records:
            self._record(call)
        self._out.append(BridgeCall(call.id, agent.id))

    def _on_call_bridged(self, ev: CallBridged) -> None:
        call = self._calls.get(ev.call_id)  # ended calls are not offered
        if call is None or call.state is not _OFFERED:
            return
        call.bridge(self._now)
        greeted_at = call.classified_at if call.classified_at is not None else call.answered_at
        run = self._runs.get(call.campaign_id)
        if (
            run is not None
            and greeted_at is not None
            and self._now - greeted_at > run.settings.connect_deadline_s
            and not call.machine
        ):
            # Offered in time but connected late (a database or telephony
            # stall on the way): the person waited past the deadline, which
            # the law counts as abandoned whatever happens next.
            call.abandoned = True
            self._count_abandoned(run)
        assert call.agent_id is not None
        agent = self._agents.get(call.agent_id)
        if agent is not None and agent.call_id == call.id:
            agent.connected(self._now)
        if self._emit_records:
            self._record(call)

    def _on_call_failed(self, ev: CallFailed) -> None:
        call = self._calls.get(ev.call_id)  # ended calls are not dialing
        if call is None or call.state is not _DIALING:
            return
        run = self._runs[call.campaign_id]
        del run.dialing[call.id]
        outcome = _OUTCOMES.get(ev.outcome)
        if outcome is None:
            outcome = CallOutcome(ev.outcome)  # raises ValueError, as it always did
        call.fail(self._now, outcome)
        if run.observes:
            run.pacer.observe(AttemptResolved(self._now, outcome.value, self._now - call.dialed_at))
        self._dirty[call.campaign_id] = None
        if call.preview_agent_id is not None:
            self._release_preview(call)
        self._finish(call)

    def _ring_timeout(self, call: Call) -> None:
        run = self._runs[call.campaign_id]
        del run.dialing[call.id]
        call.end(self._now)
        if run.observes:
            run.pacer.observe(AttemptResolved(self._now, "no_answer", self._now - call.dialed_at))
        self._dirty[call.campaign_id] = None
        self._out.append(CancelCall(call.id))
        if call.preview_agent_id is not None:
            self._release_preview(call)
        self._finish(call)

    def _abandon(self, call: Call) -> None:
        run = self._runs[call.campaign_id]
        del run.waiting[call.id]
        call.abandon(self._now)
        if call.abandoned:
            self._count_abandoned(run)
        self._dirty[call.campaign_id] = None
        self._out.append(AbandonCall(call.id, run.settings.safe_harbor_message))
        self._finish(call)

    def _count_abandoned(self, run: _Run) -> None:
        """One more abandoned person: in the day's count, the window's, and the cap."""
        run.abandoned += 1
        run.window_abandoned += 1
        self._update_cap(run)

    def _on_call_hung_up(self, ev: CallHungUp) -> None:
        call = self._live_call(ev.call_id)
        if call is None:
            return
        run = self._runs[call.campaign_id]
        state = call.state
        self._dirty[call.campaign_id] = None
        if state is _DIALING:
            del run.dialing[call.id]
            call.fail(self._now, _FAILED)
            if call.preview_agent_id is not None:
                self._release_preview(call)
        elif state is _ANSWERED:
            del run.amd_pending[call.id]
            call.end(self._now)  # gone during the greeting: AMD never judged it
        elif state is _WAITING:
            # The person gave up waiting for an agent: that is an abandoned call.
            self._abandon(call)
            return
        else:
            assert call.agent_id is not None
            agent = self._agents.get(call.agent_id)
            if agent is not None and agent.call_id == call.id:
                self._end_connected(call, agent)
                return
            call.end(self._now)
        self._finish(call)

    def _end_connected(self, call: Call, agent: Agent) -> None:
        """A call that reached an agent ended; the agent wraps up (or is freed)."""
        never_connected = call.state is _OFFERED
        call.end(self._now)
        before = agent.state
        if never_connected:
            agent.release(self._now)
            self._set_agent(agent, before)
            self._finish(call)
            if agent.state is _READY:
                self._offer_waiting(agent)
            return
        agent.end_call(self._now)
        self._set_agent(agent, before)
        if self._emit_records:
            self._record(call)  # kept in _calls until the disposition
        limit = self._runs[call.campaign_id].settings.wrap_up_limit_s
        if limit is not None:
            self._schedule(self._now + limit, _WRAP_LIMIT, call.id)

    def _release_preview(self, call: Call) -> None:
        """Free the agent a preview call was dialed for (callers check it was one)."""
        assert call.preview_agent_id is not None
        agent = self._agents.get(call.preview_agent_id)
        if agent is not None and agent.call_id == call.id:
            before = agent.state
            agent.release(self._now)
            self._set_agent(agent, before)

    def _finish(self, call: Call) -> None:
        del self._calls[call.id]
        if self._emit_records:
            self._record(call)
        self._forget_if_removed(call.campaign_id)

    def _forget_if_removed(self, campaign_id: str) -> None:
        # Once per call ended: the common case (nothing removed) is one test.
        if not self._removing or campaign_id not in self._removing:
            return
        if not self._has_calls(campaign_id):
            del self._runs[campaign_id]
            self._removing.discard(campaign_id)

    # --------------------------------------------------------------- pacing
    def _on_tick(self, ev: Tick) -> None:
        """Timers fire in ``handle``; a tick carries nothing else."""

    @staticmethod
    def _window_estimate(run: _Run) -> tuple[float, float]:
        """(people answered, people abandoned) in the window, as best known.

        An answered call that no agent heard (every abandoned one) may have
        been a machine, which the law does not count. Without AMD every
        answer is reported as a person until an agent says otherwise; with
        AMD, its false negatives (machines it passes as people) are too. The
        share of people among the answered calls agents did hear estimates
        how many of the abandoned were people. Counting them all would starve
        a campaign for no legal reason: with an AMD that lets 40 % of
        machines through, half the "abandoned" calls are machines. The prior
        is one each without AMD; with AMD, whose verdict is meant to be
        right, 20 people, so that the raw count stands until agents have
        heard enough calls to say otherwise.
        """
        humans = float(run.window_human_answered)
        abandoned = float(run.window_abandoned)
        if abandoned == 0:
            return humans, abandoned
        if run.settings.amd:
            share = (run.verified_humans + 20) / (run.verified_humans + run.verified_machines + 20)
        else:
            share = (run.verified_humans + 1) / (run.verified_humans + run.verified_machines + 2)
        return humans - (1.0 - share) * abandoned, share * abandoned

    def _update_cap(self, run: _Run) -> None:
        humans, abandoned = self._window_estimate(run)
        rate = abandoned / humans if humans > 0 else 0.0
        run.capped = (
            run.settings.cap_guard and abandoned > 0 and rate >= run.settings.max_abandon_rate
        )

    def _pace_dirty(self) -> None:
        dirty = self._dirty
        while dirty:
            cid = next(iter(dirty))
            del dirty[cid]
            run = self._runs.get(cid)
            if run is None:
                continue
            if run.pacer.decision_interval_s is None:
                self._pace(cid, run)
            elif run.tops_up:
                self._top_up(cid, run)

    def _top_up(self, campaign_id: str, run: _Run) -> None:
        """Between a periodic pacer's decisions: a line for every agent free now.

        Only for a pacer that would answer at least these calls anyway (see
        ``tops_up`` in :class:`pacing.snapshot.CountPacer`); its next decision
        counts them as lines in flight.
        """
        settings = run.settings
        if settings.state is not _RUNNING or settings.mode is _PREVIEW:
            return
        calls = run.counts[_I_READY] - run.lines_in_flight
        if calls <= 0:
            return
        if self._decision_log is not None:
            decision = PacingDecision(calls, 1.0, None, {"phase": "top-up"})
            self._decision_log(campaign_id, self._snapshot(run), decision)
        self._dial_paced(campaign_id, run, calls)
        self._want_leads(campaign_id, run)

    def _dial_paced(self, campaign_id: str, run: _Run, calls: int) -> None:
        """Up to ``calls`` paced calls; the first lead none can be dialed for ends it."""
        for _ in range(calls):
            if self._dial_next(campaign_id, run, None) is None:
                break

    def _pace(self, campaign_id: str, run: _Run) -> None:
        settings = run.settings
        if settings.state is not _RUNNING:
            return
        if settings.mode is _PREVIEW:
            # Agents ask for their calls; leads for them, as they come back.
            self._want_leads(campaign_id, run)
            return
        if run.capped:
            self._update_cap(run)
        decide_counts = run.decide_counts
        if decide_counts is not None and self._decision_log is None:
            # This pacer reads two counts only: no snapshot to build.
            ready = run.counts[_I_READY]
            lines = len(run.dialing) + len(run.amd_pending) + len(run.waiting)
            calls, level = decide_counts(ready, lines)
        else:
            snapshot = self._snapshot(run)
            decision = run.pacer.decide(snapshot)
            calls, level = decision.calls, decision.dial_level
            ready, lines = snapshot.agents_ready, snapshot.lines_in_flight
            if self._decision_log is not None:
                self._decision_log(campaign_id, snapshot, decision)
        if run.capped:
            # At the cap: progressive until the window is back under it.
            calls = min(calls, ready - lines)
        run.dial_level = level if not run.capped else 1.0
        if calls > 0:  # most decisions dial nothing
            self._dial_paced(campaign_id, run, calls)
        self._want_leads(campaign_id, run)

    def _snapshot(self, run: _Run) -> PacingSnapshot:
        c = run.counts
        s = run.settings
        now = self._now
        remaining = (
            run.window_ends_at - now if run.window_ends_at is not None else s.abandon_window_s
        )
        window_humans, window_abandoned = self._window_estimate(run)
        ready = c[_I_READY]
        on_call = c[_I_ON_CALL]
        wrap = c[_I_WRAP]
        paused = c[_I_PAUSED]
        # Positional, straight into the tuple: this runs for every decision.
        snap = _new_snapshot(
            PacingSnapshot,
            (
                now,
                ready + on_call + wrap + paused,
                ready,
                on_call,
                wrap,
                paused,
                len(run.dialing),
                len(run.amd_pending),
                len(run.waiting),
                window_humans,
                window_abandoned,
                s.max_abandon_rate,
                remaining if remaining > 0.0 else 0.0,
                s.ring_timeout_s,
                s.connect_deadline_s,
                s.amd,
                s.amd_detect_s,
                s.amd_false_positive_rate,
                s.dial_ratio,
                s.target_agent_wait_s,
                None if not run.exhausted else len(run.hopper),
                EMPTY,
                EMPTY,
                EMPTY,
                EMPTY,
                float(run.window_abandoned),
                c[_I_PAUSING],
            ),
        )
        if not run.pacer.needs_detail:
            return snap
        return self._detailed(snap, run)

    def _detailed(self, snap: PacingSnapshot, run: _Run) -> PacingSnapshot:
        now = self._now
        cid = run.settings.id
        ringing = np.fromiter((now - c.dialed_at for c in run.dialing.values()), np.float64)
        roster = self._rosters.get(cid)
        if roster is None:
            # From here on _set_agent keeps it; agents join it in the agent
            # table's order, which is log-in order, as later ones will.
            roster = self._rosters[cid] = Roster()
            for agent in self._agents.values():
                if cid in agent.campaign_ids:
                    roster.add(agent.id, _STATE_INDEX[agent.state._value_], agent.since)
                    if agent.id in self._pausing:
                        roster.set_leaving(agent.id, True)
        return snap._replace(
            ringing_ages_s=ringing,
            on_call_ages_s=roster.ages(_I_ON_CALL, now, staying=True),
            wrap_up_ages_s=roster.ages(_I_WRAP, now, staying=True),
            ready_ages_s=roster.ages(_I_READY, now),
        )

    def _dial_next(self, campaign_id: str, run: _Run, agent: Agent | None) -> Call | None:
        """Dial the next lead that passes every gate; None if none does (or it is blocked).

        ``agent`` is the agent the call is for (preview); None for a paced call.
        A campaign-wide block is decided afresh by the first lead that reaches
        that rule; with no lead to try, the last verdict stands.
        """
        held = run.held if run.held and (agent is not None or run.counts[_I_READY] > 0) else ()
        if not held and not run.hopper:
            return None
        run.blocked_reason = None
        # Leads that wait for an agent come first when one may be had.
        for _ in range(len(held)):
            call = self._try_dial(campaign_id, run, run.held.popleft(), agent)
            if call is not None or run.blocked_reason is not None:
                return call
        hopper = run.hopper
        while hopper:
            call = self._try_dial(campaign_id, run, hopper.popleft(), agent)
            if call is not None or run.blocked_reason is not None:
                return call
        return None

    def _hold(self, run: _Run, lead: Lead, reason: str, retry_at: float | None) -> None:
        """Keep a lead that needs an agent none is free for, up to a hopper's worth."""
        if len(run.held) < run.settings.hopper_size:
            run.held.append(lead)
        else:
            self._skip(run, lead, f"awaiting_agent:{reason}", retry_at, None)

    def _skip(
        self, run: _Run, lead: Lead, reason: str, retry_at: float | None, agent: Agent | None
    ) -> None:
        """The lead goes back to the store with the reason; an agent who asked is told."""
        cid = run.settings.id
        self._out.append(SkipLead(cid, lead.id, reason, retry_at, phone=lead.phone))
        if agent is not None:
            self._out.append(DialRefused(agent.id, cid, lead.id, reason, retry_at))

    def _try_dial(
        self,
        campaign_id: str,
        run: _Run,
        lead: Lead,
        agent: Agent | None,
        *,
        chosen: bool = False,
    ) -> Call | None:
        """One lead through the gate: dialed (the call), skipped, held, or put back.

        A rule that allows the call only with an agent waiting for it (uk
        repeat calls, a personal callback) is met by the agent a preview or
        manual (``chosen``: this very lead) dial is for, except that a preview
        agent does not take another agent's personal callback; a paced call
        reserves the longest-ready agent (or the named one) before dialing.
        Otherwise the lead is held in the core until such an agent is ready.
        """
        settings = run.settings
        if lead.attempts >= settings.max_attempts:
            self._skip(run, lead, "max_attempts", None, agent)
            return None
        decision = "allowed"
        reserved: Agent | None = None
        gate = self._gate
        if gate is not None:
            verdict = gate.check(lead, settings, self._clock.wall_epoch(self._now))
            if not verdict.allowed:
                if verdict.campaign_blocked:
                    # Nothing about this lead: keep it, dial nothing for now.
                    run.blocked_reason = verdict.reason
                    run.hopper.appendleft(lead)
                    if agent is not None:
                        self._out.append(
                            DialRefused(agent.id, campaign_id, lead.id, verdict.reason)
                        )
                    return None
                self._skip(run, lead, verdict.reason, verdict.retry_at, agent)
                return None
            decision = verdict.reason
            if verdict.needs_agent and agent is None:
                reserved = self._reservable(campaign_id, verdict.agent_id)
                if reserved is None:
                    self._hold(run, lead, verdict.reason, verdict.retry_at)
                    return None
                decision = f"{verdict.reason}:reserved_agent"
            elif (
                verdict.needs_agent
                and agent is not None
                and not chosen
                and verdict.agent_id not in (None, agent.id)
            ):
                self._hold(run, lead, verdict.reason, verdict.retry_at)
                return None
        run.blocked_reason = None
        for_agent = agent if agent is not None else reserved
        agent_id = for_agent.id if for_agent is not None else None
        self._call_seq += 1
        call_id = f"{self._id_prefix}{self._call_seq}"
        call = Call(call_id, campaign_id, lead.id, lead.phone, self._now, agent_id, decision)
        self._calls[call_id] = call
        run.dialing[call_id] = call
        run.dialed += 1
        # Positional: keywords would cost a dict per call placed.
        self._out.append(
            PlaceCall(
                call_id,
                campaign_id,
                lead.id,
                lead.phone,
                settings.ring_timeout_s,
                # A person an agent waits for is never judged by a machine.
                settings.amd and agent_id is None,
                settings.caller_id,
                agent_id,
            )
        )
        self._schedule_ring(self._now + settings.ring_timeout_s, call)
        if for_agent is not None:
            before = for_agent.state
            for_agent.take_call(call_id, self._now)
            self._set_agent(for_agent, before)
        return call

    def _reservable(self, campaign_id: str, wanted: str | None) -> Agent | None:
        """A ready agent to hold for a call: ``wanted`` only, or the longest ready."""
        if wanted is None:
            return self._longest_ready(campaign_id)
        agent = self._ready.get(wanted)
        if agent is not None and campaign_id in agent.campaign_ids:
            return agent
        return None


def _answer_delay(call: Call) -> float:
    return (call.answered_at or call.dialed_at) - call.dialed_at
