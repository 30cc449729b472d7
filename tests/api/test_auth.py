"""Every REST route under /api/v1 needs the API key; probes and docs do not."""

from __future__ import annotations

import re
from typing import cast

import httpx
import pytest
from fake_service import FakeService
from fastapi import FastAPI

from api.app import create_app
from dialer.runtime.service import DialerService


def _v1_routes() -> list[tuple[str, str]]:
    # From the app's own OpenAPI document, so a route added later is covered
    # without a test change (and an undocumented route would fail elsewhere).
    schema = create_app(service=cast(DialerService, FakeService())).openapi()
    routes: list[tuple[str, str]] = []
    for path, operations in schema["paths"].items():
        if path.startswith("/api/v1"):
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            routes.extend((method.upper(), concrete) for method in sorted(operations))
    return routes


V1_ROUTES = _v1_routes()


def test_the_route_list_is_complete() -> None:
    assert len(V1_ROUTES) >= 17
    assert ("POST", "/api/v1/campaigns/x/leads") in V1_ROUTES
    assert ("DELETE", "/api/v1/dnc/x") in V1_ROUTES


@pytest.mark.parametrize(("method", "path"), V1_ROUTES)
async def test_missing_key_is_401(anon: httpx.AsyncClient, method: str, path: str) -> None:
    response = await anon.request(method, path, json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "API key" in response.json()["detail"]


@pytest.mark.parametrize(("method", "path"), V1_ROUTES)
async def test_wrong_key_is_401(anon: httpx.AsyncClient, method: str, path: str) -> None:
    response = await anon.request(
        method, path, json={}, headers={"Authorization": "Bearer not-the-key"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "invalid API key"}


@pytest.mark.parametrize("header", ["Basic dGVzdDp0ZXN0", "Bearer", "test-api-key", ""])
async def test_malformed_authorization_is_401(anon: httpx.AsyncClient, header: str) -> None:
    response = await anon.get("/api/v1/campaigns", headers={"Authorization": header})
    assert response.status_code == 401


async def test_auth_is_checked_before_the_body(anon: httpx.AsyncClient) -> None:
    response = await anon.post("/api/v1/campaigns", json={"name": 5})
    assert response.status_code == 401


async def test_the_right_key_passes(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/campaigns")
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/openapi.json", "/docs"])
async def test_probes_and_docs_need_no_key(anon: httpx.AsyncClient, path: str) -> None:
    response = await anon.get(path)
    assert response.status_code == 200


async def test_openapi_declares_the_bearer_scheme(anon: httpx.AsyncClient, app: FastAPI) -> None:
    schema = (await anon.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert schema["paths"]["/api/v1/campaigns"]["get"]["security"] == [{"ApiKey": []}]
    assert "security" not in schema["paths"]["/healthz"]["get"]
