"""The adaptive pacer: a baseline modelled on VICIdial's ADAPT dial methods.

A feedback loop on a *dial level* (lines per active agent), learning nothing
about the callees:

- about once a second (``sample_interval_s``) it samples the ready agents,
  the answered calls waiting for an agent and the logged-in agents, keeping
  the last ``samples``;
- every ``adjust_interval_s`` it computes the differential
  ``D = mean(ready) - mean(waiting) + target`` and ``m = intensity x D /
  mean(logged in)``, and moves the level to ``level x (1 + m)``, clamped to
  ``[1, max_level]``: agents sitting ready push it up, callers waiting push
  it down;
- once the compliance window's abandonment (abandoned / human-answered, from
  50 human-answered calls on) exceeds the cap, the level is forced down:
  ``"hard"`` (VICIdial's ADAPT_HARD_LIMIT) to 1.0; ``"taper"`` (in the spirit
  of ADAPT_TAPERED, which tolerates overshoot early in the day, when later
  calls can still dilute it, and not near its end) to at most
  ``1 + (max_level - 1) x f``, where ``f`` is the fraction of the window
  remaining: the room above 1.0 shrinks linearly to nothing at the window's
  end. The length of the window is taken as the largest
  ``window_remaining_s`` seen (the simulator's window is the shift, so that
  is the shift's length). With a rolling window, whose remaining time never
  shrinks, ``"taper"`` never cuts and only the core's cap guard holds the
  line: use ``"hard"`` there.

The cut is applied to the level itself (not only to the output), so the loop
does not wind up while it is held down, and it is checked at every decision,
not only at adjustments, so it takes effect at once.

Lines to dial follow VICIdial's ``goal - existing``::

    calls = max(0, round(level x active) - (lines in flight + on a call + in wrap-up))

with active = ready + on a call + in wrap-up (logged in, not paused). The
level multiplies *active* agents, as VICIdial's does by default (its
"available only tally" option is the ready-only variant): agents on a call or
in wrap-up are about to need a call, and a goal on ready agents alone
would swing with every call routed. What the campaign already
holds is subtracted: lines in flight, calls bridged to agents (VICIdial
counts its XFER calls among the existing ones) and agents in wrap-up, who
hold their last call until its disposition (in VICIdial an agent on the
disposition screen takes no call either). So level 1.0 is exactly
progressive, ``ready - lines in flight``, and each step above it adds
``(level - 1) x active`` lines of overdial. That is what makes 1.0 the safe
floor the cap rules force: without the wrap-up term, a campaign with long
wrap-ups kept a ringing line per agent in wrap-up at 1.0 and abandoned a
third of its callers in the simulator (collections-50).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Literal, NamedTuple

from pacing.fixed import round_half_up
from pacing.observations import Observation
from pacing.snapshot import PacingDecision, PacingSnapshot

__all__ = ["MIN_HUMAN_ANSWERED", "AdaptivePacer", "Variant"]

Variant = Literal["hard", "taper"]

#: The abandonment rules start once this many calls were answered by people
#: (VICIdial: 50 calls today); before that one abandon would read as 2 % or more.
MIN_HUMAN_ANSWERED = 50

# Calls that arrive this much early still count as on time: a driver's clock
# summing 0.1 s steps lands on 0.9999999 s, and missing that sample would
# halve the sampling rate.
_EPS_S = 1e-6


class _Sample(NamedTuple):
    at_s: float
    ready: int
    waiting: int
    logged_in: int


class AdaptivePacer:
    """VICIdial-style adaptive dial level; see the module docstring."""

    name = "adaptive"
    needs_detail = False

    def __init__(
        self,
        initial_level: float = 1.0,
        intensity: float = 1.0,
        max_level: float = 3.0,
        target: float = 0.0,
        variant: Variant = "hard",
        sample_interval_s: float = 1.0,
        adjust_interval_s: float = 15.0,
        samples: int = 15,
    ) -> None:
        if not max_level >= 1.0:
            raise ValueError("max_level must be at least 1.0")
        if not intensity >= 0.0:
            raise ValueError("intensity must be non-negative")
        if variant not in ("hard", "taper"):
            raise ValueError(f"variant must be 'hard' or 'taper', not {variant!r}")
        if not (sample_interval_s > 0 and adjust_interval_s > 0):
            raise ValueError("intervals must be positive")
        if samples < 1:
            raise ValueError("samples must be at least 1")
        if not math.isfinite(initial_level) or not math.isfinite(target):
            raise ValueError("initial_level and target must be finite")
        self.intensity = float(intensity)
        self.max_level = float(max_level)
        self.target = float(target)
        self.variant: Variant = variant
        self.sample_interval_s = float(sample_interval_s)
        self.adjust_interval_s = float(adjust_interval_s)
        # The core calls decide every decision_interval_s: as often as we sample.
        self.decision_interval_s: float | None = self.sample_interval_s
        self.level = min(max(float(initial_level), 1.0), self.max_level)
        self._samples: deque[_Sample] = deque(maxlen=samples)
        # Samples older than this describe another situation (a paused
        # campaign, a stalled driver) and are dropped.
        self._memory_s = samples * self.sample_interval_s
        self._last_sample_at: float | None = None
        self._last_adjust_at: float | None = None
        self._window_s = 0.0  # the longest window_remaining_s seen
        self._last_d: float | None = None
        self._last_m: float | None = None
        self._means: tuple[float, float, float] | None = None

    # ------------------------------------------------------------- protocol
    def observe(self, observation: Observation) -> None:
        """The adaptive loop looks only at the snapshot's counts."""

    def decide(self, snapshot: PacingSnapshot) -> PacingDecision:
        now = snapshot.now_s
        self._window_s = max(self._window_s, snapshot.window_remaining_s)
        self._maybe_sample(snapshot)
        adjusted = self._maybe_adjust(now)
        over_cap = self._over_cap(snapshot)
        ceiling = self._ceiling(snapshot) if over_cap else self.max_level
        self.level = min(self.level, ceiling)

        active = snapshot.agents_ready + snapshot.agents_on_call + snapshot.agents_wrap_up
        goal = round_half_up(self.level * active)
        existing = snapshot.lines_in_flight + snapshot.agents_on_call + snapshot.agents_wrap_up
        calls = max(0, goal - existing)
        means = self._means
        explain: dict[str, Any] = {
            "level": self.level,
            "D": self._last_d,
            "m": self._last_m,
            "mean_ready": None if means is None else means[0],
            "mean_waiting": None if means is None else means[1],
            "mean_logged_in": None if means is None else means[2],
            "samples": len(self._samples),
            "adjusted": adjusted,
            "over_cap": over_cap,
            "ceiling": ceiling,
            "active_agents": active,
            "goal_lines": goal,
            "existing_calls": existing,
            "variant": self.variant,
        }
        return PacingDecision(calls=calls, dial_level=self.level, explain=explain)

    # ------------------------------------------------------------ internals
    def _maybe_sample(self, snap: PacingSnapshot) -> None:
        now = snap.now_s
        last = self._last_sample_at
        if last is not None and now < last:
            # A clock that went back (a restarted driver): start over rather
            # than wait for it to catch up.
            self._samples.clear()
            self._last_adjust_at = now
            last = None
        if last is not None and now - last > self._memory_s + self.sample_interval_s:
            # A long gap: the kept samples are stale, and an adjustment from
            # the one we are about to take would be noise. Start over.
            self._samples.clear()
            self._last_adjust_at = now
        if last is None or now - last >= self.sample_interval_s - _EPS_S:
            self._samples.append(
                _Sample(now, snap.agents_ready, snap.lines_waiting, snap.agents_logged_in)
            )
            self._last_sample_at = now
        if self._last_adjust_at is None:
            self._last_adjust_at = now

    def _maybe_adjust(self, now: float) -> bool:
        assert self._last_adjust_at is not None
        if now - self._last_adjust_at < self.adjust_interval_s - _EPS_S:
            return False
        self._last_adjust_at = now
        fresh = [s for s in self._samples if now - s.at_s <= self._memory_s + _EPS_S]
        if not fresh:
            return False
        n = len(fresh)
        ready = sum(s.ready for s in fresh) / n
        waiting = sum(s.waiting for s in fresh) / n
        logged_in = sum(s.logged_in for s in fresh) / n
        d = ready - waiting + self.target
        # No one logged in: nothing to learn, leave the level alone.
        m = self.intensity * d / logged_in if logged_in > 0 else 0.0
        self._means = (ready, waiting, logged_in)
        self._last_d = d
        self._last_m = m
        self.level = min(max(self.level * (1.0 + m), 1.0), self.max_level)
        return True

    @staticmethod
    def _over_cap(snap: PacingSnapshot) -> bool:
        return (
            snap.window_human_answered >= MIN_HUMAN_ANSWERED
            and snap.window_abandon_rate > snap.max_abandon_rate
        )

    def _ceiling(self, snap: PacingSnapshot) -> float:
        if self.variant == "hard":
            return 1.0
        f = snap.window_remaining_s / self._window_s if self._window_s > 0 else 0.0
        f = min(max(f, 0.0), 1.0)
        return 1.0 + (self.max_level - 1.0) * f
