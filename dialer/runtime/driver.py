"""The asyncio driver: runs the sans-I/O core on the event loop.

One task owns the core. Events arrive on an inbox (from telephony, agents'
sockets, the API and the lead store); the task wakes at the core's
``next_deadline()`` when nothing arrives sooner, hands the event to the core
and carries out the commands it returns, in order:

- write-ahead: a call is stored before the telephony originates it, and the
  bridge is stored before the agent hears of it, so a crash loses no call and
  dials no lead twice;
- lead claims run as their own tasks so a slow database never stalls pacing;
- a failing telephony order becomes a ``CallFailed`` event, not a crash.

The driver never blocks the loop: every I/O is awaited, and the core's own
work per event is small.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from dialer.calls import CallRecord
from dialer.campaign import Lead
from dialer.commands import (
    AbandonCall,
    BridgeCall,
    CancelCall,
    Command,
    HangUpCall,
    NotifyAgentState,
    PlaceCall,
    RecordCall,
    RequestLeads,
    SkipLead,
)
from dialer.core import DialerCore
from dialer.errors import DialerError
from dialer.events import AgentHungUp, CallFailed, Event, LeadsClaimed, Tick
from dialer.ports import Telephony
from dialer.runtime.hub import AgentHub
from dialer.runtime.metrics import Metrics

__all__ = ["CoreDriver", "LeadStore", "ServiceClock"]

log = logging.getLogger(__name__)
_TICK = Tick()


class ServiceClock:
    """Monotonic driver time, mapped to wall-clock epoch seconds for calling hours."""

    def now(self) -> float:
        return time.monotonic()

    def wall_epoch(self, now: float) -> float:
        return time.time() - (time.monotonic() - now)


@dataclass(slots=True)
class _Pending:
    event: Event
    done: asyncio.Future[None] | None
    at: float = 0.0  # when it was queued (driver clock)


class LeadStore(Protocol):
    """What the driver needs of persistence (dialer.runtime.store implements it)."""

    async def claim(self, campaign_id: str, count: int) -> tuple[list[Lead], bool]: ...

    async def call_placed(self, cmd: PlaceCall, dialed_at_epoch: float) -> None: ...

    async def call_updated(
        self, record: CallRecord, to_wall: Callable[[float], float]
    ) -> None: ...

    async def call_finished(self, record: CallRecord, lead: Lead | None) -> None: ...

    async def lead_skipped(self, cmd: SkipLead) -> None: ...


class CoreDriver:
    def __init__(
        self,
        core: DialerCore,
        *,
        telephony: Telephony,
        store: LeadStore,
        hub: AgentHub,
        metrics: Metrics,
        clock: ServiceClock,
        on_call_finished: Callable[[CallRecord], Awaitable[None]] | None = None,
    ) -> None:
        self.core = core
        self.telephony = telephony
        self.store = store
        self.hub = hub
        self.metrics = metrics
        self.clock = clock
        self._on_call_finished = on_call_finished
        self._inbox: asyncio.Queue[_Pending] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._claims: set[asyncio.Task[None]] = set()
        self._claimed: dict[str, Lead] = {}  # lead id -> lead, claimed and not yet dialed
        self._call_leads: dict[str, Lead] = {}  # call id -> its lead, until finished
        self._answered_at: dict[str, float] = {}
        self._notified_end: set[str] = set()
        self._current: Event | None = None
        self._current_at = 0.0
        self._stopping = False
        self.events_handled = 0

    # ------------------------------------------------------------------ life
    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name="dialer-core"),
            asyncio.create_task(self._pump_telephony(), name="dialer-telephony"),
        ]

    async def stop(self) -> None:
        self._stopping = True
        for task in [*self._tasks, *self._claims]:
            task.cancel()
        for task in [*self._tasks, *self._claims]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    # ------------------------------------------------------------- feeding
    def post(self, event: Event) -> None:
        """Queue an event; errors it causes are logged (telephony, timers)."""
        self._inbox.put_nowait(_Pending(event, None, self.clock.now()))

    async def submit(self, event: Event) -> None:
        """Queue an event and wait until the core has taken it and its commands ran.

        A DialerError the core raises for it (an illegal transition, an unknown
        id) is raised here, for the caller to report.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(_Pending(event, done, self.clock.now()))
        await done

    # ---------------------------------------------------------------- loop
    async def _run(self) -> None:
        inbox = self._inbox
        while True:
            deadline = self.core.next_deadline()
            pending: _Pending
            if deadline is None:
                pending = await inbox.get()
            else:
                delay = deadline - self.clock.now()
                if delay > 0 and inbox.empty():
                    try:
                        async with asyncio.timeout(delay):
                            pending = await inbox.get()
                    except TimeoutError:
                        pending = _Pending(_TICK, None, deadline)
                else:
                    pending = (
                        inbox.get_nowait()
                        if not inbox.empty()
                        else _Pending(_TICK, None, self.clock.now())
                    )
            await self._handle(pending)

    async def _handle(self, pending: _Pending) -> None:
        event = pending.event
        now = self.clock.now()
        try:
            commands = self.core.handle(event, now)
        except DialerError as exc:
            if pending.done is not None and not pending.done.done():
                pending.done.set_exception(exc)
            else:
                log.info("event %r refused: %s", event, exc)
            return
        except Exception as exc:  # a bug: keep the loop alive, say so loudly
            log.exception("core failed on %r", event)
            if pending.done is not None and not pending.done.done():
                pending.done.set_exception(exc)
            return
        self.events_handled += 1
        self._current = event
        self._current_at = pending.at
        try:
            await self._execute(commands, now)
        finally:
            self._current = None
            if pending.done is not None and not pending.done.done():
                pending.done.set_result(None)

    async def _pump_telephony(self) -> None:
        async for event in self.telephony.events():
            self.post(event)

    # ------------------------------------------------------------ commands
    async def _execute(self, commands: list[Command], now: float) -> None:
        for cmd in commands:
            try:
                await self._carry_out(cmd, now)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("command %r failed", cmd)

    async def _carry_out(self, cmd: Command, now: float) -> None:
        if isinstance(cmd, PlaceCall):
            await self._place(cmd, now)
        elif isinstance(cmd, NotifyAgentState):
            await self.hub.send(cmd.agent_id, {"type": "state", "state": cmd.state})
        elif isinstance(cmd, BridgeCall):
            await self._bridge(cmd, now)
        elif isinstance(cmd, RecordCall):
            await self._record(cmd.record)
        elif isinstance(cmd, AbandonCall):
            await self.telephony.play_and_hang_up(cmd.call_id, cmd.message)
        elif isinstance(cmd, CancelCall | HangUpCall):
            await self.telephony.hang_up(cmd.call_id)
        elif isinstance(cmd, RequestLeads):
            self._spawn_claim(cmd)
        elif isinstance(cmd, SkipLead):
            self._claimed.pop(cmd.lead_id, None)
            await self.store.lead_skipped(cmd)

    async def _place(self, cmd: PlaceCall, now: float) -> None:
        lead = self._claimed.pop(cmd.lead_id, None)
        if lead is not None:
            self._call_leads[cmd.call_id] = lead
        # Write-ahead: the record exists before the phone rings.
        await self.store.call_placed(cmd, self.clock.wall_epoch(now))
        try:
            await self.telephony.originate(
                cmd.call_id,
                cmd.phone,
                caller_id=cmd.caller_id,
                ring_timeout_s=cmd.ring_timeout_s,
                amd=cmd.amd,
            )
        except Exception:
            log.exception("originate %s failed", cmd.call_id)
            self.post(CallFailed(cmd.call_id, "failed"))

    async def _bridge(self, cmd: BridgeCall, now: float) -> None:
        # The record of the offer (agent, answer time) was stored by the
        # RecordCall that precedes this command: write-ahead holds.
        answered = self._answered_at.pop(cmd.call_id, None)
        try:
            await self.telephony.bridge(cmd.call_id, cmd.agent_id)
        except Exception:
            log.exception("bridge %s failed", cmd.call_id)
            return
        self.metrics.bridge_latency.observe(max(0.0, self.clock.now() - self._current_at))
        lead = self._call_leads.get(cmd.call_id)
        campaign = lead.campaign_id if lead is not None else ""
        if answered is not None:
            self.metrics.connect_delay.labels(campaign).observe(max(0.0, now - answered))
        await self.hub.send(
            cmd.agent_id,
            {
                "type": "call",
                "call_id": cmd.call_id,
                "campaign_id": campaign,
                "lead": {
                    "id": lead.id if lead else None,
                    "phone": lead.phone if lead else None,
                    "data": lead.data if lead else {},
                },
            },
        )

    async def _record(self, record: CallRecord) -> None:
        if record.answered_at is not None and record.bridged_at is None and record.ended_at is None:
            self._answered_at[record.id] = record.answered_at
        await self.store.call_updated(record, self.clock.wall_epoch)
        if record.ended_at is None:
            return
        if (
            record.agent_id is not None
            and record.bridged_at is not None
            and record.id not in self._notified_end
        ):
            self._notified_end.add(record.id)
            by = "agent" if isinstance(self._current, AgentHungUp) else "customer"
            await self.hub.send(
                record.agent_id, {"type": "call_ended", "call_id": record.id, "by": by}
            )
        finished = record.bridged_at is None or record.disposition is not None
        if not finished:
            return  # the agent's disposition will close it
        self._notified_end.discard(record.id)
        self._answered_at.pop(record.id, None)
        lead = self._call_leads.pop(record.id, None)
        outcome = record.outcome.value if record.outcome is not None else "failed"
        self.metrics.calls.labels(record.campaign_id, outcome).inc()
        if record.abandoned:
            self.metrics.abandoned.labels(record.campaign_id).inc()
        await self.store.call_finished(record, lead)
        if self._on_call_finished is not None:
            await self._on_call_finished(record)

    # --------------------------------------------------------------- leads
    def _spawn_claim(self, cmd: RequestLeads) -> None:
        task = asyncio.create_task(self._claim(cmd), name=f"claim-{cmd.campaign_id}")
        self._claims.add(task)
        task.add_done_callback(self._claims.discard)

    async def _claim(self, cmd: RequestLeads) -> None:
        try:
            leads, exhausted = await self.store.claim(cmd.campaign_id, cmd.count)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("claiming leads for %s failed", cmd.campaign_id)
            await asyncio.sleep(1.0)
            leads, exhausted = [], False
        for lead in leads:
            self._claimed[lead.id] = lead
        self.post(LeadsClaimed(cmd.campaign_id, tuple(leads), exhausted=exhausted))

    def claimed_lead_ids(self) -> list[str]:
        return list(self._claimed)

