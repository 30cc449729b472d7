"""Service processes sharing a database: who is alive, by heartbeat.

Each process registers at start, beats every few seconds and unregisters at
a clean stop. One that stops beating for a lease is dead: its claimed leads
and open calls may be taken back (``dialer.runtime.store.RuntimeStore.recover``).
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.storage._time import as_utc
from dialer.storage.models import ProcessRow

__all__ = [
    "beat",
    "forget_dead",
    "live_figures",
    "live_ids",
    "publish_figures",
    "register",
    "unregister",
]

_PROCESSES = cast(Table, ProcessRow.__table__)


async def register(session: AsyncSession, /, *, process_id: str, now: datetime) -> None:
    """Record ``process_id`` as alive from ``now`` (a restart under the same id too)."""
    now = as_utc(now, "now")
    row = await session.get(ProcessRow, process_id)
    if row is None:
        session.add(ProcessRow(id=process_id, started_at=now, heartbeat_at=now))
    else:
        row.started_at = now
        row.heartbeat_at = now
    await session.flush()


async def beat(session: AsyncSession, /, *, process_id: str, now: datetime) -> bool:
    """Refresh the heartbeat; False if a reaper had taken the process for dead
    (and so taken back its calls and leads): it is registered again."""
    now = as_utc(now, "now")
    result = await session.execute(
        update(_PROCESSES).where(_PROCESSES.c.id == process_id).values(heartbeat_at=now)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        await register(session, process_id=process_id, now=now)
        return False
    return True


async def unregister(session: AsyncSession, /, *, process_id: str) -> None:
    await session.execute(delete(_PROCESSES).where(_PROCESSES.c.id == process_id))


async def live_ids(session: AsyncSession, /, *, since: datetime) -> set[str]:
    """Processes whose heartbeat is at ``since`` or later."""
    since = as_utc(since, "since")
    stmt = select(_PROCESSES.c.id).where(_PROCESSES.c.heartbeat_at >= since)
    return set((await session.execute(stmt)).scalars())


async def publish_figures(session: AsyncSession, /, *, process_id: str, figures: str) -> None:
    """Store the process's live figures (a process not registered writes nothing:
    its next beat registers it again)."""
    await session.execute(
        update(_PROCESSES).where(_PROCESSES.c.id == process_id).values(figures=figures)
    )


async def live_figures(
    session: AsyncSession, /, *, since: datetime, other_than: str
) -> list[tuple[str, str | None]]:
    """(process id, published figures) of the processes, other than
    ``other_than``, whose heartbeat is at ``since`` or later (a dead one's are
    not the floor's), by id."""
    since = as_utc(since, "since")
    stmt = (
        select(_PROCESSES.c.id, _PROCESSES.c.figures)
        .where(_PROCESSES.c.heartbeat_at >= since, _PROCESSES.c.id != other_than)
        .order_by(_PROCESSES.c.id)
    )
    return [(row.id, row.figures) for row in await session.execute(stmt)]


async def forget_dead(session: AsyncSession, /, *, before: datetime) -> int:
    """Drop processes whose last heartbeat is older than ``before``; how many."""
    before = as_utc(before, "before")
    result = await session.execute(delete(_PROCESSES).where(_PROCESSES.c.heartbeat_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
