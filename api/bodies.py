"""Reading request bodies the routers take raw: JSON or CSV, within the size limit.

The lead and do-not-call loads accept two content types, so they cannot use
FastAPI's body parameter; they read the body here instead. The limit is
enforced while streaming, so a client that sends no Content-Length (chunked)
cannot make us buffer more than the limit either.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from api.errors import PayloadTooLarge, json_unreadable

__all__ = [
    "CSV_MEDIA_TYPE",
    "MAX_BODY_BYTES",
    "decode_json",
    "is_csv",
    "is_json",
    "parse_json_model",
    "read_body",
    "stream_body",
]

MAX_BODY_BYTES = 20 * 1024 * 1024
CSV_MEDIA_TYPE = "text/csv"
_TOO_LARGE = f"the request body is over the limit of {MAX_BODY_BYTES // (1024 * 1024)} MB"

ModelT = TypeVar("ModelT", bound=BaseModel)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def is_csv(request: Request) -> bool:
    # application/csv and text/plain are common in the wild for the same thing;
    # tab-separated files are read as CSV whose header is split by tabs.
    return _media_type(request) in {
        CSV_MEDIA_TYPE,
        "application/csv",
        "text/plain",
        "text/tab-separated-values",
    }


def is_json(request: Request) -> bool:
    # No content type at all: scripts often omit it, and the body is then
    # nearly always JSON; anything else named explicitly gets a 415.
    media = _media_type(request)
    return media in {"", "application/json"} or media.endswith("+json")


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, or PayloadTooLarge as soon as it is known to be over ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(_TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(_TOO_LARGE)
        chunks.append(chunk)
    return b"".join(chunks)


async def stream_body(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body as it arrives, for consumers that never hold it whole (registry files).

    PayloadTooLarge as soon as it is known to be over ``limit``: before the
    first byte if Content-Length says so, else when the count passes it.
    """
    too_large = f"the request body is over the limit of {limit / (1024 * 1024):g} MB"
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(too_large)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(too_large)
        if chunk:
            yield chunk


def decode_json(body: bytes) -> Any:
    """The JSON value of ``body``; a 422 that says where it is malformed otherwise."""
    if not body.strip():
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "a JSON body is required"}]
        )
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        error = json_unreadable(exc)
        if error is None:
            raise
        raise RequestValidationError([error]) from None


def parse_json_model(value: Any, model: type[ModelT]) -> ModelT:
    """``value`` as ``model``; errors located under ``body`` as FastAPI's own are."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from None
