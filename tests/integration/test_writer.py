"""The batching writer's two lanes: urgent writes skip the queue, never their own call's."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text

from dialer.runtime.writer import BatchWriter, WriteOp
from dialer.storage.database import Statement


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


class AloneDatabase(SlowDatabase):
    """Also commits statements without a transaction; remembers which way each batch went."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.ways: list[str] = []
        self.fail: set[str] = set()

    async def run_batch(self, ops: Sequence[WriteOp]) -> list[BaseException | None]:
        self.ways.append(f"transaction of {len(ops)}")
        await asyncio.sleep(self.delay)
        for op in ops:
            if isinstance(op, Statement):
                self.committed.append(op.params["name"])
            else:
                await op(None)  # type: ignore[arg-type]
        return [None] * len(ops)

    async def write_alone(self, statements: Sequence[Statement]) -> list[BaseException | None]:
        self.ways.append(f"alone {len(statements)}")
        await asyncio.sleep(self.delay)
        results: list[BaseException | None] = []
        for one in statements:
            name = one.params["name"]
            if name in self.fail:
                results.append(ValueError(name))
            else:
                self.committed.append(name)
                results.append(None)
        return results


def statement(name: str) -> Statement:
    return Statement(text("SELECT :name"), {"name": name})


async def test_urgent_statements_go_without_a_transaction_and_everything_else_in_one() -> None:
    db = AloneDatabase(0.02)
    writer = BatchWriter(db.run_batch, write_alone=db.write_alone)
    writer.start()
    try:
        # The main lane batches statements too: one commit for many writes.
        await writer.submit(statement("placed"), key="c1")
        assert db.ways == ["transaction of 1"]
        await writer.submit(statement("offer"), key="c1", urgent=True)
        assert db.ways[-1] == "alone 1"
        # Queued together, offers go together; a failure is its own.
        db.fail.add("offer-a")
        first = writer.submit(statement("offer-0"), key="c0", urgent=True)
        await asyncio.sleep(0.005)  # in flight: the next two queue behind it
        a = writer.submit(statement("offer-a"), key="c2", urgent=True)
        b = writer.submit(statement("offer-b"), key="c3", urgent=True)
        results = await asyncio.gather(first, a, b, return_exceptions=True)
        assert results[0] is None and isinstance(results[1], ValueError) and results[2] is None
        assert db.ways[-2:] == ["alone 1", "alone 2"]
        # An urgent write that is not a statement takes a transaction, and so
        # does a statement that shares its batch.
        c = writer.submit(write(db, "finish"), key="c4", urgent=True)
        await asyncio.sleep(0.005)
        d = writer.submit(write(db, "other"), key="c5", urgent=True)
        e = writer.submit(statement("offer-e"), key="c6", urgent=True)
        await asyncio.gather(c, d, e)
        assert db.ways[-2:] == ["transaction of 1", "transaction of 2"]
        assert db.committed == [
            "placed", "offer", "offer-0", "offer-b", "finish", "other", "offer-e"
        ]  # fmt: skip
    finally:
        await writer.stop()


async def test_a_write_the_database_was_away_for_is_retried_until_stored() -> None:
    """Before, a write that failed because the database was down failed for
    good: the end of a call in an outage was never stored."""
    db = SlowDatabase(0)
    away = {"until": 3}  # the first three commits find no database
    health: list[bool] = []

    async def run_batch(ops: Sequence[WriteOp]) -> list[BaseException | None]:
        if away["until"] > 0:
            away["until"] -= 1
            return [ConnectionRefusedError(111, "Connect call failed")] * len(ops)
        return await db.run_batch(ops)

    writer = BatchWriter(run_batch, on_health=health.append)
    writer.start()
    try:
        first = writer.submit(write(db, "ended"), key="c1")
        await asyncio.sleep(0.01)
        assert not writer.healthy
        later = writer.submit(write(db, "disposed"), key="c1")
        await asyncio.wait_for(asyncio.gather(first, later), 5.0)
        assert db.committed == ["ended", "disposed"]  # stored, in order
        assert writer.healthy and health == [False, True]
    finally:
        await writer.stop()


async def test_a_write_the_database_refuses_for_what_it_is_is_not_retried() -> None:
    calls = 0

    async def run_batch(ops: Sequence[WriteOp]) -> list[BaseException | None]:
        nonlocal calls
        calls += 1
        return [ValueError("duplicate key")] * len(ops)

    writer = BatchWriter(run_batch)
    writer.start()
    try:
        bad = writer.submit(write(SlowDatabase(0), "x"), key="c1")
        assert isinstance((await asyncio.gather(bad, return_exceptions=True))[0], ValueError)
        assert calls == 1 and writer.healthy
    finally:
        await writer.stop()
