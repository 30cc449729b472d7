"""The do-not-call list over the wire."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.schemas.base import ReadModel, RequestModel
from api.schemas.leads import RowErrorRead

__all__ = ["DncAddRead", "DncCreate", "DncRead"]


class DncCreate(RequestModel):
    # Checked number by number by the service, so one bad entry is rejected
    # with its position and the others are listed.
    checked_alone = frozenset({"numbers"})

    numbers: list[Any] = Field(
        examples=[["+14155550100"]], json_schema_extra={"items": {"type": "string"}}
    )
    campaign_id: str | None = Field(
        default=None, description="list the numbers for this campaign only; omitted: every campaign"
    )


class DncAddRead(ReadModel):
    added: int
    rejected: list[RowErrorRead]


class DncRead(ReadModel):
    phone: str = Field(description="the number in E.164")
    listed: bool
    scopes: list[str] = Field(
        description='"internal", "registry" or "campaign:<id>" for each list that has it'
    )
    registries: list[str] = Field(
        default_factory=list, description='for scope "registry": which ones ("us", "uk", "ca")'
    )
