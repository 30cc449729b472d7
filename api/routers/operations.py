"""``/healthz`` and ``/metrics``: for probes and Prometheus, so no API key."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from api.deps import ServiceDep
from api.schemas.operations import HealthRead

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    response_model=HealthRead,
    responses={HTTPStatus.SERVICE_UNAVAILABLE: {"model": HealthRead}},
)
async def healthz(service: ServiceDep) -> JSONResponse:
    """200 when the database and the telephony answer; 503 saying which does not."""
    try:
        health = dict(await service.health())
    except Exception as exc:  # a probe must get an answer, not a 500
        log.warning("health check failed: %s", exc)
        health = {"database": "unknown", "telephony": "unknown", "ok": False, "error": str(exc)}
    ok = bool(health.pop("ok", False)) and all(
        health.get(part) == "ok" for part in ("database", "telephony")
    )
    body = {"status": "ok" if ok else "unavailable", **health}
    return JSONResponse(body, status_code=HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"}},
)
async def metrics(service: ServiceDep) -> Response:
    body, content_type = service.metrics_text()
    return Response(content=body, media_type=content_type)
