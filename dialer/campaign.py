"""Campaign settings and leads as the core sees them (plain, frozen values)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from dialer.frozen import fast_init

__all__ = [
    "CallOutcome",
    "CampaignSettings",
    "DialMode",
    "Lead",
    "PastAttempt",
    "RunState",
]


class DialMode(enum.StrEnum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    POWER = "power"
    PREDICTIVE = "predictive"
    ADAPTIVE = "adaptive"  # VICIdial-style ADAPT controller, a comparison baseline


class RunState(enum.StrEnum):
    STOPPED = "stopped"
    RUNNING = "running"
    PAUSED = "paused"


class CallOutcome(enum.StrEnum):
    """A call record's ``outcome`` (spec/api.md)."""

    HUMAN = "human"
    MACHINE = "machine"
    BUSY = "busy"
    INVALID = "invalid"
    NO_ANSWER = "no_answer"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CampaignSettings:
    """Everything the core needs to run one campaign. Durations in seconds."""

    id: str
    name: str = ""
    mode: DialMode = DialMode.PREDICTIVE
    state: RunState = RunState.STOPPED
    dial_ratio: float = 2.0
    max_abandon_rate: float = 0.03
    ring_timeout_s: float = 20.0
    connect_deadline_s: float = 2.0
    amd: bool = False
    amd_detect_s: float = 2.5
    # The AMD product's share of people it takes for machines (its data sheet
    # or a calibration): those people are hung up on, which the law counts as
    # abandoned, and the dialer never sees it happen. The pacer budgets for it.
    amd_false_positive_rate: float = 0.0
    caller_id: str | None = None
    safe_harbor_message: str = ""
    max_attempts: int = 3  # per lead, in its whole life
    # Per lead, per day in the called party's local time.
    max_attempts_per_day: int = 3
    retry_delays_s: dict[str, float] = field(default_factory=dict)
    # Calling hours in the called party's local time, minutes after midnight;
    # each day the profile's own window for that day cuts them further.
    calling_hours_start_min: int = 8 * 60
    calling_hours_end_min: int = 21 * 60
    # The zone to assume for a number whose zone nobody can tell (None: such
    # numbers are not dialed).
    assume_time_zone: str | None = None
    # Scrub against the profile's national registry, and refuse to dial with a
    # copy older than this many days (None: the profile's limit). Campaigns the
    # registry does not cover (debt collection, reminders to customers) turn
    # scrubbing off; internal and campaign lists always apply.
    scrub_national_registry: bool = True
    registry_max_age_days: int | None = None
    # A callback an agent booked for themself waits this long past its time
    # for that agent before anyone may take it.
    personal_callback_wait_s: float = 3600.0
    target_agent_wait_s: float | None = None
    wrap_up_limit_s: float | None = None
    compliance_profile: str = "us"
    # How many leads the core keeps in hand before asking the store for more.
    hopper_size: int = 200
    # Seconds in the abandonment window (us: 30 days); the simulator uses the shift.
    abandon_window_s: float = 30 * 86400.0
    # The core's own guard: at the cap, pace as progressive. Always on in the
    # service; the simulator turns it off for the fixed-ratio baselines so a
    # sweep measures the ratio itself, not the guard.
    cap_guard: bool = True
    # Pacer-specific knobs by name (e.g. the adaptive mode's "intensity");
    # dialer.pacers.make_pacer reads them. Empty: the pacer's defaults.
    pacer_options: dict[str, float | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ring_timeout_s < 15.0:
            raise ValueError("ring_timeout_s must be at least 15 s")
        if not 0.0 <= self.max_abandon_rate <= 1.0:
            raise ValueError("max_abandon_rate must be in [0, 1]")
        if self.connect_deadline_s <= 0:
            raise ValueError("connect_deadline_s must be positive")
        if self.max_attempts < 1 or self.max_attempts_per_day < 1:
            raise ValueError("max_attempts and max_attempts_per_day must be at least 1")


@dataclass(frozen=True, slots=True)
class PastAttempt:
    """An earlier attempt on a lead's number, from the call records (wall-clock epoch).

    ``campaign_id`` says whose: per-lead limits count the lead's own campaign,
    rules about the number (uk: after an abandoned call) count every campaign.
    """

    at: float
    campaign_id: str
    abandoned: bool = False
    amd_machine: bool = False  # AMD judged a machine (not: an agent said so)


@fast_init
@dataclass(frozen=True, slots=True)
class Lead:
    """A number to dial. ``phone`` is E.164; ``timezone`` an IANA name if known."""

    id: str
    campaign_id: str
    phone: str
    timezone: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    priority: int = 0
    # The number's attempts over the last few days, newest last (the store
    # fills this in when it hands the lead out).
    recent: tuple[PastAttempt, ...] = ()
    # A callback: when (wall-clock epoch) and, for a personal one, whose.
    callback_at: float | None = None
    callback_agent_id: str | None = None
