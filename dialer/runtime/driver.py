"""The asyncio driver: runs the sans-I/O core on the event loop.

One task owns the core. Events arrive on an inbox (from telephony, agents'
sockets, the API and the lead store); the task wakes at the core's
``next_deadline()`` when nothing arrives sooner, hands the event to the core
and dispatches the commands it returns without waiting on the database:

- writes go to a batching writer (one commit for many writes), in order;
- orders to the telephony and messages that depend on a write run in a
  per-call chain that first awaits that call's latest write. Write-ahead
  holds where it matters: a call is stored before the telephony originates
  it, the bridge is stored before the agent hears of the call, and a call's
  end is stored before the agent is told it ended. A crash loses no call and
  dials no lead twice;
- per call, telephony orders run in the order the core gave them;
- lead claims run as their own tasks;
- a failing telephony order becomes a ``CallFailed`` event, not a crash.

``submit`` (the API's and agents' way in) returns once the writes and
telephony orders its event caused are done, so a caller reads its own writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from dialer.agents import AgentState
from dialer.calls import CallRecord
from dialer.campaign import Lead
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
from dialer.core import WRAP_TIMEOUT, DialerCore
from dialer.errors import DialerError
from dialer.events import AgentHungUp, CallFailed, Event, LeadsClaimed, LeadsRevoked, Tick
from dialer.ports import Telephony
from dialer.runtime.fencing import RecordsHealth
from dialer.runtime.hub import AgentHub
from dialer.runtime.metrics import Metrics
from dialer.runtime.writer import BatchWriter, WriteOp
from dialer.storage.database import Statement

__all__ = ["CoreDriver", "LeadStore", "ServiceClock", "dial_refused_frame"]

log = logging.getLogger(__name__)
_TICK = Tick()
# Agent states in which the agent has a call its softphone must name.
_WITH_CALL = frozenset({AgentState.ON_CALL.value, AgentState.WRAP_UP.value})
# How often a wait for a write looks whether the database went away meanwhile.
_WRITE_CHECK_S = 0.25


def dial_refused_frame(cmd: DialRefused) -> dict[str, Any]:
    """The ``dial_refused`` frame telling an agent why its dial was not placed."""
    return {
        "type": "dial_refused",
        "campaign_id": cmd.campaign_id,
        "lead_id": cmd.lead_id,
        "reason": cmd.reason,
        "retry_at": _iso(cmd.retry_at),
    }


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat()


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
    waits: list[asyncio.Future[None] | asyncio.Task[None]] = field(default_factory=list)


class LeadStore(Protocol):
    """What the driver needs of persistence (dialer.runtime.store implements it)."""

    async def claim(self, campaign_id: str, count: int) -> tuple[list[Lead], bool]: ...

    async def call_placed(
        self, s: AsyncSession, cmd: PlaceCall, dialed_at_epoch: float, decision: str
    ) -> None: ...

    async def call_finished(self, s: AsyncSession, record: CallRecord) -> None: ...

    async def lead_skipped(self, s: AsyncSession, cmd: SkipLead) -> None: ...

    async def leads_unclaimed(self, s: AsyncSession, lead_ids: Sequence[str]) -> None: ...

    async def run_batch(self, ops: Sequence[WriteOp]) -> list[BaseException | None]: ...

    def call_write(self, record: CallRecord, to_wall: Callable[[float], float]) -> Statement: ...

    async def write_alone(self, ops: Sequence[Statement]) -> list[BaseException | None]: ...


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
        health: RecordsHealth | None = None,
    ) -> None:
        self.core = core
        self.health = health if health is not None else RecordsHealth(lease_s=math.inf)
        self.telephony = telephony
        self.store = store
        self.hub = hub
        self.metrics = metrics
        self.clock = clock
        self.writer = BatchWriter(
            store.run_batch, write_alone=store.write_alone, on_health=self.health.writes
        )
        self._inbox: asyncio.Queue[_Pending] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._claims: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._claimed: dict[str, Lead] = {}  # lead id -> lead, claimed and not yet dialed
        self._call_leads: dict[str, Lead] = {}  # call id -> its lead, until finished
        # call id -> the ``call`` frame its agent was sent, until the disposition
        # closes it: a softphone that reconnects mid-call or in wrap-up gets it
        # again, else it could neither hang up nor dispose (both name the call).
        self._call_frames: dict[str, dict[str, Any]] = {}
        self._answered_at: dict[str, float] = {}
        # call id -> the ``call_ended`` frame its agent was sent, until the
        # disposition: a softphone back in wrap-up gets it after the call frame.
        self._end_frames: dict[str, dict[str, Any]] = {}
        self._last_write: dict[str, asyncio.Future[None]] = {}  # call id -> latest write
        self._chains: dict[str, asyncio.Task[None]] = {}  # call id -> latest telephony order
        self._current: _Pending | None = None
        self.events_handled = 0

    # ------------------------------------------------------------------ life
    async def start(self) -> None:
        self.writer.start()
        self._tasks = [
            asyncio.create_task(self._run(), name="dialer-core"),
            asyncio.create_task(self._pump_telephony(), name="dialer-telephony"),
        ]

    async def stop(self) -> None:
        # A claim in flight is a database transaction: let it end, not cancel it
        # half way (its leads are released with the rest of this process's).
        if self._claims:
            await asyncio.wait(list(self._claims), timeout=5.0)
        for task in [*self._tasks, *self._claims]:
            task.cancel()
        for task in [*self._tasks, *self._claims]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        chains = list(self._chains.values())
        if chains:
            await asyncio.wait(chains, timeout=5.0)
        await self.writer.stop()

    # ------------------------------------------------------------- feeding
    def post(self, event: Event) -> None:
        """Queue an event; errors it causes are logged (telephony, timers)."""
        self._inbox.put_nowait(_Pending(event, None, self.clock.now()))

    async def submit(self, event: Event) -> None:
        """Queue an event; return once the core took it and its effects are done.

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
            self._handle(pending)

    def _handle(self, pending: _Pending) -> None:
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
        self._current = pending
        try:
            for cmd in commands:
                try:
                    self._dispatch(cmd, now)
                except Exception:
                    log.exception("command %r failed", cmd)
        finally:
            self._current = None
        if pending.done is not None:
            # Held until done: the loop keeps only weak references to tasks.
            task = asyncio.create_task(self._settle(pending))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    @staticmethod
    async def _settle(pending: _Pending) -> None:
        if pending.waits:
            await asyncio.gather(*pending.waits, return_exceptions=True)
        if pending.done is not None and not pending.done.done():
            pending.done.set_result(None)

    async def _pump_telephony(self) -> None:
        async for event in self.telephony.events():
            self.post(event)

    # ------------------------------------------------------------ commands
    def _write(
        self, call_id: str | None, op: WriteOp, *, urgent: bool = False
    ) -> asyncio.Future[None]:
        fut = self.writer.submit(op, key=call_id, urgent=urgent)
        if call_id is not None:
            self._last_write[call_id] = fut
        if self._current is not None:
            self._current.waits.append(fut)
        return fut

    def _chain(
        self, call_id: str, work: Callable[[], Awaitable[None]], *, needs_record: bool = False
    ) -> None:
        """Run ``work`` after the call's earlier orders and its latest write.

        ``needs_record``: only once that write is committed (a call placed
        only once recorded); if it fails, or the database is away and it waits
        in the writer's retries, the call fails instead. Other work goes on
        after a failed write, or once the database is found away (a person on
        the line is not kept waiting for it: the write stays queued).
        """
        previous = self._chains.get(call_id)
        written = self._last_write.get(call_id)

        async def run() -> None:
            if previous is not None:
                with contextlib.suppress(BaseException):
                    await asyncio.shield(previous)
            if written is not None and not await self._stored(call_id, written):
                if needs_record:
                    log.warning("call %s: not placed, its record could not be written", call_id)
                    self.post(CallFailed(call_id, "failed"))
                    return
                log.warning("call %s: going on without its latest write stored", call_id)
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("telephony order for %s failed", call_id)

        task = asyncio.create_task(run())
        self._chains[call_id] = task
        if self._current is not None:
            self._current.waits.append(task)

        def forget(t: asyncio.Task[None]) -> None:
            if self._chains.get(call_id) is t:
                del self._chains[call_id]

        task.add_done_callback(forget)

    async def _stored(self, call_id: str, written: asyncio.Future[None]) -> bool:
        """Wait for a write; False if it failed, or the database is away meanwhile."""
        while True:
            try:
                await asyncio.wait_for(asyncio.shield(written), _WRITE_CHECK_S)
                return True
            except TimeoutError:
                if not self.writer.healthy:
                    return False  # it waits in the retries: nobody knows for how long
            except Exception:
                return False

    def _dispatch(self, cmd: Command, now: float) -> None:
        if isinstance(cmd, PlaceCall):
            self._place(cmd, now)
        elif isinstance(cmd, NotifyAgentState):
            message = self.state_frame(cmd.agent_id, cmd.state)
            self._tell(cmd.agent_id, message)
        elif isinstance(cmd, BridgeCall):
            self._bridge(cmd)
        elif isinstance(cmd, RecordCall):
            self._record(cmd.record)
        elif isinstance(cmd, AbandonCall):
            call_id, safe_harbor = cmd.call_id, cmd.message
            self._chain(call_id, lambda: self.telephony.play_and_hang_up(call_id, safe_harbor))
        elif isinstance(cmd, CancelCall | HangUpCall):
            call_id = cmd.call_id
            self._chain(call_id, lambda: self.telephony.hang_up(call_id))
        elif isinstance(cmd, RequestLeads):
            self._spawn_claim(cmd)
        elif isinstance(cmd, ReturnLeads):
            self._return_leads(cmd.lead_ids)
        elif isinstance(cmd, SkipLead):
            self._claimed.pop(cmd.lead_id, None)
            skip = cmd
            self._write(None, lambda s: self.store.lead_skipped(s, skip))
        elif isinstance(cmd, DialRefused):
            self._tell(cmd.agent_id, dial_refused_frame(cmd))

    def _tell(self, agent_id: str, message: dict[str, Any]) -> None:
        """Send an agent a frame without holding up the loop; the event being
        handled counts it among its effects (submit returns once it is sent)."""
        task = asyncio.create_task(self.hub.send(agent_id, message))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        if self._current is not None:
            self._current.waits.append(task)

    def state_frame(self, agent_id: str, state: str) -> dict[str, Any]:
        """The ``state`` frame, naming the call while the agent is on one or wrapping it up."""
        message: dict[str, Any] = {"type": "state", "state": state}
        if state in _WITH_CALL:
            call_id = self.core.agent_call(agent_id)
            if call_id is not None:
                message["call_id"] = call_id
        return message

    def resumed_frames(self, agent_id: str) -> list[dict[str, Any]]:
        """For a softphone back on a call or in wrap-up: the call's ``call``
        frame, marked ``resumed``, then its ``call_ended`` if it has ended (it
        may have ended while the softphone was away). Empty when the agent has
        no call, or has not been sent it yet (the bridge under way will)."""
        call_id = self.core.agent_call(agent_id)
        frame = self._call_frames.get(call_id) if call_id is not None else None
        if call_id is None or frame is None:
            return []
        ended = self._end_frames.get(call_id)
        return [{**frame, "resumed": True}, *([ended] if ended is not None else [])]

    def _place(self, cmd: PlaceCall, now: float) -> None:
        lead = self._claimed.pop(cmd.lead_id, None)
        if lead is not None:
            self._call_leads[cmd.call_id] = lead
        dialed = self.clock.wall_epoch(now)
        decision = self.core.call_decision(cmd.call_id) or "allowed"
        # Write-ahead: the chain originates only once this write is committed.
        self._write(cmd.call_id, lambda s: self.store.call_placed(s, cmd, dialed, decision))

        async def originate() -> None:
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

        self._chain(cmd.call_id, originate, needs_record=True)

    def _bridge(self, cmd: BridgeCall) -> None:
        # The record of the offer (agent, answer time) was queued by the
        # RecordCall just before this command: the chain waits for it.
        answered = self._answered_at.pop(cmd.call_id, None)
        lead = self._call_leads.get(cmd.call_id)
        campaign = lead.campaign_id if lead is not None else ""
        since = self._current.at if self._current is not None else self.clock.now()

        async def bridge() -> None:
            await self.telephony.bridge(cmd.call_id, cmd.agent_id)
            if self.core.agent_call(cmd.agent_id) != cmd.call_id:
                # The agent hung up (or the call ended) while the bridge was
                # under way: a call frame now would show a call that is gone,
                # and no call_ended would ever follow it.
                return
            now = self.clock.now()
            self.metrics.bridge_latency.observe(max(0.0, now - since))
            if answered is not None:
                self.metrics.connect_delay.labels(campaign).observe(max(0.0, now - answered))
            frame = {
                "type": "call",
                "call_id": cmd.call_id,
                "campaign_id": campaign,
                "lead": {
                    "id": lead.id if lead else None,
                    "phone": lead.phone if lead else None,
                    "data": lead.data if lead else {},
                },
            }
            self._call_frames[cmd.call_id] = frame
            await self.hub.send(cmd.agent_id, frame)

        self._chain(cmd.call_id, bridge)

    def _record(self, record: CallRecord) -> None:
        offer = record.bridged_at is None and record.ended_at is None
        if offer and record.answered_at is not None:
            self._answered_at[record.id] = record.answered_at
        to_wall = self.clock.wall_epoch
        # An offer to an agent: a person is waiting for the bridge that waits for this.
        urgent = offer and record.answered_at is not None and record.agent_id is not None
        self._write(record.id, self.store.call_write(record, to_wall), urgent=urgent)
        if record.ended_at is None:
            return
        if (
            record.agent_id is not None
            and record.bridged_at is not None
            and record.id not in self._end_frames
        ):
            current = self._current.event if self._current is not None else None
            by = "agent" if isinstance(current, AgentHungUp) else "customer"
            agent_id = record.agent_id
            message = {"type": "call_ended", "call_id": record.id, "by": by}
            self._end_frames[record.id] = message
            # The end is stored before the agent is told.
            self._chain(record.id, lambda: self.hub.send(agent_id, message))
        finished = record.bridged_at is None or record.disposition is not None
        if not finished:
            return  # the agent's disposition will close it
        if record.disposition == WRAP_TIMEOUT and record.agent_id is not None:
            # The campaign's wrap-up limit filed it, not the agent: say so
            # (before, the softphone saw only its state change, and a late
            # disposition was refused as "not this agent's call").
            closed = {"type": "wrap_up_closed", "call_id": record.id, "code": WRAP_TIMEOUT}
            self._tell(record.agent_id, closed)
        self._end_frames.pop(record.id, None)
        self._answered_at.pop(record.id, None)
        self._call_leads.pop(record.id, None)
        self._call_frames.pop(record.id, None)
        outcome = record.outcome.value if record.outcome is not None else "failed"
        self.metrics.calls.labels(record.campaign_id, outcome).inc()
        if record.abandoned:
            self.metrics.abandoned.labels(record.campaign_id).inc()
        fut = self._write(record.id, lambda s: self.store.call_finished(s, record))
        fut.add_done_callback(lambda _: self._last_write.pop(record.id, None))

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

    def lead_claimed(self, lead: Lead) -> None:
        """A lead claimed outside the hopper (a manual dial): its data goes to the agent."""
        self._claimed[lead.id] = lead

    def revoke_claims(self) -> None:
        """The store no longer holds this process's claims: drop the leads held undialed."""
        self._claimed.clear()
        self.post(LeadsRevoked())

    def release_campaign_leads(self, campaign_id: str) -> None:
        """A stopped campaign's leads claimed and not dialed go back to the store.

        Call once the core knows the campaign is stopped (it dials none of
        them meanwhile); the core drops them before the store frees them.
        """
        ids = [i for i, lead in self._claimed.items() if lead.campaign_id == campaign_id]
        self.post(LeadsRevoked("campaign_stopped", campaign_id))
        self._return_leads(ids)

    def _return_leads(self, lead_ids: Sequence[str]) -> None:
        """Claimed leads the core will not dial, back to the store as they were."""
        ids = [i for i in lead_ids if self._claimed.pop(i, None) is not None]
        if ids:
            self._write(None, lambda s: self.store.leads_unclaimed(s, ids))

    def claimed_lead_ids(self) -> list[str]:
        return list(self._claimed)
