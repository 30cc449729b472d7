"""Write-behind batching: many small writes, one transaction and one commit.

At a thousand agents the driver orders several writes per call; awaiting a
commit for each one serialised the whole floor behind the database. Writes
now queue here in order and are committed in batches; whoever needs a write
to be durable first (the telephony before it originates, the agent before it
hears of a call) awaits that write's future, and only that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["BatchWriter", "WriteOp"]

log = logging.getLogger(__name__)

WriteOp = Callable[[AsyncSession], Awaitable[None]]
RunBatch = Callable[[Sequence[WriteOp]], Awaitable[list[BaseException | None]]]


class BatchWriter:
    def __init__(self, run_batch: RunBatch, *, max_batch: int = 400) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[WriteOp, asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dialer-writer")

    def submit(self, op: WriteOp) -> asyncio.Future[None]:
        """Queue a write; the future resolves when it is committed (or failed)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle.clear()
        self._queue.put_nowait((op, fut))
        return fut

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        while not (self._queue.empty() and self._idle.is_set()):
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self._task is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), 10.0)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        queue = self._queue
        while True:
            first = await queue.get()
            batch = [first]
            while not queue.empty() and len(batch) < self._max_batch:
                batch.append(queue.get_nowait())
            try:
                results = await self._run_batch([op for op, _ in batch])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                results = [exc] * len(batch)
            for (_, fut), result in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if result is None:
                    fut.set_result(None)
                else:
                    log.error("write failed: %r", result)
                    fut.set_exception(result)
                    fut.exception()  # marked retrieved: a failed write is logged above
            if queue.empty():
                self._idle.set()
