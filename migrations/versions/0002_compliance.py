"""Compliance: per-day attempt limits, assumed zones, registry age, callbacks, skipped dials.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Campaigns gain the settings compliance profiles need; leads keep a booked
callback apart from ``next_attempt_at``, and calls whose agent booked it;
calls are indexed by number (repeat-call rules look across campaigns);
``skipped_dials`` records every lead the gate did not let through, and why.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=64)


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _widen_last_outcome(length: int, before: int) -> None:
    """``leads.last_outcome`` to ``length`` characters (skip reasons are longer).

    SQLite does not enforce VARCHAR lengths, and altering a column there
    means copying the table, which an offline (``--sql``) script cannot do:
    there the type changes only online.
    """
    if op.get_context().dialect.name == "sqlite":
        if context.is_offline_mode():
            return
        with op.batch_alter_table("leads") as batch:
            batch.alter_column(
                "last_outcome",
                existing_type=sa.String(length=before),
                type_=sa.String(length=length),
                existing_nullable=True,
            )
        return
    op.alter_column(
        "leads",
        "last_outcome",
        existing_type=sa.String(length=before),
        type_=sa.String(length=length),
        existing_nullable=True,
    )


def upgrade() -> None:
    # The models declare the same server defaults: rows that predate a column
    # get the profile's default; the application always writes every column.
    op.add_column(
        "campaigns",
        sa.Column("max_attempts_per_day", sa.Integer(), nullable=False, server_default="3"),
    )
    op.add_column("campaigns", sa.Column("assume_time_zone", sa.String(length=64), nullable=True))
    op.add_column(
        "campaigns",
        sa.Column(
            "scrub_national_registry", sa.Boolean(), nullable=False, server_default=sa.true()
        ),
    )
    op.add_column("campaigns", sa.Column("registry_max_age_days", sa.Integer(), nullable=True))
    op.add_column(
        "campaigns",
        sa.Column("personal_callback_wait_s", sa.Float(), nullable=False, server_default="3600"),
    )
    _widen_last_outcome(64, 32)
    op.add_column("leads", sa.Column("callback_at", _utc(), nullable=True))
    op.add_column("leads", sa.Column("callback_agent_id", ID, nullable=True))

    op.add_column("calls", sa.Column("callback_agent_id", ID, nullable=True))
    op.create_index("ix_calls_phone_dialed", "calls", ["phone", "dialed_at"])

    op.create_table(
        "skipped_dials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("campaign_id", ID, nullable=False),
        sa.Column("lead_id", ID, nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("decided_at", _utc(), nullable=False),
        sa.Column("retry_at", _utc(), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skipped_dials")),
    )
    op.create_index(
        "ix_skipped_dials_campaign_decided", "skipped_dials", ["campaign_id", "decided_at"]
    )
    op.create_index("ix_skipped_dials_decided_at", "skipped_dials", ["decided_at"])


def downgrade() -> None:
    op.drop_index("ix_skipped_dials_decided_at", table_name="skipped_dials")
    op.drop_index("ix_skipped_dials_campaign_decided", table_name="skipped_dials")
    op.drop_table("skipped_dials")
    op.drop_index("ix_calls_phone_dialed", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("callback_agent_id")
    # Dropping columns copies the table on SQLite: batch mode.
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("callback_agent_id")
        batch.drop_column("callback_at")
    _widen_last_outcome(32, 64)
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("personal_callback_wait_s")
        batch.drop_column("registry_max_age_days")
        batch.drop_column("scrub_national_registry")
        batch.drop_column("assume_time_zone")
        batch.drop_column("max_attempts_per_day")
