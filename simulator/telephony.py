"""Simulated telephony in real time: the Telephony port with no phone line.

Called numbers behave as a scenario's ``[callees]`` and ``[amd]`` tables say
(or as :data:`DEFAULT_CALLEES` does), on the asyncio event loop's clock. A
person bridged to an agent hangs up after a ``talk_s`` draw unless the agent
hangs up first. ``time_scale`` shrinks every delay (0.01: a 20 s ring takes
0.2 s) so tests and demos run fast; the ring timeout the core enforces is the
core's own, so scale the campaign's settings the same way when you use it.

This adapter holds no truth the core relies on: like a real network it only
reports what a switch would (answered, AMD verdict, busy, bridged, hung up).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from dialer.errors import NotFound
from dialer.events import (
    AmdClassified,
    CallAnswered,
    CallBridged,
    CallFailed,
    CallHungUp,
    Event,
)
from simulator.distributions import Distribution, parse_distribution

__all__ = ["DEFAULT_CALLEES", "CalleeBehaviour", "SimulatedTelephony"]


@dataclass(frozen=True, slots=True)
class CalleeBehaviour:
    """How called numbers behave (constant shares: a live service has no shift clock)."""

    human: float
    machine: float
    busy: float
    invalid: float
    answer_delay_s: Distribution
    fail_delay_s: Distribution
    talk_s: Distribution
    machine_talk_s: Distribution
    amd_detect_s: float = 2.5
    amd_false_positive: float = 0.0
    amd_false_negative: float = 0.0

    @classmethod
    def from_scenario(cls, scenario: object) -> CalleeBehaviour:
        """The behaviour of a loaded :class:`simulator.scenario.Scenario` (at t = 0)."""
        sc = scenario
        cal = sc.callees  # type: ignore[attr-defined]
        amd = sc.amd  # type: ignore[attr-defined]
        return cls(
            human=cal.human.value_at(0.0),
            machine=cal.machine.value_at(0.0),
            busy=cal.busy.value_at(0.0),
            invalid=cal.invalid.value_at(0.0),
            answer_delay_s=cal.answer_delay_s,
            fail_delay_s=cal.fail_delay_s,
            talk_s=sc.agents.talk_s,  # type: ignore[attr-defined]
            machine_talk_s=cal.machine_talk_s,
            amd_detect_s=amd.detect_s,
            amd_false_positive=amd.false_positive.value_at(0.0),
            amd_false_negative=amd.false_negative.value_at(0.0),
        )


DEFAULT_CALLEES = CalleeBehaviour(
    human=0.25,
    machine=0.15,
    busy=0.05,
    invalid=0.05,
    answer_delay_s=parse_distribution({"dist": "lognormal", "mean": 8.0, "sd": 4.0}),
    fail_delay_s=parse_distribution({"dist": "uniform", "low": 1.0, "high": 4.0}),
    talk_s=parse_distribution({"dist": "lognormal", "mean": 60.0, "sd": 40.0}),
    machine_talk_s=parse_distribution({"dist": "fixed", "value": 8.0}),
)


class _Line:
    __slots__ = ("handles", "human", "state", "talk_s")

    def __init__(self, human: bool, talk_s: float) -> None:
        self.human = human
        self.talk_s = talk_s
        self.state = "ringing"
        self.handles: list[asyncio.TimerHandle] = []


class SimulatedTelephony:
    """The Telephony port over simulated callees, in (scaled) real time."""

    def __init__(
        self,
        behaviour: CalleeBehaviour = DEFAULT_CALLEES,
        *,
        seed: int | None = None,
        time_scale: float = 1.0,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.behaviour = behaviour
        self.time_scale = time_scale
        self._rng = np.random.default_rng(seed)
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._lines: dict[str, _Line] = {}
        self._closed = False

    # ------------------------------------------------------------------ port
    async def originate(
        self,
        call_id: str,
        phone: str,
        *,
        caller_id: str | None,
        ring_timeout_s: float,
        amd: bool,
    ) -> None:
        if self._closed:
            raise RuntimeError("telephony is closed")
        b = self.behaviour
        rng = self._rng
        u = float(rng.random())
        talk = b.talk_s.sample_one(rng)
        line = _Line(human=u < b.human, talk_s=talk)
        self._lines[call_id] = line
        if u < b.human + b.machine:
            delay = b.answer_delay_s.sample_one(rng)
            if delay < ring_timeout_s:
                self._later(line, delay, self._answer, call_id, amd)
        elif u < b.human + b.machine + b.busy + b.invalid:
            outcome = "busy" if u < b.human + b.machine + b.busy else "invalid"
            self._later(line, b.fail_delay_s.sample_one(rng), self._fail, call_id, outcome)
        # Otherwise it rings until the core gives up and cancels it.

    async def bridge(self, call_id: str, agent_id: str) -> None:
        line = self._line(call_id)
        if line.state != "answered":
            # The far end left before the bridge: report it, as a switch would.
            self._emit(CallHungUp(call_id))
            return
        line.state = "bridged"
        self._emit(CallBridged(call_id))
        # A person hangs up after their talk time unless the agent does first;
        # a machine's greeting ends (and its line drops) after machine_talk_s,
        # as a real voicemail does when nobody leaves a message.
        talk = line.talk_s if line.human else self.behaviour.machine_talk_s.sample_one(self._rng)
        self._later(line, talk, self._remote_hangup, call_id)

    async def play_and_hang_up(self, call_id: str, message: str) -> None:
        line = self._lines.pop(call_id, None)
        if line is not None:
            self._cancel(line)

    async def hang_up(self, call_id: str) -> None:
        line = self._lines.pop(call_id, None)
        if line is not None:
            self._cancel(line)

    async def events(self) -> AsyncIterator[Event]:
        while True:
            yield await self._queue.get()

    async def healthy(self) -> bool:
        return not self._closed

    async def close(self) -> None:
        self._closed = True
        for line in self._lines.values():
            self._cancel(line)
        self._lines.clear()

    # ------------------------------------------------------------- internals
    @property
    def lines(self) -> int:
        return len(self._lines)

    def _line(self, call_id: str) -> _Line:
        line = self._lines.get(call_id)
        if line is None:
            raise NotFound("call", call_id)
        return line

    def _later(self, line: _Line, delay_s: float, fn: object, *args: object) -> None:
        loop = asyncio.get_running_loop()
        line.handles.append(loop.call_later(delay_s * self.time_scale, fn, *args))  # type: ignore[arg-type]

    @staticmethod
    def _cancel(line: _Line) -> None:
        for h in line.handles:
            h.cancel()
        line.handles.clear()

    def _emit(self, event: Event) -> None:
        self._queue.put_nowait(event)

    def _answer(self, call_id: str, amd: bool) -> None:
        line = self._lines.get(call_id)
        if line is None or line.state != "ringing":
            return
        line.state = "answered"
        self._emit(CallAnswered(call_id))
        if amd:
            b = self.behaviour
            u = float(self._rng.random())
            machine = u < b.amd_false_positive if line.human else u >= b.amd_false_negative
            self._later(line, b.amd_detect_s, self._classified, call_id, machine)

    def _classified(self, call_id: str, machine: bool) -> None:
        line = self._lines.get(call_id)
        if line is not None and line.state == "answered":
            self._emit(AmdClassified(call_id, machine))

    def _fail(self, call_id: str, outcome: str) -> None:
        line = self._lines.pop(call_id, None)
        if line is not None:
            self._emit(CallFailed(call_id, outcome))

    def _remote_hangup(self, call_id: str) -> None:
        line = self._lines.pop(call_id, None)
        if line is not None:
            self._emit(CallHungUp(call_id))
