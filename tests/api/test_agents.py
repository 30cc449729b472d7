"""Agents: create (with a token), list and read with their current state."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

URL = "/api/v1/agents"


async def test_create_list_read(client: httpx.AsyncClient, campaign: dict[str, Any]) -> None:
    response = await client.post(URL, json={"name": "Ada", "campaign_ids": [campaign["id"]]})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == "Ada"
    assert created["campaign_ids"] == [campaign["id"]]
    assert created["token"]
    assert created["id"]
    assert created["state"] == "logged_out"
    assert created["connected"] is False

    listed = (await client.get(URL)).json()
    assert [a["id"] for a in listed] == [created["id"]]
    assert "token" not in listed[0]  # shown once, at creation
    read = (await client.get(f"{URL}/{created['id']}")).json()
    assert read == {k: v for k, v in created.items() if k != "token"}


async def test_tokens_differ(client: httpx.AsyncClient) -> None:
    a = (await client.post(URL, json={"name": "a", "campaign_ids": []})).json()
    b = (await client.post(URL, json={"name": "b", "campaign_ids": []})).json()
    assert a["token"] != b["token"]


async def test_unknown_agent_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{URL}/nobody")
    assert response.status_code == 404


async def test_unknown_campaign_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json={"name": "Ada", "campaign_ids": ["nope"]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "campaign_ids"]
    assert (await client.get(URL)).json() == []


@pytest.mark.parametrize(
    "payload",
    [{}, {"name": ""}, {"name": "x", "campaign_ids": "c1"}, {"name": "x", "token": "mine"}],
)
async def test_bad_bodies_are_422(client: httpx.AsyncClient, payload: dict[str, Any]) -> None:
    assert (await client.post(URL, json=payload)).status_code == 422
