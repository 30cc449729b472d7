"""A floor logging in at once: how long N softphones take to attach.

At a shift's start every softphone connects within seconds. Each attach
holds a pooled database connection while it runs, and the rest of the
service (its gauges, lead claims, the calls' writes) waits for one. This
starts a service (a fresh SQLite file, or ``--database-url``), makes
``--agents`` agents, attaches them all at once (in-process softphones: what
is measured is the service and its database, not WebSocket framing), and
prints how long the last took and how long a small read waited for the pool
meanwhile (worst of one every 20 ms).

    .venv/bin/python benchmarks/attach_storm.py --agents 1000 [--database-url URL]

It uses the tree it sits in: run it from a checkout of an older commit for
the figures before.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dialer.campaign import CampaignSettings
from dialer.runtime.service import DialerService
from dialer.runtime.settings import Settings
from simulator.telephony import SimulatedTelephony


async def _drop(_message: dict[str, Any]) -> None:
    return None


async def measure(url: str, agents: int) -> tuple[float, float]:
    service = DialerService(
        Settings(database_url=url, api_key="bench"), telephony=SimulatedTelephony()
    )
    await service.start()
    try:
        campaign = await service.create_campaign(
            CampaignSettings(
                id="", name=f"storm-{uuid.uuid4().hex[:8]}", scrub_national_registry=False
            )
        )
        ids = [(await service.create_agent(f"a{i}", [campaign.id]))[0].id for i in range(agents)]
        worst = 0.0
        started = time.perf_counter()
        storm = asyncio.gather(*(service.agent_connected(i, _drop) for i in ids))
        while not storm.done():
            t = time.perf_counter()
            await service.store.get_campaign(campaign.id)
            worst = max(worst, time.perf_counter() - t)
            await asyncio.sleep(0.02)
        await storm
        return time.perf_counter() - started, worst
    finally:
        await service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--database-url", help="an empty database (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'dialer.db'}"
        took_s, worst_s = asyncio.run(measure(url, args.agents))
    print(
        f"{args.agents:,} softphones attached in {took_s:.2f} s; a small read waited"
        f" at worst {worst_s:.3f} s meanwhile"
    )


if __name__ == "__main__":
    main()
