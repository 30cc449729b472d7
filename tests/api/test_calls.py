"""Call records: newest first, paged by cursor, and every field the spec names."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fake_service import FakeService

URL = "/api/v1/calls"
CALL_FIELDS = {
    "id", "campaign_id", "lead_id", "phone", "agent_id", "outcome", "abandoned",
    "dialed_at", "answered_at", "bridged_at", "ended_at", "disposition", "notes", "callback_at",
    "callback_agent_id", "decision", "amd",
}  # fmt: skip


async def test_empty_list(client: httpx.AsyncClient) -> None:
    response = await client.get(URL)
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


async def test_unknown_call_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{URL}/nope")).status_code == 404


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 1001}, {"since": "yesterday"}, {"limit": "ten"}]
)
async def test_bad_parameters_are_422(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    assert (await client.get(URL, params=params)).status_code == 422


@pytest.mark.parametrize(
    "since",
    # They parse, but their UTC instants fall outside the years a datetime holds.
    ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"],
)
async def test_a_since_with_no_utc_instant_is_422_on_calls_and_skips(
    client: httpx.AsyncClient, campaign: dict[str, Any], since: str
) -> None:
    for url in (URL, f"/api/v1/campaigns/{campaign['id']}/skips"):
        response = await client.get(url, params={"since": since})
        assert response.status_code == 422, (url, response.text)
        assert response.json()["detail"][0]["loc"] == ["query", "since"]


async def test_since_accepts_iso_8601(client: httpx.AsyncClient) -> None:
    for since in ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00+02:00", "2026-01-01T00:00:00"):
        response = await client.get(URL, params={"since": since})
        assert response.status_code == 200, response.text


async def test_pages_newest_first(fake: FakeService, fake_client: httpx.AsyncClient) -> None:
    fake.add_calls("c1", 5)
    fake.add_calls("c2", 1)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"campaign_id": "c1", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await fake_client.get(URL, params=params)).json()
        assert len(page["items"]) <= 2
        seen.extend(item["id"] for item in page["items"])
        for item in page["items"]:
            assert set(item) == CALL_FIELDS
            assert item["campaign_id"] == "c1"
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["call-0005", "call-0004", "call-0003", "call-0002", "call-0001"]


async def test_read_one(fake: FakeService, fake_client: httpx.AsyncClient) -> None:
    fake.add_calls("c1", 1)
    call = (await fake_client.get(f"{URL}/call-0001")).json()
    assert set(call) == CALL_FIELDS
    assert call["outcome"] == "no_answer"
    assert call["abandoned"] is False
    assert call["dialed_at"].startswith("2026-01-01T00:00:00")


async def test_a_bad_cursor_is_422(fake_client: httpx.AsyncClient) -> None:
    response = await fake_client.get(URL, params={"cursor": "garbage"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


async def test_a_bad_cursor_is_4xx_on_the_real_service(client: httpx.AsyncClient) -> None:
    response = await client.get(URL, params={"cursor": "garbage"})
    assert 400 <= response.status_code < 500
