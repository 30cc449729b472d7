"""What the in-process service tests share: a fast simulated telephony and softphones."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from dialer.campaign import CampaignSettings, DialMode, RunState
from dialer.runtime.demo import demo_numbers
from dialer.runtime.service import DialerService
from simulator.distributions import parse_distribution
from simulator.telephony import CalleeBehaviour, SimulatedTelephony

__all__ = ["Softphone", "fixed", "make_campaign", "running_floor", "started", "telephony"]


def fixed(v: float) -> Any:
    return parse_distribution({"dist": "fixed", "value": v})


def telephony(human: float = 1.0, talk_s: float = 0.3) -> SimulatedTelephony:
    return SimulatedTelephony(
        CalleeBehaviour(
            human=human,
            machine=0.0,
            busy=1.0 - human,
            invalid=0.0,
            answer_delay_s=fixed(0.05),
            fail_delay_s=fixed(0.05),
            talk_s=fixed(talk_s),
            machine_talk_s=fixed(0.05),
        ),
        seed=3,
    )


class Softphone:
    def __init__(self, svc: DialerService, agent_id: str) -> None:
        self.svc = svc
        self.agent_id = agent_id
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.session: object = None
        self.replaced = False  # the service closed it for a newer connection
        self.closed_with: tuple[int, str] | None = None  # the close code and reason

    async def send(self, message: dict[str, Any]) -> None:
        self.inbox.put_nowait(message)

    async def _close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)
        self.replaced = code == 4409

    async def connect(self) -> None:
        self.session = await self.svc.agent_connected(self.agent_id, self.send, close=self._close)

    async def expect(self, kind: str, timeout: float = 15.0) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            while True:
                msg = await self.inbox.get()
                if msg["type"] == kind:
                    return msg

        return await asyncio.wait_for(wait(), timeout)

    def say(self, **message: Any) -> Any:
        return self.svc.agent_message(self.agent_id, message, session=self.session)


async def make_campaign(svc: DialerService, **kw: Any) -> str:
    """A campaign for these tests: one the national registry does not cover unless
    the test says otherwise (scrubbing has tests of its own), so it dials
    without a registry copy loaded."""
    kw.setdefault("scrub_national_registry", False)
    settings = CampaignSettings(
        id=str(uuid.uuid4()),
        name=f"c-{uuid.uuid4().hex[:6]}",
        mode=kw.pop("mode", DialMode.PROGRESSIVE),
        safe_harbor_message="ACME calling; call back on 555-0100",
        **kw,
    )
    return (await svc.create_campaign(settings)).id


@asynccontextmanager
async def started(*services: DialerService) -> AsyncIterator[None]:
    """The services started (processes on one database, say), all stopped after."""
    running: list[DialerService] = []
    try:
        for svc in services:
            await svc.start()
            running.append(svc)
        yield
    finally:
        for svc in running:
            await svc.stop()


async def running_floor(
    svc: DialerService,
    name: str,
    *,
    leads: int = 5,
    phone_on: DialerService | None = None,
    **campaign: Any,
) -> tuple[str, Softphone]:
    """A running campaign of ``svc`` with ``leads`` leads, and one agent whose
    softphone is connected (paused), to ``phone_on`` if given (another process)."""
    cid = await make_campaign(svc, state=RunState.RUNNING, **campaign)
    await svc.add_leads(cid, [{"phone": n} for n in demo_numbers(leads, time.time())])
    agent, _ = await svc.create_agent(name, [cid])
    phone = Softphone(phone_on or svc, agent.id)
    await phone.connect()
    return cid, phone
