"""UTC instants at the storage boundary: aware in, aware out, never naive."""

from __future__ import annotations

from datetime import UTC, datetime

from dialer.errors import InvalidInput

__all__ = ["as_utc", "optional_utc", "utcnow"]


def utcnow() -> datetime:
    """The one place storage reads the wall clock (row timestamps only)."""
    return datetime.now(UTC)


def as_utc(value: datetime, field: str) -> datetime:
    """``value`` in UTC; a naive datetime is refused, since its zone is a guess."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{field} must be timezone-aware", field=field)
    return value.astimezone(UTC)


def optional_utc(value: datetime | None, field: str) -> datetime | None:
    return None if value is None else as_utc(value, field)
