"""Fixtures for the integration suite: a migrated database and a started service on each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from service_testing import telephony

from dialer.runtime.service import DialerService
from dialer.runtime.settings import Settings
from dialer.storage import Database, upgrade_async


@pytest.fixture
async def service(db_url: str) -> AsyncIterator[DialerService]:
    svc = DialerService(
        Settings(database_url=db_url, api_key="secret", stats_interval_s=0.1),
        telephony=telephony(),
    )
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    await upgrade_async(db_url)
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.dispose()
