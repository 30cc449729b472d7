"""The base every request and response model shares."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from dialer.storage.records import unstorable

__all__ = ["ReadModel", "RequestModel"]


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
            raise ValueError(problem)
        return value


class ReadModel(BaseModel):
    """A response body, built from the service's dataclasses by attribute."""

    model_config = ConfigDict(from_attributes=True)
