"""The dial gate the service gives the core: do-not-call and calling hours.

Checked for every lead just before it is dialed (lists change between load
and dial). The do-not-call index lives in memory so the check is a set lookup;
the runtime updates it *before* it acknowledges an API request or a ``dnc``
disposition, so a number added is never dialed after that.
"""

from __future__ import annotations

from collections.abc import Sequence

from dialer.campaign import CampaignSettings, Lead
from dialer.compliance.hours import check_calling_hours
from dialer.compliance.phones import zones_for_number
from dialer.compliance.registry import RegistryIndex
from dialer.ports import GateVerdict

__all__ = ["ComplianceGate", "DncIndex"]


class DncIndex:
    """Numbers not to call: everywhere, per campaign, or on a national registry."""

    __slots__ = ("_campaign", "_everywhere", "registries")

    def __init__(self) -> None:
        self._everywhere: set[str] = set()
        self._campaign: dict[str, set[str]] = {}
        # Millions of numbers: sorted arrays, not sets (dialer.compliance.registry).
        self.registries = RegistryIndex()

    def add(self, phone: str, campaign_id: str | None = None) -> None:
        if campaign_id is None:
            self._everywhere.add(phone)
        else:
            self._campaign.setdefault(campaign_id, set()).add(phone)

    def discard(self, phone: str, campaign_id: str | None = None) -> None:
        if campaign_id is None:
            self._everywhere.discard(phone)
        else:
            self._campaign.get(campaign_id, set()).discard(phone)

    def blocked(self, phone: str, campaign_id: str) -> bool:
        if phone in self._everywhere:
            return True
        listed = self._campaign.get(campaign_id)
        return (listed is not None and phone in listed) or phone in self.registries

    def blocked_many(self, phones: Sequence[str], campaign_id: str) -> list[bool]:
        """:meth:`blocked` for a batch, with one vectorised search per registry."""
        on_registry = self.registries.listed_many(phones).tolist()
        listed = self._campaign.get(campaign_id, set())
        return [
            hit or phone in self._everywhere or phone in listed
            for phone, hit in zip(phones, on_registry, strict=True)
        ]

    def __len__(self) -> int:
        return len(self._everywhere) + sum(len(s) for s in self._campaign.values())


class ComplianceGate:
    """DNC, then calling hours in the called party's zone."""

    def __init__(self, dnc: DncIndex, *, assume_zone: str | None = None) -> None:
        self.dnc = dnc
        self.assume_zone = assume_zone

    def check(self, lead: Lead, campaign: CampaignSettings, wall_epoch: float) -> GateVerdict:
        if self.dnc.blocked(lead.phone, campaign.id):
            return GateVerdict(False, "dnc")
        if lead.timezone:
            zones: tuple[str, ...] = (lead.timezone,)
        else:
            zones = zones_for_number(lead.phone)
            if not zones and self.assume_zone:
                zones = (self.assume_zone,)
        hours = check_calling_hours(
            wall_epoch, zones, campaign.calling_hours_start_min, campaign.calling_hours_end_min
        )
        return GateVerdict(hours.allowed, hours.reason, hours.retry_at)
