"""Commands: orders the core gives its driver. Frozen, slotted dataclasses.

A driver carries each out in order. Write-ahead rule for the service driver:
persist what a command records *before* acting on it (a ``PlaceCall`` is
stored before the telephony originates it; a ``BridgeCall`` before the agent
is told).
"""

from __future__ import annotations

from dataclasses import dataclass

from dialer.calls import CallRecord
from dialer.frozen import fast_init

__all__ = [
    "AbandonCall",
    "BridgeCall",
    "CancelCall",
    "Command",
    "DialRefused",
    "HangUpCall",
    "NotifyAgentState",
    "PlaceCall",
    "RecordCall",
    "RequestLeads",
    "ReturnLeads",
    "SkipLead",
]


@fast_init
@dataclass(frozen=True, slots=True)
class PlaceCall:
    call_id: str
    campaign_id: str
    lead_id: str
    phone: str
    ring_timeout_s: float
    amd: bool
    caller_id: str | None = None
    agent_id: str | None = None  # preview: the agent the call is dialed for


@fast_init
@dataclass(frozen=True, slots=True)
class CancelCall:
    """Give up on an attempt that is still ringing (ring timeout)."""

    call_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class BridgeCall:
    call_id: str
    agent_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class AbandonCall:
    """No agent in time: play the safe-harbor message, then hang up."""

    call_id: str
    message: str


@fast_init
@dataclass(frozen=True, slots=True)
class HangUpCall:
    """Hang up a connected or answered call (agent hang-up, machine, AMD)."""

    call_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class NotifyAgentState:
    """Tell the agent's softphone its new state (ready, paused, on_call, wrap_up)."""

    agent_id: str
    state: str


@fast_init
@dataclass(frozen=True, slots=True)
class RecordCall:
    """A call record changed (answered, bridged, ended): persist it."""

    record: CallRecord


@fast_init
@dataclass(frozen=True, slots=True)
class RequestLeads:
    """The hopper runs low: claim up to ``count`` dialable leads for the campaign."""

    campaign_id: str
    count: int


@fast_init
@dataclass(frozen=True, slots=True)
class ReturnLeads:
    """Claimed leads nobody here will dial soon (every agent of the campaign
    is away): hand them back to the store, undialed, for other processes."""

    campaign_id: str
    lead_ids: tuple[str, ...]


@fast_init
@dataclass(frozen=True, slots=True)
class SkipLead:
    """A claimed lead was not dialed; ``reason`` is the compliance decision."""

    campaign_id: str
    lead_id: str
    reason: str
    retry_at: float | None = None  # wall-clock epoch seconds when it may be tried again
    phone: str = ""


@dataclass(frozen=True, slots=True)
class DialRefused:
    """Tell an agent why the call it asked for (preview, manual) was not placed."""

    agent_id: str
    campaign_id: str
    lead_id: str | None  # None: no lead was at hand (``no_leads``)
    reason: str
    retry_at: float | None = None  # wall-clock epoch seconds


Command = (
    PlaceCall
    | CancelCall
    | BridgeCall
    | AbandonCall
    | HangUpCall
    | NotifyAgentState
    | RecordCall
    | RequestLeads
    | ReturnLeads
    | SkipLead
    | DialRefused
)
