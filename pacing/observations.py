"""Outcomes of a campaign's own calls, fed by the core to its pacer's estimators.

All times are seconds on the driver's clock (``at_s``) or durations (``*_s``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "AttemptResolved",
    "HandlingEnded",
    "Observation",
    "Outcome",
]

Outcome = Literal["human", "machine", "busy", "invalid", "no_answer", "failed"]


@dataclass(frozen=True, slots=True)
class AttemptResolved:
    """A dial attempt's first resolution, as the dialer saw it.

    ``delay_s`` is placed -> answer for ``human``/``machine``, placed -> signal for
    ``busy``/``invalid``/``failed``, and the ring time given up after for
    ``no_answer`` (a right-censored answer delay). ``outcome`` is what the core
    knows: without AMD an answering machine is first reported as ``human`` and
    corrected by a later ``AttemptResolved`` with ``corrected=True`` when the agent
    who took it says so (the estimator should move that count from human to
    machine).
    """

    at_s: float
    outcome: Outcome
    delay_s: float
    corrected: bool = False


@dataclass(frozen=True, slots=True)
class HandlingEnded:
    """An agent finished handling one call: ``talk_s`` connected, then ``wrap_s``.

    ``machine`` says the call was an answering machine that reached the agent.
    ``wrap_s`` is None when the wrap-up is not over yet (reported at talk end);
    the core then sends a second observation with ``talk_s=None``.
    """

    at_s: float
    talk_s: float | None
    wrap_s: float | None
    machine: bool = False


Observation = AttemptResolved | HandlingEnded
