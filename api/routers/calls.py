"""``/calls``: call records, newest first, in cursor pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ServiceDep
from api.schemas.base import UtcDatetime
from api.schemas.calls import CallPageRead, CallRead

__all__ = ["router"]

router = APIRouter(prefix="/calls", tags=["calls"])


@router.get("", response_model=CallPageRead)
async def list_calls(
    service: ServiceDep,
    campaign_id: str | None = None,
    since: Annotated[
        UtcDatetime | None,
        Query(description="ISO-8601; only calls dialed at or after it (no zone: UTC)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> CallPageRead:
    page = await service.list_calls(
        campaign_id=campaign_id, since=since, limit=limit, cursor=cursor
    )
    return CallPageRead.of(page)


@router.get("/{call_id}", response_model=CallRead)
async def get_call(call_id: str, service: ServiceDep) -> CallRead:
    return CallRead.of(await service.get_call(call_id))
