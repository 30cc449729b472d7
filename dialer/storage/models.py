"""The ORM tables. Alembic owns the schema: change these with a migration.

Portable types only (SQLite and PostgreSQL): ids are strings (uuid4 text for
the rows storage creates; call ids come from the core), enums are strings
checked in Python (no native ENUM types to ALTER later), JSON is ``sa.JSON``.
Every constraint is named by :data:`NAMING_CONVENTION`, so alembic's batch
mode can drop and recreate them on SQLite.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from dialer.storage._time import utcnow

__all__ = [
    "NAMING_CONVENTION",
    "AgentCampaignRow",
    "AgentRow",
    "Base",
    "CallRow",
    "CampaignRow",
    "DncEntryRow",
    "DncRegistryChunkRow",
    "DncRegistryLoadRow",
    "DncVersionRow",
    "LeadRow",
    "ProcessRow",
    "SettingRow",
    "SkippedDialRow",
    "UTCDateTime",
]

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = sa.String(64)
CALL_ID = sa.String(128)  # the core's ids carry a per-process prefix


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that takes and gives aware UTC datetimes only.

    SQLite keeps no zone: values go in as naive UTC text (so they sort and
    compare as instants) and come back marked UTC. PostgreSQL keeps
    ``timestamptz``. A naive value is a bug upstream and is refused.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: storage takes aware UTC instants")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: sa.JSON()}


class CampaignRow(Base):
    """One column per :class:`dialer.campaign.CampaignSettings` field (a test checks)."""

    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    mode: Mapped[str] = mapped_column(sa.String(16))
    state: Mapped[str] = mapped_column(sa.String(16))
    dial_ratio: Mapped[float] = mapped_column(sa.Float)
    max_abandon_rate: Mapped[float] = mapped_column(sa.Float)
    ring_timeout_s: Mapped[float] = mapped_column(sa.Float)
    connect_deadline_s: Mapped[float] = mapped_column(sa.Float)
    amd: Mapped[bool] = mapped_column(sa.Boolean)
    amd_detect_s: Mapped[float] = mapped_column(sa.Float)
    amd_false_positive_rate: Mapped[float] = mapped_column(sa.Float)
    caller_id: Mapped[str | None] = mapped_column(sa.String(32))
    safe_harbor_message: Mapped[str] = mapped_column(sa.Text)
    max_attempts: Mapped[int] = mapped_column(sa.Integer)
    # Server defaults (here as in migration 0002) fill rows older than the column.
    max_attempts_per_day: Mapped[int] = mapped_column(sa.Integer, server_default="3")
    retry_delays_s: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    calling_hours_start_min: Mapped[int] = mapped_column(sa.Integer)
    calling_hours_end_min: Mapped[int] = mapped_column(sa.Integer)
    assume_time_zone: Mapped[str | None] = mapped_column(sa.String(64))
    scrub_national_registry: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true())
    registry_max_age_days: Mapped[int | None] = mapped_column(sa.Integer)
    personal_callback_wait_s: Mapped[float] = mapped_column(sa.Float, server_default="3600")
    target_agent_wait_s: Mapped[float | None] = mapped_column(sa.Float)
    wrap_up_limit_s: Mapped[float | None] = mapped_column(sa.Float)
    compliance_profile: Mapped[str] = mapped_column(sa.String(16))
    hopper_size: Mapped[int] = mapped_column(sa.Integer)
    abandon_window_s: Mapped[float] = mapped_column(sa.Float)
    cap_guard: Mapped[bool] = mapped_column(sa.Boolean)
    pacer_options: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LeadRow(Base):
    __tablename__ = "leads"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "phone"),
        # Claiming: equality on the first two, a range on the third.
        sa.Index("ix_leads_claim", "campaign_id", "status", "next_attempt_at", "priority"),
        # Lease takeover: a dead process's claims.
        sa.Index("ix_leads_claimed_by", "claimed_by"),
        # A number's leads in every campaign: do-not-call adds and removals.
        sa.Index("ix_leads_phone", "phone"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(sa.String(16))
    timezone: Mapped[str | None] = mapped_column(sa.String(64))
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    priority: Mapped[int] = mapped_column(sa.Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(128))
    claimed_at: Mapped[datetime | None]
    last_outcome: Mapped[str | None] = mapped_column(sa.String(64))
    # A booked callback: when it was booked for, and for whom (None: anyone).
    # ``next_attempt_at`` may move on (a deferral); these keep the booking.
    callback_at: Mapped[datetime | None]
    callback_agent_id: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentRow(Base):
    """Agents. Which campaigns they take lives in :class:`AgentCampaignRow`."""

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    token_hash: Mapped[str] = mapped_column(sa.String(64))  # SHA-256 hex, never the token
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The service process holding the agent's softphone socket (None: none):
    # one process at a time routes calls to an agent.
    socket_process: Mapped[str | None] = mapped_column(sa.String(64))


class AgentCampaignRow(Base):
    """An agent may take a campaign's calls.

    A link table rather than a JSON list on ``agents``: foreign keys keep it
    true when a campaign is deleted (the link goes with it), and "which agents
    serve campaign X" is an indexed lookup instead of a scan of every agent.
    """

    __tablename__ = "agent_campaigns"
    __table_args__ = (sa.Index("ix_agent_campaigns_campaign_id", "campaign_id"),)

    agent_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    campaign_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )


class CallRow(Base):
    """Every attempt, written before it is dialed. Kept for the 5-year record rule.

    The foreign keys have no cascade: a campaign or lead with call records
    cannot be deleted out from under them.
    """

    __tablename__ = "calls"
    __table_args__ = (
        sa.Index("ix_calls_campaign_dialed", "campaign_id", "dialed_at"),
        sa.Index("ix_calls_campaign_answered", "campaign_id", "answered_at"),
        sa.Index("ix_calls_dialed_at", "dialed_at"),
        sa.Index("ix_calls_lead_id", "lead_id"),
        # A number's recent attempts, across campaigns (uk repeat-call rules).
        sa.Index("ix_calls_phone_dialed", "phone", "dialed_at"),
    )

    id: Mapped[str] = mapped_column(CALL_ID, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("campaigns.id"))
    lead_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("leads.id"))
    phone: Mapped[str] = mapped_column(sa.String(16))
    agent_id: Mapped[str | None] = mapped_column(ID)  # no FK: records outlive agents
    outcome: Mapped[str | None] = mapped_column(sa.String(16))
    abandoned: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    dialed_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    bridged_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    decision: Mapped[str | None] = mapped_column(sa.String(64))
    amd: Mapped[str | None] = mapped_column(sa.String(16))
    disposition: Mapped[str | None] = mapped_column(sa.String(64))
    notes: Mapped[str | None] = mapped_column(sa.Text)
    callback_at: Mapped[datetime | None]
    # A personal callback: the agent who booked it for themself.
    callback_agent_id: Mapped[str | None] = mapped_column(ID)
    placed_by: Mapped[str | None] = mapped_column(sa.String(128))


class SkippedDialRow(Base):
    """A lead the compliance gate did not let through, and why: the record of a non-call.

    Kept as long as the call records (the retention job removes both).
    """

    __tablename__ = "skipped_dials"
    __table_args__ = (
        sa.Index("ix_skipped_dials_campaign_decided", "campaign_id", "decided_at"),
        sa.Index("ix_skipped_dials_decided_at", "decided_at"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ID)  # no FK: records outlive campaigns
    lead_id: Mapped[str] = mapped_column(ID)
    phone: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str] = mapped_column(sa.String(64))
    decided_at: Mapped[datetime]
    retry_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(sa.String(128))


class DncEntryRow(Base):
    """Do-not-call entries.

    ``(phone, scope, campaign_id)`` is unique, NULL campaign included: a plain
    unique constraint treats NULLs as distinct (both backends), so two partial
    unique indexes say it instead.
    """

    __tablename__ = "dnc_entries"
    __table_args__ = (
        sa.Index(
            "uq_dnc_entries_phone_scope_global",
            "phone",
            "scope",
            unique=True,
            sqlite_where=sa.text("campaign_id IS NULL"),
            postgresql_where=sa.text("campaign_id IS NULL"),
        ),
        sa.Index(
            "uq_dnc_entries_phone_scope_campaign",
            "phone",
            "scope",
            "campaign_id",
            unique=True,
            sqlite_where=sa.text("campaign_id IS NOT NULL"),
            postgresql_where=sa.text("campaign_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    phone: Mapped[str] = mapped_column(sa.String(16))
    scope: Mapped[str] = mapped_column(sa.String(16))
    campaign_id: Mapped[str | None] = mapped_column(
        ID, sa.ForeignKey("campaigns.id", ondelete="CASCADE")
    )
    source: Mapped[str] = mapped_column(sa.String(200))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The ``dnc_versions.added`` count of the change that added it (None:
    # before revision 0006); processes fetch what is newer than they know.
    version: Mapped[int | None] = mapped_column(sa.BigInteger, index=True)


class DncRemovalRow(Base):
    """A number taken off a list, stamped with the ``dnc_versions.removed``
    count of its removal: what other processes fetch to follow removals
    without reading the whole lists again. Pruned after a day (a process
    behind by more reads the lists afresh)."""

    __tablename__ = "dnc_removals"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    phone: Mapped[str] = mapped_column(sa.String(16))
    # No foreign key: a removal outlives a campaign deleted since.
    campaign_id: Mapped[str | None] = mapped_column(ID)
    removed_at: Mapped[datetime] = mapped_column(default=utcnow)


class DncVersionRow(Base):
    """The do-not-call lists' change counters: one row, ``id`` 1.

    Every add bumps ``added`` and every removal ``removed``, in the change's
    transaction; the row lock orders changes, so entries stamped up to a
    committed ``added`` are all committed too.
    """

    __tablename__ = "dnc_versions"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    added: Mapped[int] = mapped_column(sa.BigInteger)
    removed: Mapped[int] = mapped_column(sa.BigInteger)


class DncRegistryLoadRow(Base):
    """A national registry file loaded: which registry, whose copy of which date.

    Kept after a newer load replaces it (``replaced_at`` set): the record of
    which copy was in force when. At most one load per registry is current
    (``replaced_at IS NULL``, a partial unique index); only the current one
    keeps its numbers, in :class:`DncRegistryChunkRow`.
    """

    __tablename__ = "dnc_registry_loads"
    __table_args__ = (
        sa.Index(
            "uq_dnc_registry_loads_current",
            "registry",
            unique=True,
            sqlite_where=sa.text("replaced_at IS NULL"),
            postgresql_where=sa.text("replaced_at IS NULL"),
        ),
        sa.Index("ix_dnc_registry_loads_registry_loaded", "registry", "loaded_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    count: Mapped[int] = mapped_column(sa.Integer)
    # "registry" is the declarative base's own attribute: the column keeps the name.
    registry_code: Mapped[str] = mapped_column("registry", sa.String(8))
    published_on: Mapped[date] = mapped_column(sa.Date)
    rejected_count: Mapped[int] = mapped_column(sa.Integer)
    duplicates: Mapped[int] = mapped_column(sa.Integer)
    sha256: Mapped[str] = mapped_column(sa.String(64))  # of the file as uploaded
    replaced_at: Mapped[datetime | None]


class DncRegistryChunkRow(Base):
    """A run of a registry copy's sorted numbers (see :mod:`dialer.storage.dnc_registry`).

    A row per million numbers or so rather than a row per number: a restart
    reads 50 million numbers as about fifty values instead of 50 million
    rows, and a load writes them as fast. ``first_number`` and
    ``last_number`` bound the run, so one number can be found by reading one
    row; ``encoding`` says how ``numbers`` holds them (``d2``, ``d4``: the
    gaps after the first as 16- or 32-bit integers; ``i8``: the numbers).
    """

    __tablename__ = "dnc_registry_chunks"

    load_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("dnc_registry_loads.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    count: Mapped[int] = mapped_column(sa.Integer)
    first_number: Mapped[int] = mapped_column(sa.BigInteger)
    last_number: Mapped[int] = mapped_column(sa.BigInteger)
    encoding: Mapped[str] = mapped_column(sa.String(4))
    numbers: Mapped[bytes] = mapped_column(sa.LargeBinary)


class SettingRow(Base):
    """Service-wide key/value settings (e.g. the generated API key's hash)."""

    __tablename__ = "settings_kv"

    key: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text)


class ProcessRow(Base):
    """A service process on this database, alive while its heartbeat is fresh.

    What a process holds (claimed leads, open calls) is taken back only once
    it has stopped beating: never from a live one (a second process, the new
    one of a rolling restart).
    """

    __tablename__ = "service_processes"
    __table_args__ = (sa.Index("ix_service_processes_heartbeat_at", "heartbeat_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    # Its live figures (dialer.runtime.floor.ProcessFigures as JSON), so a
    # read on any process can show the whole floor.
    figures: Mapped[str | None] = mapped_column(sa.Text, default=None)
