"""``Database.write_alone``: the offers' writes, committed without a transaction round them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as SATimeoutError

from dialer.storage import Database, upgrade_async
from dialer.storage.database import Statement, create_engine
from dialer.storage.settings_kv import get_setting

# An idempotent upsert, built once: statements of a run share their ``sql``.
PUT = text(
    "INSERT INTO settings_kv (key, value) VALUES (:key, :value) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
# The same, storing the id of the transaction it ran in.
PUT_TXID = text(
    "INSERT INTO settings_kv (key, value) VALUES (:key, txid_current()::text) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
WHOAMI = text(
    "INSERT INTO settings_kv (key, value) VALUES ('pid', pg_backend_pid()::text) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


def put(key: str, value: Any) -> Statement:
    return Statement(PUT, {"key": key, "value": value})


async def stored(db: Database, key: str) -> str | None:
    async with db.session() as s:  # another connection: only what is committed
        return await get_setting(s, key=key)


async def test_statements_written_alone_are_committed(db: Database) -> None:
    results = await db.write_alone([put("a", "1"), put("b", "2"), put("a", "3")])
    assert results == [None, None, None]
    assert await stored(db, "a") == "3"  # in order
    assert await stored(db, "b") == "2"


async def test_a_bad_statement_fails_alone_and_the_rest_lands(db: Database) -> None:
    results = await db.write_alone([put("a", "1"), put("b", None), put("c", "3")])  # NOT NULL
    assert results[0] is None and results[2] is None
    assert results[1] is not None and "null" in str(results[1]).lower()
    assert (await stored(db, "a"), await stored(db, "b"), await stored(db, "c")) == ("1", None, "3")
    assert await db.write_alone([put("d", "4")]) == [None]  # and the next write goes on
    assert await stored(db, "d") == "4"


@pytest.mark.postgres
async def test_on_postgresql_a_run_is_pipelined_in_one_implicit_transaction(
    pg_db: Database,
) -> None:
    # No BEGIN and COMMIT round trips, yet a run is atomic: asyncpg sends the
    # whole run before one Sync, which the server runs as one transaction.
    await pg_db.write_alone([Statement(PUT_TXID, {"key": "x"}), Statement(PUT_TXID, {"key": "y"})])
    x, y = await stored(pg_db, "x"), await stored(pg_db, "y")
    assert x is not None and x == y
    await pg_db.write_alone([Statement(PUT_TXID, {"key": "z"})])
    assert await stored(pg_db, "z") != x


@pytest.mark.postgres
async def test_on_postgresql_a_lost_connection_is_replaced_and_the_write_lands(
    pg_db: Database,
) -> None:
    await pg_db.write_alone([Statement(WHOAMI, {})])
    first = await stored(pg_db, "pid")
    await pg_db.write_alone([Statement(WHOAMI, {})])
    assert await stored(pg_db, "pid") == first  # one connection, kept for these writes
    async with pg_db.engine.connect() as conn:  # the server drops it (a restart, a proxy)
        await conn.execute(text(f"SELECT pg_terminate_backend({first})"))
    assert await pg_db.write_alone([put("k", "landed"), Statement(WHOAMI, {})]) == [None, None]
    assert await stored(pg_db, "k") == "landed"
    second = await stored(pg_db, "pid")
    assert second != first
    await pg_db.write_alone([Statement(WHOAMI, {})])  # and a new one is kept from then on
    third = await stored(pg_db, "pid")
    assert third not in (first, None)
    await pg_db.write_alone([Statement(WHOAMI, {})])
    assert await stored(pg_db, "pid") == third


@pytest.mark.postgres
async def test_on_postgresql_a_reserved_connection_writes_while_the_pool_is_taken(
    postgres_url: str,
) -> None:
    # A floor's start: a thousand softphones attaching hold every pooled
    # connection. The first answered call's offer must not wait for one.
    async with small_pool(postgres_url, 2, timeout_s=0.5) as db:
        await db.reserve_write_alone()
        async with db.engine.connect() as _held:  # the rest of the pool
            with pytest.raises(SATimeoutError):  # nothing left in it...
                async with db.engine.connect():
                    pass
            # ...yet the offer's write goes at once, on the connection reserved for it.
            assert await asyncio.wait_for(db.write_alone([put("offer", "1")]), 0.4) == [None]
        assert await stored(db, "offer") == "1"


@pytest.mark.postgres
async def test_without_a_reservation_the_first_write_alone_waits_for_the_pool(
    postgres_url: str,
) -> None:
    # What the reservation is for (the test above would pass without it
    # otherwise): lazily, the connection comes from the pool.
    async with small_pool(postgres_url, 1, timeout_s=0.3) as db, db.engine.connect() as _held:
        with pytest.raises(SATimeoutError):  # it waited for the pool, in vain
            await db.write_alone([put("offer", "1")])


@asynccontextmanager
async def small_pool(url: str, size: int, *, timeout_s: float) -> AsyncIterator[Database]:
    """A migrated database whose pool holds ``size`` connections, waited for ``timeout_s``."""
    await upgrade_async(url)
    db = Database(
        url, engine=create_engine(url, pool_size=size, max_overflow=0, pool_timeout=timeout_s)
    )
    try:
        yield db
    finally:
        await db.dispose()
