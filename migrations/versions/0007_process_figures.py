"""Each process's live figures, so a read on any process sees the whole floor.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

Live figures (agents by state, lines in flight) were only the answering
process's: behind a load balancer a wallboard's numbers jumped between the
processes' halves of the floor, and an agent connected to one looked logged
out through the other. Every process now writes its figures (JSON, see
``dialer.runtime.floor``) beside its heartbeat.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("service_processes") as batch:
        batch.add_column(sa.Column("figures", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("service_processes") as batch:
        batch.drop_column("figures")
