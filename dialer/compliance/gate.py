"""The dial gate the service gives the core: every rule a lead must pass to be dialed.

Checked for every lead just before it is dialed (lists and clocks change
between load and dial), on every path: a paced call, a preview or manual dial,
a retry, a callback. The rules, first refusal wins:

1. do-not-call: the internal list, the campaign's own, a national registry;
2. the campaign's national-registry copy is no older than its profile allows
   (a campaign-wide refusal: nothing is dialed until a fresh copy is loaded);
3. attempts: the lead's lifetime limit, then its limit per local day;
4. calling hours in every zone the number may ring in;
5. rules that allow the call only with an agent reserved for it before it is
   dialed: uk, a repeat within 72 h of an abandoned call, or on the day AMD
   judged a machine; a personal callback, for its agent.

The do-not-call index lives in memory so the check is a set lookup; the
runtime updates it *before* it acknowledges an API request or a ``dnc``
disposition, so a number added is never dialed after that by the process
that took it, and follows the other processes' changes within a second or
so (``DIALER_DNC_REFRESH_S``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from dialer.campaign import CampaignSettings, Lead
from dialer.compliance.hours import check_calling_hours, next_local_midnight, zone
from dialer.compliance.phones import zones_for_number
from dialer.compliance.profiles import ComplianceProfile, WeeklyHours, campaign_hours, profile
from dialer.compliance.registry import RegistryIndex
from dialer.ports import GateVerdict

__all__ = ["ComplianceGate", "DncIndex", "RegistryAge", "lead_zones"]

# When a lead the gate refused for want of a free agent is tried again.
_AGENT_RETRY_S = 120.0
# A number no zone can be found for comes back after a day (the campaign may
# have named a zone to assume by then).
_NO_ZONE_RETRY_S = 86_400.0

RegistryAge = Callable[[str, float], float | None]
"""``(registry, wall_epoch) -> age in days`` of the loaded copy; None: never loaded."""


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

    def drop_campaign(self, campaign_id: str) -> None:
        """A deleted campaign's own list (its store entries went with it)."""
        self._campaign.pop(campaign_id, None)

    def replace_lists(self, entries: Iterable[tuple[str, str | None]]) -> None:
        """The internal and campaign lists become ``entries`` (``(phone,
        campaign_id)``, None: every campaign); the registries stay."""
        everywhere: set[str] = set()
        campaign: dict[str, set[str]] = {}
        for phone, campaign_id in entries:
            if campaign_id is None:
                everywhere.add(phone)
            else:
                campaign.setdefault(campaign_id, set()).add(phone)
        self._everywhere, self._campaign = everywhere, campaign

    def blocked(self, phone: str, campaign_id: str, *, registries: bool = True) -> bool:
        """On the internal list, the campaign's own, or (``registries``: the
        campaign scrubs against them) a national registry copy."""
        if phone in self._everywhere:
            return True
        listed = self._campaign.get(campaign_id)
        return (listed is not None and phone in listed) or (registries and phone in self.registries)

    def blocked_many(
        self, phones: Sequence[str], campaign_id: str, *, registries: bool = True
    ) -> list[bool]:
        """:meth:`blocked` for a batch, with one vectorised search per registry."""
        on_registry = (
            self.registries.listed_many(phones).tolist() if registries else [False] * len(phones)
        )
        listed = self._campaign.get(campaign_id, set())
        return [
            hit or phone in self._everywhere or phone in listed
            for phone, hit in zip(phones, on_registry, strict=True)
        ]

    def __len__(self) -> int:
        return len(self._everywhere) + sum(len(s) for s in self._campaign.values())


def lead_zones(lead: Lead, assume_zone: str | None) -> tuple[str, ...]:
    """The zones a lead may ring in: its own, else its number's, else the assumed one."""
    if lead.timezone:
        return (lead.timezone,)
    zones = zones_for_number(lead.phone)
    if not zones and assume_zone:
        return (assume_zone,)
    return zones


def _local_day(epoch: float, zones: tuple[str, ...]) -> tuple[object, ...]:
    """The local date in each zone: two instants are on the same day if all agree."""
    moment = datetime.fromtimestamp(epoch, UTC)
    days: list[object] = []
    for name in zones:
        tz = zone(name)
        days.append(moment.astimezone(tz).date() if tz is not None else None)
    return tuple(days)


class ComplianceGate:
    """See the module docstring. Pure: the clock comes in as ``wall_epoch``."""

    def __init__(
        self,
        dnc: DncIndex,
        *,
        registry_age: RegistryAge | None = None,
    ) -> None:
        self.dnc = dnc
        # How old each national registry copy is: by default the ages of the
        # copies the do-not-call index holds.
        self.registry_age = registry_age if registry_age is not None else dnc.registries.age_days
        self._hours: dict[tuple[str, int, int], WeeklyHours] = {}

    def hours_for(self, campaign: CampaignSettings) -> WeeklyHours:
        key = (
            campaign.compliance_profile,
            campaign.calling_hours_start_min,
            campaign.calling_hours_end_min,
        )
        hours = self._hours.get(key)
        if hours is None:
            hours = self._hours[key] = campaign_hours(*key)
        return hours

    def registry_verdict(
        self, campaign: CampaignSettings, prof: ComplianceProfile, wall_epoch: float
    ) -> GateVerdict | None:
        """A campaign-wide refusal when its registry copy is missing or too old."""
        if not campaign.scrub_national_registry:
            return None
        limit = campaign.registry_max_age_days or prof.registry_max_age_days
        age = self.registry_age(prof.registry, wall_epoch)
        if age is None:
            return GateVerdict(False, f"registry_missing:{prof.registry}", campaign_blocked=True)
        if age > limit:
            return GateVerdict(False, f"registry_stale:{prof.registry}", campaign_blocked=True)
        return None

    def check(self, lead: Lead, campaign: CampaignSettings, wall_epoch: float) -> GateVerdict:
        # A campaign the registries do not cover (collections, reminders:
        # scrub_national_registry false) still honours every internal list.
        if self.dnc.blocked(lead.phone, campaign.id, registries=campaign.scrub_national_registry):
            return GateVerdict(False, "dnc")
        prof = profile(campaign.compliance_profile)
        stale = self.registry_verdict(campaign, prof, wall_epoch)
        if stale is not None:
            return stale
        if lead.attempts >= campaign.max_attempts:
            return GateVerdict(False, "max_attempts")
        zones = lead_zones(lead, campaign.assume_time_zone)
        if not zones:
            return GateVerdict(False, "no_time_zone", wall_epoch + _NO_ZONE_RETRY_S)
        today = _local_day(wall_epoch, zones)
        own_today = [
            a
            for a in lead.recent
            if a.campaign_id == campaign.id and _local_day(a.at, zones) == today
        ]
        if len(own_today) >= campaign.max_attempts_per_day:
            tomorrow = max(
                next_local_midnight(wall_epoch, tz)
                for tz in (zone(name) for name in zones)
                if tz is not None
            )
            return GateVerdict(False, "max_attempts_per_day", tomorrow)
        hours = check_calling_hours(wall_epoch, zones, self.hours_for(campaign))
        if not hours.allowed:
            retry = hours.retry_at if hours.retry_at is not None else wall_epoch + _NO_ZONE_RETRY_S
            return GateVerdict(False, hours.reason, retry)
        return self._agent_rules(lead, campaign, prof, wall_epoch, zones, today)

    def _agent_rules(
        self,
        lead: Lead,
        campaign: CampaignSettings,
        prof: ComplianceProfile,
        wall_epoch: float,
        zones: tuple[str, ...],
        today: tuple[object, ...],
    ) -> GateVerdict:
        """Rules that let the call go only with an agent waiting for it."""
        if (
            lead.callback_agent_id is not None
            and lead.callback_at is not None
            and wall_epoch < lead.callback_at + campaign.personal_callback_wait_s
        ):
            return GateVerdict(
                True,
                "personal_callback",
                wall_epoch + _AGENT_RETRY_S,
                needs_agent=True,
                agent_id=lead.callback_agent_id,
            )
        guard = prof.abandoned_redial_guard_s
        if guard is not None and any(
            a.abandoned and wall_epoch - a.at < guard for a in lead.recent
        ):
            return GateVerdict(
                True, "abandoned_recently", wall_epoch + _AGENT_RETRY_S, needs_agent=True
            )
        if prof.machine_redial_same_day_guard and any(
            a.amd_machine and _local_day(a.at, zones) == today for a in lead.recent
        ):
            return GateVerdict(
                True, "amd_machine_today", wall_epoch + _AGENT_RETRY_S, needs_agent=True
            )
        return GateVerdict(True, "allowed")
