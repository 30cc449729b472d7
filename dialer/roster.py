"""One campaign's agents as arrays: each one's state and since when, in log-in order.

The predictive pacer reads how long every agent has been on a call, in
wrap-up or ready at each decision. Walking the agent objects for that took
0.1-0.17 ms per decision on a 500-agent floor (benchmarks/decision_cost.py);
the core keeps these arrays up to date at every transition instead, and a
decision takes three masks of them, about eight times less.

Agents sit in the order they logged in (the order of the core's agent table,
so the ages reach the pacer in the same order as before, and its sums come
out the same to the last bit). A slot freed by a log-out stays empty until
the empty slots outnumber the used ones, then the arrays are compacted.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["Roster"]

FloatArray = npt.NDArray[np.float64]
_EMPTY = -1  # the state index of a freed slot


class Roster:
    """Agents by state index and since (driver seconds), in log-in order."""

    __slots__ = ("_leaving", "_since", "_slot", "_state", "_used")

    def __init__(self) -> None:
        self._slot: dict[str, int] = {}
        self._state = np.full(16, _EMPTY, np.int8)
        self._since = np.zeros(16)
        self._leaving = np.zeros(16, np.bool_)  # asked to pause after this call
        self._used = 0  # slots handed out, freed ones included

    def __len__(self) -> int:
        return len(self._slot)

    def add(self, agent_id: str, state: int, since: float) -> None:
        """A newly logged-in agent, after every agent already here."""
        if agent_id in self._slot:
            raise ValueError(f"agent {agent_id} is already on the roster")
        if self._used == len(self._state):
            self._grow()
        i = self._used
        self._used += 1
        self._slot[agent_id] = i
        self._state[i] = state
        self._since[i] = since
        self._leaving[i] = False

    def set(self, agent_id: str, state: int, since: float) -> None:
        i = self._slot[agent_id]
        self._state[i] = state
        self._since[i] = since

    def set_leaving(self, agent_id: str, leaving: bool) -> None:
        self._leaving[self._slot[agent_id]] = leaving

    def remove(self, agent_id: str) -> None:
        i = self._slot.pop(agent_id)
        self._state[i] = _EMPTY
        free = self._used - len(self._slot)
        if free * 2 > self._used and self._used > 64:
            self._compact()

    def ages(self, state: int, now: float, *, staying: bool = False) -> FloatArray:
        """Seconds each agent in ``state`` has been in it, in log-in order.

        ``staying``: only the agents who have not asked to leave after it.
        """
        n = self._used
        mask = self._state[:n] == state
        if staying:
            mask &= ~self._leaving[:n]
        out: FloatArray = now - self._since[:n][mask]
        return out

    def _grow(self) -> None:
        size = 2 * len(self._state)
        state = np.full(size, _EMPTY, np.int8)
        since = np.zeros(size)
        leaving = np.zeros(size, np.bool_)
        state[: self._used] = self._state[: self._used]
        since[: self._used] = self._since[: self._used]
        leaving[: self._used] = self._leaving[: self._used]
        self._state, self._since, self._leaving = state, since, leaving

    def _compact(self) -> None:
        # Dicts keep insertion order and slots are handed out in order, so
        # the slot map sorted by slot is the log-in order.
        order = sorted(self._slot.items(), key=lambda kv: kv[1])
        keep = np.fromiter((i for _, i in order), np.int64, len(order))
        n = len(order)
        state = np.full(max(16, 2 * n), _EMPTY, np.int8)
        since = np.zeros(len(state))
        leaving = np.zeros(len(state), np.bool_)
        state[:n] = self._state[keep]
        since[:n] = self._since[keep]
        leaving[:n] = self._leaving[keep]
        self._state, self._since, self._leaving = state, since, leaving
        self._slot = {agent_id: j for j, (agent_id, _) in enumerate(order)}
        self._used = n
