"""Compliance through the REST API: profiles, their defaults and limits, skipped dials."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

URL = "/api/v1/campaigns"


async def _create(client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    return await client.post(URL, json={"name": "compliance", **fields})


@pytest.mark.parametrize(
    ("profile", "cap", "hours"),
    [
        ("us", 0.03, {"start": "08:00", "end": "21:00"}),
        ("uk", 0.03, {"start": "08:00", "end": "21:00"}),
        ("ca", 0.05, {"start": "09:00", "end": "21:30"}),
    ],
)
async def test_each_profile_gives_its_own_defaults(
    client: httpx.AsyncClient, profile: str, cap: float, hours: dict[str, str]
) -> None:
    response = await _create(client, compliance_profile=profile)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["compliance_profile"] == profile
    assert body["max_abandon_rate"] == cap
    assert body["calling_hours"] == hours
    assert body["scrub_national_registry"] is True
    assert body["max_attempts_per_day"] == 3


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"max_abandon_rate": 0.04}, "max_abandon_rate"),
        ({"compliance_profile": "ca", "max_abandon_rate": 0.06}, "max_abandon_rate"),
        ({"calling_hours": {"start": "07:30", "end": "20:00"}}, "calling_hours.start"),
        ({"calling_hours": {"start": "09:00", "end": "21:30"}}, "calling_hours.end"),
        ({"compliance_profile": "ca", "calling_hours": {"start": "08:00", "end": "21:00"}},
         "calling_hours.start"),
        ({"connect_deadline_s": 2.5}, "connect_deadline_s"),
        ({"compliance_profile": "uk", "registry_max_age_days": 29}, "registry_max_age_days"),
        ({"assume_time_zone": "Mars/Olympus"}, "assume_time_zone"),
        ({"compliance_profile": "fr"}, "compliance_profile"),
        ({"max_attempts_per_day": 0}, "max_attempts_per_day"),
    ],
)  # fmt: skip
async def test_a_campaign_cannot_loosen_its_profile(
    client: httpx.AsyncClient, fields: dict[str, Any], loc: str
) -> None:
    response = await _create(client, **fields)
    assert response.status_code == 422, response.text
    assert loc in str(response.json()["detail"])
    assert (await client.get(URL)).json() == []  # nothing half-written


async def test_stricter_settings_are_kept(client: httpx.AsyncClient) -> None:
    response = await _create(
        client,
        compliance_profile="uk",
        max_abandon_rate=0.02,
        calling_hours={"start": "09:00", "end": "20:00"},
        registry_max_age_days=14,
        assume_time_zone="Europe/London",
        max_attempts_per_day=1,
        connect_deadline_s=1.5,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["max_abandon_rate"], body["registry_max_age_days"]) == (0.02, 14)
    assert body["calling_hours"] == {"start": "09:00", "end": "20:00"}
    assert body["assume_time_zone"] == "Europe/London"


async def test_a_patch_cannot_loosen_either(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    url = f"{URL}/{campaign['id']}"
    response = await client.patch(url, json={"max_abandon_rate": 0.05})
    assert response.status_code == 422
    assert "max_abandon_rate" in str(response.json()["detail"])
    # To Canada: its cap is 5 %, but its day starts at 09:00.
    moved = await client.patch(url, json={"compliance_profile": "ca", "max_abandon_rate": 0.05})
    assert moved.status_code == 422 and "calling_hours.start" in moved.text
    moved = await client.patch(
        url,
        json={
            "compliance_profile": "ca",
            "max_abandon_rate": 0.05,
            "calling_hours": {"start": "09:00", "end": "21:30"},
        },
    )
    assert moved.status_code == 200, moved.text
    assert (await client.get(url)).json()["compliance_profile"] == "ca"
    cleared = await client.patch(url, json={"assume_time_zone": None})
    assert cleared.status_code == 200 and cleared.json()["assume_time_zone"] is None


async def test_starting_needs_a_message_for_an_abandoned_person(
    client: httpx.AsyncClient,
) -> None:
    bare = (await _create(client, mode="predictive")).json()
    refused = await client.post(f"{URL}/{bare['id']}/start")
    assert refused.status_code == 422
    assert "safe_harbor_message" in refused.text
    assert (await client.get(f"{URL}/{bare['id']}")).json()["state"] == "stopped"
    # With a caller id, the message is made from the name and the number.
    await client.patch(f"{URL}/{bare['id']}", json={"caller_id": "+14155550100"})
    started = await client.post(f"{URL}/{bare['id']}/start")
    assert started.status_code == 200, started.text
    message = started.json()["safe_harbor_message"]
    assert "compliance" in message and "+14155550100" in message
    # Preview never abandons: it needs no message.
    preview = (await client.post(URL, json={"name": "pv", "mode": "preview"})).json()
    assert (await client.post(f"{URL}/{preview['id']}/start")).status_code == 200


async def test_stats_name_the_profile_window(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    stats = (await client.get(f"{URL}/{campaign['id']}/stats")).json()
    assert stats["compliance_profile"] == "us"
    assert stats["abandon_window"] == "rolling_30d"
    assert stats["abandon_rate_window"] == 0.0
    assert stats["blocked_reason"] is None


async def test_skips_list_is_empty_then_404_for_unknown_campaigns(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    response = await client.get(f"{URL}/{campaign['id']}/skips")
    assert response.status_code == 200 and response.json() == []
    assert (await client.get(f"{URL}/nope/skips")).status_code == 404
    assert (await client.get(f"{URL}/{campaign['id']}/skips?limit=0")).status_code == 422


@pytest.mark.parametrize(
    ("profile", "written", "stored"),
    [
        ("us", "(415) 555-0199", "+14155550199"),
        ("ca", "416 555 0199", "+14165550199"),
        ("uk", "020 7946 0999", "+442079460999"),
        ("uk", "+1 415 555 0199", "+14155550199"),  # a country code wins over the region
    ],
)
async def test_caller_id_is_kept_as_e164_read_in_the_profiles_country(
    client: httpx.AsyncClient, profile: str, written: str, stored: str
) -> None:
    created = await _create(client, compliance_profile=profile, caller_id=written)
    assert created.status_code == 201, created.text
    assert created.json()["caller_id"] == stored
    patched = await client.patch(f"{URL}/{created.json()['id']}", json={"caller_id": written})
    assert patched.json()["caller_id"] == stored


@pytest.mark.parametrize("caller_id", ["ACME Ltd", "12", "020 7946 0999"])
async def test_a_caller_id_nobody_can_call_back_is_refused(
    client: httpx.AsyncClient, caller_id: str
) -> None:
    # "020 7946 0999" is a London number, not one on a us campaign.
    refused = await _create(client, caller_id=caller_id)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"][-1] == "caller_id"
    campaign = (await _create(client, mode="preview")).json()
    patched = await client.patch(f"{URL}/{campaign['id']}", json={"caller_id": caller_id})
    assert patched.status_code == 422
    assert (await client.get(f"{URL}/{campaign['id']}")).json()["caller_id"] is None


async def test_leads_and_campaign_do_not_call_numbers_are_read_in_the_profiles_country(
    client: httpx.AsyncClient,
) -> None:
    uk = (await _create(client, compliance_profile="uk", mode="preview")).json()
    us = (await client.post(URL, json={"name": "us side", "mode": "preview"})).json()
    leads = {"leads": [{"phone": "020 7946 0018"}, {"phone": "0161 496 0000"}]}
    body = (await client.post(f"{URL}/{uk['id']}/leads", json=leads)).json()
    assert body["accepted"] == 2, body
    listed = (await client.get(f"{URL}/{uk['id']}/leads")).json()
    assert sorted(lead["phone"] for lead in listed) == ["+441614960000", "+442079460018"]
    # The same digits on a us campaign are no number there.
    body = (await client.post(f"{URL}/{us['id']}/leads", json=leads)).json()
    assert body["accepted"] == 0 and len(body["rejected"]) == 2
    added = await client.post(
        "/api/v1/dnc", json={"numbers": ["020 7946 0018"], "campaign_id": uk["id"]}
    )
    assert added.json()["added"] == 1, added.text
    found = (await client.get("/api/v1/dnc/+442079460018")).json()
    assert found["listed"] and found["scopes"] == [f"campaign:{uk['id']}"]
