"""The app factory: one Settings, one DialerService, every router, one error mapping.

Nothing is built at import: ``create_app`` makes the Settings (unless given),
the service (unless given, e.g. by a test) and the app, and the lifespan
starts and stops the service with the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, FastAPI

from api import agent_socket
from api.deps import ApiKeyDep, StorableUrlDep
from api.errors import install_error_handlers
from api.log_redaction import redact_server_logs
from api.openapi import document_error_responses, register_body_models
from api.routers import agents, calls, campaigns, dnc, leads, operations, registry
from api.schemas.dnc import DncCreate
from api.schemas.leads import LeadBatch, LeadIn
from dialer.runtime.service import DialerService
from dialer.runtime.settings import Settings

__all__ = ["API_PREFIX", "create_app", "lifespan"]

API_PREFIX = "/api/v1"


def _version() -> str:
    try:
        return version("dialer")
    except PackageNotFoundError:  # running from a tree that was never installed
        return "0+unknown"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    service: DialerService = app.state.service
    redact_server_logs()  # here: uvicorn has configured its loggers by now
    await service.start()
    try:
        yield
    finally:
        await service.stop()


def create_app(
    settings: Settings | None = None, *, service: DialerService | None = None
) -> FastAPI:
    """The HTTP/WebSocket app. Pass ``service`` to run it over one made elsewhere."""
    if service is None:
        service = DialerService(settings if settings is not None else Settings())
    app = FastAPI(
        title="dialer",
        version=_version(),
        description="An asynchronous predictive dialer: campaigns, leads, do-not-call, "
        "agents and call records over REST; agents' softphones over WebSocket.",
        lifespan=lifespan,
    )
    app.state.service = service
    install_error_handlers(app)

    # Every REST route under the prefix needs the API key; the agent socket
    # authenticates with the agent's own token instead, so it is mounted apart.
    v1 = APIRouter(prefix=API_PREFIX, dependencies=[ApiKeyDep, StorableUrlDep])
    # registry before dnc: /dnc/registry is not a phone number for /dnc/{phone}.
    for module in (campaigns, leads, registry, dnc, agents, calls):
        v1.include_router(module.router)
    app.include_router(v1)
    app.include_router(agent_socket.router, prefix=API_PREFIX)
    app.include_router(operations.router)
    register_body_models(app, [LeadBatch, LeadIn, DncCreate])
    document_error_responses(app, API_PREFIX)
    return app
