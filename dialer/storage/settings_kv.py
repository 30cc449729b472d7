"""Service-wide settings as text key/value pairs (e.g. the generated API key's hash)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.errors import InvalidInput
from dialer.storage._sql import upsert_insert
from dialer.storage.models import SettingRow

__all__ = ["delete_setting", "get_setting", "set_setting"]

_KV = cast(Table, SettingRow.__table__)


async def get_setting(session: AsyncSession, /, *, key: str) -> str | None:
    """The value stored under ``key``; None if none is."""
    return await session.scalar(select(_KV.c.value).where(_KV.c.key == key))


async def set_setting(session: AsyncSession, /, *, key: str, value: str) -> None:
    """Store ``value`` under ``key``, replacing any value there."""
    if not key or len(key) > 128:
        raise InvalidInput("a setting key has 1 to 128 characters", field="key")
    stmt = upsert_insert(session, _KV).values(key=key, value=value)
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value})
    await session.execute(stmt)


async def delete_setting(session: AsyncSession, /, *, key: str) -> bool:
    """Remove ``key``; whether it was there."""
    result = await session.execute(delete(_KV).where(_KV.c.key == key).returning(_KV.c.key))
    return bool(result.all())
