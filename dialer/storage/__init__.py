"""Persistence: SQLAlchemy 2 (async) over SQLite (aiosqlite) or PostgreSQL (asyncpg).

Use a :class:`Database` and the repository modules, each one idea::

    from dialer.storage import Database, campaigns, leads

    db = Database("sqlite+aiosqlite:///var/dialer.db")
    await upgrade_async(db.url)
    async with db.transaction() as session:
        stored = await campaigns.create_campaign(session, settings=settings)

Repository functions take the session first, then keyword-only arguments;
they never commit (the caller's :meth:`Database.transaction` does) and
return the frozen dataclasses of :mod:`dialer.storage.records`, never ORM
rows. Every datetime in and out is timezone-aware UTC.
"""

from __future__ import annotations

from dialer.storage import (
    agents,
    calls,
    campaigns,
    dnc,
    dnc_registry,
    leads,
    processes,
    settings_kv,
)
from dialer.storage.database import Database, create_engine, normalize_url
from dialer.storage.migrate import current_revision, head_revision, upgrade, upgrade_async
from dialer.storage.records import (
    AbandonmentCounts,
    AddResult,
    CallPage,
    CampaignTotals,
    DncListing,
    DncScope,
    LeadStatus,
    NewLead,
    RejectedLead,
    StoredAgent,
    StoredCall,
    StoredCampaign,
    StoredLead,
    StoredRegistryLoad,
)

__all__ = [
    "AbandonmentCounts",
    "AddResult",
    "CallPage",
    "CampaignTotals",
    "Database",
    "DncListing",
    "DncScope",
    "LeadStatus",
    "NewLead",
    "RejectedLead",
    "StoredAgent",
    "StoredCall",
    "StoredCampaign",
    "StoredLead",
    "StoredRegistryLoad",
    "agents",
    "calls",
    "campaigns",
    "create_engine",
    "current_revision",
    "dnc",
    "dnc_registry",
    "head_revision",
    "leads",
    "normalize_url",
    "processes",
    "settings_kv",
    "upgrade",
    "upgrade_async",
]
