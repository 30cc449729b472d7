"""FastAPI dependencies as ``Annotated`` aliases: ``service: ServiceDep`` in a signature."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from dialer.errors import InvalidInput
from dialer.runtime.service import DialerService
from dialer.storage.records import unstorable

__all__ = [
    "ApiKeyDep",
    "ServiceDep",
    "StorableUrlDep",
    "get_service",
    "require_api_key",
    "require_storable_url",
]


def get_service(conn: HTTPConnection) -> DialerService:
    """The app's one service (set by ``create_app``); works for HTTP and WebSocket."""
    service: DialerService = conn.app.state.service
    return service


ServiceDep = Annotated[DialerService, Depends(get_service)]

# auto_error=False: we answer a missing header ourselves, with 401 (not 403)
# and the WWW-Authenticate header RFC 6750 asks for.
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="The service's API key (DIALER_API_KEY), as `Authorization: Bearer <key>`.",
)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=HTTPStatus.UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_api_key(
    service: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    if credentials is None:
        raise _unauthorized("missing API key: send `Authorization: Bearer <key>`")
    if not service.authenticate_api_key(credentials.credentials):
        raise _unauthorized("invalid API key")


ApiKeyDep = Depends(require_api_key)


def require_storable_url(conn: HTTPConnection) -> None:
    """Refuse a path or query value with a NUL character (``%00``), naming it.

    Ids and filters go to the database as text, which PostgreSQL refuses with
    a NUL in it: a 422 here, the same on both databases, rather than a driver
    error.
    """
    for where, params in (("path", conn.path_params), ("query", conn.query_params)):
        for name, value in params.items():
            if (problem := unstorable(value)) is not None:
                raise InvalidInput(f"{where} parameter {name!r}: {problem}", field=name)


StorableUrlDep = Depends(require_storable_url)
