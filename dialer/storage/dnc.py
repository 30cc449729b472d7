"""Do-not-call lists: internal (every campaign), per campaign, national registry.

A number is blocked for a campaign if it is on the internal list, on a
loaded registry, or on that campaign's own list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from sqlalchemy import ColumnElement, Table, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.errors import InvalidInput, NotFound
from dialer.storage._sql import check_phone, chunked, upsert_insert
from dialer.storage._time import utcnow
from dialer.storage.models import CampaignRow, DncEntryRow
from dialer.storage.records import DncListing, DncScope

__all__ = ["add_numbers", "blocked_among", "is_blocked", "lookup", "remove_number"]

_DNC = cast(Table, DncEntryRow.__table__)
_GLOBAL_SCOPES = (DncScope.INTERNAL.value, DncScope.REGISTRY.value)


def _blocks(campaign_id: str) -> ColumnElement[bool]:
    """The entries that block a number for ``campaign_id``."""
    return or_(
        _DNC.c.scope.in_(_GLOBAL_SCOPES),
        (_DNC.c.scope == DncScope.CAMPAIGN.value) & (_DNC.c.campaign_id == campaign_id),
    )


async def add_numbers(
    session: AsyncSession,
    /,
    *,
    numbers: Iterable[str],
    scope: DncScope = DncScope.INTERNAL,
    campaign_id: str | None = None,
    source: str = "api",
) -> int:
    """Put E.164 ``numbers`` on a list; how many were not on it already.

    Idempotent: a number already listed in the same scope (and campaign) is
    skipped. ``scope`` ``campaign`` needs ``campaign_id``; the others refuse
    one. Raises :class:`InvalidInput` (a number not E.164, the field
    ``numbers``; or the scope and campaign disagree) and :class:`NotFound`
    (no such campaign). Leads already loaded are not touched: see
    :func:`dialer.storage.leads.mark_dnc`.
    """
    scope = DncScope(scope)
    if scope is DncScope.CAMPAIGN and campaign_id is None:
        raise InvalidInput("a campaign do-not-call entry needs campaign_id", field="campaign_id")
    if scope is not DncScope.CAMPAIGN and campaign_id is not None:
        raise InvalidInput(
            f"scope {scope.value!r} covers every campaign; omit campaign_id", field="campaign_id"
        )
    if campaign_id is not None:
        found = await session.scalar(select(CampaignRow.id).where(CampaignRow.id == campaign_id))
        if found is None:
            raise NotFound("campaign", campaign_id)
    unique = list(dict.fromkeys(check_phone(n, "numbers") for n in numbers))
    now = utcnow()
    rows = [
        {
            "phone": phone,
            "scope": scope.value,
            "campaign_id": campaign_id,
            "source": source,
            "added_at": now,
        }
        for phone in unique
    ]
    added = 0
    for chunk in chunked(rows):
        # No conflict target: the uniqueness lives in two partial indexes.
        stmt = (
            upsert_insert(session, _DNC)
            .values(list(chunk))
            .on_conflict_do_nothing()
            .returning(_DNC.c.id)
        )
        added += len((await session.execute(stmt)).all())
    return added


async def remove_number(
    session: AsyncSession, /, *, phone: str, campaign_id: str | None = None
) -> None:
    """Take a number off the internal list, or off ``campaign_id``'s own list.

    Registry entries cannot be removed this way. Raises :class:`NotFound`.
    """
    stmt = delete(_DNC).where(_DNC.c.phone == phone)
    if campaign_id is None:
        stmt = stmt.where(_DNC.c.scope == DncScope.INTERNAL.value, _DNC.c.campaign_id.is_(None))
    else:
        stmt = stmt.where(
            _DNC.c.scope == DncScope.CAMPAIGN.value, _DNC.c.campaign_id == campaign_id
        )
    removed = (await session.execute(stmt.returning(_DNC.c.id))).all()
    if not removed:
        raise NotFound("do-not-call entry", phone)


async def lookup(session: AsyncSession, /, *, phone: str) -> list[DncListing]:
    """Every list ``phone`` is on (empty if none)."""
    stmt = (
        select(_DNC)
        .where(_DNC.c.phone == phone)
        .order_by(_DNC.c.scope, _DNC.c.campaign_id, _DNC.c.id)
    )
    return [
        DncListing(
            phone=row.phone,
            scope=DncScope(row.scope),
            campaign_id=row.campaign_id,
            source=row.source,
            added_at=row.added_at,
        )
        for row in await session.execute(stmt)
    ]


async def is_blocked(session: AsyncSession, /, *, phone: str, campaign_id: str) -> bool:
    """Whether ``phone`` may not be called for ``campaign_id``."""
    stmt = select(_DNC.c.id).where(_DNC.c.phone == phone, _blocks(campaign_id)).limit(1)
    return (await session.scalar(stmt)) is not None


async def blocked_among(
    session: AsyncSession, /, *, phones: Iterable[str], campaign_id: str
) -> set[str]:
    """The numbers among ``phones`` that may not be called for ``campaign_id``."""
    unique = list(dict.fromkeys(phones))
    blocked: set[str] = set()
    for chunk in chunked(unique):
        stmt = select(_DNC.c.phone).where(_DNC.c.phone.in_(chunk), _blocks(campaign_id))
        blocked.update(await session.scalars(stmt))
    return blocked
