"""The base every request and response model shares."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from dialer.storage.records import unstorable

__all__ = ["NotBool", "ReadModel", "RequestModel", "UtcDatetime", "error_text", "in_utc"]


def error_text(error: Mapping[str, Any]) -> str:
    """A pydantic error's message, without the "Value error, " it puts before a
    validator's own ValueError (whose text says it all)."""
    msg = str(error.get("msg", "invalid"))
    return msg.removeprefix("Value error, ") if error.get("type") == "value_error" else msg


def in_utc(value: datetime) -> datetime:
    """The instant in UTC (no zone given: UTC), which must exist as a datetime.

    0001-01-01T00:00+05:00 and 9999-12-31T23:59-05:00 parse, but their UTC
    instants fall outside years 1 to 9999: a 422 here, not an overflow later.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "value_error", "the instant in UTC falls outside years 1 to 9999"
        ) from None


#: A datetime read as an instant in UTC; see :func:`in_utc`.
UtcDatetime = Annotated[datetime, AfterValidator(in_utc)]


def _refuse_bool(value: object) -> object:
    # Pydantic reads true as 1 and false as 0 for a number: "priority": true
    # was stored as 1, "max_attempts": true meant one attempt.
    if isinstance(value, bool):
        raise PydanticCustomError("value_error", "must be a number, not true or false")
    return value


#: Put in a number field's ``Annotated``: true and false are refused, not read as 1 and 0.
NotBool = BeforeValidator(_refuse_bool)


class RequestModel(BaseModel):
    """A request body: unknown fields are an error, not silently dropped.

    A typo such as ``ring_timeout`` for ``ring_timeout_s`` would otherwise be
    ignored and the campaign would run on the default the caller meant to change.
    Values no database can keep as given (see :func:`unstorable`) are refused
    here, naming the field, rather than failing inside the driver.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    #: Fields whose items are validated one by one elsewhere (a batch's rows,
    #: so that a bad row is that row's fault), left alone here.
    checked_alone: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name in cls.checked_alone:
            return value
        if (problem := unstorable(value)) is not None:
            # Not ValueError: pydantic would prefix the message with "Value error, ".
            raise PydanticCustomError("value_error", problem)
        return value


class ReadModel(BaseModel):
    """A response body, built from the service's dataclasses by attribute."""

    model_config = ConfigDict(from_attributes=True)
