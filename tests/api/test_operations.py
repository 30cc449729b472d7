"""/healthz, /metrics, /openapi.json, and the app's lifespan."""

from __future__ import annotations

import re
from typing import Any, cast

import httpx
import pytest
from fake_service import FakeService
from fastapi import FastAPI

from api.app import create_app
from dialer.runtime.service import DialerService


async def test_healthz_ok(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["telephony"] == "ok"


async def test_healthz_503_says_what_failed(
    fake: FakeService, fake_client: httpx.AsyncClient
) -> None:
    fake.healthy = False
    response = await fake_client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "ok",
        "telephony": "unavailable",
    }


async def test_healthz_503_when_the_check_itself_fails(
    fake: FakeService, fake_client: httpx.AsyncClient
) -> None:
    fake.fail_next = OSError("database is locked")
    response = await fake_client.get("/healthz")
    assert response.status_code == 503
    assert "database is locked" in response.json()["error"]


async def test_metrics_is_prometheus_text(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")


async def test_metrics_after_a_campaign_names_the_spec_series(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    await client.post("/api/v1/campaigns", json={"name": "m", "mode": "progressive"})
    text = (await anon.get("/metrics")).text
    assert "dialer_" in text


async def test_openapi_documents_every_endpoint(anon: httpx.AsyncClient) -> None:
    schema = (await anon.get("/openapi.json")).json()
    assert schema["info"]["title"] == "dialer"
    paths = schema["paths"]
    expected = {
        "/api/v1/campaigns": {"get", "post"},
        "/api/v1/campaigns/{campaign_id}": {"get", "patch"},
        "/api/v1/campaigns/{campaign_id}/start": {"post"},
        "/api/v1/campaigns/{campaign_id}/pause": {"post"},
        "/api/v1/campaigns/{campaign_id}/stop": {"post"},
        "/api/v1/campaigns/{campaign_id}/leads": {"get", "post"},
        "/api/v1/campaigns/{campaign_id}/stats": {"get"},
        "/api/v1/dnc": {"post"},
        "/api/v1/dnc/{phone}": {"get", "delete"},
        "/api/v1/agents": {"get", "post"},
        "/api/v1/agents/{agent_id}": {"get"},
        "/api/v1/calls": {"get"},
        "/api/v1/calls/{call_id}": {"get"},
        "/healthz": {"get"},
        "/metrics": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    for path in ("/api/v1/campaigns/{campaign_id}/leads", "/api/v1/dnc"):
        content = paths[path]["post"]["requestBody"]["content"]
        assert set(content) == {"application/json", "text/csv"}
        ref = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert ref in schema["components"]["schemas"]
    assert "LeadIn" in schema["components"]["schemas"]


async def test_lifespan_starts_and_stops_the_service() -> None:
    fake = FakeService()
    app: FastAPI = create_app(service=cast(DialerService, fake))
    assert app.state.service is fake
    assert not fake.started
    async with app.router.lifespan_context(app):
        assert fake.started and not fake.stopped
    assert fake.stopped


async def test_documented_errors_are_the_ones_answered(
    anon: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    """Every route under /api/v1 answers 401 without the key and documents it;
    every route with an id in its path answers 404 for an unknown one and documents it."""
    schema = (await anon.get("/openapi.json")).json()
    checked = 0
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        url = re.sub(r"\{[^}]+\}", "no-such-id", path)
        for method, operation in operations.items():
            documented = set(operation["responses"])
            body: dict[str, Any] | None = {} if "requestBody" in operation else None
            response = await anon.request(method.upper(), url, json=body)
            assert response.status_code == 401, (method, path, response.text)
            assert "401" in documented, (method, path)
            if "_id}" in path:
                response = await client.request(method.upper(), url, json=body)
                assert response.status_code == 404, (method, path, response.text)
                assert "404" in documented, (method, path)
                checked += 1
    assert checked >= 11  # the campaign, agent and call routes with an id


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/agents",  # a route that binds a model (FastAPI itself would say 400)
        "/api/v1/dnc",  # a route that reads its body itself
    ],
)
async def test_a_body_that_is_not_utf8_is_the_same_422_on_every_route(
    client: httpx.AsyncClient, url: str
) -> None:
    response = await client.post(
        url, content=b'{"name": "c+\xff\xfe"}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["type"] == "json_invalid" and error["loc"][0] == "body"
    assert "not valid JSON" in error["msg"]


_UNREADABLE = [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    # Python refuses to convert integers of over 4,300 digits (ValueError).
    ('{"name": "x", "numbers": [' + "9" * 5000 + "]}", "more than 4,300 digits"),
]


@pytest.mark.parametrize(("body", "says"), _UNREADABLE)
@pytest.mark.parametrize("url", ["/api/v1/agents", "/api/v1/campaigns", "/api/v1/dnc"])
async def test_a_body_the_parser_cannot_hold_is_the_same_422_on_every_route(
    client: httpx.AsyncClient, url: str, body: str, says: str
) -> None:
    response = await client.post(url, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["type"] == "json_invalid" and error["loc"][0] == "body"
    assert says in error["msg"]


async def test_other_http_errors_keep_their_status(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/nowhere")).status_code == 404
    assert (await client.put("/api/v1/campaigns")).status_code == 405


async def test_a_taken_name_and_an_unlisted_number_are_documented_answers(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()["paths"]
    body = {"name": "twice", "mode": "preview"}
    assert (await client.post("/api/v1/campaigns", json=body)).status_code == 201
    assert (await client.post("/api/v1/campaigns", json=body)).status_code == 409
    assert "409" in schema["/api/v1/campaigns"]["post"]["responses"]
    assert "409" in schema["/api/v1/campaigns/{campaign_id}"]["patch"]["responses"]
    assert (await client.delete("/api/v1/dnc/+14155550100")).status_code == 404
    assert "404" in schema["/api/v1/dnc/{phone}"]["delete"]["responses"]
