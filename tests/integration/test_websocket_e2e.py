"""The agent protocol end to end: a real uvicorn, real WebSockets, agents as bots.

Checks the invariants a floor manager relies on: every person who answered
was bridged to exactly one agent who was ready, or was abandoned with the
safe-harbor message; paused and disconnected agents are offered nothing;
every call ends with a record.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from live_server import free_port

from api.app import create_app
from api.server import DrainingServer
from dialer.runtime.demo import demo_numbers
from dialer.runtime.service import DialerService
from dialer.runtime.settings import Settings
from simulator.distributions import parse_distribution
from simulator.telephony import CalleeBehaviour, SimulatedTelephony

KEY = "e2e-key"
SAFE_HARBOR = "ACME calling. Call us back on 555-0100."
AUTH = {"Authorization": f"Bearer {KEY}"}


def _agent_url(host: str, agent: dict[str, Any]) -> str:
    """The softphone socket of an agent as ``POST /agents`` returned it."""
    return f"ws://{host}/api/v1/agents/{agent['id']}/ws?token={agent['token']}"


class RecordingTelephony(SimulatedTelephony):
    """The simulated network, remembering what was played to whom."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.played: dict[str, str] = {}
        self.bridged: dict[str, list[str]] = {}

    async def play_and_hang_up(self, call_id: str, message: str) -> None:
        self.played[call_id] = message
        await super().play_and_hang_up(call_id, message)

    async def bridge(self, call_id: str, agent_id: str) -> None:
        self.bridged.setdefault(call_id, []).append(agent_id)
        await super().bridge(call_id, agent_id)


def _d(spec: dict[str, Any]) -> Any:
    return parse_distribution(spec)


@contextlib.asynccontextmanager
async def _serve(
    db_url: str, behaviour: CalleeBehaviour
) -> AsyncIterator[tuple[str, RecordingTelephony]]:
    """A real uvicorn on a free port, its callees behaving as ``behaviour``."""
    async with _server(db_url, behaviour) as (host, tel, _):
        yield host, tel


@contextlib.asynccontextmanager
async def _server(
    db_url: str, behaviour: CalleeBehaviour, *, drain_s: float = 0.0
) -> AsyncIterator[tuple[str, RecordingTelephony, DrainingServer]]:
    """:func:`_serve` with the server itself, as ``dialer serve`` runs it; no
    drain on the way out unless asked (a test's calls would hold it up)."""
    tel = RecordingTelephony(behaviour, seed=11)
    settings = Settings(database_url=db_url, api_key=KEY, stats_interval_s=0.2, drain_s=drain_s)
    service = DialerService(settings, telephony=tel)
    app = create_app(settings, service=service)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = DrainingServer(config, service)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"127.0.0.1:{port}", tel, server
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10 + drain_s)


@pytest.fixture
async def server(db_url: str) -> AsyncIterator[tuple[str, RecordingTelephony]]:
    behaviour = CalleeBehaviour(
        human=0.55,
        machine=0.0,
        busy=0.45,
        invalid=0.0,
        answer_delay_s=_d({"dist": "uniform", "low": 0.05, "high": 0.4}),
        fail_delay_s=_d({"dist": "fixed", "value": 0.05}),
        talk_s=_d({"dist": "uniform", "low": 0.2, "high": 0.6}),
        machine_talk_s=_d({"dist": "fixed", "value": 0.1}),
    )
    async with _serve(db_url, behaviour) as served:
        yield served


class Bot:
    """A softphone: ready, take calls, sometimes hang up first, always dispose."""

    def __init__(self, host: str, agent: dict[str, Any], *, ready: bool = True) -> None:
        self.url = _agent_url(host, agent)
        self.id = agent["id"]
        self.ready = ready
        self.calls: list[tuple[float, str]] = []
        self.states: list[tuple[float, str]] = []
        self.errors: list[str] = []

    async def run(self, stop: asyncio.Event, hang_up_first: bool = False) -> None:
        async with websockets.connect(self.url) as ws:
            if self.ready:
                await ws.send(json.dumps({"type": "ready"}))
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.1)
                except TimeoutError:
                    continue
                msg = json.loads(raw)
                now = time.monotonic()
                if msg["type"] == "state":
                    self.states.append((now, msg["state"]))
                elif msg["type"] == "error":
                    self.errors.append(msg["message"])
                elif msg["type"] == "call":
                    self.calls.append((now, msg["call_id"]))
                    if hang_up_first:
                        await ws.send(json.dumps({"type": "hangup", "call_id": msg["call_id"]}))
                elif msg["type"] == "call_ended":
                    # The disposition makes the agent ready again by itself; a
                    # "ready" after it could land in the next call's wrap-up.
                    await ws.send(
                        json.dumps(
                            {"type": "disposition", "call_id": msg["call_id"], "code": "done"}
                        )
                    )

    async def connect_then_vanish(self) -> None:
        async with websockets.connect(self.url) as ws:
            await ws.send(json.dumps({"type": "ready"}))
            await asyncio.sleep(0.05)
        # the socket is gone: the agent must be paused and offered nothing

    async def listen_quietly(self, stop: asyncio.Event) -> None:
        await self.run(stop)


async def test_floor_invariants_over_real_sockets(
    server: tuple[str, RecordingTelephony],
) -> None:
    host, tel = server
    async with httpx.AsyncClient(base_url=f"http://{host}", headers=AUTH) as http:
        r = await http.post(
            "/api/v1/campaigns",
            json={
                "name": f"e2e-{uuid.uuid4().hex[:6]}",
                "mode": "power",
                "dial_ratio": 3.0,
                "safe_harbor_message": SAFE_HARBOR,
            },
        )
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        numbers = demo_numbers(400, time.time())
        # A fresh copy of the national registry, with two of the numbers on it.
        registry = "\n".join(["phone", *numbers[:2]]).encode()
        r = await http.post(
            "/api/v1/dnc/registry",
            params={"registry": "us"},
            content=registry,
            headers={"content-type": "text/plain"},
        )
        assert r.status_code == 201, r.text
        r = await http.post(
            f"/api/v1/campaigns/{cid}/leads", json={"leads": [{"phone": n} for n in numbers]}
        )
        assert r.status_code in (200, 201), r.text
        assert r.json()["dnc"] == 2  # scrubbed against the registry at load
        agents = []
        for name in ("a", "b", "c", "d", "paused", "gone"):
            r = await http.post("/api/v1/agents", json={"name": name, "campaign_ids": [cid]})
            assert r.status_code == 201, r.text
            agents.append(r.json())

        # A wrong token is refused before anything else.
        bad = f"ws://{host}/api/v1/agents/{agents[0]['id']}/ws?token=nope"
        async with websockets.connect(bad) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

        gone = Bot(host, agents[5])
        await gone.connect_then_vanish()
        stop = asyncio.Event()
        workers = [Bot(host, a) for a in agents[:4]]
        paused = Bot(host, agents[4], ready=False)
        tasks = [
            asyncio.create_task(b.run(stop, hang_up_first=(i % 2 == 0)))
            for i, b in enumerate(workers)
        ]
        tasks.append(asyncio.create_task(paused.run(stop)))
        await asyncio.sleep(0.3)
        assert (await http.post(f"/api/v1/campaigns/{cid}/start")).status_code == 200
        await asyncio.sleep(4.0)
        assert (await http.post(f"/api/v1/campaigns/{cid}/pause")).status_code == 200
        await asyncio.sleep(1.5)  # calls in flight end; agents dispose
        stop.set()
        await asyncio.gather(*tasks)

        records: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"campaign_id": cid, "limit": 200}
            if cursor:
                params["cursor"] = cursor
            page = (await http.get("/api/v1/calls", params=params)).json()
            records.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                break

    assert len(records) > 20
    assert not {rec["phone"] for rec in records} & set(numbers[:2]), "dialed a registry number"
    offered = {cid_: bot.id for bot in workers for _, cid_ in bot.calls}
    assert sum(len(b.calls) for b in workers) == len(offered), "a call went to two agents"
    assert paused.calls == [] and gone.calls == []
    for rec in records:
        assert rec["ended_at"] is not None, f"call {rec['id']} has no end"
        if rec["outcome"] != "human":
            assert rec["agent_id"] is None
            continue
        if rec["abandoned"]:
            assert tel.played.get(rec["id"]) == SAFE_HARBOR
            assert rec["bridged_at"] is None
        else:
            assert rec["bridged_at"] is not None
            assert tel.bridged[rec["id"]] == [rec["agent_id"]]
            assert offered[rec["id"]] == rec["agent_id"]
    bridged = [r for r in records if r["bridged_at"]]
    assert bridged, "no call reached an agent"
    # Each offered call reached an agent that had said it was ready.
    for bot in workers:
        for at, _ in bot.calls:
            earlier = [s for t, s in bot.states if t <= at]
            assert earlier and earlier[-1] in ("ready", "on_call")
        assert not bot.errors


@pytest.mark.parametrize("path", ["a%00b/ws?token=x", "nobody/ws?token=x%00y", "nobody/ws"])
async def test_an_impossible_agent_or_token_closes_4401(
    server: tuple[str, RecordingTelephony], path: str
) -> None:
    """Over a real socket on each database: an id or token with a NUL in it
    (which PostgreSQL cannot look up) is refused like any unknown agent."""
    host, _ = server
    async with websockets.connect(f"ws://{host}/api/v1/agents/{path}") as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def _next_frame(ws: Any, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    """The next frame of type ``kind``, skipping others (state frames, say)."""
    async with asyncio.timeout(timeout):
        while True:
            msg: dict[str, Any] = json.loads(await ws.recv())
            if msg["type"] == kind:
                return msg


async def _first_frames(ws: Any, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(10):
        return [json.loads(await ws.recv()) for _ in range(count)]


async def _wait_disconnected(http: httpx.AsyncClient, agent_id: str) -> None:
    for _ in range(200):
        if not (await http.get(f"/api/v1/agents/{agent_id}")).json()["connected"]:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the service never saw the socket go")


_TALK_TILL_HANGUP = CalleeBehaviour(
    human=1.0,
    machine=0.0,
    busy=0.0,
    invalid=0.0,
    answer_delay_s=_d({"dist": "fixed", "value": 0.05}),
    fail_delay_s=_d({"dist": "fixed", "value": 0.05}),
    talk_s=_d({"dist": "fixed", "value": 120.0}),  # the agent ends it
    machine_talk_s=_d({"dist": "fixed", "value": 0.1}),
)


async def test_a_softphone_back_after_a_lost_connection_gets_its_call_again(
    db_url: str,
) -> None:
    """A softphone that loses its connection (a reload, a dropped network)
    mid-call or in wrap-up must be able to finish the call: hang-up and
    disposition both name it, so the service sends it again on reconnect."""
    async with (
        _serve(db_url, _TALK_TILL_HANGUP) as (host, _tel),
        httpx.AsyncClient(base_url=f"http://{host}", headers=AUTH) as http,
    ):
        cid = await _campaign(http, "resume", leads=0)  # its leads carry data
        r = await http.post(
            f"/api/v1/campaigns/{cid}/leads",
            json={
                "leads": [
                    {"phone": n, "data": {"n": i}}
                    for i, n in enumerate(demo_numbers(3, time.time()))
                ]
            },
        )
        assert r.json()["accepted"] == 3, r.text
        agent = (
            await http.post("/api/v1/agents", json={"name": "ada", "campaign_ids": [cid]})
        ).json()
        url = _agent_url(host, agent)

        ws = await websockets.connect(url)
        await ws.send(json.dumps({"type": "ready"}))
        # The agent is on the call (state) before the bridge is through (call).
        states = []
        async with asyncio.timeout(10):
            while (call := json.loads(await ws.recv()))["type"] != "call":
                states.append(call)
        assert "resumed" not in call
        assert states[-1] == {"type": "state", "state": "on_call", "call_id": call["call_id"]}
        ws.transport.abort()  # gone mid-call, no closing handshake
        await _wait_disconnected(http, agent["id"])

        async with websockets.connect(url) as ws:
            resumed, state = await _first_frames(ws, 2)
            assert resumed == {**call, "resumed": True}
            assert state == {"type": "state", "state": "on_call", "call_id": call["call_id"]}
            await ws.send(json.dumps({"type": "hangup", "call_id": call["call_id"]}))
            # In either order: the state is sent at once, call_ended once stored.
            assert sorted(await _first_frames(ws, 2), key=lambda f: f["type"]) == [
                {"type": "call_ended", "call_id": call["call_id"], "by": "agent"},
                {"type": "state", "state": "wrap_up", "call_id": call["call_id"]},
            ]
            ws.transport.abort()  # gone again, now in wrap-up
        await _wait_disconnected(http, agent["id"])
        # No new call while this one is open: stop dialing before the agent is free.
        assert (await http.post(f"/api/v1/campaigns/{cid}/pause")).status_code == 200

        async with websockets.connect(url) as ws:
            # In wrap-up: the call, how it ended (it may have ended while the
            # softphone was away; before, it was never told), then the state.
            resumed, ended, state = await _first_frames(ws, 3)
            assert resumed == {**call, "resumed": True}
            assert ended == {"type": "call_ended", "call_id": call["call_id"], "by": "agent"}
            assert state == {"type": "state", "state": "wrap_up", "call_id": call["call_id"]}
            await ws.send(
                json.dumps({"type": "disposition", "call_id": call["call_id"], "code": "sale"})
            )
            # The lost connection paused the agent: it is paused once the wrap-up ends.
            assert await _next_frame(ws, "state") == {"type": "state", "state": "paused"}

        # Back once more with the call closed: nothing to resume.
        async with websockets.connect(url) as ws:
            assert await _first_frames(ws, 1) == [{"type": "state", "state": "paused"}]
        record = (await http.get(f"/api/v1/calls/{call['call_id']}")).json()
        assert record["disposition"] == "sale"
        assert record["agent_id"] == agent["id"]


async def _new_agent(http: httpx.AsyncClient, name: str) -> dict[str, Any]:
    """A new campaign's agent as ``POST /agents`` returned it (with its token)."""
    r = await http.post("/api/v1/campaigns", json={"name": f"{name}-{uuid.uuid4().hex[:6]}"})
    agent = await http.post("/api/v1/agents", json={"name": name, "campaign_ids": [r.json()["id"]]})
    return dict(agent.json())


async def _say_ready(ws: Any) -> None:
    await ws.send(json.dumps({"type": "ready"}))
    async with asyncio.timeout(10):
        while (await _next_frame(ws, "state"))["state"] != "ready":
            pass  # paused, as it connects


async def _closed_with(ws: Any) -> int | None:
    """The close code the service ends ``ws`` with (frames before it skipped)."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        async with asyncio.timeout(10):
            while True:
                await ws.recv()
    return closed.value.rcvd.code if closed.value.rcvd is not None else None


async def test_a_second_connection_closes_the_first_with_4409(
    server: tuple[str, RecordingTelephony],
) -> None:
    """Over real sockets: the newest connection is the agent's, paused until
    it says ready; the old one is closed with 4409, and once the new one
    goes the agent is paused and
    shown as disconnected (before, the old socket could make it ready again
    and its own end went unnoticed: a ready agent with no softphone)."""
    host, _ = server
    async with httpx.AsyncClient(base_url=f"http://{host}", headers=AUTH) as http:
        agent = await _new_agent(http, "bo")
        url = _agent_url(host, agent)
        async with websockets.connect(url) as old:
            await _say_ready(old)
            async with websockets.connect(url) as new:
                # Paused: the old connection is gone as if lost, and this one
                # has not said ready (before, it was routed calls as it was).
                assert await _first_frames(new, 1) == [{"type": "state", "state": "paused"}]
                assert await _closed_with(old) == 4409
                view = (await http.get(f"/api/v1/agents/{agent['id']}")).json()
                assert view["connected"] and view["state"] == "paused"
                await new.send(json.dumps({"type": "ready"}))
                assert (await _next_frame(new, "state"))["state"] == "ready"
            await _wait_disconnected(http, agent["id"])
        view = (await http.get(f"/api/v1/agents/{agent['id']}")).json()
        assert view["state"] == "paused" and not view["connected"]


async def test_a_replaced_token_cuts_off_the_old_one_and_its_open_socket(
    server: tuple[str, RecordingTelephony],
) -> None:
    """Before, nothing could revoke an agent's token: a leaked one opened the
    agent's socket for good."""
    host, _ = server
    async with httpx.AsyncClient(base_url=f"http://{host}", headers=AUTH) as http:
        agent = await _new_agent(http, "tok")
        async with websockets.connect(_agent_url(host, agent)) as old:
            await _say_ready(old)
            replaced = await http.post(f"/api/v1/agents/{agent['id']}/token")
            assert replaced.status_code == 200, replaced.text
            fresh = replaced.json()
            assert fresh["id"] == agent["id"] and fresh["token"] != agent["token"]
            assert await _closed_with(old) == 4401
        view = (await http.get(f"/api/v1/agents/{agent['id']}")).json()
        assert view["state"] == "paused" and not view["connected"]
        async with websockets.connect(_agent_url(host, agent)) as again:  # the old token
            assert await _closed_with(again) == 4401
        async with websockets.connect(_agent_url(host, fresh)) as new:
            assert await _first_frames(new, 1) == [{"type": "state", "state": "paused"}]
        missing = await http.post("/api/v1/agents/nobody/token")
        assert missing.status_code == 404


async def test_a_softphone_on_another_process_is_refused_with_4409(db_url: str) -> None:
    """Two servers on one database, over real sockets: while the agent's
    softphone is connected to one, the other closes a second socket with
    4409 naming why (both would have routed calls to the agent); once the
    first is gone the second takes it."""
    behaviour = CalleeBehaviour(
        human=0.0,
        machine=0.0,
        busy=1.0,
        invalid=0.0,
        answer_delay_s=_d({"dist": "fixed", "value": 0.1}),
        fail_delay_s=_d({"dist": "fixed", "value": 0.05}),
        talk_s=_d({"dist": "fixed", "value": 1.0}),
        machine_talk_s=_d({"dist": "fixed", "value": 0.1}),
    )
    async with _serve(db_url, behaviour) as (one, _), _serve(db_url, behaviour) as (two, _):
        async with httpx.AsyncClient(base_url=f"http://{one}", headers=AUTH) as http:
            agent = (
                await http.post("/api/v1/agents", json={"name": "cy", "campaign_ids": []})
            ).json()
            async with websockets.connect(_agent_url(one, agent)) as first:
                await _next_frame(first, "state")
                async with websockets.connect(_agent_url(two, agent)) as second:
                    with pytest.raises(websockets.ConnectionClosed) as closed:
                        async with asyncio.timeout(10):
                            await second.recv()
                rcvd = closed.value.rcvd
                assert rcvd is not None and rcvd.code == 4409
                assert "another dialer process" in rcvd.reason
            await _wait_disconnected(http, agent["id"])
        # Free once one has also let go of it in the database, just after.
        async with asyncio.timeout(10):
            while True:
                async with websockets.connect(_agent_url(two, agent)) as taken:
                    try:
                        assert (await _next_frame(taken, "state"))["state"] == "paused"
                        break
                    except websockets.ConnectionClosed as exc:
                        assert exc.rcvd is not None and exc.rcvd.code == 4409, exc
                await asyncio.sleep(0.05)


async def _campaign(http: httpx.AsyncClient, name: str, *, leads: int) -> str:
    """A running progressive campaign with ``leads`` dialable leads."""
    r = await http.post(
        "/api/v1/campaigns",
        json={
            "name": f"{name}-{uuid.uuid4().hex[:6]}",
            "mode": "progressive",
            "safe_harbor_message": SAFE_HARBOR,
            "scrub_national_registry": False,
        },
    )
    assert r.status_code == 201, r.text
    cid = str(r.json()["id"])
    if leads:
        numbers = demo_numbers(leads, time.time())
        r = await http.post(
            f"/api/v1/campaigns/{cid}/leads", json={"leads": [{"phone": n} for n in numbers]}
        )
        assert r.json()["accepted"] == leads, r.text
    assert (await http.post(f"/api/v1/campaigns/{cid}/start")).status_code == 200
    return cid


async def test_an_agent_moved_to_another_campaign_is_routed_its_calls(db_url: str) -> None:
    """Before, an agent's campaigns were fixed at its creation: moving one
    (lunch cover, a campaign run dry) meant a new agent and a new token."""
    async with (
        _serve(db_url, _TALK_TILL_HANGUP) as (host, _tel),
        httpx.AsyncClient(base_url=f"http://{host}", headers=AUTH) as http,
    ):
        dry = await _campaign(http, "dry", leads=0)
        busy = await _campaign(http, "busy", leads=3)
        agent = (
            await http.post("/api/v1/agents", json={"name": "mo", "campaign_ids": [dry]})
        ).json()
        async with websockets.connect(_agent_url(host, agent)) as ws:
            await _say_ready(ws)
            with pytest.raises(TimeoutError):  # nothing to dial in its campaign
                await _next_frame(ws, "call", timeout=0.5)
            r = await http.patch(f"/api/v1/agents/{agent['id']}", json={"campaign_ids": [busy]})
            assert r.status_code == 200, r.text
            assert r.json()["campaign_ids"] == [busy] and r.json()["name"] == "mo"
            assert await _next_frame(ws, "campaigns") == {
                "type": "campaigns",
                "campaign_ids": [busy],
            }
            call = await _next_frame(ws, "call")
            assert call["campaign_id"] == busy

            # Moved back mid-call: the call stays its campaign's to the end,
            # but the agent counts in dry's figures at once, since it frees
            # up for dry's pacer, not busy's.
            r = await http.patch(f"/api/v1/agents/{agent['id']}", json={"campaign_ids": [dry]})
            assert r.status_code == 200, r.text
            for cid, on_call in ((dry, 1), (busy, 0)):
                stats = (await http.get(f"/api/v1/campaigns/{cid}/stats")).json()
                assert stats["agents"]["on_call"] == on_call, (cid, stats)
            await ws.send(json.dumps({"type": "hangup", "call_id": call["call_id"]}))
            await _next_frame(ws, "call_ended")
            await ws.send(
                json.dumps({"type": "disposition", "call_id": call["call_id"], "code": "sale"})
            )
            async with asyncio.timeout(10):
                while (await _next_frame(ws, "state"))["state"] != "ready":
                    pass
            with pytest.raises(TimeoutError):  # back in the dry one: no more calls
                await _next_frame(ws, "call", timeout=0.5)
            for cid, ready in ((dry, 1), (busy, 0)):
                stats = (await http.get(f"/api/v1/campaigns/{cid}/stats")).json()
                assert stats["agents"]["ready"] == ready, (cid, stats)
        record = (await http.get(f"/api/v1/calls/{call['call_id']}")).json()
        assert (record["campaign_id"], record["disposition"]) == (busy, "sale")


async def test_bad_agent_changes_are_refused_and_change_nothing(
    server: tuple[str, RecordingTelephony],
) -> None:
    host, _ = server
    async with httpx.AsyncClient(base_url=f"http://{host}", headers=AUTH) as http:
        agent = await _new_agent(http, "ed")
        path = f"/api/v1/agents/{agent['id']}"
        r = await http.patch(path, json={"campaign_ids": [agent["campaign_ids"][0], "nope"]})
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"][-1] == "campaign_ids"
        assert "nope" in r.json()["detail"][0]["msg"]
        for body in ({"name": ""}, {"name": "x" * 201}, {"shift": "late"}, {"campaign_ids": "a"}):
            r = await http.patch(path, json=body)
            assert r.status_code == 422, (body, r.text)
        view = (await http.get(path)).json()
        assert (view["name"], view["campaign_ids"]) == ("ed", agent["campaign_ids"])
        r = await http.patch(path, json={"name": "Edna"})  # the campaigns stay
        assert (r.json()["name"], r.json()["campaign_ids"]) == ("Edna", agent["campaign_ids"])
        assert (await http.patch(path, json={})).json()["name"] == "Edna"
        assert (await http.patch("/api/v1/agents/nobody", json={"name": "x"})).status_code == 404
        assert (await http.delete("/api/v1/agents/nobody")).status_code == 404


async def test_a_deleted_agent_is_cut_off_but_not_mid_call(db_url: str) -> None:
    """Before, an agent could not be deleted: a leaver's token opened its
    socket for good."""
    async with (
        _serve(db_url, _TALK_TILL_HANGUP) as (host, _tel),
        httpx.AsyncClient(base_url=f"http://{host}", headers=AUTH) as http,
    ):
        cid = await _campaign(http, "leaver", leads=2)
        agent = (
            await http.post("/api/v1/agents", json={"name": "lee", "campaign_ids": [cid]})
        ).json()
        path = f"/api/v1/agents/{agent['id']}"
        async with websockets.connect(_agent_url(host, agent)) as ws:
            await _say_ready(ws)
            call = await _next_frame(ws, "call")
            r = await http.delete(path)  # mid-call: refused, nothing changes
            assert r.status_code == 409 and "disposition" in r.json()["detail"], r.text
            await ws.send(json.dumps({"type": "hangup", "call_id": call["call_id"]}))
            await _next_frame(ws, "call_ended")
            r = await http.delete(path)  # in wrap-up: refused too
            assert r.status_code == 409, r.text
            await ws.send(json.dumps({"type": "pause", "reason": "leaving"}))
            await ws.send(
                json.dumps({"type": "disposition", "call_id": call["call_id"], "code": "sale"})
            )
            async with asyncio.timeout(10):
                while (await _next_frame(ws, "state"))["state"] != "paused":
                    pass
            r = await http.delete(path)
            assert r.status_code == 204, r.text
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    while True:
                        await ws.recv()
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
                4401,
                "the agent was deleted",
            )
        assert (await http.get(path)).status_code == 404
        assert (await http.delete(path)).status_code == 404
        assert agent["id"] not in [a["id"] for a in (await http.get("/api/v1/agents")).json()]
        async with websockets.connect(_agent_url(host, agent)) as again:
            assert await _closed_with(again) == 4401
        record = (await http.get(f"/api/v1/calls/{call['call_id']}")).json()
        assert (record["agent_id"], record["disposition"]) == (agent["id"], "sale")
        stats = (await http.get(f"/api/v1/campaigns/{cid}/stats")).json()
        assert sum(stats["agents"].values()) == 0, stats


async def test_agent_changes_through_another_process_reach_its_softphone(db_url: str) -> None:
    """Two servers on one database: a move made through one reaches the
    softphone connected to the other at its refresh; a delete through the one
    is refused while the other holds the socket, and goes through once it is
    gone."""
    async with (
        _serve(db_url, _TALK_TILL_HANGUP) as (one, _),
        _serve(db_url, _TALK_TILL_HANGUP) as (two, _),
        httpx.AsyncClient(base_url=f"http://{one}", headers=AUTH) as http,
        httpx.AsyncClient(base_url=f"http://{two}", headers=AUTH) as http_two,
    ):
        dry = await _campaign(http, "dry", leads=0)
        busy = await _campaign(http, "busy", leads=1)
        agent = (
            await http.post("/api/v1/agents", json={"name": "di", "campaign_ids": [dry]})
        ).json()
        async with websockets.connect(_agent_url(two, agent)) as ws:
            await _say_ready(ws)
            r = await http.patch(f"/api/v1/agents/{agent['id']}", json={"campaign_ids": [busy]})
            assert r.status_code == 200, r.text
            assert (await _next_frame(ws, "campaigns"))["campaign_ids"] == [busy]
            call = await _next_frame(ws, "call")
            assert call["campaign_id"] == busy
            await ws.send(json.dumps({"type": "hangup", "call_id": call["call_id"]}))
            await _next_frame(ws, "call_ended")
            await ws.send(
                json.dumps({"type": "disposition", "call_id": call["call_id"], "code": "done"})
            )
            r = await http.delete(f"/api/v1/agents/{agent['id']}")
            assert r.status_code == 409 and "another dialer process" in r.text, r.text
        # Gone once two has let go of it in the database, just after the socket.
        r = await _until(
            lambda: http.delete(f"/api/v1/agents/{agent['id']}"), lambda r: r.status_code != 409
        )
        assert r.status_code == 204, r.text
        assert (await http_two.get(f"/api/v1/agents/{agent['id']}")).status_code == 404


async def _until(read: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool]) -> Any:
    """Poll ``read`` until ``ok`` holds of its result (10 s), and return it."""
    async with asyncio.timeout(10):
        while not ok(value := await read()):
            await asyncio.sleep(0.05)
    return value


async def test_any_process_shows_the_whole_floor(db_url: str) -> None:
    """Before, live figures were the answering process's alone: behind a load
    balancer a wallboard jumped between the halves of the floor, and an agent
    connected to one process looked logged out through the other."""
    async with (
        _serve(db_url, _TALK_TILL_HANGUP) as (one, _),
        httpx.AsyncClient(base_url=f"http://{one}", headers=AUTH) as http,
    ):
        cid = await _campaign(http, "floor", leads=2)
        here = (await http.post("/api/v1/agents", json={"name": "h", "campaign_ids": [cid]})).json()
        there = (
            await http.post("/api/v1/agents", json={"name": "t", "campaign_ids": [cid]})
        ).json()

        async def stats() -> dict[str, Any]:
            return dict((await http.get(f"/api/v1/campaigns/{cid}/stats")).json())

        async def agent(a: dict[str, Any]) -> dict[str, Any]:
            return dict((await http.get(f"/api/v1/agents/{a['id']}")).json())

        async with _serve(db_url, _TALK_TILL_HANGUP) as (two, _):
            # The agent on process two first: one would claim the leads for
            # its own agent otherwise, and two would have nothing to dial.
            async with websockets.connect(_agent_url(two, there)) as ws_there:
                await _say_ready(ws_there)
                call = await _next_frame(ws_there, "call")  # dialed by process two
                view = await _until(lambda: agent(there), lambda v: v["state"] == "on_call")
                assert (view["call_id"], view["connected"]) == (call["call_id"], True)
                s = await _until(stats, lambda s: s["agents"]["on_call"] == 1)
                assert s["processes"] == 2, s
                async with websockets.connect(_agent_url(one, here)) as ws_here:
                    await _next_frame(ws_here, "state")  # paused, as it connects
                    s = await _until(stats, lambda s: s["agents"]["logged_in"] == 2)
                    assert (s["agents"]["paused"], s["agents"]["on_call"]) == (1, 1), s
                await ws_there.send(json.dumps({"type": "hangup", "call_id": call["call_id"]}))
                await _next_frame(ws_there, "call_ended")
                await ws_there.send(json.dumps({"type": "pause", "reason": "home"}))
                await ws_there.send(
                    json.dumps({"type": "disposition", "call_id": call["call_id"], "code": "ok"})
                )
                async with asyncio.timeout(10):
                    while (await _next_frame(ws_there, "state"))["state"] != "paused":
                        pass
            # Both sockets gone: paused where they were, counted once each.
            s = await _until(stats, lambda s: s["agents"]["on_call"] == 0)
            assert s["agents"]["paused"] == 2 and s["agents"]["logged_in"] == 2, s
            assert (await agent(there))["connected"] is False

            async def gauged() -> float:
                """The campaign's agents over both processes' gauges, as
                Prometheus sums them."""
                total = 0.0
                for host in (one, two):
                    async with httpx.AsyncClient(base_url=f"http://{host}") as plain:
                        text = (await plain.get("/metrics")).text
                    for line in text.splitlines():
                        if line.startswith(f'dialer_agents{{campaign="{cid}"'):
                            total += float(line.rsplit(" ", 1)[1])
                return total

            # The agent from two comes back through one: two still has it
            # paused, but only one counts it (it holds the softphone).
            async with websockets.connect(_agent_url(one, there)) as back:
                await _next_frame(back, "state")
                await _until(lambda: agent(there), lambda v: v["connected"])
                await _until(gauged, lambda total: total == 2)
                await asyncio.sleep(0.5)  # a few refreshes later, still once
                assert await gauged() == 2
        # Process two stopped: its leftover is gone; both agents are paused
        # on one, where they were last.
        s = await _until(stats, lambda s: s["processes"] == 1)
        assert s["agents"]["logged_in"] == 2 and s["lines_in_flight"] == 0, s
        assert (await agent(there))["state"] == (await agent(here))["state"] == "paused"


_ANSWER_IN_A_SECOND = dataclasses.replace(
    _TALK_TILL_HANGUP, answer_delay_s=_d({"dist": "fixed", "value": 1.5})
)


async def test_a_stop_drains_calls_in_progress_before_closing(db_url: str) -> None:
    """Before, a stop closed every socket at once (1012) and then the calls:
    a person talking to an agent was cut off mid-sentence and the agent's
    disposition was lost. Now the process dials no more, lets a call that is
    ringing reach its agent, sends idle softphones away, and waits for the
    agent on a call to finish and dispose."""
    async with (
        _server(db_url, _ANSWER_IN_A_SECOND, drain_s=30.0) as (host, _tel, server),
        httpx.AsyncClient(base_url=f"http://{host}", headers=AUTH) as http,
    ):
        cid = await _campaign(http, "drain", leads=5)
        busy, idle = [
            (await http.post("/api/v1/agents", json={"name": n, "campaign_ids": [cid]})).json()
            for n in ("busy", "idle")
        ]
        ws_busy = await websockets.connect(_agent_url(host, busy))
        ws_idle = await websockets.connect(_agent_url(host, idle))
        await _next_frame(ws_idle, "state")  # paused, and stays so
        await _say_ready(ws_busy)

        async def stats() -> dict[str, Any]:
            return dict((await http.get(f"/api/v1/campaigns/{cid}/stats")).json())

        await _until(stats, lambda s: s["lines_in_flight"] == 1)  # ringing
        server.should_exit = True  # as SIGTERM does
        # The call answered during the drain still reaches its agent.
        call = await _next_frame(ws_busy, "call")
        assert await _closed_with(ws_idle) == 1012
        async with websockets.connect(_agent_url(host, idle)) as again:
            assert await _closed_with(again) == 1012  # go to another process
        await asyncio.sleep(0.5)  # still open: the agent has a call to finish
        await ws_busy.send(json.dumps({"type": "hangup", "call_id": call["call_id"]}))
        await _next_frame(ws_busy, "call_ended")
        await ws_busy.send(
            json.dumps({"type": "disposition", "call_id": call["call_id"], "code": "sale"})
        )
        s = await _until(stats, lambda s: s["blocked_reason"] is not None)
        assert s["blocked_reason"] == "process_stopping", s
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                while True:  # ready again: no call comes, the socket goes
                    frame = json.loads(await ws_busy.recv())
                    assert frame["type"] != "call", frame
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    async with (
        _serve(db_url, _ANSWER_IN_A_SECOND) as (host, _tel),
        httpx.AsyncClient(base_url=f"http://{host}", headers=AUTH) as http,
    ):
        record = (await http.get(f"/api/v1/calls/{call['call_id']}")).json()
        assert (record["disposition"], record["agent_id"]) == ("sale", busy["id"]), record
        calls = (await http.get("/api/v1/calls", params={"campaign_id": cid})).json()["items"]
        assert [c["id"] for c in calls] == [call["call_id"]]  # nothing dialed in the drain


@pytest.mark.parametrize("cut_short_by", ["drain_s", "a second Ctrl-C"])
async def test_a_drain_gives_up_and_the_stop_still_tidies(db_url: str, cut_short_by: str) -> None:
    """A call that outlasts ``drain_s``, or a second Ctrl-C, ends the drain;
    the stop then closes the call as before (uvicorn skips the app's own
    shutdown on a second Ctrl-C: the call would wait for the lease)."""
    drain_s = 0.5 if cut_short_by == "drain_s" else 60.0
    async with (
        _server(db_url, _TALK_TILL_HANGUP, drain_s=drain_s) as (host, _tel, server),
        httpx.AsyncClient(base_url=f"http://{host}", headers=AUTH) as http,
    ):
        cid = await _campaign(http, "late", leads=1)
        agent = (
            await http.post("/api/v1/agents", json={"name": "l", "campaign_ids": [cid]})
        ).json()
        ws = await websockets.connect(_agent_url(host, agent))
        await _say_ready(ws)
        call = await _next_frame(ws, "call")
        began = time.monotonic()
        server.should_exit = True  # the first SIGTERM or Ctrl-C
        await asyncio.sleep(0.5)
        if cut_short_by != "drain_s":
            server.force_exit = True  # what uvicorn does on a second SIGINT
        assert await _closed_with(ws) == 1012  # uvicorn's own close, after the drain
        assert time.monotonic() - began < 10
    async with (
        _serve(db_url, _TALK_TILL_HANGUP) as (host, _tel),
        httpx.AsyncClient(base_url=f"http://{host}", headers=AUTH) as http,
    ):
        # Closed by this stop, not left for the lease to run out.
        record = (await http.get(f"/api/v1/calls/{call['call_id']}")).json()
        assert record["ended_at"] is not None and record["disposition"] is None, record
