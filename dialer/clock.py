"""The clock a driver passes in. The core never reads time itself.

``now`` in ``core.handle(event, now)`` is the driver's monotonic clock in
seconds. Calling hours need wall-clock time: a :class:`Clock` maps a driver
instant to a UTC epoch second. The simulator uses a :class:`FixedOffsetClock`
(the shift's start plus virtual seconds); the service one anchored at start-up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "FixedOffsetClock"]


class Clock(Protocol):
    def wall_epoch(self, now: float) -> float:
        """The UTC epoch second at driver instant ``now``."""
        ...


class FixedOffsetClock:
    """Wall time = ``epoch_at_zero + now``."""

    __slots__ = ("epoch_at_zero",)

    def __init__(self, epoch_at_zero: float) -> None:
        self.epoch_at_zero = epoch_at_zero

    @classmethod
    def starting_at(cls, when: datetime) -> FixedOffsetClock:
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return cls(when.timestamp())

    def wall_epoch(self, now: float) -> float:
        return self.epoch_at_zero + now
