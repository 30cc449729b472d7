"""Call records over the wire (spec/api.md names every field)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from api.schemas.base import ReadModel
from dialer.campaign import CallOutcome
from dialer.storage.records import CallPage, SkippedDial, StoredCall

__all__ = ["CallPageRead", "CallRead", "SkippedDialRead"]


class CallRead(ReadModel):
    id: str
    campaign_id: str
    lead_id: str
    phone: str
    agent_id: str | None
    outcome: CallOutcome | None = Field(description="null while the call is in progress")
    abandoned: bool
    dialed_at: datetime
    answered_at: datetime | None
    bridged_at: datetime | None
    ended_at: datetime | None
    disposition: str | None
    notes: str | None
    callback_at: datetime | None
    callback_agent_id: str | None = Field(
        default=None, description="a personal callback: the agent who booked it"
    )
    decision: str | None = Field(
        default=None, description="the compliance decision the call was placed on"
    )
    amd: str | None = Field(default=None, description="the AMD verdict, if it judged")

    @classmethod
    def of(cls, call: StoredCall) -> CallRead:
        return cls.model_validate(call)


class CallPageRead(ReadModel):
    items: list[CallRead]
    next_cursor: str | None = Field(description="pass as `cursor` for the next, older page")

    @classmethod
    def of(cls, page: CallPage) -> CallPageRead:
        return cls(items=[CallRead.of(c) for c in page.items], next_cursor=page.next_cursor)


class SkippedDialRead(ReadModel):
    """A lead the compliance gate did not let through: the record of a call not made."""

    campaign_id: str
    lead_id: str
    phone: str
    reason: str = Field(examples=["outside_calling_hours", "dnc", "max_attempts_per_day"])
    decided_at: datetime
    retry_at: datetime | None = Field(description="when the lead may be tried again")

    @classmethod
    def of(cls, skip: SkippedDial) -> SkippedDialRead:
        return cls.model_validate(skip)
