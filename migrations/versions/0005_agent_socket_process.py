"""Which process holds each agent's softphone socket.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

With several processes on one database, an agent's softphone could connect
to two of them at once, and each would route calls to the agent: one agent
was bridged to two people at the same moment. The process holding the
socket is recorded; another live process refuses a second socket.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("socket_process", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("socket_process")
