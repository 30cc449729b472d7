"""Alembic environment for the dialer: async engines, the ORM metadata as target.

Migrations run on the service's own async drivers (aiosqlite, asyncpg) through
``AsyncConnection.run_sync``, so no synchronous PostgreSQL driver is needed.
``asyncio.run`` needs a thread with no running event loop:
:func:`dialer.storage.migrate.upgrade_async` provides one.

Where the URL comes from, first found wins: ``config.attributes["url"]`` (set
by :mod:`dialer.storage.migrate`), ``-x url=...``, ``sqlalchemy.url`` in the
ini, ``DIALER_DATABASE_URL``. A caller that already holds a synchronous
connection (e.g. inside ``AsyncConnection.run_sync``) may pass it as
``config.attributes["connection"]``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.pool import NullPool

from dialer.storage.database import create_engine, normalize_url
from dialer.storage.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata

# Any fixed 64-bit number, the same in every process: while one process
# migrates a PostgreSQL database, others starting at the same time wait.
_PG_MIGRATION_LOCK = 0x6469616C6572  # "dialer"


def _url() -> URL:
    url: Any = config.attributes.get("url")
    if not url:
        url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        url = config.get_main_option("sqlalchemy.url")
    if not url:
        url = os.environ.get("DIALER_DATABASE_URL")
    if not url:
        raise RuntimeError(
            "no database URL: pass -x url=..., set DIALER_DATABASE_URL, "
            "or use dialer.storage.migrate.upgrade(url)"
        )
    return normalize_url(url)


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    # Autogenerate writes the portable type, not the ORM's decorator.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        render_item=_render_item,
        **kwargs,
    )


def run_migrations_offline() -> None:
    url = _url()
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        context.run_migrations()


async def _run_async() -> None:
    # Foreign keys off on SQLite: batch mode copies and drops tables, which
    # enforcement would cascade through. NullPool: nothing outlives the run.
    engine = create_engine(_url(), foreign_keys=False, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_on)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
