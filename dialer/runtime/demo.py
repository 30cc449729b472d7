"""``dialer serve --demo``: a campaign, leads and simulated agents, so calls flow at once.

The demo agents are small in-process softphones: they speak the same
messages a WebSocket softphone does, through the same service methods, so
what a newcomer watches is the real service at work. Leads are example
numbers from regions where it is now inside calling hours, so the compliance
gate lets them through whatever the time of day.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import phonenumbers

from dialer.campaign import CampaignSettings, DialMode, RunState
from dialer.compliance.hours import check_calling_hours
from dialer.compliance.phones import zones_for_number
from dialer.compliance.profiles import campaign_hours
from dialer.errors import DialerError, InvalidInput

if TYPE_CHECKING:
    from dialer.runtime.service import DialerService

__all__ = ["DemoFloor", "demo_numbers"]

log = logging.getLogger(__name__)

DEMO_CAMPAIGN = "Demo campaign"
DEMO_REGISTRY = "demo registry"
# The longest wait between a demo agent's tries at a disposition.
_RETRY_CAP_S = 5.0
# What a bot's inbox gets when the service closes its connection.
_CLOSED = "_closed"
_REGIONS = ("US", "CA", "GB", "IE", "AU", "NZ", "JP", "IN", "ZA", "BR", "DE", "SG")


def demo_numbers(count: int, wall_epoch: float, seed: int = 1) -> list[str]:
    """Valid numbers whose every zone is inside 08:00-21:00 at ``wall_epoch``."""
    rng = random.Random(seed)
    hours = campaign_hours("us", 8 * 60, 21 * 60)
    open_regions = []
    for region in _REGIONS:
        example = phonenumbers.example_number(region)
        if example is None:
            continue
        e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        zones = zones_for_number(e164)
        if check_calling_hours(wall_epoch, zones, hours).allowed:
            open_regions.append(e164)
    if not open_regions:
        return []
    out: set[str] = set()
    attempts = 0
    while len(out) < count and attempts < count * 20:
        attempts += 1
        base = rng.choice(open_regions)
        digits = list(base[1:])
        for i in range(len(digits) - 4, len(digits)):
            digits[i] = str(rng.randrange(10))
        candidate = "+" + "".join(digits)
        try:
            number = phonenumbers.parse(candidate, None)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number) and zones_for_number(candidate) == zones_for_number(
            base
        ):
            out.add(candidate)
    return sorted(out)


class _DemoAgent:
    def __init__(self, service: DialerService, agent_id: str, rng: random.Random) -> None:
        self.service = service
        self.agent_id = agent_id
        self.rng = rng
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.session: object = None

    async def send(self, message: dict[str, Any]) -> None:
        self.inbox.put_nowait(message)

    async def _closed(self, code: int, reason: str) -> None:
        """The service closed this bot's "socket" (the agent deleted, its token
        replaced, a real softphone connected for it): the bot stops, as a
        softphone would, rather than go on speaking for the agent."""
        log.info("demo agent %s: closed (%d, %s); it stops", self.agent_id, code, reason)
        self.inbox.put_nowait({"type": _CLOSED})

    async def run(self) -> None:
        try:
            session = await self.service.agent_connected(
                self.agent_id, self.send, close=self._closed
            )
        except DialerError as exc:  # deleted meanwhile, or on another process
            log.info("demo agent %s: cannot connect (%s); it stops", self.agent_id, exc)
            return
        self.session = session
        try:
            await self.service.agent_message(self.agent_id, {"type": "ready"}, session=session)
            while True:
                msg = await self.inbox.get()
                if msg.get("type") == _CLOSED:
                    return
                if msg.get("type") != "call_ended":
                    continue
                # After-call work, then a disposition: the agent is ready again.
                await asyncio.sleep(self.rng.uniform(2.0, 8.0))
                await self._dispose(msg["call_id"])
        finally:
            await self.service.agent_disconnected(self.agent_id, session)

    async def _dispose(self, call_id: str) -> None:
        """File the disposition, trying again while the service cannot (its
        database away): the bot gave up, and the demo floor lost an agent."""
        delay = 0.5
        while True:
            try:
                await self.service.agent_message(
                    self.agent_id,
                    {"type": "disposition", "call_id": call_id, "code": "demo"},
                    session=self.session,
                )
                return
            except DialerError as exc:  # refused, not failed: trying again changes nothing
                log.info("demo agent %s: disposition refused: %s", self.agent_id, exc)
                return
            except Exception as exc:
                log.warning(
                    "demo agent %s: disposition failed (%s); again in %.1f s",
                    self.agent_id,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_CAP_S)


class DemoFloor:
    """Creates the demo campaign (once) and runs its simulated agents."""

    def __init__(self, service: DialerService, agents: int, seed: int = 7) -> None:
        self.service = service
        self.agents = agents
        self.rng = random.Random(seed)
        self._tasks: list[asyncio.Task[None]] = []

    async def _registry_is_ours(self) -> bool:
        """Whether the us copy in force is the demo's own stand-in."""
        current = await self.service.list_registry_loads("us", limit=1)
        return bool(current) and current[0].name == DEMO_REGISTRY

    async def start(self) -> None:
        svc = self.service
        numbers = demo_numbers(2000, time.time())
        age = svc.registry_age_days("us")
        if age is None or (age > 1 and await self._registry_is_ours()):
            # A stand-in for the national registry (a real one comes from the
            # FTC's site, POST /api/v1/dnc/registry): a few of the demo's own
            # numbers, so the lead load shows them scrubbed. A copy the user
            # loaded is never replaced by it, stale or not.
            async def registry_file() -> AsyncIterator[bytes]:
                yield "\n".join(numbers[:: len(numbers) // 20 or 1]).encode()

            await svc.load_registry("us", registry_file(), name=DEMO_REGISTRY)
        existing = [c for c in await svc.list_campaigns() if c.settings.name == DEMO_CAMPAIGN]
        if existing:
            campaign = existing[0]
        else:
            import uuid

            campaign = await svc.create_campaign(
                CampaignSettings(
                    id=str(uuid.uuid4()),
                    name=DEMO_CAMPAIGN,
                    mode=DialMode.PREDICTIVE,
                    safe_harbor_message="This was the dialer demo. Call us back on 555-0100.",
                    max_attempts=3,
                )
            )
            loaded = await svc.add_leads(
                campaign.id, [{"phone": n, "data": {"demo": True}} for n in numbers]
            )
            log.info(
                "demo floor: %d leads loaded, %d scrubbed as do-not-call",
                loaded.accepted,
                loaded.dnc,
            )
        agents = [a for a in await svc.list_agents() if campaign.id in a.agent.campaign_ids]
        while len(agents) < self.agents:
            agent, _token = await svc.create_agent(f"demo agent {len(agents) + 1}", [campaign.id])
            agents.append(await svc.get_agent(agent.id))
        if campaign.settings.state is not RunState.RUNNING:
            try:
                await svc.set_campaign_state(campaign.id, RunState.RUNNING)
            except InvalidInput as exc:
                # Someone changed the demo campaign so that it may not run (no
                # safe-harbor message, say): say so and serve anyway, rather
                # than refuse to start over a campaign the user can fix.
                log.warning(
                    "demo floor: campaign %s cannot be started (%s): fix it with "
                    "PATCH /api/v1/campaigns/%s, then POST .../start",
                    campaign.id,
                    exc,
                    campaign.id,
                )
        for view in agents[: self.agents]:
            bot = _DemoAgent(svc, view.agent.id, random.Random(self.rng.random()))
            self._tasks.append(asyncio.create_task(bot.run(), name=f"demo-{view.agent.id}"))
        log.info("demo floor: campaign %s with %d simulated agents", campaign.id, self.agents)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
