"""Service processes and their heartbeats: recovery takes back only what dead ones held.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Before this revision a starting process closed every open call and released
every claimed lead in the database, those of a process still running
included (a second process, or the new one of a rolling restart): calls
still ringing were closed and their leads could be dialed twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_processes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_processes")),
    )
    op.create_index("ix_service_processes_heartbeat_at", "service_processes", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_service_processes_heartbeat_at", table_name="service_processes")
    op.drop_table("service_processes")
