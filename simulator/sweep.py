"""``dialer sweep``: power mode over a grid of dial ratios and seeds, in parallel.

The hindsight-best fixed ratio is the one with the highest mean occupancy whose
abandonment stays at or under the cap on *every* seed: the baseline a
predictive pacer has to beat, since no real call center knows it in advance.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from simulator.report import Report
from simulator.scenario import Scenario
from simulator.simulation import simulate

__all__ = ["SweepPoint", "SweepResult", "parse_ratios", "plot_sweep", "sweep"]


@dataclass(frozen=True, slots=True)
class SweepPoint:
    ratio: float
    reports: tuple[Report, ...]

    @property
    def occupancy(self) -> float:
        return sum(r.occupancy for r in self.reports) / len(self.reports)

    @property
    def abandon_mean(self) -> float:
        return sum(r.abandon_rate for r in self.reports) / len(self.reports)

    @property
    def abandon_max(self) -> float:
        return max(r.abandon_rate for r in self.reports)

    @property
    def connects_per_agent_hour(self) -> float:
        return sum(r.connects_per_agent_hour for r in self.reports) / len(self.reports)

    @property
    def mean_agent_wait_s(self) -> float:
        return sum(r.mean_agent_wait_s for r in self.reports) / len(self.reports)

    def within_cap(self, cap: float) -> bool:
        return all(r.abandon_rate <= cap for r in self.reports)


@dataclass(frozen=True, slots=True)
class SweepResult:
    scenario: str
    cap: float
    points: tuple[SweepPoint, ...]
    occupancy_limit: float

    @property
    def best(self) -> SweepPoint | None:
        """The hindsight-best fixed ratio (None if no ratio keeps under the cap)."""
        ok = [p for p in self.points if p.within_cap(self.cap)]
        return max(ok, key=lambda p: (p.occupancy, -p.ratio)) if ok else None


#: More ratios than this is a typo in the step (1e-9 for 0.1), not a sweep.
MAX_RATIOS = 1000


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"ratios: {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"ratios: {text.strip()!r} is not a finite number")
    return value


def parse_ratios(spec: str) -> list[float]:
    """``"1.0:6.0:0.05"`` (start:stop:step, stop included) or ``"1,1.5,2"``."""
    spec = spec.strip()
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) != 3:
            raise ValueError("use start:stop:step, e.g. 1.0:6.0:0.05")
        start, stop, step = (_number(p) for p in parts)
        if step <= 0 or start <= 0 or stop < start:
            raise ValueError("need 0 < start <= stop and step > 0")
        steps = (stop - start) / step
        if not math.isfinite(steps) or steps + 1 > MAX_RATIOS:
            raise ValueError(
                f"{start:g}:{stop:g}:{step:g} makes too many ratios: "
                f"at most {MAX_RATIOS:,} (a larger step?)"
            )
        # Never past stop; the tolerance keeps 1:2:0.1 from losing 2 to float noise.
        n = math.floor(steps + 1e-9)
        return [_tidy(start + i * step) for i in range(n + 1)]
    ratios = [_number(p) for p in spec.split(",") if p.strip()]
    if not ratios or any(r <= 0 for r in ratios):
        raise ValueError("need positive numbers")
    if len(ratios) > MAX_RATIOS:
        raise ValueError(f"{len(ratios):,} ratios: at most {MAX_RATIOS:,}")
    return ratios


def _tidy(ratio: float) -> float:
    """``ratio`` without float noise (1.2000000000000002 -> 1.2), however small it is."""
    return float(f"{ratio:.12g}")


def _run_one(args: tuple[Scenario, float, int]) -> Report:
    scenario, ratio, seed = args
    return simulate(scenario.with_overrides(mode="power", dial_ratio=ratio, seed=seed))


def sweep(
    scenario: Scenario,
    ratios: Sequence[float],
    seeds: Sequence[int],
    *,
    workers: int | None = None,
    on_done: Callable[[], None] | None = None,
) -> SweepResult:
    jobs = [(scenario, r, s) for r in ratios for s in seeds]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    if workers <= 1:
        results = []
        for job in jobs:
            results.append(_run_one(job))
            if on_done:
                on_done()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = []
            for rep in pool.map(_run_one, jobs, chunksize=1):
                results.append(rep)
                if on_done:
                    on_done()
    points = []
    for i, ratio in enumerate(ratios):
        chunk = results[i * len(seeds) : (i + 1) * len(seeds)]
        points.append(SweepPoint(ratio, tuple(chunk)))
    return SweepResult(
        scenario=scenario.name,
        cap=scenario.campaign.max_abandon_rate,
        points=tuple(points),
        occupancy_limit=scenario.occupancy_limit,
    )


def plot_sweep(result: SweepResult, path: Path) -> None:
    """Occupancy and abandonment against the dial ratio, with the cap as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratios = [p.ratio for p in result.points]
    fig, ax_occ = plt.subplots(figsize=(9, 5))
    ax_occ.plot(
        ratios,
        [p.occupancy * 100 for p in result.points],
        color="tab:blue",
        label="occupancy (mean)",
    )
    ax_occ.axhline(
        result.occupancy_limit * 100, color="tab:blue", linestyle=":", label="occupancy limit"
    )
    ax_occ.set_xlabel("dial ratio (lines per ready agent)")
    ax_occ.set_ylabel("occupancy, %", color="tab:blue")
    ax_ab = ax_occ.twinx()
    ax_ab.plot(
        ratios,
        [p.abandon_mean * 100 for p in result.points],
        color="tab:red",
        label="abandonment (mean)",
    )
    ax_ab.fill_between(
        ratios,
        [min(r.abandon_rate for r in p.reports) * 100 for p in result.points],
        [p.abandon_max * 100 for p in result.points],
        color="tab:red",
        alpha=0.15,
        label="abandonment (min-max over seeds)",
    )
    ax_ab.axhline(result.cap * 100, color="black", linestyle="--", label=f"cap {result.cap:.0%}")
    ax_ab.set_ylabel("abandonment, % of human-answered", color="tab:red")
    best = result.best
    if best is not None:
        ax_occ.axvline(
            best.ratio, color="tab:green", alpha=0.6, label=f"best fixed ratio {best.ratio:g}"
        )
    lines = ax_occ.get_legend_handles_labels()
    lines2 = ax_ab.get_legend_handles_labels()
    ax_occ.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper left", fontsize=8)
    ax_occ.set_title(
        f"{result.scenario}: power mode sweep over {len(result.points[0].reports)} seeds"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
