"""The do-not-call list: add (JSON and CSV), look up, remove."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

URL = "/api/v1/dnc"


async def test_add_lookup_delete(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json={"numbers": ["+14155550100", "(415) 555-0101", "nope"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["added"] == 2
    assert [(r["row"], r["phone"]) for r in body["rejected"]] == [(3, "nope")]

    found = (await client.get(f"{URL}/+14155550101")).json()
    assert found == {
        "phone": "+14155550101",
        "listed": True,
        "scopes": ["internal"],
        "registries": [],
    }

    assert (await client.delete(f"{URL}/+14155550101")).status_code == 204
    gone = (await client.get(f"{URL}/+14155550101")).json()
    assert gone == {"phone": "+14155550101", "listed": False, "scopes": [], "registries": []}


async def test_lookup_normalises_the_number(client: httpx.AsyncClient) -> None:
    await client.post(URL, json={"numbers": ["+14155550100"]})
    found = (await client.get(f"{URL}/4155550100")).json()
    assert found["phone"] == "+14155550100"
    assert found["listed"] is True


async def test_campaign_scope(client: httpx.AsyncClient, campaign: dict[str, Any]) -> None:
    response = await client.post(
        URL, json={"numbers": ["+14155550100"], "campaign_id": campaign["id"]}
    )
    assert response.json()["added"] == 1
    found = (await client.get(f"{URL}/+14155550100")).json()
    assert found["scopes"] == [f"campaign:{campaign['id']}"]


async def test_csv_with_and_without_header(client: httpx.AsyncClient) -> None:
    headers = {"Content-Type": "text/csv"}
    with_header = "phone\n+14155550100\nbad\n+14155550101\n"
    body = (await client.post(URL, content=with_header, headers=headers)).json()
    assert body["added"] == 2
    assert [(r["row"], r["phone"]) for r in body["rejected"]] == [(3, "bad")]
    bare = "+14155550102\n\n+14155550103\n"
    assert (await client.post(URL, content=bare, headers=headers)).json()["added"] == 2
    assert (await client.get(f"{URL}/+14155550103")).json()["listed"] is True


async def test_csv_with_a_semicolon_header_in_cp1252(client: httpx.AsyncClient) -> None:
    text = "name;phone\nJosé;+14155550100\nZoë;nope\n"
    response = await client.post(
        URL, content=text.encode("cp1252"), headers={"Content-Type": "text/csv; charset=cp1252"}
    )
    body = response.json()
    assert body["added"] == 1, body
    assert [(r["row"], r["phone"]) for r in body["rejected"]] == [(3, "nope")]
    assert (await client.get(f"{URL}/+14155550100")).json()["listed"] is True


async def test_json_nested_past_the_parsers_stack_is_422(client: httpx.AsyncClient) -> None:
    body = '{"numbers": [' + "[" * 100_000 + "]" * 100_000 + "]}"
    response = await client.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert "nested too deeply" in response.json()["detail"][0]["msg"]


async def test_csv_naming_phone_twice_is_422_and_adds_nothing(client: httpx.AsyncClient) -> None:
    text = "phone,note,phone\n+14155550100,x,+14155550101\n"
    response = await client.post(URL, content=text, headers={"Content-Type": "text/csv"})
    assert response.status_code == 422, response.text
    assert "'phone' twice" in response.json()["detail"][0]["msg"]
    assert (await client.get(f"{URL}/+14155550100")).json()["listed"] is False
    # Other columns are not read, so naming one of them twice is no ambiguity.
    text = "phone,note,note\n+14155550100,x,y\n"
    response = await client.post(URL, content=text, headers={"Content-Type": "text/csv"})
    assert response.json()["added"] == 1, response.text


async def test_csv_for_one_campaign(client: httpx.AsyncClient, campaign: dict[str, Any]) -> None:
    response = await client.post(
        URL,
        content="+14155550100\n",
        headers={"Content-Type": "text/csv"},
        params={"campaign_id": campaign["id"]},
    )
    assert response.json()["added"] == 1
    found = (await client.get(f"{URL}/+14155550100")).json()
    assert found["scopes"] == [f"campaign:{campaign['id']}"]


async def test_unknown_campaign_is_422_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json={"numbers": ["+14155550100"], "campaign_id": "nope"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "campaign_id"]
    assert (await client.get(f"{URL}/+14155550100")).json()["listed"] is False


@pytest.mark.parametrize(
    "payload", [{}, {"numbers": "+14155550100"}, {"numbers": [], "x": 1}, [], {"numbers": None}]
)
async def test_bad_bodies_are_422(client: httpx.AsyncClient, payload: Any) -> None:
    response = await client.post(URL, json=payload)
    assert response.status_code == 422


async def test_a_bad_entry_is_rejected_by_position_and_the_others_are_listed(
    client: httpx.AsyncClient,
) -> None:
    numbers: list[Any] = [None, 4155550123, "+14155550124", True, {"n": 1}, 1]
    response = await client.post(URL, json={"numbers": numbers})
    assert response.status_code == 200, response.text
    body = response.json()
    # A JSON integer is read as the digits it is; everything else not a string is refused.
    assert body["added"] == 2
    assert [r["row"] for r in body["rejected"]] == [1, 4, 5, 6]
    assert [r["reason"] for r in body["rejected"]][:3] == ["number must be a string"] * 3
    for listed in ("+14155550123", "+14155550124"):
        assert (await client.get(f"{URL}/{listed}")).json()["listed"] is True


async def test_unparseable_number_in_the_path_is_422(client: httpx.AsyncClient) -> None:
    for method in ("GET", "DELETE"):
        response = await client.request(method, f"{URL}/not-a-number")
        assert response.status_code == 422, (method, response.text)
        assert response.json()["detail"][0]["loc"] == ["path", "phone"]


async def test_too_many_numbers_is_413(client: httpx.AsyncClient) -> None:
    numbers = [f"+1415{i:07d}" for i in range(100_001)]
    response = await client.post(URL, json={"numbers": numbers})
    assert response.status_code == 413
