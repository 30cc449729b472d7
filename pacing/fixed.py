"""The fixed-level pacers: preview, progressive and power (fixed ratio)."""

from __future__ import annotations

import math

from pacing.observations import Observation
from pacing.snapshot import PacingDecision, PacingSnapshot

__all__ = ["PowerPacer", "PreviewPacer", "ProgressivePacer", "round_half_up"]


def round_half_up(x: float) -> int:
    """Round to the nearest integer, halves up (the scenario format's rule)."""
    return math.floor(x + 0.5)


class PowerPacer:
    """Keeps ``round(dial_ratio x ready agents)`` lines in flight."""

    name = "power"
    decision_interval_s: float | None = None
    needs_detail = False
    observes = False  # see CountPacer

    def __init__(self, dial_ratio: float) -> None:
        if dial_ratio <= 0:
            raise ValueError("dial_ratio must be positive")
        self.dial_ratio = dial_ratio

    def decide(self, snapshot: PacingSnapshot) -> PacingDecision:
        calls, level = self.decide_counts(snapshot.agents_ready, snapshot.lines_in_flight)
        return PacingDecision(calls=calls, dial_level=level)

    def decide_counts(self, agents_ready: int, lines_in_flight: int) -> tuple[int, float]:
        """The whole decision from the two counts it reads (see CountPacer)."""
        # round_half_up(dial_ratio x ready), written out: this runs after
        # nearly every event the core handles.
        calls = math.floor(self.dial_ratio * agents_ready + 0.5) - lines_in_flight
        return (calls if calls > 0 else 0), self.dial_ratio

    def observe(self, observation: Observation) -> None:
        """Fixed ratios learn nothing."""


class ProgressivePacer(PowerPacer):
    """One line per ready agent: power at 1.0. Never abandons without AMD."""

    name = "progressive"

    def __init__(self) -> None:
        super().__init__(1.0)


class PreviewPacer:
    """Dials nothing by itself: in preview an agent asks for each call."""

    name = "preview"
    decision_interval_s: float | None = None
    needs_detail = False
    observes = False  # see CountPacer

    def decide(self, snapshot: PacingSnapshot) -> PacingDecision:
        return PacingDecision(calls=0, dial_level=0.0)

    def decide_counts(self, agents_ready: int, lines_in_flight: int) -> tuple[int, float]:
        return 0, 0.0

    def observe(self, observation: Observation) -> None:
        """Preview learns nothing."""
