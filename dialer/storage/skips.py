"""Skipped dials: the record of every lead the compliance gate kept from being dialed.

A call record says why a call was allowed (``decision``); a skip says why one
was not (do-not-call, calling hours, an attempt limit, a stale registry...).
Both are records the retention rule keeps for years.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.errors import InvalidInput
from dialer.storage._time import as_utc, optional_utc
from dialer.storage.models import SkippedDialRow
from dialer.storage.records import SkippedDial

__all__ = ["list_skips", "record_skip"]

_SKIPS = cast(Table, SkippedDialRow.__table__)
MAX_PAGE = 1000


def _to_record(row: Any) -> SkippedDial:
    return SkippedDial(
        campaign_id=row.campaign_id,
        lead_id=row.lead_id,
        phone=row.phone,
        reason=row.reason,
        decided_at=row.decided_at,
        retry_at=row.retry_at,
        decided_by=row.decided_by,
    )


async def record_skip(
    session: AsyncSession,
    /,
    *,
    campaign_id: str,
    lead_id: str,
    phone: str,
    reason: str,
    decided_at: datetime,
    retry_at: datetime | None = None,
    decided_by: str | None = None,
) -> None:
    await session.execute(
        insert(_SKIPS).values(
            campaign_id=campaign_id,
            lead_id=lead_id,
            phone=phone,
            reason=reason[:64],
            decided_at=as_utc(decided_at, "decided_at"),
            retry_at=optional_utc(retry_at, "retry_at"),
            decided_by=decided_by,
        )
    )


async def list_skips(
    session: AsyncSession,
    /,
    *,
    campaign_id: str,
    since: datetime | None = None,
    limit: int = 100,
) -> list[SkippedDial]:
    """A campaign's skipped dials, newest first. Raises :class:`InvalidInput` for a bad limit."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    stmt = select(_SKIPS).where(_SKIPS.c.campaign_id == campaign_id)
    if since is not None:
        stmt = stmt.where(_SKIPS.c.decided_at >= as_utc(since, "since"))
    stmt = stmt.order_by(_SKIPS.c.decided_at.desc(), _SKIPS.c.id.desc()).limit(limit)
    return [_to_record(row) for row in await session.execute(stmt)]
