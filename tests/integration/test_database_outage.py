"""The database goes away under a running floor, and comes back.

Found by stopping PostgreSQL under `dialer serve --demo`: the service went on
dialing, each call placed "after a failed write", so calls reached people
and agents with no record at all (the write-ahead broken), writes that failed
were never tried again (calls that ended in the outage stayed open, their
leads claimed) and the abandonment figures, computed from records, missed
them. Now nothing is dialed while writes fail, failed writes are retried
until stored, and dialing resumes when the database is back.

A real PostgreSQL behind a TCP proxy that the test cuts (every connection
dropped, new ones refused) and restores.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
from service_testing import running_floor, telephony
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from dialer.campaign import RunState
from dialer.runtime.fencing import RECORDS_UNAVAILABLE
from dialer.runtime.service import DialerService
from dialer.runtime.settings import Settings
from dialer.storage import Database
from dialer.storage.models import CallRow
from simulator.telephony import SimulatedTelephony

pytestmark = pytest.mark.postgres


class CuttableProxy:
    """Forwards TCP to the database until cut: then drops and refuses every connection."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.cut = False
        self._pipes: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self._pipes |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._pipes -= {writer, up_writer}

    def sever(self) -> None:
        self.cut = True
        for pipe in list(self._pipes):
            pipe.transport.abort()

    def restore(self) -> None:
        self.cut = False

    async def close(self) -> None:
        self.sever()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class RecordingTelephony(SimulatedTelephony):
    """The simulated telephony, remembering every call it was asked to originate."""

    def __init__(self, base: SimulatedTelephony) -> None:
        self.__dict__.update(base.__dict__)
        self.originated: list[tuple[float, str]] = []

    async def originate(self, call_id: str, phone: str, **kw: Any) -> None:
        self.originated.append((time.monotonic(), call_id))
        await super().originate(call_id, phone, **kw)


async def _until(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_nothing_is_dialed_unrecorded_while_the_database_is_away(postgres_url: str) -> None:
    url = make_url(postgres_url)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    phones = RecordingTelephony(telephony(human=0.0))  # every call busy: dialing never stops
    svc = DialerService(
        Settings(database_url=proxied, api_key="secret", stats_interval_s=0.1), telephony=phones
    )
    await svc.start()
    db = Database(postgres_url)  # straight to the database, for checking
    try:
        cid, phone = await running_floor(svc, "ada", leads=20, max_attempts=50)
        await phone.say(type="ready")

        async def dialing() -> bool:
            return len(phones.originated) >= 5

        await _until(dialing)
        proxy.sever()
        cut_at = time.monotonic()

        async def refused() -> bool:
            return svc.blocked_reason(cid) == RECORDS_UNAVAILABLE

        await _until(refused, timeout=5.0)
        blocked_at = time.monotonic()
        await asyncio.sleep(1.5)  # the outage: busy calls keep ending meanwhile
        during = [c for at, c in phones.originated if at > blocked_at]
        assert during == []  # no call placed while it could not be recorded
        proxy.restore()
        restored_at = time.monotonic()

        async def resumed() -> bool:
            return any(at > restored_at for at, _ in phones.originated)

        await _until(resumed)
        assert svc.blocked_reason(cid) is None
        await svc.set_campaign_state(cid, RunState.STOPPED)
        await svc.driver.writer.flush()
        originated = {c for _, c in phones.originated}

        async def all_closed() -> bool:
            async with db.transaction() as s:
                open_ = await s.scalar(
                    select(func.count()).select_from(CallRow).where(CallRow.ended_at.is_(None))
                )
            return open_ == 0

        await _until(all_closed)
        async with db.transaction() as s:
            recorded = set((await s.scalars(select(CallRow.id))).all())
        # Every call the telephony placed has its record, the ones that
        # ended in the outage included (their writes were retried).
        assert originated <= recorded
        assert cut_at < restored_at
    finally:
        await svc.stop()
        await db.dispose()
        await proxy.close()
