"""What a pacer sees and what it answers.

The core builds a :class:`PacingSnapshot` for one campaign and asks its pacer
how many calls to start *now*. Pacing is pure: it knows nothing of the core's
types, of clocks or of I/O; everything it may use is in the snapshot or in the
observations the core feeds it (see :mod:`pacing.observations`).

Counting conventions (these match spec/scenario-format.md, "Power mode"):

- ``lines_in_flight`` counts calls that are placed and neither ended nor
  connected to an agent: ringing calls, answered calls waiting for AMD, and
  answered calls waiting for an agent. A call bridged to an agent is the
  agent's, not a line in flight.
- Agent counts are of agents eligible for this campaign. An agent serving
  several running campaigns is counted in each (blended pacing is a roadmap
  item); the simulator always has one campaign.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from pacing.observations import Observation

__all__ = [
    "EMPTY",
    "CountPacer",
    "Pacer",
    "PacingDecision",
    "PacingSnapshot",
]

FloatArray = npt.NDArray[np.float64]
EMPTY: FloatArray = np.zeros(0, dtype=np.float64)
EMPTY.setflags(write=False)


class PacingSnapshot(NamedTuple):
    """One campaign's state at a decision instant ``now_s`` (seconds, driver clock).

    A NamedTuple rather than a frozen dataclass: it is as immutable, and the
    core builds one for every decision, so construction cost matters (a
    frozen dataclass's ``__init__`` is several times dearer).
    """

    now_s: float
    # Agents (eligible for this campaign) by state.
    agents_logged_in: int
    agents_ready: int
    agents_on_call: int
    agents_wrap_up: int
    agents_paused: int
    # Lines: placed, not ended, not connected to an agent.
    lines_ringing: int
    lines_answered_unclassified: int  # answered, AMD still listening
    lines_waiting: int  # answered (and classified human, with AMD), waiting for an agent
    # Abandonment so far in the campaign's compliance window.
    # (estimated for campaigns without AMD: see DialerCore._window_estimate)
    window_human_answered: float
    window_abandoned: float
    max_abandon_rate: float
    # Seconds left in the compliance window (the simulator: to the end of the shift).
    window_remaining_s: float
    # Campaign settings the pacer needs.
    ring_timeout_s: float
    connect_deadline_s: float
    amd_enabled: bool
    amd_detect_s: float = 0.0
    amd_false_positive_rate: float = 0.0
    dial_ratio: float = 1.0  # power mode; also the level the adaptive mode starts from
    target_agent_wait_s: float | None = None
    leads_remaining: int | None = None  # None: unknown / unbounded
    # Details, filled only for pacers with ``needs_detail`` (cost O(agents + lines)).
    ringing_ages_s: FloatArray = EMPTY  # now - placed_at, per ringing call
    # (Agents who asked to pause after this call are left out of both.)
    on_call_ages_s: FloatArray = EMPTY  # now - bridged_at, per agent on a call
    wrap_up_ages_s: FloatArray = EMPTY  # now - wrap start, per agent in wrap-up
    ready_ages_s: FloatArray = EMPTY  # now - ready since, per ready agent
    # Abandoned answered calls in the window as counted, people or not: what
    # window_abandoned estimates the people among (without AMD, or with AMD's
    # false negatives, some were machines). A pacer can weigh each abandon by
    # the share of people at the time it happened, where the core's estimate
    # uses the share over the whole campaign so far.
    window_abandoned_raw: float = 0.0
    # Busy agents (on a call or in wrap-up) who asked to pause or go once it
    # is over: they will take no other call. The ages above leave them out.
    agents_pausing: int = 0

    @property
    def lines_in_flight(self) -> int:
        return self.lines_ringing + self.lines_answered_unclassified + self.lines_waiting

    @property
    def window_abandon_rate(self) -> float:
        if self.window_human_answered == 0:
            return 0.0
        return self.window_abandoned / self.window_human_answered


@dataclass(frozen=True, slots=True)
class PacingDecision:
    """How many calls to place now, and why.

    ``dial_level`` is the lines-per-ready-agent the pacer is aiming at (the
    ``dial_level`` of stats and metrics). ``predicted_abandon`` is the expected
    number of abandoned calls among the calls in flight plus those placed now,
    where the pacer computes one. ``explain`` carries whatever the pacer wants an
    engineer to see in a decision trace; keep it JSON-serialisable.
    """

    calls: int
    dial_level: float
    predicted_abandon: float | None = None
    explain: dict[str, Any] | None = None


class Pacer(Protocol):
    """A pacing policy for one campaign. Stateful (estimators) but pure."""

    #: mode name as in the API and scenario files
    name: str
    #: None: the core asks after every change of agents or lines; otherwise the
    #: core asks every ``decision_interval_s`` seconds (and never more often).
    decision_interval_s: float | None
    #: whether the snapshot must carry the per-call and per-agent age arrays
    needs_detail: bool

    def decide(self, snapshot: PacingSnapshot) -> PacingDecision: ...

    def observe(self, observation: Observation) -> None:
        """Learn from an outcome of this campaign's own calls."""
        ...


class CountPacer(Pacer, Protocol):
    """Optional, on top of :class:`Pacer`: a pacer that reads only two counts.

    A pacer whose decision depends on nothing but ``agents_ready`` and
    ``lines_in_flight`` (fixed ratios) may offer ``decide_counts``, returning
    ``(calls, dial_level)``: exactly what ``decide`` answers for any snapshot
    with those two figures. The core then asks through it and builds no
    snapshot, which it would otherwise do after almost every event. The core
    finds it with ``getattr``, so pacers without it need no change; it still
    calls ``decide`` whenever it traces decisions.

    A pacer may also set ``observes = False`` when ``observe`` learns nothing:
    the core then builds no observations for it. Without the attribute the
    core assumes the pacer observes.

    A periodic pacer (``decision_interval_s`` set) that never answers fewer
    calls than ``agents_ready - lines_in_flight`` may set ``tops_up = True``.
    Those are progressive's calls, one line per agent already free, which
    cannot leave a person waiting (AMD's false positives apart). Between the
    pacer's decisions the core then places them as soon as an agent frees,
    rather than up to an interval later: on a small team that wait comes back
    on every call. They are traced with the phase ``top-up``.
    """

    def decide_counts(self, agents_ready: int, lines_in_flight: int) -> tuple[int, float]: ...
