"""The simulation report (spec/scenario-format.md, "Report") and its renderings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["Report", "render_report"]


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    seed: int
    mode: str
    dial_ratio: float | None
    duration_s: float
    attempts: int
    human_answered: int
    machine_answered: int
    abandoned: int
    abandon_rate: float
    occupancy: float
    connects_per_agent_hour: float
    mean_agent_wait_s: float
    occupancy_limit: float
    # Extras beyond the spec's minimum.
    outcomes: dict[str, int] = field(default_factory=dict)
    connects: int = 0
    machine_connects: int = 0
    amd_false_positive_abandons: int = 0
    agent_hours: float = 0.0
    max_abandon_rate: float = 0.03
    wall_time_s: float = 0.0
    events: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def within_cap(self) -> bool:
        return self.abandon_rate <= self.max_abandon_rate


def render_report(report: Report, console: Console) -> None:
    """A readable summary for people (``--json`` is for programs)."""
    title = f"{escape(report.name)}  (seed {report.seed}, mode {escape(report.mode)}"
    if report.dial_ratio is not None:
        title += f", ratio {report.dial_ratio:g}"
    title += f", {report.duration_s / 3600:.1f} h)"
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("figure", style="bold")
    table.add_column("value", justify="right")
    cap_style = "green" if report.within_cap else "bold red"
    table.add_row(
        "occupancy",
        f"{report.occupancy:.1%}  (limit {report.occupancy_limit:.1%})",
    )
    table.add_row(
        "abandonment",
        f"[{cap_style}]{report.abandon_rate:.2%}[/]  "
        f"({report.abandoned} of {report.human_answered} answered by people;"
        f" cap {report.max_abandon_rate:.0%})",
    )
    table.add_row("connects per agent hour", f"{report.connects_per_agent_hour:.1f}")
    table.add_row("mean agent wait", f"{report.mean_agent_wait_s:.1f} s")
    table.add_row("attempts", f"{report.attempts}")
    for outcome, n in report.outcomes.items():
        share = n / report.attempts if report.attempts else 0.0
        table.add_row(f"  {outcome}", f"{n}  ({share:.1%})")
    table.add_row("machines reaching agents", f"{report.machine_connects}")
    if report.amd_false_positive_abandons:
        table.add_row("people hung up on by AMD", f"{report.amd_false_positive_abandons}")
    table.add_row("agent hours", f"{report.agent_hours:.1f}")
    if report.wall_time_s:
        rate = report.events / max(report.wall_time_s, 1e-9)
        table.add_row("simulated in", f"{report.wall_time_s:.2f} s ({rate:,.0f} events/s)")
    console.print(table)
