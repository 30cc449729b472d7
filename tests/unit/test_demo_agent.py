"""The demo floor's simulated agents keep working through a database outage."""

from __future__ import annotations

import asyncio
import random
from typing import Any, cast

from sqlalchemy.exc import OperationalError

from dialer.errors import InvalidInput, NotFound
from dialer.runtime.demo import _DemoAgent
from dialer.runtime.service import DialerService


class _FlakyService:
    """The facade a demo agent talks to, whose dispositions fail ``failures`` times."""

    def __init__(self, failures: int, refuse: bool = False) -> None:
        self.failures = failures
        self.refuse = refuse
        self.messages: list[dict[str, Any]] = []
        self.disconnected = False
        self.close: Any = None

    async def agent_connected(self, agent_id: str, send: Any, *, close: Any = None) -> object:
        self.close = close
        return object()

    async def agent_message(
        self, agent_id: str, message: dict[str, Any], *, session: object | None = None
    ) -> None:
        self.messages.append(message)
        if message["type"] != "disposition":
            return
        if self.refuse:
            raise InvalidInput("call c1 is not this agent's call", field="call_id")
        if self.failures:
            self.failures -= 1
            raise OperationalError("UPDATE calls", {}, ConnectionRefusedError())

    async def agent_disconnected(self, agent_id: str, session: object) -> None:
        self.disconnected = True


async def _run_two_calls(service: _FlakyService) -> _DemoAgent:
    agent = _DemoAgent(cast(DialerService, service), "a1", random.Random(1))
    agent.rng.uniform = lambda a, b: 0.0  # type: ignore[method-assign]  # no after-call work
    task = asyncio.create_task(agent.run())
    await agent.send({"type": "call_ended", "call_id": "c1", "by": "customer"})
    await agent.send({"type": "call_ended", "call_id": "c2", "by": "customer"})
    async with asyncio.timeout(10):
        while (
            sum(m["type"] == "disposition" and m["call_id"] == "c2" for m in service.messages) < 1
        ):
            await asyncio.sleep(0.01)
    task.cancel()
    return agent


async def test_a_failed_disposition_is_tried_again_and_the_bot_goes_on() -> None:
    """Before, the first failure (the database away) ended the bot for good."""
    service = _FlakyService(failures=2)
    await _run_two_calls(service)
    tries = [m["call_id"] for m in service.messages if m["type"] == "disposition"]
    assert tries == ["c1", "c1", "c1", "c2"]


async def test_a_refused_disposition_is_not_tried_again() -> None:
    service = _FlakyService(failures=0, refuse=True)
    await _run_two_calls(service)
    tries = [m["call_id"] for m in service.messages if m["type"] == "disposition"]
    assert tries == ["c1", "c2"]


async def test_a_bot_whose_connection_the_service_closes_stops() -> None:
    """Before, a bot had no close callback: with its agent deleted, or a real
    softphone connected for it, it went on filing dispositions as the agent."""
    service = _FlakyService(failures=0)
    agent = _DemoAgent(cast(DialerService, service), "a1", random.Random(1))
    agent.rng.uniform = lambda a, b: 0.0  # type: ignore[method-assign]
    task = asyncio.create_task(agent.run())
    async with asyncio.timeout(5):
        while service.close is None:
            await asyncio.sleep(0.01)
    await service.close(4409, "replaced by a newer connection")
    async with asyncio.timeout(5):
        await task  # it ends by itself
    assert service.disconnected
    await agent.send({"type": "call_ended", "call_id": "c9", "by": "customer"})
    await asyncio.sleep(0.05)
    assert [m for m in service.messages if m["type"] == "disposition"] == []


async def test_a_bot_that_cannot_connect_stops_without_an_error() -> None:
    """Its agent deleted before the bot connected: the bot's task had ended
    in an exception nobody retrieved."""

    class _Gone(_FlakyService):
        async def agent_connected(self, agent_id: str, send: Any, *, close: Any = None) -> object:
            raise NotFound("agent", agent_id)

    service = _Gone(failures=0)
    agent = _DemoAgent(cast(DialerService, service), "a1", random.Random(1))
    async with asyncio.timeout(5):
        await agent.run()  # returns; raises nothing
    assert service.messages == [] and not service.disconnected
