"""The service's settings: one object, built by create_app or the CLI, never at import."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Literal

import phonenumbers
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dialer.core import HAND_BACK_AFTER_S
from dialer.storage.retention import DEFAULT_RETENTION_DAYS, MIN_RETENTION_DAYS

__all__ = ["DEFAULT_DATABASE_URL", "Settings"]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/dialer.db"


class Settings(BaseSettings):
    """Read from ``DIALER_*`` environment variables; CLI options override them."""

    model_config = SettingsConfigDict(env_prefix="DIALER_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    api_key: str | None = None
    telephony: Literal["simulated"] = "simulated"
    scenario: Path | None = None  # callee behaviour for the simulated telephony
    seed: int | None = None  # the simulated telephony's random seed
    time_scale: float = Field(default=1.0, gt=0)  # simulated telephony: shrink every delay
    demo: bool = False
    demo_agents: int = Field(default=8, ge=1, le=500)
    # This process's name in lead claims (several processes may share a database).
    process_id: str = Field(default_factory=lambda: f"p-{uuid.uuid4().hex[:12]}")
    # A process that has not beaten its heartbeat for this long is dead: its
    # claimed leads and open calls are taken back (never a live one's).
    process_lease_s: float = Field(default=30.0, gt=0)
    max_leads_per_request: int = Field(default=100_000, ge=1)
    stats_interval_s: float = Field(default=2.0, gt=0)
    # Leads claimed for a campaign whose agents here are all paused or gone
    # go back to the database after this long, for the agents of other
    # processes (see dialer.core.HAND_BACK_AFTER_S).
    lead_hand_back_s: float = Field(default=HAND_BACK_AFTER_S, gt=0)
    # An agent whose softphone has been gone this long (with no call of its
    # own left here) is logged out, not left paused for ever.
    away_logout_s: float = Field(default=600.0, gt=0)
    # A stop (SIGTERM, Ctrl-C) first drains: no more dialing, each softphone
    # sent away (WebSocket 1012) once its agent has no call, and the calls in
    # progress left this long to end and be disposed before the rest is closed.
    drain_s: float = Field(default=30.0, ge=0)
    # Call records and skipped dials are kept this long, and never less than
    # five years (dialer.storage.retention.MIN_RETENTION_DAYS).
    retention_days: int = Field(default=DEFAULT_RETENTION_DAYS, ge=MIN_RETENTION_DAYS)
    # National do-not-call registry files: the upload limit, and how often a
    # process looks for a copy that another one loaded.
    max_registry_bytes: int = Field(default=1 << 30, ge=1)
    registry_refresh_s: float = Field(default=30.0, gt=0)
    # How often a process looks for do-not-call entries that another process
    # on its database added or removed (its own are in force at once).
    dnc_refresh_s: float = Field(default=1.0, gt=0)
    # How often a process looks for campaigns created or changed through
    # another (a start, pause or stop there must reach this one's dialing).
    campaign_refresh_s: float = Field(default=1.0, gt=0)
    # Where a number without its country code is read when no campaign says
    # (the floor-wide do-not-call list and its lookups); campaigns read theirs
    # in their compliance profile's country.
    default_region: str = "US"

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region code phonenumbers knows (US, GB, CA...)")
        return region
