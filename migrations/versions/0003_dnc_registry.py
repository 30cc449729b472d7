"""National do-not-call registry copies: what each load was, and the current numbers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

``dnc_registry_loads`` gains the registry it is a copy of (``us``, ``uk``,
``ca``), the date the copy was published or downloaded, what the file held
besides numbers, its SHA-256, and when a newer load replaced it. The numbers
of each registry's current load live in ``dnc_registry_chunks``, a row per
million or so (dialer/storage/dnc_registry.py says how they are encoded).

Rows from before this revision had no registry or date: they become ``us``
loads dated by when they were loaded, already replaced (they have no numbers
here; what they loaded is still in ``dnc_entries``).

SQLite cannot make a column NOT NULL in place: batch mode copies the table.
The copy is described here (``copy_from``), so ``alembic upgrade --sql``
works without a database to reflect.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=64)
LOADS = "dnc_registry_loads"
CHUNKS = "dnc_registry_chunks"


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _new_columns(*, nullable: bool) -> list[sa.Column[object]]:
    return [
        sa.Column("registry", sa.String(length=8), nullable=nullable),
        sa.Column("published_on", sa.Date(), nullable=nullable),
        sa.Column("rejected_count", sa.Integer(), nullable=nullable),
        sa.Column("duplicates", sa.Integer(), nullable=nullable),
        sa.Column("sha256", sa.String(length=64), nullable=nullable),
    ]


def _loads_table(*extra: sa.Column[object]) -> sa.Table:
    """``dnc_registry_loads`` as revision 0001 made it, plus ``extra`` columns."""
    return sa.Table(
        LOADS,
        sa.MetaData(),
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("loaded_at", _utc(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        *extra,
        sa.PrimaryKeyConstraint("id", name="pk_dnc_registry_loads"),
    )


def upgrade() -> None:
    with op.batch_alter_table(LOADS, copy_from=_loads_table()) as batch:
        for column in _new_columns(nullable=True):
            batch.add_column(column)
        batch.add_column(sa.Column("replaced_at", _utc(), nullable=True))

    day = (
        "date(loaded_at)"
        if op.get_context().dialect.name == "sqlite"
        else "CAST(loaded_at AT TIME ZONE 'UTC' AS DATE)"
    )
    op.execute(
        f"UPDATE {LOADS} SET registry = 'us', published_on = {day}, rejected_count = 0,"
        " duplicates = 0, sha256 = '', replaced_at = loaded_at WHERE registry IS NULL"
    )

    widened = _loads_table(
        *_new_columns(nullable=True), sa.Column("replaced_at", _utc(), nullable=True)
    )
    with op.batch_alter_table(LOADS, copy_from=widened) as batch:
        for column in _new_columns(nullable=False):
            batch.alter_column(column.name, existing_type=column.type, nullable=False)

    op.create_index(
        "uq_dnc_registry_loads_current",
        LOADS,
        ["registry"],
        unique=True,
        sqlite_where=sa.text("replaced_at IS NULL"),
        postgresql_where=sa.text("replaced_at IS NULL"),
    )
    op.create_index("ix_dnc_registry_loads_registry_loaded", LOADS, ["registry", "loaded_at"])

    op.create_table(
        CHUNKS,
        sa.Column("load_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_number", sa.BigInteger(), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.Column("encoding", sa.String(length=4), nullable=False),
        sa.Column("numbers", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["load_id"],
            [f"{LOADS}.id"],
            name=op.f("fk_dnc_registry_chunks_load_id_dnc_registry_loads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("load_id", "seq", name=op.f("pk_dnc_registry_chunks")),
    )
    if op.get_context().dialect.name == "postgresql":
        # The chunks are compact already: PostgreSQL's own compression of
        # them (pglz) cost about 7x the write time for little (measured).
        op.execute(f"ALTER TABLE {CHUNKS} ALTER COLUMN numbers SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table(CHUNKS)
    op.drop_index("ix_dnc_registry_loads_registry_loaded", table_name=LOADS)
    op.drop_index("uq_dnc_registry_loads_current", table_name=LOADS)
    full = _loads_table(
        *_new_columns(nullable=False), sa.Column("replaced_at", _utc(), nullable=True)
    )
    with op.batch_alter_table(LOADS, copy_from=full) as batch:
        for column in (*_new_columns(nullable=False), sa.Column("replaced_at", _utc())):
            batch.drop_column(column.name)
