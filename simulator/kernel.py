"""A tiny discrete-event kernel in the SimPy mould: ``now``, ``schedule``, ``step``.

Entries live on a heap as ``(at, seq, kind, a, b)``; the sequence number keeps
ties in the order they were scheduled, so runs are deterministic. ``kind`` and
the two payload slots are the caller's: the simulation dispatches on ``kind``.
Plain tuples keep the hot loop cheap (no per-event objects).
"""

from __future__ import annotations

import heapq
import math
from typing import Any

__all__ = ["Kernel"]


class Kernel:
    __slots__ = ("_heap", "_seq", "now")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, Any, Any]] = []
        self._seq = 0
        self.now = 0.0

    def schedule(self, at: float, kind: int, a: Any = None, b: Any = None) -> None:
        if at < self.now:
            raise ValueError(f"cannot schedule in the past ({at} < {self.now})")
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, a, b))

    def peek(self) -> float:
        """When the next entry is due (``inf`` when there is none)."""
        return self._heap[0][0] if self._heap else math.inf

    def step(self) -> tuple[int, Any, Any]:
        """Pop the next entry, advance ``now`` to it and return its payload."""
        at, _, kind, a, b = heapq.heappop(self._heap)
        self.now = at
        return kind, a, b

    def step_before(self, limit: float) -> tuple[int, Any, Any] | None:
        """``step()`` if the next entry is due strictly before ``limit``, else None.

        One call where a driver interleaving another clock would need two
        (``peek`` and ``step``); nothing is popped when it returns None.
        """
        heap = self._heap
        if heap and heap[0][0] < limit:
            at, _, kind, a, b = heapq.heappop(heap)
            self.now = at
            return kind, a, b
        return None

    def advance(self, at: float) -> None:
        """Move ``now`` forward to ``at`` (an instant chosen outside the heap)."""
        if at > self.now:
            self.now = at

    def __len__(self) -> int:
        return len(self._heap)
