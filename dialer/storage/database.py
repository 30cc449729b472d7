"""Engines and sessions: SQLite embedded (aiosqlite) or PostgreSQL (asyncpg).

SQLite is set up for one service process with several pooled connections:

- WAL, so readers never wait for the writer; ``synchronous=NORMAL``, which in
  WAL mode survives a process crash (SIGKILL) and loses at most the last
  commits on a power cut.
- Foreign keys on (SQLite leaves them off per connection).
- SQLAlchemy, not the sqlite3 driver, emits ``BEGIN``: the driver's legacy
  mode starts no transaction for SELECT or SAVEPOINT, which breaks
  savepoints and repeatable reads. The ``BEGIN`` is ``IMMEDIATE``: a
  transaction takes the write lock up front and waits (``busy_timeout``) for
  it, instead of failing with SQLITE_BUSY when it reads, another connection
  commits, and it then tries to write. Writes are serialised anyway on SQLite.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from dialer.errors import InvalidInput

__all__ = ["Database", "create_engine", "normalize_url"]

SQLITE_BUSY_TIMEOUT_MS = 30_000

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def normalize_url(url: str | URL) -> URL:
    """``url`` with the async driver of its backend (``sqlite://`` -> aiosqlite, ...).

    Raises :class:`InvalidInput` for a backend other than SQLite or PostgreSQL.
    """
    parsed = make_url(url) if isinstance(url, str) else url
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise InvalidInput(
            f"unsupported database URL scheme {parsed.drivername!r}: "
            "use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB",
            field="database_url",
        )
    return parsed.set(drivername=driver)


def _sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL; None for in-memory databases."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    if url.query.get("mode") == "memory":
        return None
    return Path(database)


def create_engine(url: str | URL, *, foreign_keys: bool = True, **kwargs: Any) -> AsyncEngine:
    """An :class:`AsyncEngine` for ``url``, set up for its backend (module docs).

    For a SQLite file the parent directory is created. ``foreign_keys=False``
    is for migrations only (alembic's batch mode recreates tables on SQLite,
    which enforcement would cascade through). ``kwargs`` go to
    :func:`sqlalchemy.ext.asyncio.create_async_engine`.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_file(parsed)
        if path is not None:
            path.expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, **kwargs)
        _configure_sqlite(engine, foreign_keys=foreign_keys, wal=path is not None)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(parsed, **kwargs)


def _configure_sqlite(engine: AsyncEngine, *, foreign_keys: bool, wal: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # The driver must not BEGIN on its own (see the module docs).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if wal:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An engine and its session factory: what the service holds for its lifetime.

    Repository functions take an :class:`AsyncSession` and never commit; run
    them inside :meth:`transaction`, which commits on success and rolls back
    on error, so one transaction can span several of them.
    """

    def __init__(self, url: str | URL, *, engine: AsyncEngine | None = None) -> None:
        self.url = normalize_url(url)
        self.engine = engine if engine is not None else create_engine(self.url)
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def session(self) -> AsyncSession:
        """A new session; the caller closes it (``async with``) and commits."""
        return self.sessionmaker()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on exit, rolled back on error."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def ping(self, *, timeout_s: float = 5.0) -> bool:
        """True if a trivial query succeeds within ``timeout_s`` (for ``/healthz``).

        Never raises for an unreachable or broken database: that is the answer.
        """

        async def probe() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        try:
            await asyncio.wait_for(probe(), timeout_s)
        except Exception:
            # SQLAlchemyError, OSError, TimeoutError, or a driver's own error
            # type that SQLAlchemy did not wrap: all mean "not reachable".
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.dispose()
