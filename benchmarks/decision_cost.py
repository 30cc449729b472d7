"""A predictive decision as the core makes it: snapshot, decide, dial.

    .venv/bin/python benchmarks/decision_cost.py [--scenario large-500] [--minutes 60]

Runs the scenario in predictive mode for the first ``--minutes`` of its
shift and times every decision the core makes (``DialerCore._pace``: the
snapshot with every agent's and ringing call's age, the pacer's ``decide``,
and the calls it places), in this thread's CPU time. At each decision it
also times, outside that figure, the two ways of finding the agents' ages:
the walk over every agent object the core used to do, and the roster arrays
it keeps now (dialer/roster.py), and checks they agree; their ratio is the
figure to quote, both measured in the same process on the same states.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Run as a script, this folder comes first on sys.path: put the repository first.
sys.path.insert(0, str(REPO))

from dialer.agents import AgentState  # noqa: E402
from dialer.core import _I_ON_CALL, _I_READY, _I_WRAP, DialerCore  # noqa: E402
from simulator.scenario import load_scenario  # noqa: E402
from simulator.simulation import simulate  # noqa: E402

SCENARIOS = REPO.parent / "shared" / "spec" / "scenarios"
_STATES = (AgentState.ON_CALL, AgentState.WRAP_UP, AgentState.READY)


def _walk(core: DialerCore, cid: str) -> list[list[float]]:
    """The ages as the core found them before the roster: every agent visited."""
    now = core._now
    out: list[list[float]] = [[], [], []]
    for agent in core._agents.values():
        if cid not in agent.campaign_ids:
            continue
        for i, state in enumerate(_STATES):
            if agent.state is state:
                out[i].append(now - agent.since)
    return out


def _percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * q))]


def measure(scenario: str, minutes: float) -> dict[str, Any]:
    path = Path(scenario)
    if not path.exists():
        path = SCENARIOS / f"{scenario}.toml"
    sc = load_scenario(path).with_overrides(mode="predictive")
    sc = sc.model_copy(update={"duration_s": minutes * 60.0})
    pace_us: list[float] = []
    walk_us: list[float] = []
    roster_us: list[float] = []
    original = DialerCore._pace

    def timed(self: DialerCore, campaign_id: str, run: Any) -> None:
        t0 = time.thread_time_ns()
        original(self, campaign_id, run)
        pace_us.append((time.thread_time_ns() - t0) / 1e3)
        # getattr: a tree from before the roster still gives the whole figure.
        roster = getattr(self, "_rosters", {}).get(campaign_id)
        if roster is None:  # warm-up (no detailed snapshot yet), or no roster
            return
        t0 = time.thread_time_ns()
        walked = _walk(self, campaign_id)
        walk_us.append((time.thread_time_ns() - t0) / 1e3)
        t0 = time.thread_time_ns()
        kept = [roster.ages(i, self._now) for i in (_I_ON_CALL, _I_WRAP, _I_READY)]
        roster_us.append((time.thread_time_ns() - t0) / 1e3)
        assert [k.tolist() for k in kept] == walked, "roster and walk disagree"

    DialerCore._pace = timed  # type: ignore[method-assign]
    try:
        report = simulate(sc)
    finally:
        DialerCore._pace = original  # type: ignore[method-assign]
    return {
        "scenario": sc.name,
        "minutes": minutes,
        "decisions": len(pace_us),
        "pace_median_us": statistics.median(pace_us),
        "pace_p99_us": _percentile(pace_us, 0.99),
        "walk_median_us": statistics.median(walk_us) if walk_us else None,
        "roster_median_us": statistics.median(roster_us) if roster_us else None,
        "occupancy": report.occupancy,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="large-500", help="a public scenario's name or a path")
    ap.add_argument("--minutes", type=float, default=60.0)
    args = ap.parse_args(argv)
    r = measure(args.scenario, args.minutes)
    print(
        f"{r['scenario']}, first {r['minutes']:.0f} min, {r['decisions']} decisions\n"
        f"  whole decision (snapshot, decide, dials): median {r['pace_median_us']:.0f} us, "
        f"p99 {r['pace_p99_us']:.0f} us"
    )
    walk, kept = r["walk_median_us"], r["roster_median_us"]
    if walk is not None and kept is not None:
        print(f"  agents' ages: walk {walk:.0f} us, roster {kept:.0f} us (x{walk / kept:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
