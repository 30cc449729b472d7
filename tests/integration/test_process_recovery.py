"""Several processes on one database: only what dead processes held is taken back.

Before heartbeats, a starting process closed every open call and freed every
claimed lead, a running process's included (a second process, the new one
of a rolling restart): its calls were closed under it and its leads could be
dialed twice. Run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from service_testing import telephony

from dialer.campaign import CampaignSettings
from dialer.runtime.service import DialerService
from dialer.runtime.settings import Settings
from dialer.storage import Database, NewLead, calls, campaigns, leads, processes
from dialer.storage.records import LeadStatus


async def _holding(db: Database, cid: str, owner: str, phone: str, *, call: bool) -> str:
    """A lead of ``cid`` claimed by process ``owner``, with an open call if ``call``."""
    now = datetime.now(UTC)
    async with db.transaction() as s:
        await leads.add_leads(s, campaign_id=cid, leads=[NewLead(phone)])
    async with db.transaction() as s:
        lead = await leads.claim_number(s, campaign_id=cid, phone=phone, owner=owner, now=now)
        if call:
            await calls.record_call_placed(
                s,
                call_id=f"{owner}-call",
                campaign_id=cid,
                lead_id=lead.id,
                phone=phone,
                dialed_at=now,
                placed_by=owner,
            )
    return lead.id


async def _beating(db: Database, owner: str, age_s: float) -> None:
    async with db.transaction() as s:
        await processes.register(
            s, process_id=owner, now=datetime.now(UTC) - timedelta(seconds=age_s)
        )


async def _campaign(db: Database) -> str:
    async with db.transaction() as s:
        made = await campaigns.create_campaign(
            s, settings=CampaignSettings(id="", name=f"recovery-{id(s)}")
        )
    return made.id


async def _state(db: Database, lead_id: str, call_id: str | None) -> tuple[str, int, bool | None]:
    """(lead status, attempts, whether its call is still open)."""
    async with db.transaction() as s:
        lead = await leads.get_lead(s, lead_id=lead_id)
        open_ = None
        if call_id is not None:
            open_ = (await calls.get_call(s, call_id=call_id)).ended_at is None
    return lead.status.value, lead.attempts, open_


def _service(url: str, lease_s: float = 30.0) -> DialerService:
    return DialerService(
        Settings(database_url=url, api_key="secret", process_lease_s=lease_s),
        telephony=telephony(),
    )


async def test_start_takes_back_only_what_dead_processes_held(db: Database, db_url: str) -> None:
    cid = await _campaign(db)
    await _beating(db, "p-live", age_s=1.0)  # another process, running
    await _beating(db, "p-dead", age_s=600.0)  # stopped beating ten minutes ago
    live = await _holding(db, cid, "p-live", "+14155550101", call=True)
    dead = await _holding(db, cid, "p-dead", "+14155550102", call=True)
    # A crash from before heartbeats: an owner that never registered.
    ghost = await _holding(db, cid, "p-ghost", "+14155550103", call=False)
    svc = _service(db_url)
    await svc.start()
    try:
        assert await _state(db, live, "p-live-call") == ("in_progress", 0, True)
        # The dead process's call is closed as failed; its lead counts the attempt.
        assert await _state(db, dead, "p-dead-call") == ("retry", 1, False)
        async with db.transaction() as s:
            record = await calls.get_call(s, call_id="p-dead-call")
            alive = await processes.live_ids(s, since=datetime.now(UTC) - timedelta(seconds=30))
        assert record.outcome == "failed"
        assert await _state(db, ghost, None) == ("retry", 0, None)
        # This process beats too; the dead one is forgotten.
        assert alive == {"p-live", svc.settings.process_id}
    finally:
        await svc.stop()
    async with db.transaction() as s:
        after = await processes.live_ids(s, since=datetime.now(UTC) - timedelta(seconds=30))
    assert after == {"p-live"}  # a clean stop unregisters


async def test_a_process_that_stops_beating_is_taken_back_while_the_service_runs(
    db: Database, db_url: str
) -> None:
    cid = await _campaign(db)
    await _beating(db, "p-peer", age_s=0.0)
    held = await _holding(db, cid, "p-peer", "+14155550111", call=True)
    svc = _service(db_url, lease_s=0.6)
    await svc.start()
    try:
        # Alive at start: left alone.
        assert await _state(db, held, "p-peer-call") == ("in_progress", 0, True)
        # It never beats again: within a few leases the heartbeat loop reaps it.
        for _ in range(100):
            if (await _state(db, held, "p-peer-call"))[0] != "in_progress":
                break
            await asyncio.sleep(0.05)
        assert await _state(db, held, "p-peer-call") == ("retry", 1, False)
        # The service's own heartbeat keeps it alive past its lease.
        await asyncio.sleep(1.0)
        async with db.transaction() as s:
            alive = await processes.live_ids(s, since=datetime.now(UTC) - timedelta(seconds=0.6))
        assert svc.settings.process_id in alive
    finally:
        await svc.stop()


async def test_two_recoveries_at_once_close_a_call_once(db: Database) -> None:
    cid = await _campaign(db)
    await _beating(db, "p-gone", age_s=600.0)
    held = await _holding(db, cid, "p-gone", "+14155550121", call=True)
    now = datetime.now(UTC)
    async with db.transaction() as s:
        assert await calls.close_orphan(s, call_id="p-gone-call", ended_at=now)
        assert not await calls.close_orphan(s, call_id="p-gone-call", ended_at=now)
    async with db.transaction() as s:
        assert await leads.release_orphans(s, live={"p-other"}) == 1
        assert await leads.release_orphans(s, live={"p-other"}) == 0
    status, _, open_ = await _state(db, held, "p-gone-call")
    assert (status, open_) == (LeadStatus.RETRY.value, False)
