"""A pacing-decision trace: one JSON line per decision, for engineers to read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from pacing.snapshot import PacingDecision, PacingSnapshot

__all__ = ["TraceWriter"]

_FIELDS = (
    "agents_logged_in",
    "agents_ready",
    "agents_on_call",
    "agents_wrap_up",
    "agents_paused",
    "lines_ringing",
    "lines_answered_unclassified",
    "lines_waiting",
    "window_human_answered",
    "window_abandoned",
)


class TraceWriter:
    """Called by the core as its ``decision_log``; writes JSON lines to ``path``."""

    def __init__(self, path: Path) -> None:
        self._file: IO[str] = path.open("w", encoding="utf-8")

    def __call__(self, campaign_id: str, snap: PacingSnapshot, decision: PacingDecision) -> None:
        row: dict[str, object] = {"t": round(snap.now_s, 3), "campaign": campaign_id}
        for name in _FIELDS:
            row[name] = getattr(snap, name)
        row["calls"] = decision.calls
        row["dial_level"] = round(decision.dial_level, 4)
        if decision.predicted_abandon is not None:
            row["predicted_abandon"] = round(decision.predicted_abandon, 5)
        if decision.explain:
            row["explain"] = decision.explain
        self._file.write(json.dumps(row, default=float) + "\n")

    def close(self) -> None:
        self._file.close()
