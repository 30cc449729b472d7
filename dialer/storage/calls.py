"""The call log, written ahead: a call is recorded before it is dialed.

The core's :class:`CallRecord` counts time on the driver's clock;
:func:`update_call` turns those instants into UTC with the driver's
:class:`Clock`. Compliance figures (abandonment over 24 hours, 30 days) are
computed from these rows, so they survive restarts.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.calls import CallRecord
from dialer.campaign import CallOutcome
from dialer.clock import Clock
from dialer.errors import ConflictError, InvalidInput, NotFound
from dialer.storage._sql import dialect_name, upsert_insert, upsert_insert_for
from dialer.storage._time import as_utc, optional_utc
from dialer.storage.database import Statement
from dialer.storage.models import CallRow
from dialer.storage.records import AbandonmentCounts, CallPage, CampaignTotals, StoredCall

__all__ = [
    "abandonment_counts",
    "call_write",
    "campaign_totals",
    "get_call",
    "list_calls",
    "open_calls",
    "record_call_placed",
    "set_disposition",
    "update_call",
]

_CALLS = cast(Table, CallRow.__table__)
MAX_PAGE = 1000


def _to_record(row: Any) -> StoredCall:
    return StoredCall(
        id=row.id,
        campaign_id=row.campaign_id,
        lead_id=row.lead_id,
        phone=row.phone,
        agent_id=row.agent_id,
        outcome=None if row.outcome is None else CallOutcome(row.outcome),
        abandoned=bool(row.abandoned),
        dialed_at=row.dialed_at,
        answered_at=row.answered_at,
        bridged_at=row.bridged_at,
        ended_at=row.ended_at,
        disposition=row.disposition,
        notes=row.notes,
        callback_at=row.callback_at,
        decision=row.decision,
        amd=row.amd,
        placed_by=row.placed_by,
        callback_agent_id=row.callback_agent_id,
    )


def _wall(clock: Clock, instant: float | None) -> datetime | None:
    if instant is None:
        return None
    return datetime.fromtimestamp(clock.wall_epoch(instant), UTC)


async def record_call_placed(
    session: AsyncSession,
    /,
    *,
    call_id: str,
    campaign_id: str,
    lead_id: str,
    phone: str,
    dialed_at: datetime,
    agent_id: str | None = None,
    decision: str | None = None,
    placed_by: str | None = None,
) -> StoredCall:
    """Record an attempt about to be dialed. Commit this before telephony originates it.

    ``placed_by`` names the process (the same id it claims leads with), so a
    process taking over can find calls a dead one left open (:func:`open_calls`).
    Raises :class:`ConflictError` (the id exists), :class:`NotFound` (no such
    campaign or lead; the transaction is then unusable: roll it back).
    """
    values = {
        "id": call_id,
        "campaign_id": campaign_id,
        "lead_id": lead_id,
        "phone": phone,
        "agent_id": agent_id,
        "outcome": None,
        "abandoned": False,
        "dialed_at": as_utc(dialed_at, "dialed_at"),
        "decision": decision,
        "placed_by": placed_by,
    }
    stmt = (
        upsert_insert(session, _CALLS)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(*_CALLS.c)
    )
    try:
        row = (await session.execute(stmt)).first()
    except IntegrityError as exc:
        # The only other constraint an insert can break: the foreign keys.
        raise NotFound("campaign or lead", (campaign_id, lead_id)) from exc
    if row is None:
        raise ConflictError(f"call {call_id!r} is already recorded")
    return _to_record(row)


async def update_call(
    session: AsyncSession,
    /,
    *,
    record: CallRecord,
    clock: Clock,
    amd: str | None = None,
    placed_by: str | None = None,
) -> StoredCall:
    """Write what a :class:`CallRecord` says now; insert it if it was never placed.

    A field the record leaves empty (None) keeps what is stored, so a late or
    partial record never erases an answer time or a disposition; ``outcome``
    and ``abandoned`` take the record's value (an agent may correct a human
    to a machine). ``dialed_at`` keeps the write-ahead value. ``amd`` is the
    detector's verdict (``"human"``, ``"machine"``, ...), if any.
    """
    stmt = _upsert_call(dialect_name(session), returning=True)
    try:
        result = await session.execute(stmt, _call_row(record, clock, amd, placed_by))
    except IntegrityError as exc:
        raise NotFound("campaign or lead", (record.campaign_id, record.lead_id)) from exc
    return _to_record(result.one())


def call_write(
    dialect: str,
    /,
    *,
    record: CallRecord,
    clock: Clock,
    amd: str | None = None,
) -> Statement:
    """:func:`update_call` for the write-behind path: the same write, nothing read back.

    A :class:`Statement`, so the offer's write can be pipelined with others
    (``Database.write_alone``). A missing campaign or lead fails it with the
    database's ``IntegrityError``.
    """
    return Statement(_upsert_call(dialect, returning=False), _call_row(record, clock, amd, None))


def _call_row(
    record: CallRecord, clock: Clock, amd: str | None, placed_by: str | None
) -> dict[str, Any]:
    return {
        "id": record.id,
        "campaign_id": record.campaign_id,
        "lead_id": record.lead_id,
        "phone": record.phone,
        "agent_id": record.agent_id,
        "outcome": None if record.outcome is None else CallOutcome(record.outcome).value,
        "abandoned": record.abandoned,
        "dialed_at": _wall(clock, record.dialed_at),
        "answered_at": _wall(clock, record.answered_at),
        "bridged_at": _wall(clock, record.bridged_at),
        "ended_at": _wall(clock, record.ended_at),
        "disposition": record.disposition,
        "decision": record.decision,
        "amd": amd,
        "placed_by": placed_by,
    }


# Columns a record that leaves them empty (None) does not overwrite.
_KEEP_IF_NONE = (
    "agent_id",
    "outcome",
    "answered_at",
    "bridged_at",
    "ended_at",
    "disposition",
    "decision",
    "amd",
    "placed_by",
)


@functools.cache
def _upsert_call(dialect: str, *, returning: bool) -> Any:
    """The upsert of :func:`update_call`, built once per backend.

    Several writes per call at a thousand agents: building it each time
    (``excluded`` makes a new alias with a proxy per column, and a new
    statement needs a new cache key) cost a third of the service's CPU.
    Its values come as execution parameters.
    """
    stmt = upsert_insert_for(dialect, _CALLS)
    changes: dict[str, Any] = {
        name: func.coalesce(stmt.excluded[name], _CALLS.c[name]) for name in _KEEP_IF_NONE
    }
    changes["abandoned"] = stmt.excluded.abandoned
    upsert = stmt.on_conflict_do_update(index_elements=["id"], set_=changes)
    return upsert.returning(*_CALLS.c) if returning else upsert


async def set_disposition(
    session: AsyncSession,
    /,
    *,
    call_id: str,
    code: str,
    notes: str | None = None,
    callback_at: datetime | None = None,
    callback_agent_id: str | None = None,
) -> StoredCall:
    """Store the agent's wrap-up; ``callback_agent_id`` books a callback for that agent.

    Raises :class:`NotFound`, :class:`InvalidInput`.
    """
    if not code:
        raise InvalidInput("a disposition needs a code", field="code")
    if callback_agent_id is not None and callback_at is None:
        raise InvalidInput("a personal callback needs callback_at", field="callback_at")
    stmt = (
        update(_CALLS)
        .where(_CALLS.c.id == call_id)
        .values(
            disposition=code,
            notes=notes,
            callback_at=optional_utc(callback_at, "callback_at"),
            callback_agent_id=callback_agent_id,
        )
        .returning(*_CALLS.c)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        raise NotFound("call", call_id)
    return _to_record(row)


async def get_call(session: AsyncSession, /, *, call_id: str) -> StoredCall:
    """Raises :class:`NotFound`."""
    row = (await session.execute(select(_CALLS).where(_CALLS.c.id == call_id))).first()
    if row is None:
        raise NotFound("call", call_id)
    return _to_record(row)


def _encode_cursor(call: StoredCall) -> str:
    raw = json.dumps([call.dialed_at.isoformat(), call.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        dialed_at, call_id = json.loads(raw)
        when = datetime.fromisoformat(dialed_at)
        if not isinstance(call_id, str) or when.tzinfo is None:
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("not a cursor this service gave out", field="cursor") from exc
    return when.astimezone(UTC), call_id


async def list_calls(
    session: AsyncSession,
    /,
    *,
    campaign_id: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> CallPage:
    """Calls newest first (by ``dialed_at``, then id), dialed at or after ``since``.

    Keyset pagination: pass the page's ``next_cursor`` to get the next; calls
    recorded meanwhile never shift a page. Raises :class:`InvalidInput` for a
    bad ``limit`` (1..1000) or cursor.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    stmt = select(_CALLS)
    if campaign_id is not None:
        stmt = stmt.where(_CALLS.c.campaign_id == campaign_id)
    if since is not None:
        stmt = stmt.where(_CALLS.c.dialed_at >= as_utc(since, "since"))
    if cursor is not None:
        at, call_id = _decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                _CALLS.c.dialed_at < at,
                and_(_CALLS.c.dialed_at == at, _CALLS.c.id < call_id),
            )
        )
    stmt = stmt.order_by(_CALLS.c.dialed_at.desc(), _CALLS.c.id.desc()).limit(limit + 1)
    rows = [_to_record(row) for row in await session.execute(stmt)]
    more = len(rows) > limit
    items = tuple(rows[:limit])
    return CallPage(items=items, next_cursor=_encode_cursor(items[-1]) if more else None)


async def open_calls(
    session: AsyncSession,
    /,
    *,
    placed_by: str | None = None,
    campaign_id: str | None = None,
    not_placed_by: Collection[str] = (),
) -> list[StoredCall]:
    """Calls with no ``ended_at`` yet (for reconciliation after a crash), oldest first.

    ``not_placed_by`` leaves out the calls of those processes (the live ones).
    """
    stmt = select(_CALLS).where(_CALLS.c.ended_at.is_(None))
    if placed_by is not None:
        stmt = stmt.where(_CALLS.c.placed_by == placed_by)
    if not_placed_by:
        stmt = stmt.where(
            or_(_CALLS.c.placed_by.is_(None), _CALLS.c.placed_by.not_in(list(not_placed_by)))
        )
    if campaign_id is not None:
        stmt = stmt.where(_CALLS.c.campaign_id == campaign_id)
    stmt = stmt.order_by(_CALLS.c.dialed_at, _CALLS.c.id)
    return [_to_record(row) for row in await session.execute(stmt)]


async def close_orphan(session: AsyncSession, /, *, call_id: str, ended_at: datetime) -> bool:
    """End a call its dead process left open, as ``failed`` unless it had an outcome.

    A person who had answered and was not yet bridged to an agent when the
    process died heard nobody (nor the safe-harbor message): that call is
    abandoned, and counts so against the cap. False if it was closed already
    (by another process recovering it too).
    """
    stranded = and_(_CALLS.c.outcome == CallOutcome.HUMAN.value, _CALLS.c.bridged_at.is_(None))
    stmt = (
        update(_CALLS)
        .where(_CALLS.c.id == call_id, _CALLS.c.ended_at.is_(None))
        .values(
            ended_at=as_utc(ended_at, "ended_at"),
            outcome=func.coalesce(_CALLS.c.outcome, CallOutcome.FAILED.value),
            abandoned=case((stranded, True), else_=_CALLS.c.abandoned),
        )
        .returning(_CALLS.c.id)
    )
    return (await session.execute(stmt)).first() is not None


def _human() -> Any:
    return func.coalesce(
        func.sum(case((_CALLS.c.outcome == CallOutcome.HUMAN.value, 1), else_=0)), 0
    )


def _abandoned() -> Any:
    return func.coalesce(func.sum(case((_CALLS.c.abandoned.is_(True), 1), else_=0)), 0)


async def abandonment_counts(
    session: AsyncSession,
    /,
    *,
    campaign_id: str,
    since: datetime,
    until: datetime | None = None,
) -> AbandonmentCounts:
    """Live-answered and abandoned calls answered in ``[since, until)`` (until: no end).

    Human-answered: outcome ``human`` (abandoned ones included: the law's
    denominator is every call a person answered). Abandoned: ``abandoned``.
    """
    stmt = select(_human(), _abandoned()).where(
        _CALLS.c.campaign_id == campaign_id,
        _CALLS.c.answered_at >= as_utc(since, "since"),
    )
    if until is not None:
        stmt = stmt.where(_CALLS.c.answered_at < as_utc(until, "until"))
    human, abandoned = (await session.execute(stmt)).one()
    return AbandonmentCounts(human_answered=int(human), abandoned=int(abandoned))


async def campaign_totals(session: AsyncSession, /, *, campaign_id: str) -> CampaignTotals:
    """All-time figures: calls dialed, answered by a person, abandoned."""
    stmt = select(func.count(), _human(), _abandoned()).where(_CALLS.c.campaign_id == campaign_id)
    dialed, human, abandoned = (await session.execute(stmt)).one()
    return CampaignTotals(dialed=int(dialed), human_answered=int(human), abandoned=int(abandoned))
