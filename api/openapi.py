"""OpenAPI for what FastAPI cannot see: the raw JSON-or-CSV loads, and errors many routes share.

Those endpoints read the request themselves, so their request bodies are
declared with ``openapi_extra``; the JSON models they name are added to the
document's components here. The API key's 401 and an unknown id's 404 are
added to every route they apply to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from api.bodies import CSV_MEDIA_TYPE

__all__ = ["document_error_responses", "json_or_csv_body", "register_body_models"]

_REF = "#/components/schemas/{model}"


def json_or_csv_body(
    model: type[BaseModel], *, csv_description: str, csv_example: str
) -> dict[str, Any]:
    """``openapi_extra`` for an endpoint taking ``model`` as JSON or a CSV text body."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}},
                CSV_MEDIA_TYPE: {
                    "schema": {"type": "string", "description": csv_description},
                    "example": csv_example,
                },
            },
        }
    }


def _amend_openapi(app: FastAPI, amend: Callable[[dict[str, Any]], None]) -> None:
    """Make ``app.openapi()`` pass the document through ``amend`` once, when first built."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        amend(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def register_body_models(app: FastAPI, models: Sequence[type[BaseModel]]) -> None:
    """Make ``app.openapi()`` include ``models`` (and the models they use) as components."""

    def amend(schema: dict[str, Any]) -> None:
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            model_schema = model.model_json_schema(ref_template=_REF)
            for name, definition in model_schema.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components.setdefault(model.__name__, model_schema)

    _amend_openapi(app, amend)


_UNAUTHORIZED = {"description": "no API key, or not this service's (`Authorization: Bearer <key>`)"}
_NOT_FOUND = {"description": "no such campaign, agent or call"}


def document_error_responses(app: FastAPI, authenticated_prefix: str) -> None:
    """Add the errors every route can answer to the document, so clients can plan for them.

    FastAPI lists only a route's own responses; the API key (every route
    under ``authenticated_prefix``) and unknown ids in the path apply to many
    routes at once. (A body that is not JSON is a 422, which FastAPI lists.)
    """

    def amend(schema: dict[str, Any]) -> None:
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if path.startswith(authenticated_prefix):
                    responses.setdefault("401", _UNAUTHORIZED)
                if "_id}" in path:  # not /dnc/{phone}: an unlisted number is an answer
                    responses.setdefault("404", _NOT_FOUND)

    _amend_openapi(app, amend)
