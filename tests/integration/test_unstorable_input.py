"""Input no database can keep as given is refused alike on SQLite and PostgreSQL.

PostgreSQL's text refuses the NUL character and JSON has no NaN or infinity;
SQLite takes both. Found by schemathesis against a PostgreSQL-backed service,
where each of these was a 500 (and a lead batch with one such row was lost
whole). Each must be a 4xx naming the field, the same on both databases, and
a bad row must cost only itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from dialer.runtime.service import DialerService
from dialer.runtime.settings import Settings

KEY = "unstorable-key"


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=db_url, api_key=KEY, stats_interval_s=0.2)
    app = create_app(settings, service=DialerService(settings))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://dialer.test/api/v1",
            headers={"Authorization": f"Bearer {KEY}"},
        ) as client,
    ):
        yield client


async def _campaign(api: httpx.AsyncClient) -> str:
    response = await api.post("/campaigns", json={"name": "storable", "mode": "preview"})
    assert response.status_code == 201, response.text
    campaign_id: str = response.json()["id"]
    return campaign_id


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/campaigns", {"name": "a\x00b"}),
        ("POST", "/campaigns", {"name": "x", "pacer_options": {"adaptive_intensity": "\x00"}}),
        ("POST", "/agents", {"name": "a\x00b", "campaign_ids": []}),
        ("POST", "/agents", {"name": "ab", "campaign_ids": ["c\x00"]}),
        ("POST", "/dnc", {"numbers": ["+14155550100"], "campaign_id": "c\x00"}),
        ("GET", "/campaigns/a%00b", None),
        ("GET", "/calls?campaign_id=a%00b", None),
        ("GET", "/dnc/%2B1415%005550100", None),
        ("GET", "/agents/a%00b", None),
    ],
)
async def test_nul_characters_are_a_422_naming_the_field(
    api: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    response = await api.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert "NUL" in response.text


async def test_a_campaign_setting_with_nul_or_nan_changes_nothing(api: httpx.AsyncClient) -> None:
    campaign_id = await _campaign(api)
    # Raw bytes: httpx refuses to encode NaN, and this is what a careless client sends.
    changes = (
        ("safe_harbor_message", b'{"safe_harbor_message": "x\\u0000y"}'),
        ("pacer_options", b'{"pacer_options": {"a": NaN}}'),
    )
    for field, raw in changes:
        response = await api.patch(
            f"/campaigns/{campaign_id}", content=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"][-1] == field
    stored = (await api.get(f"/campaigns/{campaign_id}")).json()
    assert stored["safe_harbor_message"] == ""
    assert stored["pacer_options"] == {}


async def test_lead_rows_with_nul_or_nan_are_rejected_alone(api: httpx.AsyncClient) -> None:
    campaign_id = await _campaign(api)
    url = f"/campaigns/{campaign_id}/leads"
    raw = (
        b'{"leads": ['
        b'{"phone": "+14155550100", "data": {"note": "a\\u0000b"}},'
        b'{"phone": "+14155550101", "data": {"score": NaN}},'
        b'{"phone": "+14155550102", "data": {"score": 1e999}},'
        b'{"phone": "+14155550103", "data": {"k\\u0000": 1}},'
        b'{"phone": "+14155550104", "data": {"score": 1.5, "tags": ["a", "b"]}}'
        b"]}"
    )
    response = await api.post(url, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1
    assert [r["row"] for r in body["rejected"]] == [1, 2, 3, 4]
    assert all(r["reason"].startswith("data:") for r in body["rejected"])
    # The same words as the CSV row's below, with no "Value error," from pydantic.
    assert body["rejected"][0]["reason"] == "data: the NUL character (\\u0000) is not allowed"

    csv = "phone,note\n+14155550105,a\x00b\n+14155550106,fine\n"
    response = await api.post(url, content=csv.encode(), headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1
    assert [(r["row"], r["phone"]) for r in body["rejected"]] == [(2, "+14155550105")]
    assert body["rejected"][0]["reason"] == "data: the NUL character (\\u0000) is not allowed"

    listed = {lead["phone"]: lead["data"] for lead in (await api.get(url)).json()}
    assert listed == {
        "+14155550104": {"score": 1.5, "tags": ["a", "b"]},
        "+14155550106": {"note": "fine"},
    }


async def test_a_dnc_entry_with_nul_is_rejected_by_position(api: httpx.AsyncClient) -> None:
    response = await api.post("/dnc", json={"numbers": ["+1415555\x000100", "+14155550101"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["added"] == 1
    assert [r["row"] for r in body["rejected"]] == [1]
    assert (await api.get("/dnc/+14155550101")).json()["listed"] is True
