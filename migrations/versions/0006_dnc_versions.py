"""Change counters for the do-not-call lists, so every process follows them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Each process checks dials against an in-memory copy of the lists, loaded at
start and updated by its own API requests only: with several processes on
one database, a number put on the list through one was still dialed by the
others until they restarted. Every change now bumps a counter in one row
(``dnc_versions``), in the change's own transaction, and stamps the entries
it adds with the new count; the row lock orders the changes, so a process
that polls the counters fetches exactly the entries it has not seen.

Leads get an index on their number alone: a do-not-call add marks, and a
removal gives back, a number's leads in every campaign, and the only index
with ``phone`` led with the campaign, so each number scanned the table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    versions = op.create_table(
        "dnc_versions",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("added", sa.BigInteger(), nullable=False),
        sa.Column("removed", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dnc_versions")),
    )
    op.bulk_insert(versions, [{"id": 1, "added": 0, "removed": 0}])
    with op.batch_alter_table("dnc_entries") as batch:
        batch.add_column(sa.Column("version", sa.BigInteger(), nullable=True))
        batch.create_index("ix_dnc_entries_version", ["version"])
    op.create_index("ix_leads_phone", "leads", ["phone"])


def downgrade() -> None:
    op.drop_index("ix_leads_phone", table_name="leads")
    with op.batch_alter_table("dnc_entries") as batch:
        batch.drop_index("ix_dnc_entries_version")
        batch.drop_column("version")
    op.drop_table("dnc_versions")
