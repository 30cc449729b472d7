"""Campaigns: their settings, one column per :class:`CampaignSettings` field."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.campaign import CampaignSettings, DialMode, RunState
from dialer.errors import ConflictError, InvalidInput, NotFound
from dialer.storage._sql import new_id
from dialer.storage._time import utcnow
from dialer.storage.models import CallRow, CampaignRow
from dialer.storage.records import StoredCampaign

__all__ = [
    "create_campaign",
    "delete_campaign",
    "get_campaign",
    "list_campaigns",
    "set_state",
    "update_campaign",
    "versions",
]

_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(CampaignSettings))
_UPDATABLE: frozenset[str] = frozenset(_FIELDS) - {"id"}
_JSON_FIELDS: frozenset[str] = frozenset({"retry_delays_s", "pacer_options"})


def _to_record(row: CampaignRow) -> StoredCampaign:
    values: dict[str, Any] = {name: _copy(getattr(row, name)) for name in _FIELDS}
    values["mode"] = DialMode(values["mode"])
    values["state"] = RunState(values["state"])
    return StoredCampaign(
        settings=CampaignSettings(**values),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _column_values(settings: CampaignSettings) -> dict[str, Any]:
    values: dict[str, Any] = {name: _copy(getattr(settings, name)) for name in _FIELDS}
    values["mode"] = DialMode(settings.mode).value
    values["state"] = RunState(settings.state).value
    return values


def _copy(value: Any) -> Any:
    # JSON columns (retry_delays_s, pacer_options): never share a dict with a
    # caller or the ORM's identity map.
    return dict(value) if isinstance(value, Mapping) else value


def _check_name(name: str) -> None:
    if not name or not name.strip():
        raise InvalidInput("a campaign needs a name", field="name")
    if len(name) > 200:
        raise InvalidInput("a campaign name has at most 200 characters", field="name")


async def _row(session: AsyncSession, campaign_id: str, *, for_update: bool = False) -> CampaignRow:
    stmt = select(CampaignRow).where(CampaignRow.id == campaign_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound("campaign", campaign_id)
    return row


async def _name_taken(session: AsyncSession, name: str, *, other_than: str | None) -> bool:
    cond = CampaignRow.name == name
    if other_than is not None:
        cond = cond & (CampaignRow.id != other_than)
    return bool(await session.scalar(select(exists().where(cond))))


async def _write_unique(session: AsyncSession, row: CampaignRow, values: Mapping[str, Any]) -> None:
    """Write ``values`` into ``row`` (new or loaded) inside a savepoint.

    The name's uniqueness is checked first, but a concurrent writer can still
    win the race: the savepoint turns that into :class:`ConflictError` and
    leaves the caller's transaction usable (PostgreSQL aborts a transaction
    on any error outside one).
    """
    row_id = row.id  # the rollback expires the row: no lazy load in the handler
    try:
        async with session.begin_nested():
            for key, value in values.items():
                setattr(row, key, value)
            session.add(row)
    except IntegrityError as exc:
        raise ConflictError(
            f"a campaign named {values.get('name')!r} (or with id {row_id!r}) already exists"
        ) from exc


async def create_campaign(
    session: AsyncSession, /, *, settings: CampaignSettings
) -> StoredCampaign:
    """Store a new campaign; an empty ``settings.id`` gets a fresh uuid4.

    Raises :class:`ConflictError` if the name (or id) is taken.
    """
    if not settings.id:
        settings = dataclasses.replace(settings, id=new_id())
    _check_name(settings.name)
    if await _name_taken(session, settings.name, other_than=None):
        raise ConflictError(f"a campaign named {settings.name!r} already exists")
    now = utcnow()
    row = CampaignRow(id=settings.id)
    await _write_unique(
        session, row, {**_column_values(settings), "created_at": now, "updated_at": now}
    )
    return _to_record(row)


async def get_campaign(
    session: AsyncSession, /, *, campaign_id: str, for_update: bool = False
) -> StoredCampaign:
    """Raises :class:`NotFound`. ``for_update``: the row stays locked to the
    end of the transaction (a read-modify-write that must not lose a change)."""
    return _to_record(await _row(session, campaign_id, for_update=for_update))


async def list_campaigns(session: AsyncSession, /) -> list[StoredCampaign]:
    """Every campaign, oldest first."""
    rows = await session.scalars(
        select(CampaignRow).order_by(CampaignRow.created_at, CampaignRow.id)
    )
    return [_to_record(row) for row in rows]


async def versions(session: AsyncSession, /) -> dict[str, datetime]:
    """Every campaign's id and when its settings last changed."""
    rows = await session.execute(select(CampaignRow.id, CampaignRow.updated_at))
    return {cid: updated for cid, updated in rows}


def _coerce(name: str, value: Any) -> Any:
    try:
        if name == "mode":
            return DialMode(value)
        if name == "state":
            return RunState(value)
    except ValueError as exc:
        raise InvalidInput(
            f"{name}: {value!r} is not one of the allowed values", field=name
        ) from exc
    if name in _JSON_FIELDS:
        if not isinstance(value, Mapping):
            raise InvalidInput(f"{name} must be an object", field=name)
        return dict(value)
    return value


async def update_campaign(
    session: AsyncSession, /, *, campaign_id: str, changes: Mapping[str, Any]
) -> StoredCampaign:
    """Change some settings (keys: :class:`CampaignSettings` field names but ``id``).

    The result is validated as a whole (e.g. ``ring_timeout_s`` at least 15).
    Raises :class:`NotFound`, :class:`InvalidInput` (unknown field or bad
    value, ``field`` names it), :class:`ConflictError` (name taken).
    """
    for key in changes:
        if key not in _UPDATABLE:
            raise InvalidInput(f"unknown or read-only campaign field {key!r}", field=key)
    row = await _row(session, campaign_id, for_update=True)
    current = _to_record(row).settings
    coerced = {key: _coerce(key, value) for key, value in changes.items()}
    try:
        updated = dataclasses.replace(current, **coerced)
    except ValueError as exc:
        raise InvalidInput(str(exc), field=_field_in(str(exc), coerced)) from exc
    if "name" in coerced:
        _check_name(updated.name)
        if await _name_taken(session, updated.name, other_than=campaign_id):
            raise ConflictError(f"a campaign named {updated.name!r} already exists")
    await _write_unique(session, row, {**_column_values(updated), "updated_at": utcnow()})
    return _to_record(row)


def _field_in(message: str, changes: Mapping[str, Any]) -> str | None:
    """The changed field a validation message names, if it names one."""
    for key in changes:
        if message.startswith(key):
            return key
    return None


async def set_state(
    session: AsyncSession, /, *, campaign_id: str, state: RunState
) -> StoredCampaign:
    """Set the run state (``stopped``, ``running``, ``paused``). Raises :class:`NotFound`."""
    return await update_campaign(session, campaign_id=campaign_id, changes={"state": state})


async def delete_campaign(session: AsyncSession, /, *, campaign_id: str) -> None:
    """Delete a campaign with its leads, agent links and campaign do-not-call entries.

    Raises :class:`NotFound`, and :class:`ConflictError` if it is not
    stopped (running or paused, a process may be dialing it) or has call
    records: those are kept (compliance), and a stopped campaign dials no more.
    """
    row = await _row(session, campaign_id, for_update=True)
    if row.state != RunState.STOPPED.value:
        raise ConflictError(f"campaign {campaign_id!r} is {row.state}: stop it first")
    if await session.scalar(select(exists().where(CallRow.campaign_id == campaign_id))):
        raise ConflictError(
            f"campaign {campaign_id!r} has call records, which are kept for compliance,"
            " so it cannot be deleted; stopped, it dials no more"
        )
    await session.delete(row)
    await session.flush()
