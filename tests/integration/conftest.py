"""Fixtures for the integration suite: a migrated database and a started service on each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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


@asynccontextmanager
async def migrated(url: str) -> AsyncIterator[Database]:
    await upgrade_async(url)
    database = Database(url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated database on each backend in turn."""
    async with migrated(db_url) as database:
        yield database


@pytest.fixture
async def pg_db(postgres_url: str) -> AsyncIterator[Database]:
    """A migrated PostgreSQL database, for what only PostgreSQL does."""
    async with migrated(postgres_url) as database:
        yield database
