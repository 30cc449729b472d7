"""How long a do-not-call load takes, and how long small writes wait behind it.

A ``POST /dnc`` of tens of thousands of numbers went in one transaction, one
UPDATE of the leads per number: 50,000 numbers held SQLite's write lock for
about 40 s, and the process's heartbeat, which other processes judge it
alive by, failed behind it. This starts a service on a fresh database
(SQLite, or ``--database-url``), loads ``--leads`` leads, then lists
``--numbers`` numbers (half of them those leads') while another task commits a
one-row write every 20 ms, and prints the load's time and the worst wait.

    .venv/bin/python benchmarks/dnc_load_lock.py --numbers 50000

It uses the tree it sits in: run it from a checkout of an older commit for
the figures before.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dialer.campaign import CampaignSettings
from dialer.runtime.service import DialerService
from dialer.runtime.settings import Settings
from simulator.telephony import SimulatedTelephony


async def measure(url: str, numbers: int, leads: int) -> tuple[float, float, int]:
    service = DialerService(
        Settings(database_url=url, api_key="bench"), telephony=SimulatedTelephony()
    )
    await service.start()
    try:
        campaign = await service.create_campaign(
            CampaignSettings(id="", name="bench", scrub_national_registry=False)
        )
        phones = [f"+1212{2_000_000 + i:07d}" for i in range(numbers)]
        step = max(1, numbers // max(leads, 1))
        rows = [{"phone": p} for p in phones[::step][:leads]]
        await service.add_leads(campaign.id, rows)
        started = time.perf_counter()
        load = asyncio.create_task(service.add_dnc(phones, None))
        worst = 0.0
        failed = 0
        while not load.done():
            t = time.perf_counter()
            while True:  # a write that fails ("database is locked") is tried again
                try:
                    await service.store.set_setting("probe", str(t))
                    break
                except Exception:
                    failed += 1
            worst = max(worst, time.perf_counter() - t)
            await asyncio.sleep(0.02)
        result = await load
        assert result.added == numbers, result
        return time.perf_counter() - started, worst, failed
    finally:
        await service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=50_000)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--database-url", help="an empty database (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'dialer.db'}"
        load_s, worst_s, failed = asyncio.run(measure(url, args.numbers, args.leads))
    print(
        f"{args.numbers:,} numbers listed over {args.leads:,} leads in {load_s:.2f} s; "
        f"worst small write {worst_s:.3f} s ({failed} tries failed)"
    )


if __name__ == "__main__":
    main()
