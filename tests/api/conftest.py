"""Fixtures for the API suite: the app over a real DialerService on SQLite, or over the fake.

httpx's ASGITransport does not run the app's lifespan, so the fixtures enter
it themselves (``app.router.lifespan_context``): the service is started and
stopped exactly as under uvicorn.

Every response any client here receives is recorded, and each test ends by
checking that none was a 500: bad input must always be a 4xx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import httpx
import pytest
from api_testing import API_KEY, AUTH, BASE_URL, Seen, real_settings
from fake_service import FakeService
from fastapi import FastAPI

from api.app import create_app
from dialer.runtime.service import DialerService


@pytest.fixture
def seen() -> Iterator[Seen]:
    responses: Seen = []
    yield responses
    server_errors = [r for r in responses if r[2] == 500 or (r[2] >= 500 and r[1] != "/healthz")]
    assert not server_errors, f"server errors: {server_errors}"


def _client(app: FastAPI, seen: Seen, headers: dict[str, str]) -> httpx.AsyncClient:
    async def record(response: httpx.Response) -> None:
        seen.append((response.request.method, response.request.url.path, response.status_code))

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=BASE_URL,
        headers=headers,
        event_hooks={"response": [record]},
    )


@pytest.fixture
def service(sqlite_url: str) -> DialerService:
    return DialerService(real_settings(sqlite_url))


@pytest.fixture
async def app(service: DialerService) -> AsyncIterator[FastAPI]:
    application = create_app(service=service)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI, seen: Seen) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app, seen, AUTH) as c:
        yield c


@pytest.fixture
async def anon(app: FastAPI, seen: Seen) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends no API key."""
    async with _client(app, seen, {}) as c:
        yield c


@pytest.fixture
def fake() -> FakeService:
    return FakeService(api_key=API_KEY)


@pytest.fixture
async def fake_app(fake: FakeService) -> AsyncIterator[FastAPI]:
    application = create_app(service=cast(DialerService, fake))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def fake_client(fake_app: FastAPI, seen: Seen) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(fake_app, seen, AUTH) as c:
        yield c


CAMPAIGN = {
    "name": "spring renewals",
    "mode": "progressive",
    "safe_harbor_message": "This was ACME; call us back on 555-0100.",
    # Reminders to customers: no national registry copy is needed to dial.
    "scrub_national_registry": False,
}


@pytest.fixture
async def campaign(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/api/v1/campaigns", json=CAMPAIGN)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
