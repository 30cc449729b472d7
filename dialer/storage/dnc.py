"""Do-not-call lists: internal (every campaign), per campaign, national registry.

A number is blocked for a campaign if it is on the internal list, on a
loaded registry, or on that campaign's own list.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Literal, cast

from sqlalchemy import ColumnElement, Table, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.errors import InvalidInput, NotFound
from dialer.storage._sql import check_phone, chunked, upsert_insert
from dialer.storage._time import utcnow
from dialer.storage.models import CampaignRow, DncEntryRow, DncRemovalRow, DncVersionRow
from dialer.storage.records import DncListing, DncScope, DncVersions

__all__ = [
    "DISPOSITION",
    "add_numbers",
    "added_since",
    "blocked_among",
    "entries_of",
    "is_blocked",
    "lookup",
    "prune_removals",
    "remove_number",
    "removed_since",
    "versions",
]

#: The ``source`` of an entry a person asked for on a call (a ``dnc`` disposition).
DISPOSITION = "disposition"

_DNC = cast(Table, DncEntryRow.__table__)
_VERSIONS = cast(Table, DncVersionRow.__table__)
_REMOVALS = cast(Table, DncRemovalRow.__table__)
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
    if not unique:
        return 0
    version = await _bump(session, "added")
    now = utcnow()
    rows = [
        {
            "phone": phone,
            "scope": scope.value,
            "campaign_id": campaign_id,
            "source": source,
            "added_at": now,
            "version": version,
        }
        for phone in unique
    ]
    added = 0
    for chunk in chunked(rows):
        # No conflict target: the uniqueness lives in two partial indexes.
        stmt = upsert_insert(session, _DNC).on_conflict_do_nothing().returning(_DNC.c.id)
        # Parameters apart from the statement: it compiles once, cached, and
        # goes as multi-row inserts ("insertmanyvalues"); a .values() list is
        # compiled afresh for every chunk, which was most of a big load's time.
        added += len((await session.execute(stmt, list(chunk))).all())
    if source == DISPOSITION and scope is DncScope.INTERNAL:
        # The person's own request outweighs an operator's entry for the same
        # number: it then comes off the list only with consent.
        await session.execute(
            update(_DNC)
            .where(_DNC.c.phone.in_(unique), _DNC.c.scope == scope.value)
            .where(_DNC.c.campaign_id.is_(None))
            .values(source=DISPOSITION)
        )
    return added


async def remove_number(
    session: AsyncSession, /, *, phone: str, campaign_id: str | None = None
) -> None:
    """Take a number off the internal list, or off ``campaign_id``'s own list.

    Registry entries cannot be removed this way. Raises :class:`NotFound`.
    """
    # The counter first, as an add takes it: the other order deadlocked
    # against a concurrent add of the same number on PostgreSQL.
    version = await _bump(session, "removed")
    stmt = delete(_DNC).where(_DNC.c.phone == phone)
    if campaign_id is None:
        stmt = stmt.where(_DNC.c.scope == DncScope.INTERNAL.value, _DNC.c.campaign_id.is_(None))
    else:
        stmt = stmt.where(
            _DNC.c.scope == DncScope.CAMPAIGN.value, _DNC.c.campaign_id == campaign_id
        )
    removed = (await session.execute(stmt.returning(_DNC.c.id))).all()
    if not removed:
        raise NotFound("do-not-call entry", phone)  # the bump goes with the rollback
    await session.execute(
        insert(_REMOVALS).values(
            version=version, phone=phone, campaign_id=campaign_id, removed_at=utcnow()
        )
    )


async def removed_since(
    session: AsyncSession, /, *, version: int
) -> list[tuple[str, str | None, int]]:
    """``(phone, campaign_id, version)`` of the removals after ``version``
    (complete up to the highest it returns, as :func:`added_since`; less
    if :func:`prune_removals` took some: the caller checks the versions)."""
    stmt = select(_REMOVALS.c.phone, _REMOVALS.c.campaign_id, _REMOVALS.c.version).where(
        _REMOVALS.c.version > version
    )
    return [(phone, cid, int(v)) for phone, cid, v in await session.execute(stmt)]


async def entries_of(
    session: AsyncSession, /, *, phones: Collection[str]
) -> list[tuple[str, str | None]]:
    """``(phone, campaign_id)`` of the entries that list these numbers now
    (None: every campaign), as the whole lists are read."""
    found: list[tuple[str, str | None]] = []
    for chunk in chunked(list(phones)):
        stmt = select(_DNC.c.phone, _DNC.c.campaign_id).where(_DNC.c.phone.in_(list(chunk)))
        found += [(phone, cid) for phone, cid in await session.execute(stmt)]
    return found


async def prune_removals(session: AsyncSession, /, *, before: datetime) -> int:
    """Drop the removal rows older than ``before``; how many went."""
    result = await session.execute(
        delete(_REMOVALS).where(_REMOVALS.c.removed_at < before).returning(_REMOVALS.c.id)
    )
    return len(result.all())


async def versions(session: AsyncSession, /) -> DncVersions:
    """The lists' change counters as committed now."""
    row = (await session.execute(select(_VERSIONS.c.added, _VERSIONS.c.removed))).first()
    return DncVersions(0, 0) if row is None else DncVersions(int(row.added), int(row.removed))


async def added_since(
    session: AsyncSession, /, *, version: int
) -> list[tuple[str, str | None, int]]:
    """``(phone, campaign_id, version)`` of the entries added after ``version``.

    Complete up to the highest version it returns: a change takes its version
    with the counter row locked until it commits, so the committed versions
    are always every one up to some count (:class:`DncVersionRow`).
    """
    stmt = select(_DNC.c.phone, _DNC.c.campaign_id, _DNC.c.version).where(_DNC.c.version > version)
    return [(phone, cid, int(v)) for phone, cid, v in await session.execute(stmt)]


async def _bump(session: AsyncSession, name: Literal["added", "removed"]) -> int:
    """Count one more change on counter ``name``; the row stays locked until commit."""
    counter = _VERSIONS.c[name]
    stmt = update(_VERSIONS).where(_VERSIONS.c.id == 1).values({name: counter + 1})
    value = await session.scalar(stmt.returning(counter))
    if value is None:  # a schema made without the migration's row
        await session.execute(insert(_VERSIONS).values(id=1, added=0, removed=0))
        value = await session.scalar(stmt.returning(counter))
    return int(cast(int, value))


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
