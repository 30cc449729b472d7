"""The agent WebSocket against the real service, served by uvicorn on a free port.

This is the whole path a softphone takes: REST to set up, a real WebSocket
handshake, the service's own frames. The simulated telephony runs 100x
faster (``time_scale``), so a bridged call arrives within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from api_testing import AUTH, Seen, open_zone, real_settings
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from api.app import create_app
from dialer.runtime.service import DialerService

WAIT_S = 20.0


@pytest.fixture
async def server(sqlite_url: str) -> AsyncIterator[str]:
    """The app under uvicorn on 127.0.0.1:<free port>; yields the base URL (no scheme)."""
    app = create_app(service=DialerService(real_settings(sqlite_url)))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve())
    try:
        async with asyncio.timeout(WAIT_S):
            while not srv.started:
                await asyncio.sleep(0.02)
        port = srv.servers[0].sockets[0].getsockname()[1]
        yield f"127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, WAIT_S)


@pytest.fixture
async def rest(server: str, seen: Seen) -> AsyncIterator[httpx.AsyncClient]:
    async def record(response: httpx.Response) -> None:
        seen.append((response.request.method, response.request.url.path, response.status_code))

    async with httpx.AsyncClient(
        base_url=f"http://{server}", headers=AUTH, event_hooks={"response": [record]}
    ) as client:
        yield client


async def _agent(rest: httpx.AsyncClient, campaign_ids: list[str]) -> dict[str, Any]:
    response = await rest.post("/api/v1/agents", json={"name": "Ada", "campaign_ids": campaign_ids})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _next(ws: ClientConnection, kind: str, **fields: Any) -> dict[str, Any]:
    """The next frame of type ``kind`` (with ``fields``), skipping others.

    State frames come after every change, so several may arrive in a row.
    """
    async with asyncio.timeout(WAIT_S):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame["type"] == kind and all(frame.get(k) == v for k, v in fields.items()):
                return frame


@pytest.mark.parametrize("suffix", ["", "?token=", "?token=wrong"])
async def test_bad_token_closes_4401(server: str, rest: httpx.AsyncClient, suffix: str) -> None:
    agent = await _agent(rest, [])
    async with connect(f"ws://{server}/api/v1/agents/{agent['id']}/ws{suffix}") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(WAIT_S):
                await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


async def test_ready_then_a_call_is_offered(server: str, rest: httpx.AsyncClient) -> None:
    campaign = (
        await rest.post(
            "/api/v1/campaigns",
            json={
                "name": "live",
                # Unanswered numbers ring for ring_timeout_s in real time (only the
                # simulated callees are sped up): dial wide so a person answers soon.
                "mode": "power",
                "dial_ratio": 10,
                "safe_harbor_message": "ACME calling; call back on 555-0100",
                "scrub_national_registry": False,
            },
        )
    ).json()
    zone = open_zone()
    leads = [{"phone": f"+1415555{i:04d}", "timezone": zone} for i in range(100, 140)]
    loaded = await rest.post(f"/api/v1/campaigns/{campaign['id']}/leads", json={"leads": leads})
    assert loaded.json()["accepted"] == 40
    agent = await _agent(rest, [campaign["id"]])

    url = f"ws://{server}/api/v1/agents/{agent['id']}/ws?token={agent['token']}"
    async with connect(url) as ws:
        first = await _next(ws, "state")
        assert first["state"] in {"paused", "logged_out"}
        await ws.send(json.dumps({"type": "ready"}))
        await _next(ws, "state", state="ready")

        await ws.send("nonsense")
        assert (await _next(ws, "error"))["message"].startswith("not JSON")

        assert (await rest.get(f"/api/v1/agents/{agent['id']}")).json()["state"] == "ready"
        started = await rest.post(f"/api/v1/campaigns/{campaign['id']}/start")
        assert started.json()["state"] == "running"

        call = await _next(ws, "call")
        assert call["campaign_id"] == campaign["id"]
        assert set(call["lead"]) >= {"id", "phone", "data"}
        await ws.send(json.dumps({"type": "hangup", "call_id": call["call_id"]}))
        ended = await _next(ws, "call_ended")
        assert ended["call_id"] == call["call_id"]
        await ws.send(
            json.dumps({"type": "disposition", "call_id": call["call_id"], "code": "sale"})
        )
        await _next(ws, "state", state="ready")  # wrap-up closed by the disposition

        record = (await rest.get(f"/api/v1/calls/{call['call_id']}")).json()
        assert record["campaign_id"] == campaign["id"]
        assert record["agent_id"] == agent["id"]
        assert record["outcome"] == "human"
        page = (await rest.get("/api/v1/calls", params={"campaign_id": campaign["id"]})).json()
        assert call["call_id"] in [item["id"] for item in page["items"]]

    # Gone means paused: the service hears of the disconnect.
    async with asyncio.timeout(WAIT_S):
        while (await rest.get(f"/api/v1/agents/{agent['id']}")).json()["connected"]:
            await asyncio.sleep(0.05)
    await rest.post(f"/api/v1/campaigns/{campaign['id']}/stop")
