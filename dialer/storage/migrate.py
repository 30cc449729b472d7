"""Run the alembic migrations (``migrations/``) from code.

Alembic's environment runs on the same async drivers as the service, through
``AsyncConnection.run_sync`` inside its own ``asyncio.run``. The alternative,
rewriting ``+asyncpg`` URLs to a synchronous driver, would need psycopg as a
second PostgreSQL driver, with its own connection options and TLS settings
to keep in step. The price is that :func:`upgrade` must run where no event
loop is running: from async code, use :func:`upgrade_async`, which runs it in
a worker thread.
"""

from __future__ import annotations

import asyncio
import threading
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection

from dialer.storage.database import create_engine, normalize_url

__all__ = [
    "alembic_config",
    "current_revision",
    "head_revision",
    "upgrade",
    "upgrade_async",
]


_IN_PROCESS = threading.Lock()


def _migrations_dir() -> Path:
    # The `migrations` package ships the ini, env.py and versions/ together.
    return Path(str(resources.files("migrations")))


def alembic_config(url: str | URL | None = None) -> Config:
    """The packaged alembic configuration, aimed at ``url`` if given.

    The URL travels in ``config.attributes``, not the ini's options, so a
    password with ``%`` in it survives configparser interpolation.
    """
    directory = _migrations_dir()
    config = Config(str(directory / "alembic.ini"))
    config.set_main_option("script_location", str(directory))
    config.set_main_option("version_locations", str(directory / "versions"))
    if url is not None:
        config.attributes["url"] = normalize_url(url)
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise RuntimeError("no migrations found")
    return head


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision``, creating it (SQLite) if absent.

    Blocking; must not be called from a thread running an event loop.
    """
    if _in_event_loop():
        raise RuntimeError("upgrade() blocks; from async code await upgrade_async()")
    # alembic keeps its migration context in module globals: two upgrades in
    # one process must take turns (across processes PostgreSQL's advisory lock
    # in env.py, and SQLite's write lock, keep them apart).
    with _IN_PROCESS:
        command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str | URL, revision: str = "head") -> None:
    """:func:`upgrade` in a worker thread, so the event loop keeps running."""
    await asyncio.to_thread(upgrade, url, revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(url: str | URL) -> str | None:
    """The revision the database at ``url`` is at; None if never migrated."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current)
    finally:
        await engine.dispose()
