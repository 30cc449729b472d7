"""Campaigns over the wire, and their conversion to the core's CampaignSettings.

The wire speaks calling hours as ``"HH:MM"`` local times; the core keeps
minutes after midnight. Everything else maps one to one by name.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from api.schemas.base import NotBool, ReadModel, RequestModel
from dialer.campaign import CampaignSettings, DialMode, RunState
from dialer.compliance.profiles import PROFILES
from dialer.errors import InvalidInput
from dialer.storage.records import StoredCampaign

__all__ = [
    "CallingHours",
    "CampaignCreate",
    "CampaignRead",
    "CampaignUpdate",
    "RetryDelays",
    "campaign_read",
    "settings_changes",
    "settings_from_create",
]

_HHMM = re.compile(r"^([0-9]{2}):([0-9]{2})$")
_DAY_MIN = 24 * 60

# Bounds shared by create and update, so a PATCH cannot do what a POST may not.
Name = Annotated[str, Field(min_length=1, max_length=200)]
DialRatio = Annotated[
    float, NotBool, Field(ge=1.0, le=20.0, description="lines per agent (power mode)")
]
MaxAbandonRate = Annotated[
    float, NotBool, Field(gt=0.0, le=1.0, description="cap on abandoned / human-answered calls")
]
RingTimeout = Annotated[
    float, NotBool, Field(ge=15.0, le=300.0, description="seconds a number rings before giving up")
]
ConnectDeadline = Annotated[
    float,
    NotBool,
    Field(gt=0.0, le=10.0, description="seconds from answer to agent before the call is abandoned"),
]
MaxAttempts = Annotated[int, NotBool, Field(ge=1, le=100)]
CallerId = Annotated[str, Field(min_length=1, max_length=32)]
SafeHarbor = Annotated[str, Field(max_length=2000)]
PositiveSeconds = Annotated[float, NotBool, Field(gt=0.0, le=86_400.0)]
DelaySeconds = Annotated[float, NotBool, Field(ge=0.0, le=365 * 86_400.0)]
ProfileName = Annotated[
    Literal["us", "uk", "ca"],
    Field(description="the regulator's rules: us (FTC TSR, FCC TCPA), uk (Ofcom), ca (CRTC)"),
]
TimeZoneName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="IANA zone assumed for numbers whose zone nobody can tell",
    ),
]
RegistryAge = Annotated[
    int,
    NotBool,
    Field(ge=1, le=365, description="refuse to dial with an older national registry copy"),
]


def _minutes(text: str, *, allow_midnight_end: bool) -> int:
    match = _HHMM.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a time of day as HH:MM")
    hours, minutes = int(match[1]), int(match[2])
    total = hours * 60 + minutes
    if minutes >= 60 or total > _DAY_MIN or (total == _DAY_MIN and not allow_midnight_end):
        raise ValueError(f"{text!r} is not a time of day between 00:00 and 23:59")
    return total


def _hhmm(total: int) -> str:
    return f"{total // 60:02d}:{total % 60:02d}"


def _start_time(value: str) -> str:
    _minutes(value, allow_midnight_end=False)
    return value


def _end_time(value: str) -> str:
    _minutes(value, allow_midnight_end=True)
    return value


# The two ends of a calling window, checked as times of day (24:00 ends one).
StartTime = Annotated[
    str,
    AfterValidator(_start_time),
    Field(examples=["08:00"], description="HH:MM, local time"),
]
EndTime = Annotated[
    str,
    AfterValidator(_end_time),
    Field(examples=["21:00"], description="HH:MM, local time; 24:00 allowed"),
]
# The core's window does not wrap past midnight.
_EMPTY_WINDOW = "calling_hours.start must be before calling_hours.end"


class CallingHours(RequestModel):
    """The window ``[start, end)`` in the called party's local time."""

    start: StartTime = "08:00"
    end: EndTime = "21:00"

    @model_validator(mode="after")
    def _start_before_end(self) -> CallingHours:
        if self.start_min >= self.end_min:
            raise ValueError(_EMPTY_WINDOW)
        return self

    @property
    def start_min(self) -> int:
        return _minutes(self.start, allow_midnight_end=False)

    @property
    def end_min(self) -> int:
        return _minutes(self.end, allow_midnight_end=True)


class CallingHoursChange(RequestModel):
    """A PATCH of the window: the end not given stays as it is."""

    start: StartTime | None = None
    end: EndTime | None = None

    @model_validator(mode="after")
    def _start_before_end(self) -> CallingHoursChange:
        # Both given: refused here, as on create (one given: by applied_to).
        if self.start is not None and self.end is not None:
            start = _minutes(self.start, allow_midnight_end=False)
            if start >= _minutes(self.end, allow_midnight_end=True):
                raise ValueError(_EMPTY_WINDOW)
        return self

    def applied_to(self, start_min: int, end_min: int) -> tuple[int, int]:
        """The window after this change, from the current one; refused if empty."""
        if self.start is not None:
            start_min = _minutes(self.start, allow_midnight_end=False)
        if self.end is not None:
            end_min = _minutes(self.end, allow_midnight_end=True)
        if start_min >= end_min:
            raise InvalidInput(_EMPTY_WINDOW, field="calling_hours")
        return start_min, end_min


class RetryDelays(RequestModel):
    """Seconds before a lead is tried again, per outcome; omitted: the service default."""

    no_answer: DelaySeconds | None = None
    busy: DelaySeconds | None = None
    machine: DelaySeconds | None = None
    abandoned: DelaySeconds | None = None
    failed: DelaySeconds | None = None

    def as_dict(self) -> dict[str, float]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


PacerOptions = dict[str, Annotated[float, NotBool] | str]


class CampaignCreate(RequestModel):
    """A new campaign. Omitted rules come from its ``compliance_profile``, which
    the rest may only tighten (a looser value is refused, naming the field)."""

    name: Name
    mode: DialMode = DialMode.PREDICTIVE
    compliance_profile: ProfileName = "us"
    dial_ratio: DialRatio = 2.0
    max_abandon_rate: MaxAbandonRate | None = Field(
        default=None, description="omitted: the profile's cap (us, uk 0.03; ca 0.05)"
    )
    ring_timeout_s: RingTimeout = 20.0
    connect_deadline_s: ConnectDeadline = 2.0
    calling_hours: CallingHours | None = Field(
        default=None, description="omitted: the profile's (us, uk 08:00-21:00; ca 09:00-21:30)"
    )
    max_attempts: MaxAttempts = 3
    max_attempts_per_day: MaxAttempts = 3
    retry_delays_s: RetryDelays = Field(default_factory=RetryDelays)
    caller_id: CallerId | None = None
    amd: bool = False
    safe_harbor_message: SafeHarbor = ""
    target_agent_wait_s: PositiveSeconds | None = None
    wrap_up_limit_s: PositiveSeconds | None = None
    assume_time_zone: TimeZoneName | None = None
    scrub_national_registry: bool = Field(
        default=True,
        description="false only for calls the national registry does not cover "
        "(debt collection, reminders to customers); internal lists always apply",
    )
    registry_max_age_days: RegistryAge | None = None
    personal_callback_wait_s: DelaySeconds = 3600.0
    pacer_options: PacerOptions = Field(default_factory=dict)


# Fields that may be set to null by a PATCH; for every other field null is an error.
_NULLABLE_ON_UPDATE = frozenset(
    {
        "caller_id",
        "target_agent_wait_s",
        "wrap_up_limit_s",
        "assume_time_zone",
        "registry_max_age_days",
    }
)


class CampaignUpdate(RequestModel):
    """A PATCH: only the fields present change; ``retry_delays_s`` merges per outcome."""

    name: Name | None = None
    mode: DialMode | None = None
    dial_ratio: DialRatio | None = None
    max_abandon_rate: MaxAbandonRate | None = None
    ring_timeout_s: RingTimeout | None = None
    connect_deadline_s: ConnectDeadline | None = None
    calling_hours: CallingHoursChange | None = None
    max_attempts: MaxAttempts | None = None
    retry_delays_s: RetryDelays | None = None
    caller_id: CallerId | None = None
    amd: bool | None = None
    safe_harbor_message: SafeHarbor | None = None
    target_agent_wait_s: PositiveSeconds | None = None
    wrap_up_limit_s: PositiveSeconds | None = None
    compliance_profile: ProfileName | None = None
    max_attempts_per_day: MaxAttempts | None = None
    assume_time_zone: TimeZoneName | None = None
    scrub_national_registry: bool | None = None
    registry_max_age_days: RegistryAge | None = None
    personal_callback_wait_s: DelaySeconds | None = None
    pacer_options: PacerOptions | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_meaningful(cls, value: Any, info: ValidationInfo) -> Any:
        # Defaults are not validated, so this sees only an explicit null.
        if value is None and info.field_name not in _NULLABLE_ON_UPDATE:
            raise ValueError(f"{info.field_name} cannot be null")
        return value


class CampaignRead(ReadModel):
    id: str
    name: str
    mode: DialMode
    state: RunState
    dial_ratio: float
    max_abandon_rate: float
    ring_timeout_s: float
    connect_deadline_s: float
    calling_hours: dict[str, str] = Field(examples=[{"start": "08:00", "end": "21:00"}])
    max_attempts: int
    retry_delays_s: dict[str, float]
    caller_id: str | None
    amd: bool
    safe_harbor_message: str
    target_agent_wait_s: float | None
    wrap_up_limit_s: float | None
    compliance_profile: str
    max_attempts_per_day: int
    assume_time_zone: str | None
    scrub_national_registry: bool
    registry_max_age_days: int | None
    personal_callback_wait_s: float
    pacer_options: dict[str, float | str]
    blocked_reason: str | None = Field(
        default=None,
        description="why a running campaign dials nothing (e.g. registry_stale:us); null if none",
    )
    created_at: datetime
    updated_at: datetime


def settings_from_create(campaign_id: str, body: CampaignCreate) -> CampaignSettings:
    """The core's settings for a new campaign; it starts ``stopped``."""
    profile = PROFILES[body.compliance_profile]
    widest = profile.hours.widest
    assert widest is not None  # every profile allows calls on some day
    hours = body.calling_hours
    return CampaignSettings(
        id=campaign_id,
        name=body.name,
        mode=body.mode,
        state=RunState.STOPPED,
        compliance_profile=profile.name,
        dial_ratio=body.dial_ratio,
        max_abandon_rate=(
            body.max_abandon_rate if body.max_abandon_rate is not None else profile.max_abandon_rate
        ),
        ring_timeout_s=body.ring_timeout_s,
        connect_deadline_s=body.connect_deadline_s,
        amd=body.amd,
        caller_id=body.caller_id,
        safe_harbor_message=body.safe_harbor_message,
        max_attempts=body.max_attempts,
        max_attempts_per_day=body.max_attempts_per_day,
        retry_delays_s=body.retry_delays_s.as_dict(),
        calling_hours_start_min=hours.start_min if hours else widest.start_min,
        calling_hours_end_min=hours.end_min if hours else widest.end_min,
        target_agent_wait_s=body.target_agent_wait_s,
        wrap_up_limit_s=body.wrap_up_limit_s,
        assume_time_zone=body.assume_time_zone,
        scrub_national_registry=body.scrub_national_registry,
        registry_max_age_days=body.registry_max_age_days,
        personal_callback_wait_s=body.personal_callback_wait_s,
        pacer_options=dict(body.pacer_options),
    )


def settings_changes(body: CampaignUpdate, current: CampaignSettings) -> dict[str, Any]:
    """The PATCH as CampaignSettings field changes (``service.update_campaign`` takes these)."""
    changes: dict[str, Any] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        if name == "calling_hours":
            # Per-end merge: moving the start keeps the end (it reset to 21:00).
            start, end = value.applied_to(
                current.calling_hours_start_min, current.calling_hours_end_min
            )
            changes["calling_hours_start_min"] = start
            changes["calling_hours_end_min"] = end
        elif name == "retry_delays_s":
            # Per-outcome merge: changing the busy delay keeps the others.
            changes[name] = {**current.retry_delays_s, **value.as_dict()}
        elif name == "pacer_options":
            changes[name] = dict(value)
        else:
            changes[name] = value
    return changes


def campaign_read(stored: StoredCampaign, blocked_reason: str | None = None) -> CampaignRead:
    s = stored.settings
    return CampaignRead(
        blocked_reason=blocked_reason,
        id=s.id,
        name=s.name,
        mode=s.mode,
        state=s.state,
        dial_ratio=s.dial_ratio,
        max_abandon_rate=s.max_abandon_rate,
        ring_timeout_s=s.ring_timeout_s,
        connect_deadline_s=s.connect_deadline_s,
        calling_hours={
            "start": _hhmm(s.calling_hours_start_min),
            "end": _hhmm(s.calling_hours_end_min),
        },
        max_attempts=s.max_attempts,
        retry_delays_s=dict(s.retry_delays_s),
        caller_id=s.caller_id,
        amd=s.amd,
        safe_harbor_message=s.safe_harbor_message,
        target_agent_wait_s=s.target_agent_wait_s,
        wrap_up_limit_s=s.wrap_up_limit_s,
        compliance_profile=s.compliance_profile,
        max_attempts_per_day=s.max_attempts_per_day,
        assume_time_zone=s.assume_time_zone,
        scrub_national_registry=s.scrub_national_registry,
        registry_max_age_days=s.registry_max_age_days,
        personal_callback_wait_s=s.personal_callback_wait_s,
        pacer_options=dict(s.pacer_options),
        created_at=stored.created_at,
        updated_at=stored.updated_at,
    )
