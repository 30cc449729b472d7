"""Events: facts in the past tense that drivers feed the core.

Every event is a frozen, slotted dataclass. ``core.handle(event, now)`` takes
them; ``now`` is the driver's monotonic clock in seconds. Wall-clock time (for
calling hours) comes from the driver's :class:`dialer.clock.Clock` separately.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dialer.campaign import CampaignSettings, Lead
from dialer.frozen import fast_init

__all__ = [
    "AgentCampaignsChanged",
    "AgentHungUp",
    "AgentLoggedIn",
    "AgentLoggedOut",
    "AgentPaused",
    "AgentReady",
    "AgentRequestedDial",
    "AmdClassified",
    "CallAnswered",
    "CallBridged",
    "CallFailed",
    "CallHungUp",
    "CampaignRemoved",
    "CampaignUpdated",
    "DispositionSubmitted",
    "Event",
    "LeadsClaimed",
    "LeadsRevoked",
    "Tick",
]


# --- campaigns and leads -----------------------------------------------------
@fast_init
@dataclass(frozen=True, slots=True)
class CampaignUpdated:
    """A campaign was created or its settings (including run state) changed."""

    settings: CampaignSettings
    # Compliance-window counts from the records, so a restart keeps its
    # figures; None keeps what the core has.
    window_human_answered: int | None = None
    window_abandoned: int | None = None
    # Where the compliance window ends, on the driver clock (the simulator: the
    # end of the shift); None for a rolling window that never ends.
    window_ends_at: float | None = None
    # When these settings were stored: older settings than the core holds are
    # ignored (their window counts still apply). None: always newest.
    version: float | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class CampaignRemoved:
    campaign_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class LeadsClaimed:
    """Leads the store claimed for this core's hopper, answering ``RequestLeads``.

    ``exhausted`` says the store has no more dialable leads right now.
    """

    campaign_id: str
    leads: tuple[Lead, ...]
    exhausted: bool = False


@fast_init
@dataclass(frozen=True, slots=True)
class LeadsRevoked:
    """The leads this core holds undialed are no longer its to dial.

    Another process took this one for dead (its heartbeat missed the lease,
    the database away) and handed its claimed leads back to the store, where
    anyone may claim them: dialing them now could call a person twice. The
    core forgets its hoppers and asks the store afresh. With a
    ``campaign_id``: that campaign's only (it was stopped, its undialed leads
    handed back).
    """

    reason: str = "lease_lost"
    campaign_id: str | None = None


# --- agents ------------------------------------------------------------------
@fast_init
@dataclass(frozen=True, slots=True)
class AgentLoggedIn:
    agent_id: str
    campaign_ids: tuple[str, ...]


@fast_init
@dataclass(frozen=True, slots=True)
class AgentCampaignsChanged:
    """The agent takes the calls of these campaigns from now on.

    A call it is on, or wrapping up, stays its own campaign's to the end;
    only the calls offered after come from the new campaigns. A logged-out
    agent is unaffected here: it logs in with its stored campaigns.
    """

    agent_id: str
    campaign_ids: tuple[str, ...]


@fast_init
@dataclass(frozen=True, slots=True)
class AgentReady:
    agent_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class AgentPaused:
    """The agent asked for a pause, or its softphone went away."""

    agent_id: str
    reason: str = ""


@fast_init
@dataclass(frozen=True, slots=True)
class AgentLoggedOut:
    agent_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class AgentHungUp:
    agent_id: str
    call_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class DispositionSubmitted:
    agent_id: str
    call_id: str
    code: str
    callback_at: float | None = None  # wall-clock epoch seconds
    notes: str | None = None
    # Without AMD the agent is the one who knows a machine answered.
    machine: bool = False


@fast_init
@dataclass(frozen=True, slots=True)
class AgentRequestedDial:
    """The agent asks for a call: the campaign's next lead (preview), or ``lead`` (manual).

    A manual dial's lead comes claimed by the driver for this agent; it passes
    the same compliance gate as any other before it is dialed.
    """

    agent_id: str
    campaign_id: str
    lead: Lead | None = None


# --- telephony ---------------------------------------------------------------
@fast_init
@dataclass(frozen=True, slots=True)
class CallAnswered:
    """The far end picked up (person or machine: with AMD, classification follows)."""

    call_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class AmdClassified:
    call_id: str
    machine: bool


@fast_init
@dataclass(frozen=True, slots=True)
class CallFailed:
    """The attempt ended before any answer: ``busy``, ``invalid`` or ``failed``."""

    call_id: str
    outcome: str


@fast_init
@dataclass(frozen=True, slots=True)
class CallBridged:
    """Telephony confirmed that the call and its agent are connected."""

    call_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class CallHungUp:
    """The far end hung up (or the line dropped)."""

    call_id: str


# --- time --------------------------------------------------------------------
@fast_init
@dataclass(frozen=True, slots=True)
class Tick:
    """Nothing happened but time passed: the driver woke at ``next_deadline()``."""

    data: dict[str, Any] = field(default_factory=dict)


Event = (
    CampaignUpdated
    | CampaignRemoved
    | LeadsClaimed
    | LeadsRevoked
    | AgentLoggedIn
    | AgentCampaignsChanged
    | AgentReady
    | AgentPaused
    | AgentLoggedOut
    | AgentHungUp
    | DispositionSubmitted
    | AgentRequestedDial
    | CallAnswered
    | AmdClassified
    | CallFailed
    | CallBridged
    | CallHungUp
    | Tick
)
