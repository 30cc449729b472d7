"""The Telephony port's contract: every adapter (simulated now, ARI later) passes it.

Each test takes a factory building an adapter whose next calls all behave one
way (answered by a person, busy, never answered), so the contract can be
checked without a phone network's randomness.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from dialer.errors import NotFound
from dialer.events import (
    AmdClassified,
    CallAnswered,
    CallBridged,
    CallFailed,
    CallHungUp,
    Event,
)
from dialer.ports import Telephony
from simulator.distributions import parse_distribution
from simulator.telephony import CalleeBehaviour, SimulatedTelephony

Factory = Callable[[str], Telephony]


def _behaviour(kind: str) -> CalleeBehaviour:
    fixed = parse_distribution({"dist": "fixed", "value": 0.02})
    shares = {
        "human": (1.0, 0.0, 0.0),
        "machine": (0.0, 1.0, 0.0),
        "busy": (0.0, 0.0, 1.0),
        "silent": (0.0, 0.0, 0.0),
    }[kind]
    return CalleeBehaviour(
        human=shares[0],
        machine=shares[1],
        busy=shares[2],
        invalid=0.0,
        answer_delay_s=fixed,
        fail_delay_s=fixed,
        talk_s=parse_distribution({"dist": "fixed", "value": 0.05}),
        machine_talk_s=fixed,
        amd_detect_s=0.02,
    )


def simulated(kind: str) -> Telephony:
    return SimulatedTelephony(_behaviour(kind), seed=1)


ADAPTERS = [pytest.param(simulated, id="simulated")]


async def next_events(tel: Telephony, n: int, timeout: float = 2.0) -> list[Event]:
    out: list[Event] = []
    stream: AsyncIterator[Event] = tel.events()

    async def take() -> None:
        async for ev in stream:
            out.append(ev)
            if len(out) >= n:
                return

    await asyncio.wait_for(take(), timeout)
    return out


async def quiet(tel: Telephony, seconds: float = 0.2) -> list[Event]:
    """Events that arrive within ``seconds`` (there should be none)."""
    out: list[Event] = []
    stream = tel.events()

    async def take() -> None:
        async for ev in stream:
            out.append(ev)

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(take(), seconds)
    return out


@pytest.mark.parametrize("make", ADAPTERS)
async def test_answered_call_bridges_then_the_far_end_hangs_up(make: Factory) -> None:
    tel = make("human")
    await tel.originate("c1", "+14155550100", caller_id=None, ring_timeout_s=20, amd=False)
    assert await next_events(tel, 1) == [CallAnswered("c1")]
    await tel.bridge("c1", "agent-1")
    assert await next_events(tel, 2) == [CallBridged("c1"), CallHungUp("c1")]
    await tel.close()


@pytest.mark.parametrize("make", ADAPTERS)
async def test_amd_reports_a_verdict_after_the_answer(make: Factory) -> None:
    tel = make("machine")
    await tel.originate("c1", "+14155550100", caller_id=None, ring_timeout_s=20, amd=True)
    assert await next_events(tel, 2) == [CallAnswered("c1"), AmdClassified("c1", machine=True)]
    await tel.hang_up("c1")
    assert await quiet(tel) == []
    await tel.close()


@pytest.mark.parametrize("make", ADAPTERS)
async def test_busy_is_reported_as_a_failure(make: Factory) -> None:
    tel = make("busy")
    await tel.originate("c1", "+14155550100", caller_id=None, ring_timeout_s=20, amd=False)
    assert await next_events(tel, 1) == [CallFailed("c1", "busy")]
    await tel.close()


@pytest.mark.parametrize("make", ADAPTERS)
async def test_a_cancelled_call_says_nothing_more(make: Factory) -> None:
    tel = make("human")
    await tel.originate("c1", "+14155550100", caller_id=None, ring_timeout_s=20, amd=False)
    await tel.hang_up("c1")  # the core's ring timeout, before the answer
    assert await quiet(tel) == []
    await tel.close()


@pytest.mark.parametrize("make", ADAPTERS)
async def test_an_unanswered_call_rings_until_cancelled(make: Factory) -> None:
    tel = make("silent")
    await tel.originate("c1", "+14155550100", caller_id=None, ring_timeout_s=20, amd=False)
    assert await quiet(tel) == []
    await tel.hang_up("c1")
    await tel.close()


@pytest.mark.parametrize("make", ADAPTERS)
async def test_abandoning_plays_and_ends_the_call(make: Factory) -> None:
    tel = make("human")
    await tel.originate("c1", "+14155550100", caller_id=None, ring_timeout_s=20, amd=False)
    assert await next_events(tel, 1) == [CallAnswered("c1")]
    await tel.play_and_hang_up("c1", "This was ACME; call us on 555-0100.")
    assert await quiet(tel) == []
    with pytest.raises(NotFound):
        await tel.bridge("c1", "agent-1")
    await tel.close()


@pytest.mark.parametrize("make", ADAPTERS)
async def test_bridging_an_unknown_call_is_refused(make: Factory) -> None:
    tel = make("human")
    with pytest.raises(NotFound):
        await tel.bridge("nope", "agent-1")
    await tel.close()


@pytest.mark.parametrize("make", ADAPTERS)
async def test_health_follows_the_adapter_life(make: Factory) -> None:
    tel = make("human")
    assert await tel.healthy()
    await tel.close()
    assert not await tel.healthy()
    with pytest.raises(RuntimeError):
        await tel.originate("c2", "+14155550100", caller_id=None, ring_timeout_s=20, amd=False)
