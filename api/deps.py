"""FastAPI dependencies as ``Annotated`` aliases: ``service: ServiceDep`` in a signature."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from dialer.runtime.service import DialerService

__all__ = ["ApiKeyDep", "ServiceDep", "get_service", "require_api_key"]


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
