"""National registry copies in the running service: loaded at start, replaced by uploads.

The numbers live in the gate's :class:`~dialer.compliance.registry.RegistryIndex`
(sorted arrays in memory); the database keeps each registry's current copy
and every load's record. An upload is parsed as it streams in, off the event
loop, and swapped into the index only after its transaction has committed:
until then the old copy keeps blocking. Another process on the same database
picks a new copy up at its next :meth:`RegistryManager.refresh`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from dialer.compliance.registry import (
    NATIONAL_COUNTRY_CODE,
    Registry,
    RegistryCopy,
    RegistryIndex,
    RegistryNumbers,
)
from dialer.compliance.registry_file import BadLine, RegistryParser
from dialer.errors import ConflictError, InvalidInput
from dialer.runtime.store import RuntimeStore
from dialer.storage.records import StoredRegistryLoad

__all__ = ["RegistryLoadResult", "RegistryManager", "parse_registry_name"]

log = logging.getLogger(__name__)

# Bytes handed to the parser thread at a time: enough to keep thread hops rare.
_FEED_BYTES = 8 << 20
# A copy may be dated tomorrow (UTC): the uploader's own today, east of Greenwich.
_FUTURE_SLACK = timedelta(days=1)
# A registry grows month by month; a file with under this share of the
# numbers in force is far more likely a download cut short than a registry
# that lost them, and loading it would unblock every number it is missing.
SHRINK_GUARD = 0.5


@dataclass(frozen=True, slots=True)
class RegistryLoadResult:
    """A committed load, and what in the file was not a number."""

    load: StoredRegistryLoad
    rejected: tuple[BadLine, ...]  # the first ones, with line numbers
    rejected_count: int  # all of them
    lines: int
    header: str | None


def parse_registry_name(value: str) -> Registry:
    """``value`` as a :class:`Registry`; InvalidInput naming the field otherwise."""
    try:
        return Registry(value)
    except ValueError:
        known = ", ".join(r.value for r in Registry)
        raise InvalidInput(f"unknown registry {value!r}: one of {known}", "registry") from None


class RegistryManager:
    """See the module docstring."""

    def __init__(self, store: RuntimeStore, index: RegistryIndex) -> None:
        self._store = store
        self._index = index
        # One upload at a time: two 50-million-number parses would double the memory.
        self._loading = asyncio.Lock()

    @property
    def index(self) -> RegistryIndex:
        return self._index

    async def refresh(self) -> list[Registry]:
        """Load every registry copy that is newer in the database than in memory.

        At start that is every stored copy; later, copies another process
        loaded. Returns the registries whose copy changed.
        """
        held = [c.version for c in self._index.copies()]
        changed: list[Registry] = []
        for load, numbers in await self._store.current_registry_copies(held=held):
            self._index.replace(
                RegistryCopy(load.registry, RegistryNumbers(numbers), load.published_on, load.id)
            )
            changed.append(load.registry)
            log.info(
                "registry %s: copy of %s with %d numbers in force (load %s)",
                load.registry.value,
                load.published_on.isoformat(),
                load.count,
                load.id,
            )
        return changed

    async def load_file(
        self,
        registry: Registry | str,
        body: AsyncIterable[bytes],
        *,
        name: str | None = None,
        published_on: date | None = None,
        today: date | None = None,
        allow_shrink: bool = False,
        allow_older: bool = False,
    ) -> RegistryLoadResult:
        """Parse ``body`` (streamed), store it as ``registry``'s copy, then put it in force.

        ``published_on`` defaults to ``today`` (UTC). Raises InvalidInput for
        a bad registry, a date in the future, a file with no numbers or, unless
        ``allow_shrink``, with under half the numbers of the copy in force
        (the current copy then stays), ConflictError while another load runs.
        Unless ``allow_older``, a copy published before the one in force is
        refused before the body is read: it lacks the numbers registered
        since, which would be dialed again (a date mistyped, an old download).
        """
        which = parse_registry_name(str(registry))
        today = today or datetime.now(UTC).date()
        published_on = published_on or today
        if published_on > today + _FUTURE_SLACK:
            raise InvalidInput(
                f"published_on {published_on.isoformat()} is in the future", "published_on"
            )
        current = self._index.copy_of(which)
        if not allow_older and current is not None and published_on < current.published_on:
            raise InvalidInput(
                f"published_on {published_on.isoformat()} is before the"
                f" {which.value} copy in force ({current.published_on.isoformat()}), which"
                " holds the numbers registered since: the copy in force stays; load it with"
                " allow_older=true if the newer copy was wrong",
                "published_on",
            )
        label = name if name is not None else f"{which.value} registry {published_on.isoformat()}"
        if not label.strip() or len(label) > 200:
            raise InvalidInput("name has 1 to 200 characters", "name")
        if self._loading.locked():
            raise ConflictError("a registry file is loading already: try again when it is done")
        async with self._loading:
            parser = RegistryParser(national_country_code=NATIONAL_COUNTRY_CODE[which])
            digest = hashlib.sha256()

            def feed(data: bytes) -> None:
                digest.update(data)
                parser.feed(data)

            buffer = bytearray()
            async for piece in body:
                buffer += piece
                if len(buffer) >= _FEED_BYTES:
                    data = bytes(buffer)
                    buffer.clear()
                    await asyncio.to_thread(feed, data)
            if buffer:
                await asyncio.to_thread(feed, bytes(buffer))
            parsed = await asyncio.to_thread(parser.finish)
            if parsed.numbers.size == 0:
                raise InvalidInput(
                    f"the file has no numbers ({parsed.bad_count} bad lines of {parsed.lines}):"
                    f" the {which.value} registry copy in force stays",
                    "body",
                )
            current = self._index.copy_of(which)
            if (
                not allow_shrink
                and current is not None
                and parsed.numbers.size < SHRINK_GUARD * len(current.numbers)
            ):
                raise InvalidInput(
                    f"the file has {parsed.numbers.size} numbers, under half the"
                    f" {len(current.numbers)} of the {which.value} copy in force: a download"
                    " cut short? The copy in force stays; load it with allow_shrink=true if"
                    " the registry really shrank",
                    "body",
                )
            load = await self._store.replace_registry(
                which,
                parsed.numbers,
                name=label,
                published_on=published_on,
                rejected_count=parsed.bad_count,
                duplicates=parsed.duplicates,
                sha256=digest.hexdigest(),
            )
            # Committed: only now may the new copy stand in for the old one.
            self._index.replace(
                RegistryCopy(which, RegistryNumbers(parsed.numbers), published_on, load.id)
            )
        log.info(
            "registry %s: loaded %d numbers (%d bad lines) dated %s",
            which.value,
            load.count,
            parsed.bad_count,
            published_on.isoformat(),
        )
        return RegistryLoadResult(
            load=load,
            rejected=parsed.bad_lines,
            rejected_count=parsed.bad_count,
            lines=parsed.lines,
            header=parsed.header,
        )

    async def list_loads(
        self, registry: Registry | str | None = None, *, limit: int = 100
    ) -> list[StoredRegistryLoad]:
        which = None if registry is None else parse_registry_name(str(registry))
        return await self._store.registry_loads(which, limit=limit)

    def age_days(self, registry: Registry | str, wall_epoch: float) -> float | None:
        """Age of the copy in force for ``registry`` at ``wall_epoch``; None if none is loaded."""
        return self._index.age_days(parse_registry_name(str(registry)), wall_epoch)
