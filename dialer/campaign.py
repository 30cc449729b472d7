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
    max_attempts: int = 3
    retry_delays_s: dict[str, float] = field(default_factory=dict)
    # Calling hours in the called party's local time, minutes after midnight.
    calling_hours_start_min: int = 8 * 60
    calling_hours_end_min: int = 21 * 60
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
