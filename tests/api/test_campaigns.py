"""Campaign create, read, update and run state, and the input the API refuses."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

URL = "/api/v1/campaigns"
READ_FIELDS = {
    "id", "name", "mode", "state", "dial_ratio", "max_abandon_rate", "ring_timeout_s",
    "connect_deadline_s", "calling_hours", "max_attempts", "retry_delays_s", "caller_id",
    "amd", "safe_harbor_message", "target_agent_wait_s", "wrap_up_limit_s",
    "pacer_options", "created_at", "updated_at", "compliance_profile", "max_attempts_per_day",
    "assume_time_zone", "scrub_national_registry", "registry_max_age_days",
    "personal_callback_wait_s", "blocked_reason",
}  # fmt: skip


def _locs(response: httpx.Response) -> list[list[Any]]:
    return [error["loc"] for error in response.json()["detail"]]


async def test_create_applies_the_spec_defaults(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json={"name": "defaults", "mode": "predictive"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == READ_FIELDS
    assert body["state"] == "stopped"
    assert body["max_abandon_rate"] == 0.03
    assert body["ring_timeout_s"] == 20
    assert body["connect_deadline_s"] == 2
    assert body["calling_hours"] == {"start": "08:00", "end": "21:00"}
    assert body["amd"] is False


async def test_create_keeps_every_field(client: httpx.AsyncClient) -> None:
    payload = {
        "name": "full",
        "mode": "power",
        "dial_ratio": 2.5,
        "max_abandon_rate": 0.02,
        "ring_timeout_s": 25,
        "connect_deadline_s": 1.5,
        "calling_hours": {"start": "09:30", "end": "20:00"},
        "max_attempts": 5,
        "retry_delays_s": {"no_answer": 1800, "busy": 300, "machine": 7200, "abandoned": 900},
        "caller_id": "+14155550199",
        "amd": True,
        "safe_harbor_message": "Sorry we missed you.",
        "target_agent_wait_s": 8,
    }
    created = (await client.post(URL, json=payload)).json()
    read = (await client.get(f"{URL}/{created['id']}")).json()
    assert read == created
    for key, value in payload.items():
        assert read[key] == value, key


async def test_list_and_read(client: httpx.AsyncClient, campaign: dict[str, Any]) -> None:
    listed = (await client.get(URL)).json()
    assert [c["id"] for c in listed] == [campaign["id"]]
    assert (await client.get(f"{URL}/{campaign['id']}")).json() == campaign


async def test_patch_changes_only_what_it_names(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    url = f"{URL}/{campaign['id']}"
    await client.patch(url, json={"retry_delays_s": {"busy": 60, "no_answer": 120}})
    response = await client.patch(
        url, json={"ring_timeout_s": 30, "retry_delays_s": {"busy": 90}, "caller_id": None}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ring_timeout_s"] == 30
    assert body["retry_delays_s"] == {"busy": 90, "no_answer": 120}  # merged per outcome
    assert body["name"] == campaign["name"]
    assert body["calling_hours"] == campaign["calling_hours"]
    assert (await client.get(url)).json() == body


async def test_patch_calling_hours_and_mode(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    url = f"{URL}/{campaign['id']}"
    body = (
        await client.patch(
            url, json={"calling_hours": {"start": "10:00", "end": "18:15"}, "mode": "power"}
        )
    ).json()
    assert body["calling_hours"] == {"start": "10:00", "end": "18:15"}
    assert body["mode"] == "power"


async def test_patch_of_one_end_of_the_calling_hours_keeps_the_other(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    """Found by an audit: the end not named reset to its default (08:00 or
    21:00), and an empty object reset both."""
    url = f"{URL}/{campaign['id']}"
    await client.patch(url, json={"calling_hours": {"start": "09:00", "end": "20:00"}})
    body = (await client.patch(url, json={"calling_hours": {"start": "10:00"}})).json()
    assert body["calling_hours"] == {"start": "10:00", "end": "20:00"}
    body = (await client.patch(url, json={"calling_hours": {"end": "19:30"}})).json()
    assert body["calling_hours"] == {"start": "10:00", "end": "19:30"}
    body = (await client.patch(url, json={"calling_hours": {}})).json()
    assert body["calling_hours"] == {"start": "10:00", "end": "19:30"}
    # A start past the end kept is refused, naming the field; nothing changes.
    response = await client.patch(url, json={"calling_hours": {"start": "19:45"}})
    assert response.status_code == 422
    assert "calling_hours" in response.text
    assert (await client.get(url)).json()["calling_hours"] == {"start": "10:00", "end": "19:30"}
    response = await client.patch(url, json={"calling_hours": {"end": "25:00"}})
    assert response.status_code == 422


async def test_patch_while_running(client: httpx.AsyncClient, campaign: dict[str, Any]) -> None:
    url = f"{URL}/{campaign['id']}"
    assert (await client.post(f"{url}/start")).json()["state"] == "running"
    response = await client.patch(url, json={"max_abandon_rate": 0.01})
    assert response.status_code == 200
    assert response.json()["max_abandon_rate"] == 0.01
    assert response.json()["state"] == "running"


async def test_empty_patch_changes_nothing(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    response = await client.patch(f"{URL}/{campaign['id']}", json={})
    assert response.status_code == 200
    assert response.json() == campaign


async def test_run_state_moves(client: httpx.AsyncClient, campaign: dict[str, Any]) -> None:
    url = f"{URL}/{campaign['id']}"
    for action, state in [("start", "running"), ("pause", "paused"), ("start", "running")]:
        response = await client.post(f"{url}/{action}")
        assert response.status_code == 200, response.text
        assert response.json()["state"] == state
        assert (await client.get(url)).json()["state"] == state
    assert (await client.post(f"{url}/stop")).json()["state"] == "stopped"


async def test_state_is_not_writable_by_patch(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    response = await client.patch(f"{URL}/{campaign['id']}", json={"state": "running"})
    assert response.status_code == 422
    assert ["body", "state"] in _locs(response)


async def test_stats(client: httpx.AsyncClient, campaign: dict[str, Any]) -> None:
    response = await client.get(f"{URL}/{campaign['id']}/stats")
    assert response.status_code == 200
    stats = response.json()
    for key in [
        "state", "lines_in_flight", "agents", "dialed", "human_answered", "abandoned",
        "abandon_rate_24h", "abandon_rate_30d", "dial_level", "leads_remaining",
    ]:  # fmt: skip
        assert key in stats
    assert stats["state"] == "stopped"


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("PATCH", ""),
        ("POST", "/start"),
        ("POST", "/pause"),
        ("POST", "/stop"),
        ("GET", "/stats"),
        ("GET", "/leads"),
        ("POST", "/leads"),
        ("DELETE", ""),
    ],
)
async def test_unknown_campaign_is_404(client: httpx.AsyncClient, method: str, suffix: str) -> None:
    body: dict[str, Any] = {"leads": []} if suffix == "/leads" else {}
    response = await client.request(method, f"{URL}/no-such-campaign{suffix}", json=body)
    assert response.status_code == 404
    assert "no-such-campaign" in response.json()["detail"]


async def test_a_stopped_campaign_that_never_dialed_is_deleted_with_its_leads(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    cid = campaign["id"]
    added = await client.post(f"{URL}/{cid}/leads", json={"leads": [{"phone": "+14155550100"}]})
    assert added.json()["accepted"] == 1
    agent = (
        await client.post("/api/v1/agents", json={"name": "ann", "campaign_ids": [cid]})
    ).json()
    deleted = await client.delete(f"{URL}/{cid}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await client.get(f"{URL}/{cid}")).status_code == 404
    assert cid not in [c["id"] for c in (await client.get(URL)).json()]
    assert (await client.get(f"{URL}/{cid}/leads")).status_code == 404
    assert (await client.get(f"/api/v1/agents/{agent['id']}")).json()["campaign_ids"] == []
    assert (await client.delete(f"{URL}/{cid}")).status_code == 404  # once
    # Its name is free again.
    again = await client.post(URL, json={"name": campaign["name"], "mode": "preview"})
    assert again.status_code == 201, again.text


@pytest.mark.parametrize("state", ["start", "pause"])
async def test_a_running_or_paused_campaign_is_not_deleted(
    client: httpx.AsyncClient, campaign: dict[str, Any], state: str
) -> None:
    cid = campaign["id"]
    assert (await client.post(f"{URL}/{cid}/{state}")).status_code == 200
    refused = await client.delete(f"{URL}/{cid}")
    assert refused.status_code == 409
    assert "stop it first" in refused.json()["detail"]
    assert (await client.get(f"{URL}/{cid}")).status_code == 200


BAD_CREATES = [
    ({"ring_timeout_s": 10}, "ring_timeout_s"),
    ({"max_abandon_rate": 1.5}, "max_abandon_rate"),
    ({"max_abandon_rate": 0}, "max_abandon_rate"),
    ({"connect_deadline_s": 0}, "connect_deadline_s"),
    ({"calling_hours": {"start": "25:00", "end": "21:00"}}, "calling_hours"),
    ({"calling_hours": {"start": "08:61", "end": "21:00"}}, "calling_hours"),
    ({"calling_hours": {"start": "8am", "end": "21:00"}}, "calling_hours"),
    ({"calling_hours": {"start": "21:00", "end": "08:00"}}, "calling_hours"),
    ({"max_attempts": 0}, "max_attempts"),
    ({"retry_delays_s": {"busy": -1}}, "retry_delays_s"),
    ({"retry_delays_s": {"voicemail": 5}}, "retry_delays_s"),
    ({"mode": "turbo"}, "mode"),
    ({"dial_ratio": "lots"}, "dial_ratio"),
    ({"amd": "perhaps"}, "amd"),
    ({"name": ""}, "name"),
    ({"ring_timeout": 30}, "ring_timeout"),  # unknown field: a typo is not ignored
    ({"state": "running"}, "state"),
    ({"id": "mine"}, "id"),
    # true and false are not 1 and 0 (pydantic had read them so)
    ({"max_attempts": True}, "max_attempts"),
    ({"dial_ratio": True}, "dial_ratio"),
    ({"retry_delays_s": {"busy": False}}, "retry_delays_s"),
    ({"pacer_options": {"setpoint": True}}, "pacer_options"),
]


@pytest.mark.parametrize(("change", "field"), BAD_CREATES)
async def test_bad_create_is_422_naming_the_field(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    response = await client.post(URL, json={"name": "bad", "mode": "progressive", **change})
    assert response.status_code == 422, response.text
    assert any(loc[:2] == ["body", field] for loc in _locs(response)), response.json()
    assert (await client.get(URL)).json() == []


async def test_a_validators_message_reads_without_pydantics_prefix(
    client: httpx.AsyncClient,
) -> None:
    body = {"name": "bad", "mode": "progressive", "calling_hours": {"start": "25:00"}}
    response = await client.post(URL, json=body)
    [error] = response.json()["detail"]
    assert error["msg"] == "'25:00' is not a time of day between 00:00 and 23:59"


@pytest.mark.parametrize(("change", "field"), BAD_CREATES[:12] + BAD_CREATES[-4:])
async def test_bad_patch_is_422_and_changes_nothing(
    client: httpx.AsyncClient, campaign: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    url = f"{URL}/{campaign['id']}"
    response = await client.patch(url, json=change)
    assert response.status_code == 422, response.text
    assert any(loc[:2] == ["body", field] for loc in _locs(response))
    assert (await client.get(url)).json() == campaign


@pytest.mark.parametrize("field", ["name", "mode", "ring_timeout_s", "amd", "calling_hours"])
async def test_patch_cannot_null_a_required_field(
    client: httpx.AsyncClient, campaign: dict[str, Any], field: str
) -> None:
    response = await client.patch(f"{URL}/{campaign['id']}", json={field: None})
    assert response.status_code == 422
    assert ["body", field] in _locs(response)


async def test_missing_name_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json={"mode": "preview"})
    assert response.status_code == 422
    assert ["body", "name"] in _locs(response)


@pytest.mark.parametrize(
    "raw", [b"{", b"{'name': 'x'}", b'{"name": "x",}', b"\xff\xfe", b"[1, 2]", b"null"]
)
async def test_malformed_json_is_422_with_a_message(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post(URL, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    assert all({"loc", "msg", "type"} <= set(error) for error in detail)


async def test_invalid_json_says_so(client: httpx.AsyncClient) -> None:
    response = await client.post(
        URL, content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "not valid JSON" in response.json()["detail"][0]["msg"]


async def test_a_json_body_without_its_content_type_says_so(client: httpx.AsyncClient) -> None:
    response = await client.post(
        URL,
        content=b'{"name": "x"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 422
    assert "Content-Type: application/json" in response.json()["detail"][0]["msg"]


async def test_changes_sent_at_once_are_all_kept(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    """Found by firing PATCHes and a pause at one campaign together: each read
    the settings, changed one field and wrote them all back, so one change
    was lost, and a pause that had answered 200 could be undone (the campaign
    dialing on)."""
    url = f"{URL}/{campaign['id']}"
    outcomes = ["no_answer", "busy", "machine", "abandoned"]
    for _ in range(3):
        responses = await asyncio.gather(
            client.patch(url, json={"dial_ratio": 5.0}),
            client.post(f"{url}/pause"),
            client.patch(url, json={"max_attempts": 7}),
            client.patch(url, json={"amd": True}),
            *(
                client.patch(url, json={"retry_delays_s": {o: 600.0 + i}})
                for i, o in enumerate(outcomes)
            ),
        )
        assert [r.status_code for r in responses] == [200] * len(responses)
        stored = (await client.get(url)).json()
        assert (stored["dial_ratio"], stored["max_attempts"], stored["amd"]) == (5.0, 7, True)
        assert stored["state"] == "paused"
        assert stored["retry_delays_s"] == {o: 600.0 + i for i, o in enumerate(outcomes)}
        # Back to a different state for the next round.
        await client.patch(url, json={"dial_ratio": 2.0, "max_attempts": 3, "amd": False})
        await client.post(f"{url}/stop")
