"""Fixtures shared by the whole suite: database URLs for SQLite and PostgreSQL.

Persistence tests take ``db_url`` and so run once on each backend, each test on
a database of its own. PostgreSQL comes from ``DIALER_TEST_POSTGRES_URL``
(``make test`` starts a throwaway server and sets it); without it the
PostgreSQL cases are skipped, loudly, on a developer's machine and fail in CI,
where skipping would hide a whole backend.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, make_url

POSTGRES_URL_ENV = "DIALER_TEST_POSTGRES_URL"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _asyncpg_dsn(url: URL) -> str:
    """A plain libpq-style DSN for asyncpg from a SQLAlchemy URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _recreate_database(admin_url: URL, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(admin_url: URL, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        # FORCE: an engine a test forgot to dispose must not keep the drop waiting.
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_admin_url() -> URL:
    """The server ``DIALER_TEST_POSTGRES_URL`` names; skipped (failed in CI) without it."""
    base = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not base:
        message = (
            f"!!! {POSTGRES_URL_ENV} is not set: PostgreSQL tests cannot run. "
            "Use `make test`, which starts a throwaway PostgreSQL, or set it to "
            "postgresql+asyncpg://USER@HOST:PORT/DB."
        )
        if _in_ci():
            pytest.fail("CI must test PostgreSQL. " + message, pytrace=False)
        pytest.skip(message)
    return make_url(base)


_databases = itertools.count()


@pytest.fixture
def postgres_url(postgres_admin_url: URL) -> Iterator[str]:
    """A SQLAlchemy ``postgresql+asyncpg://`` URL to an empty database of this test's own.

    One database per test, as SQLite has one file per test: a test never sees
    another's rows (a number one test put on the do-not-call list, say). The
    name carries the pytest-xdist worker, so parallel workers never collide;
    a database a killed run left behind is dropped first.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    suffix = re.sub(r"[^a-z0-9_]", "_", worker.lower())
    name = f"{postgres_admin_url.database or 'dialer_test'}_{suffix}_{next(_databases)}"
    # Sync fixture driving its own short-lived loop: it runs outside the
    # test's event loop and stays free of pytest-asyncio's loop scopes.
    asyncio.run(_recreate_database(postgres_admin_url, name))
    try:
        yield postgres_admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_drop_database(postgres_admin_url, name))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A ``sqlite+aiosqlite:///`` URL to a fresh database file in this test's tmp_path."""
    return f"sqlite+aiosqlite:///{tmp_path / 'dialer.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The URL of each supported backend in turn: persistence tests run on both."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url
