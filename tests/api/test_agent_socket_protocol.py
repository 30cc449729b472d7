"""The agent WebSocket protocol against the fake service: what reaches the service,
what the softphone hears back, and that the socket survives bad frames."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import pytest
from api_testing import Seen
from fake_service import FakeService
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from api.agent_socket import AgentSocket
from api.app import create_app
from dialer.errors import ConflictError, InvalidInput
from dialer.runtime.service import WS_UNAUTHORIZED, DialerService


@pytest.fixture
def sync_client(fake: FakeService, seen: Seen) -> Iterator[TestClient]:
    def record(response: httpx.Response) -> None:
        seen.append((response.request.method, response.request.url.path, response.status_code))

    app = create_app(service=cast(DialerService, fake))
    with TestClient(app, headers={"Authorization": f"Bearer {fake.api_key}"}) as client:
        client.event_hooks = {"request": [], "response": [record]}
        yield client


@pytest.fixture
def agent(sync_client: TestClient) -> dict[str, Any]:
    response = sync_client.post("/api/v1/agents", json={"name": "Ada", "campaign_ids": []})
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


def _url(agent: dict[str, Any], token: str | None = None) -> str:
    url = f"/api/v1/agents/{agent['id']}/ws"
    return url if token is None else f"{url}?token={token}"


@pytest.mark.parametrize("token", [None, "", "wrong"])
def test_bad_or_missing_token_closes_4401(
    sync_client: TestClient, agent: dict[str, Any], token: str | None
) -> None:
    with (
        sync_client.websocket_connect(_url(agent, token)) as ws,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        ws.receive_json()
    assert closed.value.code == WS_UNAUTHORIZED == 4401


def test_a_token_opens_only_its_own_socket(sync_client: TestClient, agent: dict[str, Any]) -> None:
    other = sync_client.post("/api/v1/agents", json={"name": "Bob"}).json()
    with (
        sync_client.websocket_connect(_url(agent, other["token"])) as ws,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        ws.receive_json()
    assert closed.value.code == 4401


def test_unknown_agent_closes_4401(sync_client: TestClient) -> None:
    with (
        sync_client.websocket_connect("/api/v1/agents/nobody/ws?token=x") as ws,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        ws.receive_json()
    assert closed.value.code == 4401


def test_ready_reaches_the_service(
    sync_client: TestClient, fake: FakeService, agent: dict[str, Any]
) -> None:
    with sync_client.websocket_connect(_url(agent, agent["token"])) as ws:
        assert ws.receive_json() == {"type": "state", "state": "paused"}
        ws.send_json({"type": "ready"})
        assert ws.receive_json() == {"type": "state", "state": "ready"}
    assert fake.messages == [(agent["id"], {"type": "ready"})]


BAD_FRAMES = [
    ("not json", "not JSON"),
    ("[1, 2]", "JSON object"),
    ('"ready"', "JSON object"),
    ("{}", '"type"'),
    ('{"type": "dance"}', "unknown message type 'dance'"),
    ('{"type": "hangup"}', "call_id"),
    ('{"type": "hangup", "call_id": 7}', "call_id"),
    ('{"type": "ready", "extra": 1}', "extra"),
    ('{"type": "disposition", "call_id": "c1"}', "code"),
    (
        '{"type": "disposition", "call_id": "c1", "code": "callback", '
        '"callback_at": "2026-05-01T10:00:00"}',
        "callback_at",
    ),
    ('{"type": "disposition", "call_id": "c1", "code": "x", "callback_at": "soon"}', "callback_at"),
    (
        '{"type": "disposition", "call_id": "c1", "code": "callback", '
        '"callback_at": "9999-12-31T23:00:00-05:00"}',
        "years 1 to 9999",
    ),
    # PostgreSQL's text cannot hold a NUL: refused up front, not lost in the store.
    ('{"type": "disposition", "call_id": "c1", "code": "sale", "notes": "a\\u0000b"}', "NUL"),
    # Deeper than the JSON parser's stack: it used to kill the socket (RecursionError).
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"type": "hangup", "call_id": ' + "9" * 5000 + "}", "more than 4,300 digits"),
]


@pytest.mark.parametrize(("frame", "says"), BAD_FRAMES)
def test_bad_frames_get_an_error_and_the_socket_stays_open(
    sync_client: TestClient, fake: FakeService, agent: dict[str, Any], frame: str, says: str
) -> None:
    with sync_client.websocket_connect(_url(agent, agent["token"])) as ws:
        ws.receive_json()
        ws.send_text(frame)
        error = ws.receive_json()
        assert error["type"] == "error"
        assert says in error["message"]
        ws.send_json({"type": "ready"})
        assert ws.receive_json() == {"type": "state", "state": "ready"}
    assert fake.messages == [(agent["id"], {"type": "ready"})]


def test_binary_json_frames_are_read(
    sync_client: TestClient, fake: FakeService, agent: dict[str, Any]
) -> None:
    with sync_client.websocket_connect(_url(agent, agent["token"])) as ws:
        ws.receive_json()
        ws.send_bytes(b'{"type": "ready"}')
        assert ws.receive_json()["state"] == "ready"
        ws.send_bytes(b"\xff")
        assert ws.receive_json()["type"] == "error"


def test_messages_reach_the_service_as_plain_dicts(
    sync_client: TestClient, fake: FakeService, agent: dict[str, Any]
) -> None:
    with sync_client.websocket_connect(_url(agent, agent["token"])) as ws:
        ws.receive_json()
        ws.send_json({"type": "pause", "reason": "lunch"})
        ws.send_json({"type": "hangup", "call_id": "c1"})
        ws.send_json(
            {
                "type": "disposition",
                "call_id": "c1",
                "code": "callback",
                "callback_at": "2026-05-01T10:00:00-04:00",
                "notes": "after lunch",
            }
        )
        ws.send_json({"type": "ready"})
        ws.receive_json()  # the state frame after ready: everything before it was handled
    kinds = [m for _, m in fake.messages]
    assert kinds[0] == {"type": "pause", "reason": "lunch"}
    assert kinds[1] == {"type": "hangup", "call_id": "c1"}
    disposition = kinds[2]
    assert disposition["code"] == "callback"
    assert disposition["notes"] == "after lunch"
    callback_at = disposition["callback_at"]
    assert isinstance(callback_at, datetime)
    assert callback_at.astimezone(UTC) == datetime(2026, 5, 1, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "error",
    [InvalidInput("call c9 is not this agent's call", field="call_id"), ConflictError("no")],
)
def test_a_refusal_from_the_service_is_an_error_frame(
    sync_client: TestClient, fake: FakeService, agent: dict[str, Any], error: Exception
) -> None:
    with sync_client.websocket_connect(_url(agent, agent["token"])) as ws:
        ws.receive_json()
        fake.fail_next = error
        ws.send_json({"type": "hangup", "call_id": "c9"})
        assert ws.receive_json() == {"type": "error", "message": str(error)}
        ws.send_json({"type": "ready"})
        assert ws.receive_json()["state"] == "ready"


def test_disconnect_is_reported_exactly_once(
    sync_client: TestClient, fake: FakeService, agent: dict[str, Any]
) -> None:
    with sync_client.websocket_connect(_url(agent, agent["token"])) as ws:
        ws.receive_json()
        ws.send_json({"type": "ready"})
        ws.receive_json()
    # The server side runs the disconnect handling as the test client closes.
    assert [agent_id for agent_id, _ in fake.disconnects] == [agent["id"]]


def test_rejected_sockets_never_reach_the_service(
    sync_client: TestClient, fake: FakeService, agent: dict[str, Any]
) -> None:
    with (
        sync_client.websocket_connect(_url(agent, "wrong")) as ws,
        pytest.raises(WebSocketDisconnect),
    ):
        ws.receive_json()
    assert fake.disconnects == []
    assert fake.sends == {}


class _DeadWebSocket:
    """Stands in for a socket whose peer has gone: every send fails."""

    def __init__(self) -> None:
        self.attempts = 0

    async def send_text(self, text: str) -> None:
        self.attempts += 1
        raise RuntimeError("Cannot call send once a close message has been sent.")


async def test_a_send_to_a_dead_socket_never_raises_into_the_service() -> None:
    dead = _DeadWebSocket()
    socket = AgentSocket(cast(Any, dead), cast(DialerService, FakeService()), "a1")
    await socket.send({"type": "state", "state": "ready"})
    await socket.send({"type": "call", "call_id": "c1"})
    assert dead.attempts == 1  # after the first failure the socket is known closed


async def test_sends_serialise_datetimes() -> None:
    sent: list[str] = []

    class _Socket:
        async def send_text(self, text: str) -> None:
            sent.append(text)

    socket = AgentSocket(cast(Any, _Socket()), cast(DialerService, FakeService()), "a1")
    await socket.send({"type": "call", "at": datetime(2026, 1, 1, tzinfo=UTC)})
    assert json.loads(sent[0])["at"].startswith("2026-01-01T00:00:00")
