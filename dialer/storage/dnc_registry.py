"""National do-not-call registry copies: their load history and their numbers.

A registry's numbers are stored as its sorted array cut into chunks of
:data:`CHUNK_NUMBERS`, each one row: writing or reading 50 million numbers
is then about fifty values, not 50 million rows. A chunk is stored as the
gaps between its numbers (after ``first_number``): in a registry of tens of
millions nearly all fit in 16 bits, a quarter of the raw int64 (see
:func:`encode_chunk`; benchmarks/RESULTS.md has the figures).

A new load of a registry replaces its current copy inside the caller's
transaction: the old load is marked replaced and its chunks deleted, the new
one inserted. Until that transaction commits every other session still sees
the old copy whole; after, the new one whole. The load rows stay, for audit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.compliance.registry import Registry
from dialer.errors import ConflictError, InvalidInput
from dialer.storage._sql import new_id
from dialer.storage._time import as_utc, utcnow
from dialer.storage.models import DncRegistryChunkRow, DncRegistryLoadRow
from dialer.storage.records import StoredRegistryLoad

__all__ = [
    "CHUNK_NUMBERS",
    "RegistryNumbersRead",
    "current_loads",
    "decode_chunk",
    "encode_chunk",
    "list_loads",
    "read_numbers",
    "replace_registry",
]

# At most 8 MiB a row: large enough that per-row costs vanish, small enough
# that one value never strains a driver or a connection's buffers.
CHUNK_NUMBERS = 1 << 20

_LOADS = cast(Table, DncRegistryLoadRow.__table__)
_CHUNKS = cast(Table, DncRegistryChunkRow.__table__)
# The bytes are little-endian whatever the machine's own order.
_I8, _U4, _U2 = np.dtype("<i8"), np.dtype("<u4"), np.dtype("<u2")
_NARROW_MAX = int(np.iinfo(_U2).max)


def encode_chunk(chunk: npt.NDArray[np.int64]) -> tuple[str, bytes]:
    """``chunk`` (sorted, unique) as an encoding name and its bytes, the smallest of:

    - ``d2``: the gaps after the first number as 16-bit integers, the few that
      do not fit (between NANP area codes, say) listed apart: a count, their
      positions (32-bit) and their gaps (64-bit), ahead of the 16-bit array;
    - ``d4``: the gaps as 32-bit integers, for a sparse chunk;
    - ``i8``: the numbers themselves.
    """
    options = [("i8", chunk.astype(_I8).tobytes())]
    if chunk.size > 1:
        gaps = np.diff(chunk)
        wide = np.flatnonzero(gaps > _NARROW_MAX)
        if 12 * wide.size < 2 * gaps.size:  # else d4 or i8 is smaller anyway
            narrow = gaps.astype(_U2)
            narrow[wide] = 0
            head = np.array([wide.size], dtype=_U4).tobytes()
            options.append(
                (
                    "d2",
                    head
                    + wide.astype(_U4).tobytes()
                    + gaps[wide].astype(_I8).tobytes()
                    + narrow.tobytes(),
                )
            )
        if int(gaps.max()) <= int(np.iinfo(_U4).max):
            options.append(("d4", gaps.astype(_U4).tobytes()))
    return min(options, key=lambda option: len(option[1]))


def _gaps(encoding: str, data: bytes, count: int) -> npt.NDArray[np.int64] | None:
    """The ``count`` gaps ``data`` holds, or None if it does not hold that many."""
    if encoding == "d4":
        if len(data) != count * _U4.itemsize:
            return None
        return np.frombuffer(data, dtype=_U4).astype(np.int64)
    if encoding != "d2" or len(data) < _U4.itemsize:
        return None
    wide = int(np.frombuffer(data, dtype=_U4, count=1)[0])
    narrow_at = _U4.itemsize * (1 + wide) + _I8.itemsize * wide
    if len(data) != narrow_at + count * _U2.itemsize:
        return None
    positions = np.frombuffer(data, dtype=_U4, count=wide, offset=_U4.itemsize)
    if wide and int(positions.max()) >= count:
        return None
    gaps = np.frombuffer(data, dtype=_U2, offset=narrow_at).astype(np.int64)
    gaps[positions] = np.frombuffer(data, dtype=_I8, count=wide, offset=_U4.itemsize * (1 + wide))
    return gaps


def decode_chunk(encoding: str, data: bytes, *, first: int, out: npt.NDArray[np.int64]) -> bool:
    """Fill ``out`` (the chunk's count of numbers) from ``data``; False if they disagree."""
    if encoding == "i8":
        if len(data) != out.size * _I8.itemsize:
            return False
        out[:] = np.frombuffer(data, dtype=_I8)
        return out.size == 0 or int(out[0]) == first
    if out.size == 0:
        return False
    gaps = _gaps(encoding, data, out.size - 1)
    if gaps is None:
        return False
    out[0] = first
    np.cumsum(gaps, out=out[1:])
    out[1:] += first
    return True


@dataclass(frozen=True, slots=True)
class RegistryNumbersRead:
    """A load's numbers as read back; ``numbers`` is None if the load was replaced meanwhile."""

    load: StoredRegistryLoad
    numbers: npt.NDArray[np.int64] | None


def _to_record(row: Any) -> StoredRegistryLoad:
    # By mapping: a result row is a tuple, whose ``count`` is tuple.count.
    m = row._mapping
    return StoredRegistryLoad(
        id=m["id"],
        registry=Registry(m["registry"]),
        name=m["name"],
        published_on=m["published_on"],
        loaded_at=m["loaded_at"],
        count=m["count"],
        rejected_count=m["rejected_count"],
        duplicates=m["duplicates"],
        sha256=m["sha256"],
        replaced_at=m["replaced_at"],
    )


async def replace_registry(
    session: AsyncSession,
    /,
    *,
    registry: Registry,
    numbers: npt.NDArray[np.int64],
    name: str,
    published_on: date,
    rejected_count: int = 0,
    duplicates: int = 0,
    sha256: str = "",
    loaded_at: datetime | None = None,
) -> StoredRegistryLoad:
    """Make ``numbers`` (sorted, unique) the current copy of ``registry``.

    Raises :class:`InvalidInput` for an empty or unsorted array or a bad
    name, and :class:`ConflictError` if a concurrent load of the same
    registry committed first (PostgreSQL; SQLite serialises writers).
    """
    registry = Registry(registry)
    if not name or len(name) > 200:
        raise InvalidInput("a registry load's name has 1 to 200 characters", field="name")
    if numbers.ndim != 1 or numbers.size == 0:
        raise InvalidInput("a registry copy needs at least one number", field="numbers")
    now = as_utc(loaded_at, "loaded_at") if loaded_at is not None else utcnow()
    load_id = new_id()
    values = {
        "id": load_id,
        "name": name,
        "loaded_at": now,
        "count": int(numbers.size),
        "registry": registry.value,
        "published_on": published_on,
        "rejected_count": rejected_count,
        "duplicates": duplicates,
        "sha256": sha256,
        "replaced_at": None,
    }
    # In a savepoint: whatever goes wrong half way (a conflict, an unsorted
    # chunk found late), none of it is left in the caller's transaction.
    try:
        async with session.begin_nested():
            await _replace(session, registry=registry, numbers=numbers, values=values)
    except IntegrityError as exc:
        raise ConflictError(
            f"another load of registry {registry.value!r} committed first: load the file again"
        ) from exc
    return StoredRegistryLoad(
        id=load_id,
        registry=registry,
        name=name,
        published_on=published_on,
        loaded_at=now,
        count=int(numbers.size),
        rejected_count=rejected_count,
        duplicates=duplicates,
        sha256=sha256,
        replaced_at=None,
    )


async def _replace(
    session: AsyncSession,
    *,
    registry: Registry,
    numbers: npt.NDArray[np.int64],
    values: dict[str, Any],
) -> None:
    now = values["loaded_at"]
    replaced = await session.execute(
        update(_LOADS)
        .where(_LOADS.c.registry == registry.value, _LOADS.c.replaced_at.is_(None))
        .values(replaced_at=now)
        .returning(_LOADS.c.id)
    )
    old = list(replaced.scalars())
    if old:
        await session.execute(delete(_CHUNKS).where(_CHUNKS.c.load_id.in_(old)))
    await session.execute(insert(_LOADS).values(values))
    # One statement per chunk: the driver holds one value at a time, and the
    # event loop gets a turn between chunks (each is checked and encoded here,
    # not all 50 million numbers at once).
    previous: int | None = None
    for seq, start in enumerate(range(0, numbers.size, CHUNK_NUMBERS)):
        chunk = numbers[start : start + CHUNK_NUMBERS]
        ascending = previous is None or int(chunk[0]) > previous
        if not ascending or (chunk.size > 1 and not bool((chunk[1:] > chunk[:-1]).all())):
            raise InvalidInput("registry numbers must be sorted and unique", field="numbers")
        previous = int(chunk[-1])
        encoding, data = encode_chunk(chunk)
        await session.execute(
            insert(_CHUNKS).values(
                load_id=values["id"],
                seq=seq,
                count=int(chunk.size),
                first_number=int(chunk[0]),
                last_number=int(chunk[-1]),
                encoding=encoding,
                numbers=data,
            )
        )


async def current_loads(session: AsyncSession, /) -> list[StoredRegistryLoad]:
    """The current load of each registry that has one, in registry order."""
    stmt = select(_LOADS).where(_LOADS.c.replaced_at.is_(None)).order_by(_LOADS.c.registry)
    return [_to_record(row) for row in await session.execute(stmt)]


async def list_loads(
    session: AsyncSession, /, *, registry: Registry | None = None, limit: int = 100
) -> list[StoredRegistryLoad]:
    """Loads, newest first, current and replaced alike."""
    stmt = select(_LOADS).order_by(_LOADS.c.loaded_at.desc(), _LOADS.c.id.desc()).limit(limit)
    if registry is not None:
        stmt = stmt.where(_LOADS.c.registry == Registry(registry).value)
    return [_to_record(row) for row in await session.execute(stmt)]


async def read_numbers(
    session: AsyncSession, /, *, load: StoredRegistryLoad
) -> RegistryNumbersRead:
    """The numbers of ``load``, one chunk per statement so one 8 MB value is held at a time.

    On PostgreSQL each statement sees the latest commit: if a new load
    replaced this one between two chunks, the chunks are gone and the answer
    says so (``numbers`` None); read :func:`current_loads` again.
    """
    out = np.empty(load.count, dtype=np.int64)
    filled = 0
    seq = 0
    while filled < load.count:
        row = (
            await session.execute(
                select(
                    _CHUNKS.c.count.label("size"),
                    _CHUNKS.c.first_number,
                    _CHUNKS.c.last_number,
                    _CHUNKS.c.encoding,
                    _CHUNKS.c.numbers,
                ).where(_CHUNKS.c.load_id == load.id, _CHUNKS.c.seq == seq)
            )
        ).one_or_none()
        if row is None:
            return RegistryNumbersRead(load, None)
        size = int(row.size)
        segment = out[filled : filled + size]
        intact = size > 0 and segment.size == size
        intact = intact and decode_chunk(
            row.encoding, bytes(row.numbers), first=row.first_number, out=segment
        )
        if not intact or int(segment[-1]) != row.last_number:
            raise RuntimeError(f"registry load {load.id}: chunk {seq} is damaged")
        filled += size
        seq += 1
    out.flags.writeable = False
    return RegistryNumbersRead(load, out)
