"""The base every request and response model shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["ReadModel", "RequestModel"]


class RequestModel(BaseModel):
    """A request body: unknown fields are an error, not silently dropped.

    A typo such as ``ring_timeout`` for ``ring_timeout_s`` would otherwise be
    ignored and the campaign would run on the default the caller meant to change.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReadModel(BaseModel):
    """A response body, built from the service's dataclasses by attribute."""

    model_config = ConfigDict(from_attributes=True)
