"""Small helpers the repositories share: dialect-specific INSERT, batching, ids."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.errors import InvalidInput

__all__ = [
    "E164",
    "check_phone",
    "chunked",
    "dialect_name",
    "new_id",
    "upsert_insert",
    "upsert_insert_for",
]

T = TypeVar("T")

# E.164: a plus, a country code that does not start with 0, at most 15 digits.
E164 = re.compile(r"^\+[1-9]\d{1,14}$")

# Rows per multi-row statement: well under both backends' bound-parameter
# limits (32,766 SQLite, 32,767 asyncpg) for tables of up to ~30 columns.
BATCH_ROWS = 1000


def new_id() -> str:
    return str(uuid.uuid4())


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def upsert_insert(session: AsyncSession, table: Table) -> Any:
    """``INSERT`` with ``on_conflict_do_nothing`` / ``on_conflict_do_update`` for the backend.

    Typed ``Any``: the two dialects' ``Insert`` classes share those methods
    but no base class that declares them.
    """
    return upsert_insert_for(dialect_name(session), table)


def upsert_insert_for(dialect: str, table: Table) -> Any:
    """:func:`upsert_insert` by the dialect's name, for statements built once."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


def chunked(items: Sequence[T], size: int = BATCH_ROWS) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def check_phone(phone: str, field: str = "phone") -> str:
    if not isinstance(phone, str) or not E164.match(phone):
        raise InvalidInput(f"{phone!r} is not an E.164 number", field=field)
    return phone
