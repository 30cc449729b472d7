"""Each dialer error class maps to its HTTP status, in one place (api/errors.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fake_service import FakeService

from dialer.errors import (
    ComplianceViolation,
    ConflictError,
    DialerError,
    IllegalTransition,
    InvalidInput,
    NotFound,
)

CAMPAIGNS = "/api/v1/campaigns"


@pytest.fixture
async def fake_campaign(fake_client: httpx.AsyncClient) -> dict[str, Any]:
    response = await fake_client.post(CAMPAIGNS, json={"name": "f", "mode": "preview"})
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("campaign", "x"), 404),
        (ConflictError("the name is taken"), 409),
        (IllegalTransition("campaign", "stopped", "pause"), 409),
        (InvalidInput("dial_ratio is silly", field="dial_ratio"), 422),
        (ComplianceViolation("not at this hour"), 400),
        (DialerError("something else"), 400),
    ],
)
async def test_status_by_error_class(
    fake: FakeService,
    fake_client: httpx.AsyncClient,
    fake_campaign: dict[str, Any],
    error: DialerError,
    status: int,
) -> None:
    fake.fail_next = error
    response = await fake_client.post(f"{CAMPAIGNS}/{fake_campaign['id']}/pause")
    assert response.status_code == status
    detail = response.json()["detail"]
    if status == 422:
        assert detail == [
            {"loc": ["dial_ratio"], "msg": "dial_ratio is silly", "type": "invalid_input"}
        ]
    else:
        assert detail == str(error)


async def test_validation_errors_do_not_echo_the_input(fake_client: httpx.AsyncClient) -> None:
    response = await fake_client.post(CAMPAIGNS, json={"name": "x" * 500})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert set(error) == {"loc", "msg", "type"}


async def test_unknown_path_is_404_json(fake_client: httpx.AsyncClient) -> None:
    response = await fake_client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert "detail" in response.json()


async def test_wrong_method_is_405(fake_client: httpx.AsyncClient) -> None:
    assert (await fake_client.delete(CAMPAIGNS)).status_code == 405
