"""Registry copies in the database (SQLite and PostgreSQL): round trip, replacement, history."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select, update

from dialer.compliance.registry import Registry
from dialer.errors import ConflictError, InvalidInput
from dialer.storage import Database, StoredRegistryLoad, dnc_registry, upgrade_async
from dialer.storage.models import DncRegistryChunkRow

D1 = date(2026, 10, 1)
D2 = date(2026, 11, 1)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Chunks of 7 numbers: a few dozen numbers make several rows, the last one short."""
    monkeypatch.setattr(dnc_registry, "CHUNK_NUMBERS", 7)
    return 7


def sorted_numbers(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.unique(rng.integers(12_000_000_000, 19_999_999_999, count))


async def store(
    db: Database, registry: Registry, numbers: np.ndarray, day: date, **kw: Any
) -> StoredRegistryLoad:
    async with db.transaction() as s:
        return await dnc_registry.replace_registry(
            s, registry=registry, numbers=numbers, name=f"{registry} {day}", published_on=day, **kw
        )


async def read_current(db: Database) -> dict[Registry, np.ndarray]:
    async with db.transaction() as s:
        out: dict[Registry, np.ndarray] = {}
        for load in await dnc_registry.current_loads(s):
            read = await dnc_registry.read_numbers(s, load=load)
            assert read.numbers is not None
            out[load.registry] = read.numbers
        return out


async def chunk_rows(db: Database) -> int:
    async with db.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(DncRegistryChunkRow)) or 0)


async def test_a_copy_round_trips_in_chunks(db: Database, small_chunks: int) -> None:
    numbers = sorted_numbers(60, seed=1)
    load = await store(db, Registry.US, numbers, D1, rejected_count=3, duplicates=2, sha256="ab")
    assert (load.registry, load.count, load.published_on, load.current) == (
        Registry.US,
        numbers.size,
        D1,
        True,
    )
    assert load.loaded_at.tzinfo is UTC
    assert await chunk_rows(db) == -(-numbers.size // small_chunks)
    back = await read_current(db)
    assert list(back) == [Registry.US]
    assert np.array_equal(back[Registry.US], numbers)
    assert back[Registry.US].dtype == np.int64 and not back[Registry.US].flags.writeable
    async with db.transaction() as s:
        [listed] = await dnc_registry.list_loads(s)
    assert listed == load


async def test_the_largest_e164_numbers_survive(db: Database) -> None:
    numbers = np.array([12, 14155550100, 999_999_999_999_999], dtype=np.int64)
    await store(db, Registry.UK, numbers, D1)
    assert (await read_current(db))[Registry.UK].tolist() == numbers.tolist()


async def test_a_new_load_replaces_the_copy_and_keeps_the_history(
    db: Database, small_chunks: int
) -> None:
    first = await store(db, Registry.US, sorted_numbers(30, seed=2), D1)
    canada = await store(db, Registry.CA, sorted_numbers(10, seed=3), D1)
    newer = sorted_numbers(20, seed=4)
    second = await store(db, Registry.US, newer, D2)
    back = await read_current(db)
    assert np.array_equal(back[Registry.US], newer)
    assert back[Registry.CA].size == canada.count
    # The replaced copy's numbers are gone; its record is not.
    assert await chunk_rows(db) == -(-20 // small_chunks) + -(-canada.count // small_chunks)
    async with db.transaction() as s:
        history = await dnc_registry.list_loads(s, registry=Registry.US)
        current = await dnc_registry.current_loads(s)
    assert [h.id for h in history] == [second.id, first.id]
    assert history[1].replaced_at is not None and not history[1].current
    assert history[1].replaced_at == second.loaded_at
    assert history[1].published_on == D1 and history[1].count == first.count
    assert [c.id for c in current] == [canada.id, second.id]


async def test_a_failed_load_leaves_the_old_copy_whole(db: Database, small_chunks: int) -> None:
    old = sorted_numbers(30, seed=5)
    await store(db, Registry.US, old, D1)
    with pytest.raises(RuntimeError, match="disk on fire"):
        async with db.transaction() as s:
            await dnc_registry.replace_registry(
                s, registry=Registry.US, numbers=sorted_numbers(50, 6), name="x", published_on=D2
            )
            raise RuntimeError("disk on fire")
    assert np.array_equal((await read_current(db))[Registry.US], old)


async def test_the_old_copy_is_what_others_read_until_the_new_one_commits(
    db: Database, db_url: str, small_chunks: int
) -> None:
    old, new = sorted_numbers(30, seed=7), sorted_numbers(40, seed=8)
    await store(db, Registry.US, old, D1)
    replaced = asyncio.Event()
    release = asyncio.Event()

    async def writer() -> None:
        async with db.transaction() as s:
            await dnc_registry.replace_registry(
                s, registry=Registry.US, numbers=new, name="new", published_on=D2
            )
            replaced.set()
            await release.wait()

    task = asyncio.create_task(writer())
    await replaced.wait()
    reader = asyncio.create_task(read_current(db))
    if db_url.startswith("sqlite"):
        # Writers hold SQLite's lock from BEGIN: a reader waits for the commit.
        await asyncio.sleep(0.3)
        assert not reader.done()
        release.set()
        await task
        assert np.array_equal((await reader)[Registry.US], new)
    else:
        assert np.array_equal((await reader)[Registry.US], old)
        release.set()
        await task
        assert np.array_equal((await read_current(db))[Registry.US], new)


@pytest.mark.postgres
async def test_a_load_replaced_while_being_read_is_noticed(
    postgres_url: str, small_chunks: int
) -> None:
    """PostgreSQL reads each chunk at the latest commit: a mix is refused, not returned."""
    await upgrade_async(postgres_url)
    db = Database(postgres_url)
    try:
        await store(db, Registry.US, sorted_numbers(30, seed=9), D1)
        async with db.transaction() as s:
            [load] = await dnc_registry.current_loads(s)
            await store(db, Registry.US, sorted_numbers(30, seed=10), D2)  # commits elsewhere
            read = await dnc_registry.read_numbers(s, load=load)
        assert read.numbers is None
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_concurrent_loads_of_one_registry_one_wins(postgres_url: str) -> None:
    await upgrade_async(postgres_url)
    db = Database(postgres_url)
    try:
        await store(db, Registry.US, sorted_numbers(10, seed=11), D1)
        started = asyncio.Event()
        release = asyncio.Event()

        async def first() -> None:
            async with db.transaction() as s:
                await dnc_registry.replace_registry(
                    s,
                    registry=Registry.US,
                    numbers=sorted_numbers(5, 12),
                    name="a",
                    published_on=D2,
                )
                started.set()
                await release.wait()

        one = asyncio.create_task(first())
        await started.wait()
        two = asyncio.create_task(store(db, Registry.US, sorted_numbers(5, 13), D2))
        await asyncio.sleep(0.3)
        assert not two.done()  # waits for the first's lock
        release.set()
        await one
        with pytest.raises(ConflictError, match="committed first"):
            await two
        async with db.transaction() as s:
            assert [c.name for c in await dnc_registry.current_loads(s)] == ["a"]
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("numbers", "name", "field"),
    [
        (np.array([], dtype=np.int64), "x", "numbers"),
        (np.array([3, 2], dtype=np.int64), "x", "numbers"),
        (np.array([2, 2], dtype=np.int64), "x", "numbers"),
        (np.array([2, 3], dtype=np.int64), "", "name"),
        (np.array([2, 3], dtype=np.int64), "n" * 201, "name"),
    ],
)
async def test_bad_copies_are_refused(
    db: Database, numbers: np.ndarray, name: str, field: str
) -> None:
    async with db.transaction() as s:
        with pytest.raises(InvalidInput) as caught:
            await dnc_registry.replace_registry(
                s, registry=Registry.US, numbers=numbers, name=name, published_on=D1
            )
    assert caught.value.field == field
    assert await read_current(db) == {}


async def test_loaded_at_must_be_aware(db: Database) -> None:
    async with db.transaction() as s:
        with pytest.raises(InvalidInput):
            await dnc_registry.replace_registry(
                s,
                registry=Registry.US,
                numbers=np.array([2], dtype=np.int64),
                name="x",
                published_on=D1,
                loaded_at=datetime(2026, 1, 1),
            )


@pytest.mark.parametrize(
    ("numbers", "encoding"),
    [
        (np.arange(14155550000, 14155560000, 3, dtype=np.int64), "d2"),
        # Area codes apart: a few wide gaps, listed beside the 16-bit ones.
        (
            np.concatenate(
                [np.arange(start, start + 30_000, 7) for start in (12015550000, 12125550000)]
                + [np.array([999_999_999_999_999])]
            ),
            "d2",
        ),
        (np.array([14155550000, 14155550000 + 70_000], dtype=np.int64), "d4"),
        (np.array([12, 14155550100, 999_999_999_999_999], dtype=np.int64), "i8"),
        (np.array([14155550100], dtype=np.int64), "i8"),
    ],
)
def test_chunks_are_stored_as_gaps_as_narrow_as_they_fit(
    numbers: np.ndarray, encoding: str
) -> None:
    name, data = dnc_registry.encode_chunk(numbers)
    assert name == encoding
    out = np.empty(numbers.size, dtype=np.int64)
    assert dnc_registry.decode_chunk(name, data, first=int(numbers[0]), out=out)
    assert np.array_equal(out, numbers)
    # Whatever does not add up is refused, not decoded into something else.
    assert not dnc_registry.decode_chunk(name, data[:-1], first=int(numbers[0]), out=out)
    assert not dnc_registry.decode_chunk("zz", data, first=int(numbers[0]), out=out)
    assert not dnc_registry.decode_chunk(name, data, first=int(numbers[0]), out=out[:0])


async def test_dense_sparse_and_mixed_chunks_round_trip(db: Database, small_chunks: int) -> None:
    dense = np.arange(14155550000, 14155550000 + 3 * 20, 3, dtype=np.int64)
    sparse = np.array([14155560000 + 70_000 * i for i in range(8)], dtype=np.int64)
    far = np.array([442079460000, 999_999_999_999_999], dtype=np.int64)
    numbers = np.concatenate([dense, sparse, far])
    await store(db, Registry.US, numbers, D1)
    async with db.transaction() as s:
        encodings = list(await s.scalars(select(DncRegistryChunkRow.encoding)))
    assert {"d2", "d4", "i8"} <= set(encodings)
    assert np.array_equal((await read_current(db))[Registry.US], numbers)


async def test_a_damaged_chunk_is_an_error_not_a_wrong_copy(db: Database) -> None:
    await store(db, Registry.US, np.arange(14155550000, 14155550100, dtype=np.int64), D1)
    async with db.transaction() as s:
        await s.execute(update(DncRegistryChunkRow).values(numbers=b"\x01\x00" * 10))
    with pytest.raises(RuntimeError, match="damaged"):
        await read_current(db)


async def test_an_unsorted_chunk_found_late_leaves_nothing_behind(
    db: Database, small_chunks: int
) -> None:
    """Even a caller that catches the error inside its transaction keeps the old copy."""
    old = sorted_numbers(30, seed=14)
    await store(db, Registry.US, old, D1)
    bad = np.concatenate([sorted_numbers(20, seed=15), np.array([10**10], dtype=np.int64)])
    async with db.transaction() as s:
        with pytest.raises(InvalidInput, match="sorted"):
            await dnc_registry.replace_registry(
                s, registry=Registry.US, numbers=bad, name="late", published_on=D2
            )
    assert np.array_equal((await read_current(db))[Registry.US], old)
    async with db.transaction() as s:
        assert [x.name for x in await dnc_registry.list_loads(s)] == [f"{Registry.US} {D1}"]
