"""How long a small write waits while a big lead load runs on SQLite.

The record of an answered call (which its bridge waits for, with the law
counting two seconds) is a small write; a lead load of tens of thousands of
rows used to hold SQLite's write lock for its whole transaction. This loads
``--leads`` leads into a fresh SQLite database while another task commits a
one-row write every 20 ms, and prints the load's time and the worst wait of
the small writes.

    .venv/bin/python benchmarks/lead_load_lock.py --leads 50000
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
from dialer.runtime.store import RuntimeStore
from dialer.storage import NewLead, campaigns


async def measure(leads: int, folder: Path) -> tuple[float, float]:
    store = RuntimeStore(f"sqlite+aiosqlite:///{folder / 'dialer.db'}", owner="bench")
    await store.open()
    try:
        async with store.db.transaction() as s:
            made = await campaigns.create_campaign(
                s, settings=CampaignSettings(id="", name="bench")
            )
        batch = [NewLead(f"+1415{5_000_000 + i:07d}") for i in range(leads)]
        started = time.perf_counter()
        load = asyncio.create_task(store.add_leads(made.id, batch))
        worst = 0.0
        while not load.done():
            t = time.perf_counter()
            await store.set_setting("probe", str(t))
            worst = max(worst, time.perf_counter() - t)
            await asyncio.sleep(0.02)
        await load
        return time.perf_counter() - started, worst
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        load_s, worst_s = asyncio.run(measure(args.leads, Path(folder)))
    print(f"{args.leads:,} leads loaded in {load_s:.2f} s; worst small write {worst_s:.3f} s")


if __name__ == "__main__":
    main()
