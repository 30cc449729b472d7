"""``/dnc/registry``: national do-not-call registry files, loaded whole, and their history.

The file is the raw request body (``text/plain`` or ``text/csv``), streamed
into the parser as it arrives: a 600 MB registry is never held as text.
Mounted before ``/dnc/{phone}``, which would otherwise take ``registry`` for
a phone number.
"""

from __future__ import annotations

import time
from datetime import date
from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from api.bodies import stream_body
from api.deps import ServiceDep
from api.schemas.registry import RegistryCopyRead, RegistryLoadRead
from dialer.compliance.registry import Registry

__all__ = ["router"]

router = APIRouter(prefix="/dnc/registry", tags=["do-not-call"])

# text/plain and text/csv are what the registries' downloads are; the others
# are what tools send for a file when told nothing.
_FILE_TYPES = frozenset({"text/plain", "text/csv", "application/csv", "application/octet-stream"})

_FILE_DESCRIPTION = (
    "The registry file: one number per line, 10-digit NANP numbers as the US and "
    "Canadian registries publish them (country code 1 is added; not for `uk`) or "
    "E.164 (`+` and up to 15 digits). Blank lines, surrounding spaces, CRLF and one "
    "header line are skipped; any other line that is not a number is rejected with "
    "its line number and the rest loads."
)


def _file_body() -> dict[str, object]:
    schema = {"type": "string", "description": _FILE_DESCRIPTION}
    example = "2015550123\n2015550124\n+14155550100\n"
    return {
        "requestBody": {
            "required": True,
            "content": {
                "text/plain": {"schema": schema, "example": example},
                "text/csv": {"schema": schema, "example": example},
            },
        }
    }


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@router.post(
    "",
    status_code=HTTPStatus.CREATED,
    response_model=RegistryLoadRead,
    openapi_extra=_file_body(),
    responses={
        HTTPStatus.CONFLICT: {"description": "another registry file is loading"},
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE: {"description": "over the size limit"},
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE: {"description": "not text/plain or text/csv"},
    },
)
async def load_registry(
    request: Request,
    service: ServiceDep,
    registry: Annotated[
        Registry,
        Query(description="which registry the file is a copy of: us, uk or ca"),
    ],
    published_on: Annotated[
        date | None,
        Query(description="YYYY-MM-DD the copy was published or downloaded; default today (UTC)"),
    ] = None,
    name: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="a name or source for the load history"),
    ] = None,
    allow_shrink: Annotated[
        bool,
        Query(
            description="load a file with under half the numbers of the copy in force"
            " (refused otherwise, as a download cut short)"
        ),
    ] = False,
    allow_older: Annotated[
        bool,
        Query(
            description="load a copy published before the one in force (refused otherwise:"
            " it lacks the numbers registered since)"
        ),
    ] = False,
) -> RegistryLoadRead:
    """Load a registry file; it replaces that registry's copy once stored.

    Until the new copy is stored the old one keeps blocking. A file with no
    numbers at all, (without ``allow_shrink``) with under half the numbers of
    the copy in force, or (without ``allow_older``) published before it, is
    refused (422) and the old copy stays.
    """
    media = _media_type(request)
    if media not in _FILE_TYPES:
        raise HTTPException(
            status_code=HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            detail=f"send the file as text/plain or text/csv, not {media or 'no Content-Type'}",
        )
    body = stream_body(request, service.settings.max_registry_bytes)
    result = await service.load_registry(
        registry.value,
        body,
        name=name,
        published_on=published_on,
        allow_shrink=allow_shrink,
        allow_older=allow_older,
    )
    return RegistryLoadRead.of(result)


@router.get("", response_model=list[RegistryCopyRead])
async def list_registry_loads(
    service: ServiceDep,
    registry: Annotated[Registry | None, Query(description="only this registry's loads")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RegistryCopyRead]:
    """Registry loads, newest first, with their dates, counts and age in days."""
    loads = await service.list_registry_loads(
        None if registry is None else registry.value, limit=limit
    )
    now = time.time()
    return [RegistryCopyRead.of(load, now) for load in loads]
