"""Record retention: call records and skipped dials are kept, then purged, by age.

The rule is "at least five years": :data:`MIN_RETENTION_DAYS` is the floor
any configuration must respect, so a typo cannot delete records a regulator
may still ask for. Only records strictly older than the cut-off go.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple, cast

from sqlalchemy import Table, delete
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.errors import InvalidInput
from dialer.storage._time import as_utc
from dialer.storage.models import CallRow, SkippedDialRow

__all__ = ["DEFAULT_RETENTION_DAYS", "MIN_RETENTION_DAYS", "Purged", "check_retention", "purge"]

# Five years, leap days included.
MIN_RETENTION_DAYS = 5 * 365 + 2
DEFAULT_RETENTION_DAYS = MIN_RETENTION_DAYS

_CALLS = cast(Table, CallRow.__table__)
_SKIPS = cast(Table, SkippedDialRow.__table__)


class Purged(NamedTuple):
    calls: int
    skipped_dials: int


def check_retention(days: int) -> int:
    """``days`` if it keeps records at least five years; InvalidInput otherwise."""
    if days < MIN_RETENTION_DAYS:
        raise InvalidInput(
            f"records are kept at least {MIN_RETENTION_DAYS} days (five years), not {days}",
            field="retention_days",
        )
    return days


async def purge(session: AsyncSession, /, *, before: datetime) -> Purged:
    """Delete the records of attempts dialed (and skips decided) before ``before``.

    A call still open (no ``ended_at``) is kept whatever its age: it is not a
    finished record yet.
    """
    before = as_utc(before, "before")
    calls = await session.execute(
        delete(_CALLS)
        .where(_CALLS.c.dialed_at < before, _CALLS.c.ended_at.is_not(None))
        .returning(_CALLS.c.id)
    )
    skips = await session.execute(
        delete(_SKIPS).where(_SKIPS.c.decided_at < before).returning(_SKIPS.c.id)
    )
    return Purged(calls=len(calls.all()), skipped_dials=len(skips.all()))
