"""A task cancelled in the middle of a statement must not leave SQLite locked.

aiosqlite runs the statement on in its thread; the cursor it leaves behind
kept the connection open, write lock and all, until a garbage collection, so
every later transaction waited out its busy timeout and failed with
"database is locked" (seen once in CI, when a stopping service cancelled a
task inside a transaction). The statement now ends first and the
transaction's rollback really ends it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from dialer.storage import Database, database

# About a second of work for SQLite: the cancel lands while it runs.
_SLOW = (
    "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 3000000) "
    "SELECT count(*) FROM c"
)


@pytest.mark.parametrize("cancel_after_s", [0.05, 0.3])
async def test_a_cancel_mid_statement_rolls_back_and_leaves_no_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cancel_after_s: float
) -> None:
    # A short busy timeout, so a held lock fails the test in a second, not 30.
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 1000)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    try:
        async with db.transaction() as s:
            await s.execute(text("CREATE TABLE t (x INTEGER)"))

        async def writer() -> None:
            async with db.transaction() as s:
                await s.execute(text("INSERT INTO t VALUES (1)"))
                await s.execute(text(_SLOW))

        task = asyncio.create_task(writer())
        await asyncio.sleep(cancel_after_s)
        assert not task.done()  # still inside the slow statement
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        # Another transaction gets the write lock at once, and the cancelled
        # one's insert was rolled back.
        async with db.transaction() as s:
            await s.execute(text("INSERT INTO t VALUES (2)"))
        async with db.transaction() as s:
            rows = (await s.execute(text("SELECT x FROM t"))).scalars().all()
        assert rows == [2]
    finally:
        await db.dispose()
