"""Compliance profiles: each regulator's rules as figures a campaign may only tighten.

A campaign names its profile (``us``, ``uk``, ``ca``). The profile gives the
defaults (calling hours, the abandonment cap and the window it is counted
over, how old a national do-not-call copy may be) and the limits: a campaign
may narrow its calling hours, lower its cap, ring longer, connect faster and
refresh its registry copy more often, never the other way.
:func:`check_campaign` says, field by field, where a campaign asks for more
than its profile allows.

Sources, as the figures are read here:

- ``us``: FTC Telemarketing Sales Rule (16 CFR 310.4(b)(1)(iv), (b)(4)):
  abandoned at most 3 % of answered-by-a-person calls per campaign over 30
  days, a person not connected within 2 s of their greeting is abandoned,
  ring at least 15 s, a recorded message naming the seller; 310.4(c) and the
  FCC's TCPA rule (47 CFR 64.1200(c)(1)): calls 08:00-21:00 at the called
  party's location; the National Do Not Call Registry accessed within 31
  days (310.4(b)(3)(iv)).
- ``uk``: Ofcom's statement of policy on persistent misuse: at most 3 %
  abandoned per campaign per 24 hours, AMD false positives counted; after an
  abandoned call, no repeat within 72 hours without a live operator
  guaranteed; after AMD judged a machine, a repeat call that day only with a
  live operator; TPS screening at least every 28 days.
- ``ca``: CRTC Unsolicited Telecommunications Rules: 09:00-21:30 on weekdays,
  10:00-18:00 on weekends; abandoned at most 5 % per campaign per calendar
  month; the National DNCL copy no older than 31 days.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

__all__ = [
    "PROFILES",
    "AbandonWindow",
    "ComplianceProfile",
    "DailyWindow",
    "Problem",
    "WeeklyHours",
    "campaign_hours",
    "check_campaign",
    "profile",
]


class AbandonWindow(enum.StrEnum):
    """The span the abandonment rate is counted over."""

    ROLLING_30D = "rolling_30d"
    ROLLING_24H = "rolling_24h"
    CALENDAR_MONTH = "calendar_month"

    @property
    def span_s(self) -> float:
        """Its length in seconds (a calendar month: its longest, 31 days)."""
        if self is AbandonWindow.ROLLING_24H:
            return 86_400.0
        if self is AbandonWindow.ROLLING_30D:
            return 30 * 86_400.0
        return 31 * 86_400.0


@dataclass(frozen=True, slots=True)
class DailyWindow:
    """Local time ``[start_min, end_min)`` in minutes after midnight."""

    start_min: int
    end_min: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_min < self.end_min <= 24 * 60:
            raise ValueError(f"not a window within one day: {self.start_min}-{self.end_min}")

    def intersect(self, other: DailyWindow) -> DailyWindow | None:
        start = max(self.start_min, other.start_min)
        end = min(self.end_min, other.end_min)
        return DailyWindow(start, end) if start < end else None

    def contains(self, minute: int) -> bool:
        return self.start_min <= minute < self.end_min


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    """When calls may go out, by local weekday (Monday 0 .. Sunday 6); None: not that day."""

    days: tuple[DailyWindow | None, ...]

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise ValueError("WeeklyHours needs a window (or None) for each of the 7 days")

    @classmethod
    def every_day(cls, window: DailyWindow) -> WeeklyHours:
        return cls((window,) * 7)

    @classmethod
    def weekdays_and_weekends(cls, weekday: DailyWindow, weekend: DailyWindow) -> WeeklyHours:
        return cls((weekday,) * 5 + (weekend,) * 2)

    def on(self, day: date) -> DailyWindow | None:
        return self.days[day.weekday()]

    def narrowed_to(self, window: DailyWindow) -> WeeklyHours:
        """These hours, each day cut to ``window`` (a campaign's own hours)."""
        return WeeklyHours(tuple(d.intersect(window) if d else None for d in self.days))

    @property
    def widest(self) -> DailyWindow | None:
        """The earliest start and the latest end over the week."""
        open_days = [d for d in self.days if d is not None]
        if not open_days:
            return None
        return DailyWindow(min(d.start_min for d in open_days), max(d.end_min for d in open_days))


@dataclass(frozen=True, slots=True)
class ComplianceProfile:
    name: str
    title: str
    hours: WeeklyHours
    max_abandon_rate: float
    abandon_window: AbandonWindow
    # Which national registry this profile's campaigns scrub against, and
    # how many days old their copy may be.
    registry: str
    registry_max_age_days: int
    # Where a number written without its country code is read as being
    # (phonenumbers' region): "020 7946 0018" is London on a uk campaign.
    home_region: str = "US"
    min_ring_timeout_s: float = 15.0
    max_connect_deadline_s: float = 2.0
    # After an abandoned call, how long a repeat needs a reserved agent (uk).
    abandoned_redial_guard_s: float | None = None
    # After AMD judged a machine, a repeat call the same local day needs a
    # reserved agent (uk).
    machine_redial_same_day_guard: bool = False


_EIGHT_TO_NINE = DailyWindow(8 * 60, 21 * 60)

PROFILES: dict[str, ComplianceProfile] = {
    "us": ComplianceProfile(
        name="us",
        title="United States: FTC Telemarketing Sales Rule and FCC TCPA",
        hours=WeeklyHours.every_day(_EIGHT_TO_NINE),
        max_abandon_rate=0.03,
        abandon_window=AbandonWindow.ROLLING_30D,
        registry="us",
        registry_max_age_days=31,
    ),
    "uk": ComplianceProfile(
        name="uk",
        title="United Kingdom: Ofcom persistent-misuse policy",
        hours=WeeklyHours.every_day(_EIGHT_TO_NINE),
        max_abandon_rate=0.03,
        abandon_window=AbandonWindow.ROLLING_24H,
        registry="uk",
        registry_max_age_days=28,
        home_region="GB",
        abandoned_redial_guard_s=72 * 3600.0,
        machine_redial_same_day_guard=True,
    ),
    "ca": ComplianceProfile(
        name="ca",
        title="Canada: CRTC Unsolicited Telecommunications Rules",
        hours=WeeklyHours.weekdays_and_weekends(
            DailyWindow(9 * 60, 21 * 60 + 30), DailyWindow(10 * 60, 18 * 60)
        ),
        max_abandon_rate=0.05,
        abandon_window=AbandonWindow.CALENDAR_MONTH,
        registry="ca",
        registry_max_age_days=31,
        home_region="CA",
    ),
}


def profile(name: str) -> ComplianceProfile:
    """The profile called ``name``; ValueError naming the known ones otherwise."""
    found = PROFILES.get(name)
    if found is None:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown compliance profile {name!r} (known: {known})")
    return found


def campaign_hours(profile_name: str, start_min: int, end_min: int) -> WeeklyHours:
    """A campaign's calling hours: its profile's, each day cut to the campaign's window."""
    return profile(profile_name).hours.narrowed_to(DailyWindow(start_min, end_min))


@dataclass(frozen=True, slots=True)
class Problem:
    """A campaign setting its profile does not allow: ``field`` and why."""

    field: str
    message: str


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def check_campaign(
    *,
    profile_name: str,
    max_abandon_rate: float,
    ring_timeout_s: float,
    connect_deadline_s: float,
    calling_hours_start_min: int,
    calling_hours_end_min: int,
    registry_max_age_days: int | None,
) -> list[Problem]:
    """Where these campaign settings are looser than the profile's (empty: none)."""
    try:
        p = profile(profile_name)
    except ValueError as exc:
        return [Problem("compliance_profile", str(exc))]
    problems: list[Problem] = []
    if max_abandon_rate > p.max_abandon_rate:
        problems.append(
            Problem(
                "max_abandon_rate",
                f"{max_abandon_rate:g} is over the {p.name} cap of {p.max_abandon_rate:g}",
            )
        )
    if ring_timeout_s < p.min_ring_timeout_s:
        problems.append(
            Problem(
                "ring_timeout_s",
                f"{ring_timeout_s:g} s is shorter than the {p.name} minimum of "
                f"{p.min_ring_timeout_s:g} s",
            )
        )
    if connect_deadline_s > p.max_connect_deadline_s:
        problems.append(
            Problem(
                "connect_deadline_s",
                f"{connect_deadline_s:g} s is longer than the {p.name} limit of "
                f"{p.max_connect_deadline_s:g} s",
            )
        )
    widest = p.hours.widest
    if widest is not None:
        if calling_hours_start_min < widest.start_min:
            problems.append(
                Problem(
                    "calling_hours.start",
                    f"{_hhmm(calling_hours_start_min)} is earlier than {p.name} allows "
                    f"({_hhmm(widest.start_min)})",
                )
            )
        if calling_hours_end_min > widest.end_min:
            problems.append(
                Problem(
                    "calling_hours.end",
                    f"{_hhmm(calling_hours_end_min)} is later than {p.name} allows "
                    f"({_hhmm(widest.end_min)})",
                )
            )
    if registry_max_age_days is not None and not (
        1 <= registry_max_age_days <= p.registry_max_age_days
    ):
        problems.append(
            Problem(
                "registry_max_age_days",
                f"{registry_max_age_days} days: {p.name} allows 1 to {p.registry_max_age_days}",
            )
        )
    return problems
