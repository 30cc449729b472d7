"""Every error the API answers, mapped to HTTP in this one place.

Dialer errors carry their meaning in their class (NotFound, ConflictError,
InvalidInput, IllegalTransition); this module turns each into a status and a
``{"detail": ...}`` body. 422 bodies always have the same shape as FastAPI's
own validation errors, ``{"detail": [{"loc", "msg", "type"}]}``, so a client
handles one 422 shape whether pydantic or the service caught the problem.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas.base import error_text
from dialer.errors import ConflictError, DialerError, IllegalTransition, InvalidInput, NotFound

__all__ = ["PayloadTooLarge", "install_error_handlers", "json_unreadable", "status_for"]

log = logging.getLogger(__name__)


class PayloadTooLarge(Exception):
    """A request body or batch over the API's limits; nothing was written."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# Most specific first: the first class the error is an instance of wins.
_STATUS_BY_ERROR: tuple[tuple[type[DialerError], HTTPStatus], ...] = (
    (NotFound, HTTPStatus.NOT_FOUND),
    (ConflictError, HTTPStatus.CONFLICT),
    (IllegalTransition, HTTPStatus.CONFLICT),
    (InvalidInput, HTTPStatus.UNPROCESSABLE_ENTITY),
)


def status_for(exc: DialerError) -> HTTPStatus:
    for cls, code in _STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return code
    return HTTPStatus.BAD_REQUEST


def _clean_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors without ``input`` and ``ctx``.

    ``input`` can echo a whole 20 MB batch back, and ``ctx`` may hold
    exception objects that do not serialise.
    """
    cleaned: list[dict[str, Any]] = []
    for error in errors:
        loc = [p if isinstance(p, int | str) else str(p) for p in error.get("loc", ())]
        msg = error_text(error)
        kind = str(error.get("type", "value_error"))
        if kind == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            msg = f"the request body is not valid JSON: {reason}".rstrip(": ")
        cleaned.append({"loc": loc, "msg": msg, "type": kind})
    return cleaned


def invalid_input_detail(
    message: str, field: str | None, request: Request | None = None
) -> list[dict[str, Any]]:
    """A service's InvalidInput as FastAPI's 422 items, its ``loc`` placed as
    pydantic places one (``["body", field]``, ``["path", ...]``, ``["query", ...]``)."""
    return [{"loc": _where(field, request), "msg": message, "type": "invalid_input"}]


def _where(field: str | None, request: Request | None) -> list[str]:
    if not field:
        return []
    if field == "body" or request is None:
        return [field]
    if field in request.path_params:
        return ["path", field]
    if field in request.query_params:
        return ["query", field]
    if _has_body(request):
        return ["body", field]
    return [field]  # e.g. a campaign's own setting, met by a start with no body


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in request.headers


# What pydantic says when FastAPI left a body unparsed because its content type
# was not JSON (curl -d sends form encoding): the body is bytes, not an object.
_NOT_AN_OBJECT = frozenset({"model_attributes_type", "dict_type", "model_type"})


def _explain_content_type(request: Request, errors: list[dict[str, Any]]) -> None:
    content_type = request.headers.get("content-type", "")
    if "json" in content_type.lower():
        return
    for error in errors:
        if error["loc"] == ["body"] and error["type"] in _NOT_AN_OBJECT:
            error["msg"] = (
                "the body must be a JSON object sent with Content-Type: application/json"
                f" (got {content_type or 'no Content-Type'!r})"
            )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _clean_errors(exc.errors())
    _explain_content_type(request, errors)
    return JSONResponse(
        {"detail": errors},
        status_code=HTTPStatus.UNPROCESSABLE_ENTITY,
    )


async def _on_dialer_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DialerError)
    code = status_for(exc)
    detail: Any = str(exc)
    if isinstance(exc, InvalidInput):
        detail = invalid_input_detail(str(exc), exc.field, request)
    return JSONResponse({"detail": detail}, status_code=code)


async def _on_too_large(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PayloadTooLarge)
    return JSONResponse({"detail": exc.message}, status_code=HTTPStatus.REQUEST_ENTITY_TOO_LARGE)


def json_unreadable(exc: BaseException) -> dict[str, Any] | None:
    """The 422 error for a JSON text ``json.loads`` could not read, or None.

    Beyond malformed text (``JSONDecodeError``, with its position) and bytes
    that are not UTF-8, the parser also fails on thousands of nested brackets
    (``RecursionError``) and on integers of more than 4,300 digits (a plain
    ``ValueError``, Python's guard against quadratic conversion); those were
    500s. Every route and the agent socket describe all of them alike.
    """
    if isinstance(exc, RecursionError):
        where: tuple[Any, ...] = ("body",)
        reason = "lists or objects nested too deeply to read"
    elif isinstance(exc, json.JSONDecodeError):
        where, reason = ("body", exc.pos), str(exc)
    elif isinstance(exc, UnicodeDecodeError):
        where, reason = ("body", exc.start), str(exc)
    elif isinstance(exc, ValueError) and "digits" in str(exc):
        where, reason = ("body",), "a number with more than 4,300 digits"
    else:
        return None
    return {
        "type": "json_invalid",
        "loc": where,
        "msg": "JSON decode error",
        "ctx": {"error": reason},
    }


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    cause = exc.__cause__
    if exc.status_code == HTTPStatus.BAD_REQUEST and cause is not None:
        # FastAPI answers 400 for a JSON body it cannot read on the routes
        # that bind a model; the routes that read their body themselves say
        # 422 json_invalid for the same bytes. One answer for both.
        error = json_unreadable(cause)
        if error is not None:
            return await _on_validation_error(request, RequestValidationError([error]))
    return await http_exception_handler(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(DialerError, _on_dialer_error)
    app.add_exception_handler(PayloadTooLarge, _on_too_large)
