"""Do-not-call removals as rows, so other processes follow them cheaply.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

A removal left nothing to fetch: every other process read the whole lists
again, which at 200,000 entries held its event loop for about 200 ms (the
bridges of people on the line waiting behind it) per removal. Each removal
now also writes the number it took off, stamped with the removal count.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dnc_removals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dnc_removals")),
    )
    op.create_index("ix_dnc_removals_version", "dnc_removals", ["version"])


def downgrade() -> None:
    op.drop_index("ix_dnc_removals_version", table_name="dnc_removals")
    op.drop_table("dnc_removals")
