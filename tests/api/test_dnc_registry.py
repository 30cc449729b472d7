"""``/dnc/registry``: upload a national registry file, list the loads; the rest of /dnc sees it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from api_testing import real_settings

from dialer.runtime.service import DialerService

URL = "/api/v1/dnc/registry"
TEXT = {"Content-Type": "text/plain"}
LIMIT = 4096


@pytest.fixture
def service(sqlite_url: str) -> DialerService:
    # A small upload limit, so "too large" needs only a few kilobytes.
    return DialerService(real_settings(sqlite_url, max_registry_bytes=LIMIT))


async def upload(client: httpx.AsyncClient, content: bytes | str, **params: str) -> httpx.Response:
    return await client.post(
        URL, content=content, headers=TEXT, params={"registry": "us", **params}
    )


async def test_upload_answers_what_it_loaded_and_what_it_rejected(
    client: httpx.AsyncClient,
) -> None:
    text = "phone\n4155550100\n415-555-0101\n+14155550102\n\n4155550100\n0005550100\n"
    response = await upload(client, text, published_on="2026-11-03", name="FTC area codes 415")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["registry"] == "us"
    assert body["count"] == 2 and body["duplicates"] == 1
    assert body["rejected_count"] == 2
    assert [(r["row"], r["phone"]) for r in body["rejected"]] == [
        (3, "415-555-0101"),
        (7, "0005550100"),
    ]
    assert all(r["reason"] for r in body["rejected"])
    assert body["published_on"] == "2026-11-03"
    assert body["name"] == "FTC area codes 415"
    assert body["header"] == "phone" and body["lines"] == 7
    assert datetime.fromisoformat(body["loaded_at"]).tzinfo is not None
    assert len(body["sha256"]) == 64 and body["id"]


async def test_csv_crlf_and_a_default_date_of_today(client: httpx.AsyncClient) -> None:
    response = await client.post(
        URL,
        content=b"4155550100\r\n4155550101\r\n",
        headers={"Content-Type": "text/csv; charset=utf-8"},
        params={"registry": "ca"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["count"] == 2 and body["rejected"] == []
    assert body["published_on"] == datetime.now(UTC).date().isoformat()
    assert body["name"] == f"ca registry {body['published_on']}"


async def test_a_streamed_upload_without_a_length(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for line in (b"41555", b"50100\n+1415", b"5550101\n"):
            yield line

    response = await client.post(URL, content=chunks(), headers=TEXT, params={"registry": "us"})
    assert response.status_code == 201, response.text
    assert response.json()["count"] == 2


async def test_registry_numbers_are_dnc_for_lead_loads_and_lookups(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    assert (await upload(client, "4155550100\n+14155550101\n")).status_code == 201
    found = (await client.get("/api/v1/dnc/+14155550100")).json()
    assert found == {
        "phone": "+14155550100",
        "listed": True,
        "scopes": ["registry"],
        "registries": ["us"],
    }
    scrubbed = await client.post(
        "/api/v1/campaigns",
        json={
            "name": "sales",
            "mode": "progressive",
            "safe_harbor_message": "This was ACME; call us back on 555-0100.",
        },
    )
    leads = f"/api/v1/campaigns/{scrubbed.json()['id']}/leads"
    payload = {"leads": [{"phone": "(415) 555-0100"}, {"phone": "+14155550102"}]}
    body = (await client.post(leads, json=payload)).json()
    assert (body["accepted"], body["dnc"]) == (1, 1)
    csv = "phone\n+14155550101\n+14155550103\n"
    body = (await client.post(leads, content=csv, headers={"Content-Type": "text/csv"})).json()
    assert (body["accepted"], body["dnc"]) == (1, 1)
    # A campaign the registry does not cover (scrub_national_registry false:
    # reminders) keeps the number: before, the registry blocked it anyway.
    exempt = f"/api/v1/campaigns/{campaign['id']}/leads"
    body = (await client.post(exempt, json=payload)).json()
    assert (body["accepted"], body["dnc"]) == (2, 0)
    # The registry entry cannot be deleted as if it were on the internal list.
    assert (await client.delete("/api/v1/dnc/+14155550100")).status_code == 404
    assert (await client.get("/api/v1/dnc/+14155550100")).json()["listed"] is True


async def test_list_loads_with_dates_counts_and_age(client: httpx.AsyncClient) -> None:
    today = datetime.now(UTC).date()
    old = (today - timedelta(days=40)).isoformat()
    await upload(client, "4155550100\n", published_on=old)
    await upload(client, "4155550100\n4155550101\n", published_on=today.isoformat())
    await upload(client, "+442079460000\n", registry="uk", published_on="2026-01-05")
    response = await client.get(URL)
    assert response.status_code == 200, response.text
    loads = response.json()
    assert [(x["registry"], x["count"], x["current"]) for x in loads] == [
        ("uk", 1, True),
        ("us", 2, True),
        ("us", 1, False),
    ]
    assert loads[2]["replaced_at"] is not None and loads[1]["replaced_at"] is None
    assert 40 <= loads[2]["age_days"] < 41 and 0 <= loads[1]["age_days"] < 1
    assert loads[2]["published_on"] == old
    only_us = (await client.get(URL, params={"registry": "us", "limit": 1})).json()
    assert [x["count"] for x in only_us] == [2]


async def test_an_empty_list(client: httpx.AsyncClient) -> None:
    response = await client.get(URL)
    assert (response.status_code, response.json()) == (200, [])


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"registry": "xx"}, ["query", "registry"]),
        ({}, ["query", "registry"]),
        ({"registry": "us", "published_on": "2026-13-01"}, ["query", "published_on"]),
        ({"registry": "us", "published_on": "yesterday"}, ["query", "published_on"]),
        ({"registry": "us", "name": ""}, ["query", "name"]),
        ({"registry": "us", "name": "n" * 201}, ["query", "name"]),
    ],
)
async def test_bad_query_values_are_422_naming_the_field(
    client: httpx.AsyncClient, params: dict[str, str], loc: list[str]
) -> None:
    response = await client.post(URL, content="4155550100\n", headers=TEXT, params=params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc


async def test_a_copy_older_than_the_one_in_force_is_422_unless_allowed(
    client: httpx.AsyncClient,
) -> None:
    """An older copy lacks the numbers registered since: they would be dialed again."""
    assert (await upload(client, "4155550100\n4155550101\n", published_on="2026-11-20")).is_success
    refused = await upload(client, "4155550100\n", published_on="2026-10-01")
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["detail"]
    assert error["loc"] == ["query", "published_on"] and "2026-11-20" in error["msg"]
    # The copy in force stays: the newer number is still blocked.
    assert (await client.get("/api/v1/dnc/+14155550101")).json()["listed"] is True
    # The same date is not older (a corrected file of the same day).
    same = await upload(client, "4155550100\n4155550101\n4155550102\n", published_on="2026-11-20")
    assert same.status_code == 201, same.text
    forced = await upload(
        client, "4155550100\n", published_on="2026-10-01", allow_older="true", allow_shrink="true"
    )
    assert forced.status_code == 201, forced.text
    assert (await client.get("/api/v1/dnc/+14155550101")).json()["listed"] is False


async def test_a_date_in_the_future_is_422(client: httpx.AsyncClient) -> None:
    future = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
    response = await upload(client, "4155550100\n", published_on=future)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "published_on"]


@pytest.mark.parametrize(
    "params", [{"registry": "nope"}, {"limit": "0"}, {"limit": "1001"}, {"limit": "x"}]
)
async def test_bad_list_queries_are_422(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await client.get(URL, params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "query"


async def test_a_file_with_no_numbers_is_422_and_the_copy_stays(
    client: httpx.AsyncClient,
) -> None:
    assert (await upload(client, "4155550100\n")).status_code == 201
    for text in ("", "\n\n", "phone\n", "garbage\nmore garbage\n"):
        response = await upload(client, text)
        assert response.status_code == 422, text
        assert response.json()["detail"][0]["loc"] == ["body"]
    assert (await client.get("/api/v1/dnc/+14155550100")).json()["listed"] is True
    assert len((await client.get(URL)).json()) == 1


async def test_the_uk_registry_takes_tps_national_numbers_not_nanp_ones(
    client: httpx.AsyncClient,
) -> None:
    # The TPS publishes numbers with the trunk 0; a 10-digit NANP line is not one.
    response = await upload(client, "+442079460000\n02079460001\n2079460000\n", registry="uk")
    assert response.status_code == 201
    body = response.json()
    assert body["count"] == 2 and [r["row"] for r in body["rejected"]] == [3]
    assert "trunk 0" in body["rejected"][0]["reason"]
    assert (await client.get("/api/v1/dnc/+442079460001")).json()["listed"] is True
    assert (await client.get("/api/v1/dnc/+12079460000")).json()["listed"] is False


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
async def test_other_content_types_are_415(client: httpx.AsyncClient, content_type: str) -> None:
    response = await client.post(
        URL,
        content="4155550100\n",
        headers={"Content-Type": content_type},
        params={"registry": "us"},
    )
    assert response.status_code == 415
    assert "text/plain" in response.json()["detail"]


async def test_too_large_is_413_with_or_without_a_length(client: httpx.AsyncClient) -> None:
    big = b"4155550100\n" * (LIMIT // 11 + 1)
    response = await upload(client, big)
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(LIMIT // 11 + 1):
            yield b"4155550100\n"

    response = await client.post(URL, content=chunks(), headers=TEXT, params={"registry": "us"})
    assert response.status_code == 413
    assert (await client.get(URL)).json() == []


async def test_registry_is_not_a_phone_number_to_dnc(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/dnc/registry")).status_code == 200
    assert (await client.delete("/api/v1/dnc/registry")).status_code in (404, 405, 422)


async def test_the_key_is_needed(anon: httpx.AsyncClient) -> None:
    assert (await anon.get(URL)).status_code == 401
    response = await anon.post(URL, content="4155550100\n", headers=TEXT, params={"registry": "us"})
    assert response.status_code == 401


async def test_openapi_describes_the_routes(anon: httpx.AsyncClient) -> None:
    schema = (await anon.get("/openapi.json")).json()
    post = schema["paths"][URL]["post"]
    assert set(post["requestBody"]["content"]) == {"text/plain", "text/csv"}
    assert {p["name"] for p in post["parameters"]} == {
        "registry",
        "published_on",
        "name",
        "allow_shrink",
        "allow_older",
    }
    assert "201" in post["responses"] and "413" in post["responses"]
    assert "get" in schema["paths"][URL]
    assert {"RegistryLoadRead", "RegistryCopyRead"} <= set(schema["components"]["schemas"])


async def test_a_copy_under_half_the_one_in_force_is_422_unless_allowed(
    client: httpx.AsyncClient,
) -> None:
    full = "".join(f"41555501{i:02d}\n" for i in range(10))
    assert (await upload(client, full)).status_code == 201
    # Four numbers of ten: a download cut short, most likely. Nothing changes.
    cut = "".join(f"41555501{i:02d}\n" for i in range(4))
    response = await upload(client, cut)
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body"] and "allow_shrink" in detail["msg"]
    assert (await client.get("/api/v1/dnc/+14155550109")).json()["listed"] is True
    assert len((await client.get(URL)).json()) == 1
    # Half of them is a registry that shrank within reason; so is one the user vouches for.
    half = "".join(f"41555501{i:02d}\n" for i in range(5))
    assert (await upload(client, half)).status_code == 201
    assert (await client.get("/api/v1/dnc/+14155550109")).json()["listed"] is False
    response = await upload(client, "4155550100\n", allow_shrink="true")
    assert response.status_code == 201, response.text
    assert (await client.get("/api/v1/dnc/+14155550104")).json()["listed"] is False
    # Another registry's copy is not compared with this one's.
    assert (await upload(client, "+14155550200\n", registry="ca")).status_code == 201
