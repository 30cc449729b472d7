"""Write-behind batching: many small writes, one transaction and one commit.

At a thousand agents the driver orders several writes per call; awaiting a
commit for each one serialised the whole floor behind the database. Writes
now queue here in order and are committed in batches; whoever needs a write
to be durable first (the telephony before it originates, the agent before it
hears of a call) awaits that write's future, and only that.

A write someone is waiting on with a person on the line (the offer of an
answered call to an agent: the bridge waits for it, and the law counts two
seconds) may be marked ``urgent``: it goes by a second lane with its own
transaction, so it never queues behind a big batch. Writes about one call
(``key``) never overtake each other: an urgent write for a call that still has
a write queued in the main lane joins that lane, and everything for a call
with an urgent write in flight follows it in the urgent lane.

A write that fails for want of the database (it is restarting, the network
dropped, SQLite's lock is held: :func:`is_transient`) is not lost: the lane
tries it again, backing off, before anything queued after it, and tells
``on_health`` that writes are failing, and again when they go through. Only
a write the database refuses for what it is fails its future.

Urgent writes that are each one idempotent :class:`Statement` (the offer's
upsert) go without a transaction (``write_alone``: one round trip on
PostgreSQL for a whole burst, where a transaction takes four and one more per
write), unless they share their batch with a write that is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from dialer.storage.database import Statement, Write, is_transient

__all__ = ["BatchWriter", "WriteOp"]

log = logging.getLogger(__name__)

WriteOp = Write
RunBatch = Callable[[Sequence[WriteOp]], Awaitable[list[BaseException | None]]]
WriteAlone = Callable[[Sequence[Statement]], Awaitable[list[BaseException | None]]]
OnHealth = Callable[[bool], None]
_Item = tuple[WriteOp, asyncio.Future[None], str | None]
_RETRY_FIRST_S = 0.05
_RETRY_MAX_S = 2.0


class _Lane:
    """One queue of writes and the task that commits them in batches, in order."""

    def __init__(
        self,
        name: str,
        run_batch: RunBatch,
        max_batch: int,
        keys: Counter[str],
        write_alone: WriteAlone | None = None,
        on_health: OnHealth | None = None,
    ) -> None:
        self.name = name
        self._on_health = on_health
        self.failing = False  # its last commit failed for want of the database
        self._run_batch = run_batch
        self._write_alone = write_alone
        self._max_batch = max_batch
        self.keys = keys  # writes queued or in flight here, per key
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self.idle = asyncio.Event()
        self.idle.set()
        self.task: asyncio.Task[None] | None = None

    def put(self, item: _Item) -> None:
        self.idle.clear()
        if item[2] is not None:
            self.keys[item[2]] += 1
        self.queue.put_nowait(item)

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"dialer-writer-{self.name}")

    def drained(self) -> bool:
        return self.queue.empty() and self.idle.is_set()

    async def _run(self) -> None:
        queue = self.queue
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < self._max_batch:
                batch.append(queue.get_nowait())
            results = await self._commit_until_stored(batch)
            for (_, fut, key), result in zip(batch, results, strict=True):
                if key is not None:
                    self.keys[key] -= 1
                    if self.keys[key] <= 0:
                        del self.keys[key]
                if fut.done():
                    continue
                if result is None:
                    fut.set_result(None)
                else:
                    log.error("write failed: %r", result)
                    fut.set_exception(result)
                    fut.exception()  # marked retrieved: a failed write is logged above
            if queue.empty():
                self.idle.set()

    async def _commit_until_stored(self, batch: list[_Item]) -> list[BaseException | None]:
        """Commit ``batch``; what fails for want of the database goes again until stored."""
        results = await self._commit(batch)
        delay = _RETRY_FIRST_S
        while True:
            again = [i for i, r in enumerate(results) if r is not None and is_transient(r)]
            if not again:
                self._health(False)
                return results
            if not self.failing:
                log.error(
                    "%s writer: %d writes failed for want of the database (%r); retrying",
                    self.name,
                    len(again),
                    results[again[0]],
                )
            self._health(True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_S)
            retried = await self._commit([batch[i] for i in again])
            for i, result in zip(again, retried, strict=True):
                results[i] = result

    def _health(self, failing: bool) -> None:
        if failing == self.failing:
            return
        self.failing = failing
        if not failing:
            log.warning("%s writer: the database takes writes again", self.name)
        if self._on_health is not None:
            self._on_health(not failing)

    async def _commit(self, batch: list[_Item]) -> list[BaseException | None]:
        ops = [op for op, _, _ in batch]
        try:
            if self._write_alone is not None:
                statements = [op for op in ops if isinstance(op, Statement)]
                if len(statements) == len(ops):
                    return await self._write_alone(statements)
            return await self._run_batch(ops)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return [exc] * len(batch)


class BatchWriter:
    def __init__(
        self,
        run_batch: RunBatch,
        *,
        write_alone: WriteAlone | None = None,
        max_batch: int = 400,
        on_health: OnHealth | None = None,
    ) -> None:
        """``on_health(ok)`` hears when writes start failing for want of the
        database (False) and when they all go through again (True)."""
        self._on_health = on_health
        self._main = _Lane("main", run_batch, max_batch, Counter(), on_health=self._lane_health)
        self._urgent = _Lane(
            "urgent", run_batch, max_batch, Counter(), write_alone, on_health=self._lane_health
        )
        self._was_ok = True

    @property
    def healthy(self) -> bool:
        """False while some write is being retried for want of the database."""
        return not (self._main.failing or self._urgent.failing)

    def _lane_health(self, _ok: bool) -> None:
        ok = self.healthy
        if ok != self._was_ok:
            self._was_ok = ok
            if self._on_health is not None:
                self._on_health(ok)

    def start(self) -> None:
        self._main.start()
        self._urgent.start()

    def submit(
        self,
        op: WriteOp,
        *,
        key: str | None = None,
        urgent: bool = False,
    ) -> asyncio.Future[None]:
        """Queue a write; the future resolves when it is committed (or failed).

        ``key`` names what the write is about (a call id): writes with one key
        commit in the order they were submitted, whatever their lane.
        """
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        in_urgent = key is not None and key in self._urgent.keys
        in_main = key is not None and key in self._main.keys
        lane = self._urgent if in_urgent or (urgent and not in_main) else self._main
        lane.put((op, fut, key))
        return fut

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        while not (self._main.drained() and self._urgent.drained()):
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), 10.0)
        for lane in (self._main, self._urgent):
            if lane.task is None:
                continue
            lane.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lane.task
            lane.task = None
