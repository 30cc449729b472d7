"""The batching writer's two lanes: urgent writes skip the queue, never their own call's."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from dialer.runtime.writer import BatchWriter, WriteOp


class SlowDatabase:
    """Runs batches, each taking ``delay`` seconds per write; remembers what committed."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.committed: list[str] = []

    async def run_batch(self, ops: Sequence[WriteOp]) -> list[BaseException | None]:
        await asyncio.sleep(self.delay * len(ops))
        for op in ops:
            await op(None)  # type: ignore[arg-type]
        return [None] * len(ops)


def write(db: SlowDatabase, name: str) -> WriteOp:
    async def op(_session: Any) -> None:
        db.committed.append(name)

    return op


async def test_an_urgent_write_does_not_wait_behind_a_batch() -> None:
    db = SlowDatabase(0.05)
    writer = BatchWriter(db.run_batch)
    writer.start()
    try:
        bulk = [writer.submit(write(db, f"bulk{i}"), key=f"c{i}") for i in range(8)]
        await asyncio.sleep(0.01)  # the bulk batch (0.4 s) is in flight
        offer = writer.submit(write(db, "offer"), key="c9", urgent=True)
        await asyncio.wait_for(offer, 0.3)
        assert db.committed == ["offer"]  # the bulk batch is still going
        await asyncio.gather(*bulk)
        assert db.committed[1:] == [f"bulk{i}" for i in range(8)]
    finally:
        await writer.stop()


async def test_writes_about_one_call_keep_their_order_across_lanes() -> None:
    db = SlowDatabase(0.02)
    writer = BatchWriter(db.run_batch)
    writer.start()
    try:
        placed = writer.submit(write(db, "placed"), key="c1")
        offer = writer.submit(write(db, "offer"), key="c1", urgent=True)  # behind "placed"
        await asyncio.gather(placed, offer)
        assert db.committed == ["placed", "offer"]
        db.committed.clear()
        first = writer.submit(write(db, "urgent"), key="c2", urgent=True)
        then = writer.submit(write(db, "after"), key="c2")  # follows it in the urgent lane
        other = writer.submit(write(db, "other"), key="c3")
        await asyncio.gather(first, then, other)
        assert db.committed.index("urgent") < db.committed.index("after")
    finally:
        await writer.stop()


async def test_a_failed_batch_fails_only_its_own_writes() -> None:
    async def run_batch(ops: Sequence[WriteOp]) -> list[BaseException | None]:
        return [ValueError("boom") if i == 0 else None for i, _ in enumerate(ops)]

    writer = BatchWriter(run_batch)
    writer.start()
    try:
        bad = writer.submit(write(SlowDatabase(0), "x"), key="c1")
        good = writer.submit(write(SlowDatabase(0), "y"), key="c2")
        results = await asyncio.gather(bad, good, return_exceptions=True)
        assert isinstance(results[0], ValueError) and results[1] is None
        await writer.flush()
    finally:
        await writer.stop()
