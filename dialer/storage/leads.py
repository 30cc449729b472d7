"""Leads: bulk loading, listing, and claiming for dialing by one process among many.

A lead's life: ``new`` -> claimed (``in_progress``, ``claimed_by`` a process)
-> after the attempt ``done`` | ``retry`` | ``callback`` | ``dnc`` |
``exhausted``. ``retry`` and ``callback`` come back when ``next_attempt_at``
is due. A process that dies leaves its claims; the one taking its campaigns
over hands them back with :func:`release_leads`.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.campaign import Lead, PastAttempt
from dialer.errors import ConflictError, InvalidInput, NotFound
from dialer.storage._sql import E164, chunked, new_id, upsert_insert
from dialer.storage._time import as_utc, optional_utc, utcnow
from dialer.storage.models import CallRow, CampaignRow, LeadRow
from dialer.storage.records import (
    DIALABLE,
    AddResult,
    LeadStatus,
    NewLead,
    RejectedLead,
    StoredLead,
    priority_problem,
)

__all__ = [
    "add_leads",
    "awaiting_disposition",
    "claim_leads",
    "claim_number",
    "count_by_status",
    "count_remaining",
    "finish_attempt",
    "get_lead",
    "list_leads",
    "mark_dnc",
    "recent_attempts",
    "release_leads",
    "set_lead_status",
    "status_back",
    "unclaim",
]

_LEADS = cast(Table, LeadRow.__table__)
# A lead handed back undialed goes back as what it was: ``callback`` if one
# is booked, ``new`` if never tried (not a retry of an attempt that never
# happened), else ``retry``. In SQL here, in Python in :func:`status_back`.
_STATUS_BACK = case(
    (_LEADS.c.callback_at.is_not(None), LeadStatus.CALLBACK.value),
    (_LEADS.c.attempts == 0, LeadStatus.NEW.value),
    else_=LeadStatus.RETRY.value,
)
_CALLS = cast(Table, CallRow.__table__)
# How far back a claimed lead's number history goes: the longest rule that
# reads it (uk: 72 hours after an abandoned call), with a day to spare for
# "per local day" in any zone.
RECENT_SPAN = timedelta(days=4)
_DIALABLE_VALUES = sorted(s.value for s in DIALABLE)


def status_back(lead: StoredLead) -> LeadStatus:
    """Where a lead handed back undialed goes: the rule of :data:`_STATUS_BACK`."""
    if lead.callback_at is not None:
        return LeadStatus.CALLBACK
    return LeadStatus.NEW if lead.attempts == 0 else LeadStatus.RETRY


def _to_record(row: Any) -> StoredLead:
    """From an ORM row or a Core result row with the same column names."""
    return StoredLead(
        id=row.id,
        campaign_id=row.campaign_id,
        phone=row.phone,
        timezone=row.timezone,
        data=dict(row.data or {}),
        status=LeadStatus(row.status),
        attempts=row.attempts,
        priority=row.priority,
        next_attempt_at=row.next_attempt_at,
        claimed_by=row.claimed_by,
        claimed_at=row.claimed_at,
        last_outcome=row.last_outcome,
        created_at=row.created_at,
        callback_at=row.callback_at,
        callback_agent_id=row.callback_agent_id,
    )


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _rejection(lead: NewLead) -> str | None:
    """Why ``lead`` cannot be loaded, or None if it can."""
    if not isinstance(lead.phone, str) or not E164.match(lead.phone):
        return "not an E.164 phone number"
    if lead.timezone is not None and lead.timezone not in _known_zones():
        return f"unknown time zone {lead.timezone!r}"
    if not isinstance(lead.data, dict):
        return "data must be an object"
    return priority_problem(lead.priority)


async def _max_attempts(session: AsyncSession, campaign_id: str) -> int:
    value = await session.scalar(
        select(CampaignRow.max_attempts).where(CampaignRow.id == campaign_id)
    )
    if value is None:
        raise NotFound("campaign", campaign_id)
    return int(value)


async def add_leads(
    session: AsyncSession, /, *, campaign_id: str, leads: Sequence[NewLead]
) -> AddResult:
    """Load ``leads`` into a campaign; invalid rows and duplicates are counted, not loaded.

    A duplicate is a phone number seen earlier in the batch or already loaded
    for the campaign. Rows go in by multi-row ``INSERT ... ON CONFLICT
    (campaign_id, phone) DO NOTHING`` (both backends; unlike SQLite's
    ``INSERT OR IGNORE`` it ignores that clash only), so a concurrent loader
    of the same number cannot fail the batch. Raises :class:`NotFound` for an
    unknown campaign. Do-not-call filtering is the caller's (see
    :func:`dialer.storage.dnc.blocked_among`).
    """
    await _max_attempts(session, campaign_id)
    rejected: list[RejectedLead] = []
    seen: set[str] = set()
    duplicates = 0
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for index, lead in enumerate(leads):
        reason = _rejection(lead)
        if reason is not None:
            rejected.append(RejectedLead(row=index, phone=str(lead.phone), reason=reason))
            continue
        if lead.phone in seen:
            duplicates += 1
            continue
        seen.add(lead.phone)
        rows.append(
            {
                "id": new_id(),
                "campaign_id": campaign_id,
                "phone": lead.phone,
                "timezone": lead.timezone,
                "data": lead.data,
                "status": LeadStatus.NEW.value,
                "attempts": 0,
                "next_attempt_at": None,
                "priority": lead.priority,
                "claimed_by": None,
                "claimed_at": None,
                "last_outcome": None,
                "created_at": now,
            }
        )
    inserted = 0
    for chunk in chunked(rows):
        stmt = (
            upsert_insert(session, _LEADS)
            .on_conflict_do_nothing(index_elements=["campaign_id", "phone"])
            .returning(_LEADS.c.id)
        )
        # Parameters apart: compiled once (see dialer.storage.dnc.add_numbers).
        inserted += len((await session.execute(stmt, list(chunk))).all())
    duplicates += len(rows) - inserted
    return AddResult(accepted=inserted, duplicates=duplicates, rejected=tuple(rejected))


async def get_lead(session: AsyncSession, /, *, lead_id: str) -> StoredLead:
    """Raises :class:`NotFound`."""
    row = await session.get(LeadRow, lead_id, populate_existing=True)
    if row is None:
        raise NotFound("lead", lead_id)
    return _to_record(row)


async def list_leads(
    session: AsyncSession,
    /,
    *,
    campaign_id: str,
    status: LeadStatus | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[StoredLead]:
    """A campaign's leads in load order. Raises :class:`NotFound`, :class:`InvalidInput`."""
    if not 1 <= limit <= 10_000:
        raise InvalidInput("limit must be between 1 and 10000", field="limit")
    if offset < 0:
        raise InvalidInput("offset must not be negative", field="offset")
    await _max_attempts(session, campaign_id)
    stmt = select(_LEADS).where(_LEADS.c.campaign_id == campaign_id)
    if status is not None:
        stmt = stmt.where(_LEADS.c.status == LeadStatus(status).value)
    stmt = stmt.order_by(_LEADS.c.created_at, _LEADS.c.id).limit(limit).offset(offset)
    return [_to_record(row) for row in await session.execute(stmt)]


async def count_by_status(session: AsyncSession, /, *, campaign_id: str) -> dict[LeadStatus, int]:
    """How many leads the campaign has in each status (every status present, 0 if none)."""
    counts = dict.fromkeys(LeadStatus, 0)
    stmt = (
        select(_LEADS.c.status, func.count())
        .where(_LEADS.c.campaign_id == campaign_id)
        .group_by(_LEADS.c.status)
    )
    for status, count in await session.execute(stmt):
        counts[LeadStatus(status)] = int(count)
    return counts


async def count_remaining(session: AsyncSession, /, *, campaign_id: str) -> int:
    """Leads that may still be dialed: claimed, or dialable with attempts left (due or not)."""
    max_attempts = await _max_attempts(session, campaign_id)
    stmt = select(func.count()).where(
        _LEADS.c.campaign_id == campaign_id,
        or_(
            _LEADS.c.status == LeadStatus.IN_PROGRESS.value,
            _LEADS.c.status.in_(_DIALABLE_VALUES) & (_LEADS.c.attempts < max_attempts),
        ),
    )
    return int(await session.scalar(stmt) or 0)


async def claim_leads(
    session: AsyncSession, /, *, campaign_id: str, owner: str, limit: int, now: datetime
) -> list[Lead]:
    """Claim up to ``limit`` due leads for process ``owner``; best first.

    Due: status ``new``, ``retry`` or ``callback``, ``next_attempt_at`` null or
    at most ``now``, fewer attempts than the campaign's ``max_attempts``.
    Order: priority (high first), then the longest overdue (``retry`` and
    ``callback`` leads, whose time has come, before never-tried ones), then id.

    On PostgreSQL the candidates are locked with ``FOR UPDATE SKIP LOCKED``:
    concurrent claimers skip each other's rows instead of waiting or taking
    them twice, and a row another claimer has just moved on is rechecked
    against the WHERE clause before it is locked. On SQLite the transaction
    holds the database's write lock from its start (``BEGIN IMMEDIATE``),
    so select-then-update is atomic. Commit promptly: the locks last until then.
    """
    if limit <= 0:
        return []
    now = as_utc(now, "now")
    max_attempts = await _max_attempts(session, campaign_id)
    candidates = (
        select(_LEADS.c.id)
        .where(
            _LEADS.c.campaign_id == campaign_id,
            _LEADS.c.status.in_(_DIALABLE_VALUES),
            or_(_LEADS.c.next_attempt_at.is_(None), _LEADS.c.next_attempt_at <= now),
            _LEADS.c.attempts < max_attempts,
        )
        .order_by(
            _LEADS.c.priority.desc(),
            _LEADS.c.next_attempt_at.asc().nulls_last(),
            _LEADS.c.id,
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await session.scalars(candidates)).all())
    if not ids:
        return []
    claimed = await session.execute(
        update(_LEADS)
        .where(_LEADS.c.id.in_(ids))
        .values(status=LeadStatus.IN_PROGRESS.value, claimed_by=owner, claimed_at=now)
        .returning(*_LEADS.c)
    )
    by_id = {row.id: _to_record(row) for row in claimed}
    history = await recent_attempts(
        session, phones=[lead.phone for lead in by_id.values()], since=now - RECENT_SPAN
    )
    return [
        by_id[lead_id].to_lead(history.get(by_id[lead_id].phone, ()))
        for lead_id in ids
        if lead_id in by_id
    ]


async def claim_number(
    session: AsyncSession, /, *, campaign_id: str, phone: str, owner: str, now: datetime
) -> Lead:
    """Claim the campaign's lead for ``phone`` for a manual dial, creating it if need be.

    A lead in any state but ``in_progress`` and ``dnc`` may be claimed so:
    the compliance gate, not its status, decides whether it may be dialed
    (an exhausted lead meets its attempt limit there). Raises
    :class:`ConflictError` (being dialed now), :class:`InvalidInput` (a
    ``dnc`` lead or a number that is not E.164), :class:`NotFound`.
    """
    if not E164.match(phone):
        raise InvalidInput(f"{phone!r} is not an E.164 number", field="phone")
    now = as_utc(now, "now")
    await _max_attempts(session, campaign_id)
    await add_leads(session, campaign_id=campaign_id, leads=[NewLead(phone=phone)])
    row = (
        await session.execute(
            select(LeadRow)
            .where(LeadRow.campaign_id == campaign_id, LeadRow.phone == phone)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    if row.status == LeadStatus.IN_PROGRESS.value:
        raise ConflictError(f"{phone} is being dialed already")
    if row.status == LeadStatus.DNC.value:
        raise InvalidInput(f"{phone} is on a do-not-call list", field="phone")
    row.status = LeadStatus.IN_PROGRESS.value
    row.claimed_by = owner
    row.claimed_at = now
    await session.flush()
    history = await recent_attempts(session, phones=[phone], since=now - RECENT_SPAN)
    return _to_record(row).to_lead(history.get(phone, ()))


async def recent_attempts(
    session: AsyncSession, /, *, phones: Sequence[str], since: datetime
) -> dict[str, tuple[PastAttempt, ...]]:
    """Each number's attempts dialed at or after ``since``, in every campaign, oldest first.

    From the call records, so a restart or another process sees the same
    history: the repeat-call and per-day rules read it.
    """
    since = as_utc(since, "since")
    out: dict[str, list[PastAttempt]] = {}
    for chunk in chunked(list(dict.fromkeys(phones))):
        stmt = (
            select(
                _CALLS.c.phone,
                _CALLS.c.campaign_id,
                _CALLS.c.dialed_at,
                _CALLS.c.abandoned,
                _CALLS.c.amd,
            )
            .where(_CALLS.c.phone.in_(chunk), _CALLS.c.dialed_at >= since)
            .order_by(_CALLS.c.dialed_at, _CALLS.c.id)
        )
        for phone, campaign_id, dialed_at, abandoned, amd in await session.execute(stmt):
            out.setdefault(phone, []).append(
                PastAttempt(
                    at=dialed_at.timestamp(),
                    campaign_id=campaign_id,
                    abandoned=bool(abandoned),
                    amd_machine=amd == "machine",
                )
            )
    return {phone: tuple(attempts) for phone, attempts in out.items()}


async def release_leads(
    session: AsyncSession, /, *, owner: str, campaign_id: str | None = None
) -> int:
    """Hand a (dead) process's claimed leads back (see _release_claimed); how many it held.

    For start-up and lease takeover. ``next_attempt_at`` and attempts are
    kept. A lead whose call was already placed has a call record: check the
    call log before dialing such a lead again.
    """
    where = [_LEADS.c.claimed_by == owner]
    if campaign_id is not None:
        where.append(_LEADS.c.campaign_id == campaign_id)
    return await _release_claimed(session, *where)


async def _locked_row(session: AsyncSession, lead_id: str) -> LeadRow:
    row = (
        await session.execute(
            select(LeadRow)
            .where(LeadRow.id == lead_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("lead", lead_id)
    return row


async def release_orphans(session: AsyncSession, /, *, live: Collection[str]) -> int:
    """Hand back as ``retry`` the leads claimed by no process in ``live``; how many."""
    return await _release_claimed(
        session, or_(_LEADS.c.claimed_by.is_(None), _LEADS.c.claimed_by.not_in(list(live)))
    )


async def awaiting_disposition(
    session: AsyncSession, /, *, live: Collection[str] = (), owner: str | None = None
) -> list[str]:
    """Leads whose claimer's call reached an agent and ended undisposed; their ids.

    The claimer: a process not in ``live`` (a dead one), or ``owner`` (a
    process stopping).

    The attempt of a bridged call is finished by its disposition, so a
    process that died while the agent wrapped up left the lead claimed with
    the attempt not yet counted: handed back as a plain ``retry`` it would be
    dialed again at once, the attempt lost, the person called straight back.
    """
    stmt = (
        select(_LEADS.c.id)
        .join(_CALLS, _CALLS.c.lead_id == _LEADS.c.id)
        .where(
            _LEADS.c.status == LeadStatus.IN_PROGRESS.value,
            _LEADS.c.claimed_by == owner
            if owner is not None
            else or_(_LEADS.c.claimed_by.is_(None), _LEADS.c.claimed_by.not_in(list(live))),
            _CALLS.c.placed_by == _LEADS.c.claimed_by,
            _CALLS.c.ended_at.is_not(None),
            _CALLS.c.bridged_at.is_not(None),
            _CALLS.c.disposition.is_(None),
        )
        .distinct()
    )
    return [row[0] for row in await session.execute(stmt)]


async def unclaim(session: AsyncSession, /, *, lead_ids: Collection[str], owner: str) -> int:
    """Hand back leads ``owner`` claimed and never dialed, as they were; how many.

    For a campaign stopped with leads in its hopper: they were listed as
    ``in_progress`` (with no call) until the campaign ran again. A lead
    never tried is ``new`` again, a booked callback ``callback``, else
    ``retry``; attempts and due times are kept.
    """
    freed = 0
    for chunk in chunked(list(lead_ids)):
        freed += await _release_claimed(
            session, _LEADS.c.id.in_(list(chunk)), _LEADS.c.claimed_by == owner
        )
    return freed


async def _release_claimed(session: AsyncSession, *where: Any) -> int:
    """Claimed leads matching ``where`` back, unclaimed, as what they were
    (:data:`_STATUS_BACK`); how many."""
    stmt = (
        update(_LEADS)
        .where(_LEADS.c.status == LeadStatus.IN_PROGRESS.value, *where)
        .values(status=_STATUS_BACK, claimed_by=None, claimed_at=None)
        .returning(_LEADS.c.id)
    )
    return len((await session.execute(stmt)).all())


async def finish_attempt(
    session: AsyncSession,
    /,
    *,
    lead_id: str,
    outcome: str | None,
    next_status: LeadStatus,
    next_attempt_at: datetime | None = None,
    callback_agent_id: str | None = None,
    claimed_by: str | None = None,
) -> StoredLead:
    """Record one more attempt on a lead and where it goes next; the claim ends.

    ``claimed_by``: only if that process still holds the lead's claim (else
    nothing changes: a process taken for dead had its attempt counted by the
    one that took its calls back, and the lead may be another's claim now).

    ``outcome`` is kept as ``last_outcome`` (a :class:`CallOutcome` value or a
    disposition). A ``retry`` with no attempts left becomes ``exhausted``. A
    ``callback`` books ``next_attempt_at`` as the callback's time, for
    ``callback_agent_id`` (None: anyone); any other status ends a booking.
    Raises :class:`NotFound`, :class:`InvalidInput` (``in_progress`` or a
    naive datetime).
    """
    next_status = LeadStatus(next_status)
    if next_status is LeadStatus.IN_PROGRESS:
        raise InvalidInput("an attempt cannot end in_progress", field="next_status")
    when = optional_utc(next_attempt_at, "next_attempt_at")
    row = await _locked_row(session, lead_id)
    if claimed_by is not None and row.claimed_by != claimed_by:
        return _to_record(row)
    max_attempts = await _max_attempts(session, row.campaign_id)
    row.attempts += 1
    if next_status is LeadStatus.RETRY and row.attempts >= max_attempts:
        next_status = LeadStatus.EXHAUSTED
    row.status = next_status.value
    row.next_attempt_at = when
    booked = next_status is LeadStatus.CALLBACK
    row.callback_at = when if booked else None
    row.callback_agent_id = callback_agent_id if booked else None
    row.last_outcome = None if outcome is None else str(outcome)
    row.claimed_by = None
    row.claimed_at = None
    await session.flush()
    return _to_record(row)


async def set_lead_status(
    session: AsyncSession,
    /,
    *,
    lead_id: str,
    status: LeadStatus,
    next_attempt_at: datetime | None = None,
) -> StoredLead:
    """Move a lead without counting an attempt; any claim ends.

    For a claimed lead the core skipped (``SkipLead``: back to ``retry`` or
    ``new`` with its ``retry_at``), a callback the agent scheduled
    (``callback`` at ``callback_at``), or a ``dnc`` disposition. Raises
    :class:`NotFound`, :class:`InvalidInput` (``in_progress``: claim instead).
    """
    status = LeadStatus(status)
    if status is LeadStatus.IN_PROGRESS:
        raise InvalidInput("leads are put in progress by claim_leads", field="status")
    when = optional_utc(next_attempt_at, "next_attempt_at")
    row = await _locked_row(session, lead_id)
    row.status = status.value
    row.next_attempt_at = when
    row.claimed_by = None
    row.claimed_at = None
    await session.flush()
    return _to_record(row)


async def listed_leads(session: AsyncSession, /, *, phone: str) -> list[tuple[str, str]]:
    """``(lead id, campaign id)`` of a number's leads marked ``dnc`` by a list.

    Not those a person asked on a call not to be called again (their last
    outcome is the ``dnc`` disposition): that request ended the lead, and it
    stays with it whatever happens to the list.
    """
    stmt = select(_LEADS.c.id, _LEADS.c.campaign_id).where(
        _LEADS.c.phone == phone,
        _LEADS.c.status == LeadStatus.DNC.value,
        or_(_LEADS.c.last_outcome.is_(None), _LEADS.c.last_outcome != "dnc"),
    )
    return [(lead_id, cid) for lead_id, cid in await session.execute(stmt)]


async def lift_dnc(session: AsyncSession, /, *, lead_id: str, now: datetime) -> LeadStatus:
    """A ``dnc`` lead whose number may be called again: where it goes.

    Never tried: ``new``. A booked callback: ``callback`` at its time. Tried
    and attempts left: ``retry``, due now. None left: ``exhausted``. A lead
    in another status is left as it is.
    """
    now = as_utc(now, "now")
    row = await _locked_row(session, lead_id)
    if row.status != LeadStatus.DNC.value:
        return LeadStatus(row.status)
    max_attempts = await _max_attempts(session, row.campaign_id)
    if row.attempts >= max_attempts:
        status, when = LeadStatus.EXHAUSTED, None
    elif row.callback_at is not None:
        status, when = LeadStatus.CALLBACK, row.callback_at
    elif row.attempts == 0:
        status, when = LeadStatus.NEW, None
    else:
        status, when = LeadStatus.RETRY, now
    row.status = status.value
    row.next_attempt_at = when
    await session.flush()
    return status


async def mark_dnc(
    session: AsyncSession, /, *, phones: Sequence[str], campaign_id: str | None = None
) -> int:
    """Mark the not yet claimed leads of ``phones`` ``dnc`` (every campaign, or one); how many.

    Claimed leads are left to their process, whose gate checks the list.
    """
    marked = 0
    for chunk in chunked(list(dict.fromkeys(phones))):
        stmt = (
            update(_LEADS)
            .where(_LEADS.c.phone.in_(chunk), _LEADS.c.status.in_(_DIALABLE_VALUES))
            .values(status=LeadStatus.DNC.value)
        )
        if campaign_id is not None:
            stmt = stmt.where(_LEADS.c.campaign_id == campaign_id)
        marked += len((await session.execute(stmt.returning(_LEADS.c.id))).all())
    return marked
