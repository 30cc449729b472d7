"""Simulator speed: every public scenario in power mode at ratio 3.

    .venv/bin/python benchmarks/simulator.py [--scenarios DIR] [--repeat N]

Prints, per scenario, the events the core handled, wall time (best of N) and
events per second. The baseline ratio quoted in RESULTS.md is against
``baseline_loop``: a bare heap loop pushing and popping the same number of
events in the same process, so the ratio says how many times dearer one
simulated event is than the cheapest possible discrete-event step on this
machine, whatever the machine's speed today.
"""

from __future__ import annotations

import argparse
import heapq
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


def baseline_loop(n: int) -> float:
    """Push and pop ``n`` tuples through a heap: the floor for any DES step."""
    heap: list[tuple[float, int]] = []
    started = time.perf_counter()
    t = 0.0
    for i in range(n):
        heapq.heappush(heap, (t + (i % 97) * 0.1, i))
        if len(heap) > 500:
            t = heapq.heappop(heap)[0]
    while heap:
        heapq.heappop(heap)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ratio", type=float, default=3.0)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"{'scenario':<18}{'events':>10}{'wall s':>9}{'events/s':>12}{'x heap floor':>14}")
    for path in sorted(args.scenarios.glob("*.toml")):
        sc = load_scenario(path).with_overrides(mode="power", dial_ratio=args.ratio)
        best = None
        for _ in range(args.repeat):
            rep = simulate(sc)
            if best is None or rep.wall_time_s < best.wall_time_s:
                best = rep
        assert best is not None
        floor = baseline_loop(best.events)
        print(
            f"{sc.name:<18}{best.events:>10,}{best.wall_time_s:>9.2f}"
            f"{best.events / best.wall_time_s:>12,.0f}{best.wall_time_s / floor:>14.1f}"
        )


if __name__ == "__main__":
    main()
