"""Leads: the JSON batch a client loads, what the load answers, and a lead read back."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, SkipValidation

from api.schemas.base import NotBool, ReadModel, RequestModel
from dialer.runtime.service import LeadLoadResult, RowError
from dialer.storage.records import PRIORITY_RANGE, LeadStatus, StoredLead

__all__ = [
    "LeadBatch",
    "LeadIn",
    "LeadLoadRead",
    "LeadRead",
    "RowErrorRead",
    "lead_load_read",
]


class LeadIn(RequestModel):
    # Not validated as a number here: an unparseable phone rejects its row
    # only (the service says why), never the whole batch.
    phone: str = Field(max_length=64, examples=["+14155550100"])
    timezone: str | None = Field(default=None, examples=["America/Los_Angeles"])
    data: dict[str, Any] = Field(default_factory=dict)
    priority: Annotated[int, NotBool] = Field(
        default=0,
        ge=PRIORITY_RANGE.start,
        le=PRIORITY_RANGE.stop - 1,
        description="higher is dialed first",
    )


class LeadBatch(RequestModel):
    # Rows are validated one by one (LeadIn), so a bad row is rejected with
    # its number and the rest of the batch loads; the document still shows
    # what a row must be.
    checked_alone = frozenset({"leads"})

    leads: list[SkipValidation[LeadIn]]


class RowErrorRead(ReadModel):
    row: int = Field(description="JSON: 1-based index in `leads`; CSV: line number in the file")
    phone: str
    reason: str


class LeadLoadRead(ReadModel):
    accepted: int
    rejected: list[RowErrorRead]
    duplicates: int
    dnc: int


class LeadRead(ReadModel):
    id: str
    campaign_id: str
    phone: str
    timezone: str | None
    data: dict[str, Any]
    status: LeadStatus
    attempts: int
    priority: int
    next_attempt_at: datetime | None
    last_outcome: str | None
    created_at: datetime

    @classmethod
    def of(cls, lead: StoredLead) -> LeadRead:
        return cls.model_validate(lead)


def lead_load_read(result: LeadLoadResult, rejected: Iterable[RowError]) -> LeadLoadRead:
    """The service's counts with every rejected row (the API's and the service's), in order."""
    return LeadLoadRead(
        accepted=result.accepted,
        rejected=[RowErrorRead.model_validate(e) for e in sorted(rejected, key=lambda e: e.row)],
        duplicates=result.duplicates,
        dnc=result.dnc,
    )
