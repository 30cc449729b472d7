"""The ports: every boundary between the core and the world, in one place.

The core itself uses only :class:`DialGate` (a pure, synchronous check). The
others are what the asyncio driver (dialer/runtime/) drives: telephony, lead
store, call log and metrics. Each has a contract test every implementation
passes (tests/contract/).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from dialer.campaign import CampaignSettings, Lead
from dialer.events import Event

__all__ = ["DialGate", "GateVerdict", "Telephony"]


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """A compliance decision for one lead at one instant.

    ``allowed`` False carries the ``reason`` (recorded with the lead) and, where
    the rule is about time (calling hours, retry spacing), when to try again.
    """

    allowed: bool
    reason: str
    retry_at: float | None = None  # wall-clock epoch seconds
    # Allowed only with an agent reserved for the call before it is dialed
    # (uk: a repeat after an abandoned call; a personal callback): that
    # agent, or any of the campaign's when ``agent_id`` is None.
    needs_agent: bool = False
    agent_id: str | None = None
    # The refusal is about the campaign, not the lead (a stale registry
    # copy): the lead goes back, and the campaign dials nothing for now.
    campaign_blocked: bool = False


ALLOWED = GateVerdict(True, "allowed")


class DialGate(Protocol):
    """Checked for every lead just before the core dials it. Pure and fast."""

    def check(self, lead: Lead, campaign: CampaignSettings, wall_epoch: float) -> GateVerdict: ...


class Telephony(Protocol):
    """What a telephony adapter does for the asyncio driver.

    Every method returns once the order is accepted; outcomes arrive later as
    core events (``CallAnswered``, ``AmdClassified``, ``CallFailed``,
    ``CallBridged``, ``CallHungUp``) from :meth:`events`.
    """

    async def originate(
        self,
        call_id: str,
        phone: str,
        *,
        caller_id: str | None,
        ring_timeout_s: float,
        amd: bool,
    ) -> None: ...

    async def bridge(self, call_id: str, agent_id: str) -> None: ...

    async def play_and_hang_up(self, call_id: str, message: str) -> None: ...

    async def hang_up(self, call_id: str) -> None: ...

    def events(self) -> AsyncIterator[Event]: ...

    async def healthy(self) -> bool: ...

    async def close(self) -> None: ...
