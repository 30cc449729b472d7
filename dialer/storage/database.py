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
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Executable, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from dialer.errors import InvalidInput

__all__ = ["Database", "Statement", "Write", "create_engine", "is_transient", "normalize_url"]

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


@dataclass(frozen=True, slots=True)
class Statement:
    """A write that is one idempotent statement and its parameters.

    Runs in any session like any write (``await statement(session)``), and
    :meth:`Database.write_alone` can pipeline it with others of its kind.
    ``sql`` should be built once (statements of a run are compared by identity).
    """

    sql: Executable
    params: dict[str, Any]

    async def __call__(self, session: AsyncSession) -> None:
        await session.execute(self.sql, self.params)


#: A write: run inside the session's transaction (see :meth:`Database.run_batch`).
Write = Callable[[AsyncSession], Awaitable[None]]


class _ConnectionLost(Exception):
    pass


def is_transient(exc: BaseException) -> bool:
    """Whether a write failed for want of the database, not for what it wrote.

    Such a write may succeed if tried again (the server restarting, the
    network back, SQLite's lock freed); a constraint or type error never will.
    """
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(
            cause,
            OperationalError | InterfaceError | DisconnectionError | OSError | TimeoutError,
        ):
            return True
        # SQLAlchemy keeps the driver's exception as ``orig``; others chain it.
        orig = getattr(cause, "orig", None)
        cause = orig if isinstance(orig, BaseException) else cause.__cause__
    return False


def _runs_of_one_statement(statements: Sequence[Statement]) -> list[list[Statement]]:
    """``statements`` cut, in order, into runs that share their ``sql``."""
    runs: list[list[Statement]] = []
    for one in statements:
        if runs and runs[-1][0].sql is one.sql:
            runs[-1].append(one)
        else:
            runs.append([one])
    return runs


def normalize_url(url: str | URL) -> URL:
    """``url`` with the async driver of its backend (``sqlite://`` -> aiosqlite, ...).

    Raises :class:`InvalidInput` for a backend other than SQLite or PostgreSQL.
    """
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        raise InvalidInput(
            f"not a database URL: {url!r}: use sqlite+aiosqlite:///PATH or "
            "postgresql+asyncpg://USER@HOST/DB",
            field="database_url",
        ) from None
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


async def _despite_cancel(aw: Awaitable[Any]) -> Any:
    """Await ``aw`` to its end even if the caller is cancelled meanwhile, then cancel.

    On SQLite a statement cancelled half way keeps running in aiosqlite's
    thread, and the cursor it leaves behind keeps its connection open (a
    zombie, closed by a later garbage collection) with the write lock held:
    every other connection then waits out its busy timeout and fails with
    "database is locked". Letting the statement end first means the
    transaction's rollback on the way out really ends it.
    """
    task = asyncio.ensure_future(aw)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
        if not task.cancelled():
            task.exception()  # retrieved: the cancel is what the caller gets
        raise


class _SQLiteSession(AsyncSession):
    """An :class:`AsyncSession` whose statements a cancel cannot cut in half.

    (See :func:`_despite_cancel`.) The repositories' methods only; the
    transaction's own commit and rollback are connection-level, no cursor.
    """

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await _despite_cancel(super().execute(*args, **kwargs))

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return await _despite_cancel(super().scalar(*args, **kwargs))

    async def scalars(self, *args: Any, **kwargs: Any) -> Any:
        return await _despite_cancel(super().scalars(*args, **kwargs))

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        return await _despite_cancel(super().get(*args, **kwargs))

    async def flush(self, *args: Any, **kwargs: Any) -> None:
        await _despite_cancel(super().flush(*args, **kwargs))

    async def delete(self, *args: Any, **kwargs: Any) -> None:
        await _despite_cancel(super().delete(*args, **kwargs))


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
            self.engine,
            expire_on_commit=False,
            class_=_SQLiteSession if self.engine.dialect.name == "sqlite" else AsyncSession,
        )
        self._alone: AsyncConnection | None = None  # see write_alone
        self._alone_lock = asyncio.Lock()

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

    async def write_alone(self, statements: Sequence[Statement]) -> list[BaseException | None]:
        """Commit ``statements``, each idempotent, without a transaction around them.

        For the writes a person on the line waits for. In a pooled transaction
        a write costs four round trips on PostgreSQL (the pool's pre-ping,
        BEGIN, the statement, COMMIT) and each waits a whole turn of an event
        loop that may be serving a thousand sockets. Here, on a connection
        kept for this and autocommitted, a run of the same statement goes
        pipelined (asyncpg's ``executemany``: one round trip, all or nothing).
        A run that fails goes again statement by statement, so one bad write
        costs only itself; if the connection is lost, in an ordinary
        transaction (hence idempotent: it may have landed). The result says,
        per statement, what failed. SQLite takes an ordinary transaction: its
        writes serialise on one lock anyway.
        """
        if self.dialect != "postgresql":
            return await self.run_batch(statements)
        results: list[BaseException | None] = []
        async with self._alone_lock:
            for run in _runs_of_one_statement(statements):
                try:
                    results += await self._pipelined(run)
                except _ConnectionLost:
                    results += await self.run_batch(run)
        return results

    async def _pipelined(self, run: Sequence[Statement]) -> list[BaseException | None]:
        try:
            conn = await self._alone_connection()
            try:
                params = run[0].params if len(run) == 1 else [one.params for one in run]
                await conn.execute(run[0].sql, params)
                return [None] * len(run)
            except DBAPIError as exc:
                if exc.connection_invalidated:
                    raise
                if len(run) == 1:
                    return [exc]
            results: list[BaseException | None] = []
            for one in run:
                try:
                    await conn.execute(one.sql, one.params)
                    results.append(None)
                except DBAPIError as exc:
                    if exc.connection_invalidated:
                        raise
                    results.append(exc)
            return results
        except (DBAPIError, OSError) as exc:  # the connection is gone
            await self._drop_alone()
            raise _ConnectionLost from exc
        except asyncio.CancelledError:
            # Cancelled half way through a statement: the connection's state is unknown.
            await self._drop_alone()
            raise

    async def run_batch(self, ops: Sequence[Write]) -> list[BaseException | None]:
        """Run ``ops`` in one transaction (one commit for many writes).

        If the batch fails, each op runs again in a transaction of its own, so
        one bad write costs only itself; the result says, per op, what failed.
        """
        try:
            async with self.transaction() as s:
                for op in ops:
                    await op(s)
            return [None] * len(ops)
        except Exception as exc:
            if len(ops) == 1:
                return [exc]
        results: list[BaseException | None] = []
        for op in ops:
            try:
                async with self.transaction() as s:
                    await op(s)
                results.append(None)
            except Exception as exc:
                results.append(exc)
        return results

    async def reserve_write_alone(self) -> None:
        """Open :meth:`write_alone`'s connection now, not at the first write.

        Opened lazily, it came from the pool when the first person answered:
        at a floor's start, while a thousand softphones attaching held every
        pooled connection, that answer waited up to a second for one (the law
        counts two). Held from the start, the pool's rush never reaches it.
        """
        if self.dialect == "postgresql":
            async with self._alone_lock:
                await self._alone_connection()

    async def _alone_connection(self) -> AsyncConnection:
        if self._alone is None:
            conn = await self.engine.connect()
            self._alone = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._alone

    async def _drop_alone(self) -> None:
        conn, self._alone = self._alone, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()

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
        if self._alone is not None:
            with contextlib.suppress(Exception):
                await self._alone.close()
            self._alone = None
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.dispose()
