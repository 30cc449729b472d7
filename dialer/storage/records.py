"""What the repositories return and take: frozen dataclasses, never ORM rows.

Every ``*_at`` here is a timezone-aware UTC :class:`datetime.datetime`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import chain
from typing import Any, Final, NamedTuple

from dialer.campaign import CallOutcome, CampaignSettings, Lead, PastAttempt
from dialer.compliance.registry import Registry

__all__ = [
    "MAX_JSON_DEPTH",
    "PRIORITY_RANGE",
    "AbandonmentCounts",
    "AddResult",
    "CallPage",
    "CampaignTotals",
    "DncListing",
    "DncScope",
    "DncVersions",
    "LeadStatus",
    "NewLead",
    "RejectedLead",
    "SkippedDial",
    "StoredAgent",
    "StoredCall",
    "StoredCampaign",
    "StoredLead",
    "StoredRegistryLoad",
    "priority_problem",
    "unstorable",
]


class LeadStatus(enum.StrEnum):
    """Where a lead is in its life. ``DIALABLE`` ones may be claimed when due."""

    NEW = "new"
    IN_PROGRESS = "in_progress"  # claimed by a dialer process (``claimed_by``)
    DONE = "done"
    RETRY = "retry"
    CALLBACK = "callback"
    DNC = "dnc"
    EXHAUSTED = "exhausted"


DIALABLE: frozenset[LeadStatus] = frozenset({LeadStatus.NEW, LeadStatus.RETRY, LeadStatus.CALLBACK})


class DncScope(enum.StrEnum):
    """``INTERNAL`` and ``REGISTRY`` block every campaign; ``CAMPAIGN`` only its own."""

    INTERNAL = "internal"
    CAMPAIGN = "campaign"
    REGISTRY = "registry"


@dataclass(frozen=True, slots=True)
class StoredCampaign:
    settings: CampaignSettings
    created_at: datetime
    updated_at: datetime

    @property
    def id(self) -> str:
        return self.settings.id


#: Lead priorities the store keeps: a 32-bit integer column on PostgreSQL.
PRIORITY_RANGE: Final = range(-(2**31), 2**31)


#: Deepest nesting of lists and objects kept in a lead's data (or any JSON
#: taken in): deeper is no record a call center means, and past a few hundred
#: levels it overflows the recursion of the JSON encoders on the way out.
MAX_JSON_DEPTH: Final = 32


def unstorable(value: Any) -> str | None:
    """Why ``value`` (parsed JSON) cannot be stored as given, or None.

    PostgreSQL's text refuses the NUL character (SQLite would keep it, so the
    two databases would disagree), and NaN and the infinities are not JSON
    (a JSON column refuses them, or turns them into null). Nesting deeper
    than ``MAX_JSON_DEPTH`` is refused too. Walked with a stack, not by
    recursion, so no depth can overflow it.
    """
    # A stack of iterators, one per open list or object: document order, and
    # only containers are pushed (a flat lead's data is one loop).
    stack: list[tuple[Iterator[Any], int]] = [(iter((value,)), 0)]
    while stack:
        items, depth = stack[-1]
        for item in items:
            if isinstance(item, str):
                if "\x00" in item:
                    return "the NUL character (\\u0000) is not allowed"
            elif isinstance(item, float):
                if not math.isfinite(item):
                    return "NaN and infinite numbers are not allowed"
            elif isinstance(item, dict | list):
                if depth >= MAX_JSON_DEPTH:
                    return f"lists and objects nested deeper than {MAX_JSON_DEPTH} levels"
                # An object's keys and values in turn: k1, v1, k2, v2...
                inner = chain.from_iterable(item.items()) if isinstance(item, dict) else iter(item)
                stack.append((inner, depth + 1))
                break
        else:
            stack.pop()
    return None


def priority_problem(value: object) -> str | None:
    """Why ``value`` is not a lead priority the store can keep, or None."""
    if not isinstance(value, int) or isinstance(value, bool):
        return "priority must be an integer"
    if value not in PRIORITY_RANGE:
        return f"priority must be from {PRIORITY_RANGE.start} to {PRIORITY_RANGE.stop - 1}"
    return None


@dataclass(frozen=True, slots=True)
class NewLead:
    """A lead to load. ``phone`` must already be E.164 (the API normalises it).

    ``priority`` must lie in ``PRIORITY_RANGE``.
    """

    phone: str
    timezone: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    priority: int = 0


@dataclass(frozen=True, slots=True)
class RejectedLead:
    row: int  # index in the batch given to ``add_leads``
    phone: str
    reason: str


@dataclass(frozen=True, slots=True)
class AddResult:
    accepted: int
    duplicates: int  # within the batch and against leads already loaded
    rejected: tuple[RejectedLead, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredLead:
    id: str
    campaign_id: str
    phone: str
    timezone: str | None
    data: dict[str, Any]
    status: LeadStatus
    attempts: int
    priority: int
    next_attempt_at: datetime | None
    claimed_by: str | None
    claimed_at: datetime | None
    last_outcome: str | None
    created_at: datetime
    callback_at: datetime | None = None
    callback_agent_id: str | None = None

    def to_lead(self, recent: tuple[PastAttempt, ...] = ()) -> Lead:
        """The core's view of this lead, with its number's ``recent`` attempts."""
        return Lead(
            id=self.id,
            campaign_id=self.campaign_id,
            phone=self.phone,
            timezone=self.timezone,
            data=dict(self.data),
            attempts=self.attempts,
            priority=self.priority,
            recent=recent,
            callback_at=self.callback_at.timestamp() if self.callback_at else None,
            callback_agent_id=self.callback_agent_id,
        )


@dataclass(frozen=True, slots=True)
class SkippedDial:
    """A lead the compliance gate kept from being dialed, and why."""

    campaign_id: str
    lead_id: str
    phone: str
    reason: str
    decided_at: datetime
    retry_at: datetime | None
    decided_by: str | None


@dataclass(frozen=True, slots=True)
class StoredCall:
    """A call record (spec/api.md) in wall-clock UTC, with what the agent said."""

    id: str
    campaign_id: str
    lead_id: str
    phone: str
    agent_id: str | None
    outcome: CallOutcome | None
    abandoned: bool
    dialed_at: datetime
    answered_at: datetime | None
    bridged_at: datetime | None
    ended_at: datetime | None
    disposition: str | None
    notes: str | None
    callback_at: datetime | None
    decision: str | None
    amd: str | None
    placed_by: str | None
    callback_agent_id: str | None = None


@dataclass(frozen=True, slots=True)
class CallPage:
    """One page of calls, newest first; pass ``next_cursor`` back for the next."""

    items: tuple[StoredCall, ...]
    next_cursor: str | None


class AbandonmentCounts(NamedTuple):
    human_answered: int
    abandoned: int


class CampaignTotals(NamedTuple):
    dialed: int
    human_answered: int
    abandoned: int


@dataclass(frozen=True, slots=True)
class StoredAgent:
    id: str
    name: str
    campaign_ids: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DncVersions:
    """The do-not-call lists' change counters (``dnc_versions``)."""

    added: int
    removed: int


@dataclass(frozen=True, slots=True)
class DncListing:
    """One do-not-call entry for a number; ``campaign_id`` only for ``CAMPAIGN``."""

    phone: str
    scope: DncScope
    campaign_id: str | None
    source: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class StoredRegistryLoad:
    """One load of a national registry file. ``replaced_at`` None: the current copy."""

    id: str
    registry: Registry
    name: str
    published_on: date  # when the copy was published or downloaded (the uploader says)
    loaded_at: datetime
    count: int  # distinct numbers
    rejected_count: int  # lines that were not numbers
    duplicates: int
    sha256: str
    replaced_at: datetime | None

    @property
    def current(self) -> bool:
        return self.replaced_at is None
