"""Simulator speed: every public scenario in power mode at ratio 3.

    .venv/bin/python benchmarks/simulator.py [--scenarios DIR] [--only NAME] [--repeat N]

Prints, per scenario, the events the core handled, wall time (best of N),
events per second, and the same run's CPU time (best of N; on a shared
machine it moves less than wall time, which also counts the time this
process waited for a core). The baseline ratio quoted in RESULTS.md is
against ``baseline_loop``: a bare heap loop pushing and popping the same
number of events in the same process (also best of N), so the ratio says how
many times dearer one simulated event is than the cheapest possible
discrete-event step on this machine, whatever the machine's speed today.
"""

from __future__ import annotations

import argparse
import heapq
import math
import platform
import sys
import time
from pathlib import Path

# This script shares its name with the package it measures: keep its own
# folder off the import path so ``import simulator`` finds the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from simulator.scenario import load_scenario  # noqa: E402
from simulator.simulation import simulate  # noqa: E402

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "spec" / "scenarios"


def baseline_loop(n: int) -> tuple[float, float]:
    """Push and pop ``n`` tuples through a heap: the floor for any DES step.

    Returns (wall seconds, CPU seconds).
    """
    heap: list[tuple[float, int]] = []
    started = time.perf_counter()
    cpu_started = time.process_time()
    t = 0.0
    for i in range(n):
        heapq.heappush(heap, (t + (i % 97) * 0.1, i))
        if len(heap) > 500:
            t = heapq.heappop(heap)[0]
    while heap:
        heapq.heappop(heap)
    return time.perf_counter() - started, time.process_time() - cpu_started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--only", help="run only the scenario of this name (file stem)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ratio", type=float, default=3.0)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(
        f"{'scenario':<18}{'events':>10}{'wall s':>9}{'events/s':>12}{'x heap floor':>14}"
        f"{'cpu s':>8}{'cpu x floor':>13}"
    )
    for path in sorted(args.scenarios.glob("*.toml")):
        if args.only is not None and path.stem != args.only:
            continue
        sc = load_scenario(path).with_overrides(mode="power", dial_ratio=args.ratio)
        wall = cpu = floor_wall = floor_cpu = math.inf
        events = 0
        for _ in range(args.repeat):
            cpu_started = time.process_time()
            rep = simulate(sc)
            cpu = min(cpu, time.process_time() - cpu_started)
            wall = min(wall, rep.wall_time_s)
            events = rep.events
        for _ in range(args.repeat):
            w, c = baseline_loop(events)
            floor_wall, floor_cpu = min(floor_wall, w), min(floor_cpu, c)
        print(
            f"{sc.name:<18}{events:>10,}{wall:>9.2f}{events / wall:>12,.0f}"
            f"{wall / floor_wall:>14.1f}{cpu:>8.2f}{cpu / floor_cpu:>13.1f}"
        )


if __name__ == "__main__":
    main()
