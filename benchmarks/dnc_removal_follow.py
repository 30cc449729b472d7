"""What one do-not-call removal costs the other processes on the database.

Each process follows the lists that others change (``DIALER_DNC_REFRESH_S``).
This starts two services on one database (a fresh SQLite file, or
``--database-url``), lists ``--numbers`` numbers through the first, waits for
the second to hold them, then takes ``--removals`` numbers off through the
first, one by one, and reports, for the second: how long until it lets each
number through, and the worst lateness of a 10 ms sleeper on the event loop
meanwhile (both services share this process's loop, as a process's own
work shares its loop with its softphones and telephony).

    .venv/bin/python benchmarks/dnc_removal_follow.py --numbers 500000

It uses the tree it sits in: run it from a checkout of an older commit for
the figures before.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dialer.runtime.service import DialerService
from dialer.runtime.settings import Settings
from simulator.telephony import SimulatedTelephony


def _service(url: str) -> DialerService:
    return DialerService(
        Settings(database_url=url, api_key="bench", dnc_refresh_s=0.2),
        telephony=SimulatedTelephony(),
    )


async def _lag_monitor(worst: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(0.01)
        worst[0] = max(worst[0], time.perf_counter() - t - 0.01)


async def measure(url: str, numbers: int, removals: int) -> tuple[list[float], list[float]]:
    first, second = _service(url), _service(url)
    await first.start()
    await second.start()
    try:
        phones = [f"+1212{2_000_000 + i:07d}" for i in range(numbers)]
        for i in range(0, numbers, 50_000):
            await first.add_dnc(phones[i : i + 50_000], None)
        while not second.dnc.blocked(phones[-1], "any"):
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # settled
        follow_s: list[float] = []
        lags: list[float] = []
        for phone in phones[:: max(1, numbers // removals)][:removals]:
            worst = [0.0]
            stop = asyncio.Event()
            monitor = asyncio.create_task(_lag_monitor(worst, stop))
            started = time.perf_counter()
            await first.remove_dnc(phone)
            while second.dnc.blocked(phone, "any"):
                await asyncio.sleep(0.005)
            follow_s.append(time.perf_counter() - started)
            await asyncio.sleep(0.5)  # the lag of what follows the removal, too
            stop.set()
            await monitor
            lags.append(worst[0])
        return follow_s, lags
    finally:
        await second.stop()
        await first.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=500_000)
    parser.add_argument("--removals", type=int, default=5)
    parser.add_argument("--database-url", help="an empty database (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'dialer.db'}"
        follow_s, lags = asyncio.run(measure(url, args.numbers, args.removals))
    print(
        f"{args.numbers:,} numbers listed; {args.removals} removals: the other process lets"
        f" the number through after {statistics.median(follow_s):.2f} s (median, worst"
        f" {max(follow_s):.2f} s); worst loop lag {statistics.median(lags) * 1000:.0f} ms"
        f" (median over removals, worst {max(lags) * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
