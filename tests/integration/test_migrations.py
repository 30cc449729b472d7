"""Alembic owns the schema: the migrations build exactly what the ORM models say.

Every test gets an empty database of its own: SQLite a fresh file; PostgreSQL
a database created for the test next to the worker's (``db_url``) and
dropped after it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tomllib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError

from dialer.storage import create_engine, current_revision, head_revision, upgrade, upgrade_async
from dialer.storage.migrate import alembic_config
from dialer.storage.models import Base

ROOT = Path(__file__).resolve().parents[2]
TABLES = {
    "agent_campaigns",
    "agents",
    "calls",
    "campaigns",
    "dnc_entries",
    "dnc_removals",
    "dnc_versions",
    "skipped_dials",
    "dnc_registry_chunks",
    "dnc_registry_loads",
    "leads",
    "service_processes",
    "settings_kv",
}


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    admin = make_url(url).set(drivername="postgresql")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
async def empty_url(db_url: str) -> AsyncIterator[str]:
    """A database with nothing in it, on the backend ``db_url`` is."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        yield db_url
        return
    name = f"{url.database}_mig_{uuid.uuid4().hex[:8]}"
    await _admin(db_url, f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(db_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _inspect(url: str) -> tuple[set[str], list[Any]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_tables), await conn.run_sync(_schema_diff)
    finally:
        await engine.dispose()


async def test_upgrade_empty_database_to_head_matches_the_models(empty_url: str) -> None:
    assert await current_revision(empty_url) is None
    await upgrade_async(empty_url)
    assert await current_revision(empty_url) == head_revision()
    tables, diff = await _inspect(empty_url)
    assert tables == TABLES | {"alembic_version"}
    assert diff == [], "models and migrations disagree: write a migration"


async def test_upgrade_is_idempotent_and_downgrade_round_trips(empty_url: str) -> None:
    await upgrade_async(empty_url)
    await upgrade_async(empty_url)  # at head already: nothing to do
    await asyncio.to_thread(command.downgrade, alembic_config(empty_url), "base")
    tables, _ = await _inspect(empty_url)
    assert tables == {"alembic_version"}
    assert await current_revision(empty_url) is None
    await upgrade_async(empty_url, "head")
    tables, diff = await _inspect(empty_url)
    assert tables == TABLES | {"alembic_version"}
    assert diff == []


async def test_concurrent_upgrades_of_one_database(empty_url: str) -> None:
    """Processes starting together: one migrates, the others wait and find it done."""
    await asyncio.gather(*(upgrade_async(empty_url) for _ in range(3)))
    assert await current_revision(empty_url) == head_revision()


async def test_upgrade_refuses_to_block_a_running_loop(empty_url: str) -> None:
    with pytest.raises(RuntimeError, match="upgrade_async"):
        upgrade(empty_url)


async def test_upgrade_from_any_working_directory(
    empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    await upgrade_async(empty_url)
    assert await current_revision(empty_url) == head_revision()


def test_sqlite_file_and_directory_are_created(tmp_path: Path) -> None:
    path = tmp_path / "var" / "lib" / "dialer.db"
    upgrade(f"sqlite:///{path}")  # a plain sqlite:// URL is taken too
    assert path.is_file()
    assert asyncio.run(current_revision(f"sqlite+aiosqlite:///{path}")) == head_revision()


def test_alembic_command_line(tmp_path: Path) -> None:
    """The packaged ini works for the alembic CLI too, from anywhere, with -x url=."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    ini = ROOT / "migrations" / "alembic.ini"

    def alembic(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "alembic", "-c", str(ini), "-x", f"url={url}", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr

    alembic("upgrade", "head")
    assert head_revision() in alembic("current")
    assert "No new upgrade operations detected" in alembic("check")


@pytest.mark.parametrize("url", ["postgresql+asyncpg://u@h/db", "sqlite+aiosqlite:///x.db"])
def test_offline_sql(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``alembic upgrade --sql``: the script a DBA can read and run by hand."""
    command.upgrade(alembic_config(url), "head", sql=True)
    script = capsys.readouterr().out
    for table in TABLES:
        assert f"CREATE TABLE {table}" in script
    assert "CREATE UNIQUE INDEX uq_dnc_entries_phone_scope_global" in script


def test_migrations_ship_with_the_package() -> None:
    config = alembic_config()
    location = Path(config.get_main_option("script_location") or "")
    assert (location / "alembic.ini").is_file()
    assert (location / "env.py").is_file()
    assert (location / "script.py.mako").is_file()
    assert any((location / "versions").glob("0001_*.py"))
    with (ROOT / "pyproject.toml").open("rb") as f:
        package_data = tomllib.load(f)["tool"]["setuptools"]["package-data"]["migrations"]
    assert {"*.ini", "*.mako", "versions/*.py"} <= set(package_data)


async def test_foreign_keys_are_enforced_after_migrating(empty_url: str) -> None:
    await upgrade_async(empty_url)
    engine = create_engine(empty_url)
    try:
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO leads (id, campaign_id, phone, data, status, attempts,"
                        " priority, created_at) VALUES ('l1', 'nope', '+15550000000', '{}',"
                        " 'new', 0, 0, CURRENT_TIMESTAMP)"
                    )
                )
    finally:
        await engine.dispose()


async def test_registry_loads_from_0001_become_replaced_us_loads(empty_url: str) -> None:
    """0001 had a bare load table; its rows get a registry and a date, and none is current."""
    await upgrade_async(empty_url, "0001")
    engine = create_engine(empty_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO dnc_registry_loads (id, name, loaded_at, count)"
                    " VALUES ('old', 'ftc', '2026-05-04 23:30:00+00:00', 5)"
                )
            )
        await upgrade_async(empty_url)
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT registry, published_on, replaced_at IS NOT NULL, count,"
                        " rejected_count FROM dnc_registry_loads"
                    )
                )
            ).one()
    finally:
        await engine.dispose()
    assert (row[0], str(row[1]), bool(row[2]), row[3], row[4]) == ("us", "2026-05-04", True, 5, 0)
    _, diff = await _inspect(empty_url)
    assert diff == []
