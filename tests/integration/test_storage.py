"""The storage layer against real databases: SQLite and PostgreSQL (``db_url``).

On PostgreSQL every test of a pytest-xdist worker shares one database, so no
test here assumes an empty table: each makes its own campaigns, with unique
names, and its own phone numbers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text

from dialer.calls import CallRecord
from dialer.campaign import CallOutcome, CampaignSettings, DialMode, RunState
from dialer.clock import FixedOffsetClock
from dialer.errors import ConflictError, InvalidInput, NotFound
from dialer.storage import (
    Database,
    DncScope,
    LeadStatus,
    NewLead,
    agents,
    calls,
    campaigns,
    create_engine,
    dnc,
    leads,
    settings_kv,
    upgrade_async,
)
from dialer.storage.models import CampaignRow
from dialer.storage.records import PRIORITY_RANGE

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


_phones = itertools.count()


def unique_phone() -> str:
    """A North American number no other test (or worker, or run) uses."""
    return f"+1{(uuid.uuid4().int + next(_phones)) % 10**10:010d}"


def unique_name(prefix: str = "campaign") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def new_campaign(db: Database, **fields: Any) -> str:
    settings = CampaignSettings(id="", name=unique_name(), **fields)
    async with db.transaction() as s:
        return (await campaigns.create_campaign(s, settings=settings)).id


# --- database ----------------------------------------------------------------
async def test_ping(db: Database) -> None:
    assert await db.ping()


async def test_ping_unreachable_database_is_false() -> None:
    # Port 1 on loopback: refused at once, no server needed.
    database = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        assert await database.ping(timeout_s=5) is False
    finally:
        await database.dispose()


async def test_sqlite_engine_pragmas_and_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "deeper" / "still" / "dialer.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as conn:
            assert (await conn.scalar(text("PRAGMA journal_mode"))) == "wal"
            assert (await conn.scalar(text("PRAGMA foreign_keys"))) == 1
        assert path.parent.is_dir()
    finally:
        await engine.dispose()


def test_unsupported_url_is_refused() -> None:
    with pytest.raises(InvalidInput):
        create_engine("mysql://u@h/db")


# --- campaigns ---------------------------------------------------------------
def test_every_campaign_setting_has_a_column() -> None:
    """A new CampaignSettings field needs a column and a migration."""
    fields = {f.name for f in dataclasses.fields(CampaignSettings)}
    columns = {c.key for c in sa_inspect(CampaignRow).columns}
    assert fields <= columns, f"no column for {sorted(fields - columns)}: add one and a migration"
    assert columns - fields == {"created_at", "updated_at"}


async def test_campaign_round_trip(db: Database) -> None:
    settings = CampaignSettings(
        id="",
        name=unique_name(),
        mode=DialMode.POWER,
        dial_ratio=2.5,
        max_abandon_rate=0.025,
        ring_timeout_s=22.0,
        amd=True,
        caller_id="+15550001111",
        safe_harbor_message="Sorry we missed you.",
        max_attempts=5,
        retry_delays_s={"busy": 600.0, "no_answer": 3600.0},
        calling_hours_start_min=9 * 60,
        calling_hours_end_min=20 * 60 + 30,
        wrap_up_limit_s=30.0,
    )
    async with db.transaction() as s:
        created = await campaigns.create_campaign(s, settings=settings)
    assert created.id  # a uuid was given
    uuid.UUID(created.id)
    assert created.settings == dataclasses.replace(settings, id=created.id)
    assert created.created_at.tzinfo is UTC

    async with db.transaction() as s:
        read = await campaigns.get_campaign(s, campaign_id=created.id)
        listed = await campaigns.list_campaigns(s)
    assert read.settings == created.settings
    assert read.created_at == created.created_at
    assert read.created_at.tzinfo is UTC
    assert created.id in [c.id for c in listed]


async def test_campaign_name_is_unique_and_the_transaction_survives(db: Database) -> None:
    name = unique_name()
    async with db.transaction() as s:
        await campaigns.create_campaign(s, settings=CampaignSettings(id="", name=name))
    other = unique_name()
    async with db.transaction() as s:
        with pytest.raises(ConflictError):
            await campaigns.create_campaign(s, settings=CampaignSettings(id="", name=name))
        # The same transaction goes on (PostgreSQL would abort it without a savepoint).
        await campaigns.create_campaign(s, settings=CampaignSettings(id="", name=other))
    async with db.transaction() as s:
        names = {c.settings.name for c in await campaigns.list_campaigns(s)}
    assert {name, other} <= names


async def test_campaign_race_on_the_name_is_a_conflict(db: Database) -> None:
    """The unique constraint itself, past the friendly pre-check."""
    name = unique_name()
    first = await new_campaign(db)
    async with db.transaction() as s:
        await campaigns.update_campaign(s, campaign_id=first, changes={"name": name})
    second = await new_campaign(db)
    async with db.transaction() as s:
        row = await s.get(CampaignRow, second)
        assert row is not None
        with pytest.raises(ConflictError):
            await campaigns._write_unique(s, row, {"name": name})
        assert (await campaigns.get_campaign(s, campaign_id=second)).settings.name != name


async def test_campaign_not_found(db: Database) -> None:
    async with db.transaction() as s:
        with pytest.raises(NotFound):
            await campaigns.get_campaign(s, campaign_id="nope")
        with pytest.raises(NotFound):
            await campaigns.update_campaign(s, campaign_id="nope", changes={"dial_ratio": 3.0})
        with pytest.raises(NotFound):
            await campaigns.set_state(s, campaign_id="nope", state=RunState.RUNNING)
        with pytest.raises(NotFound):
            await campaigns.delete_campaign(s, campaign_id="nope")


async def test_campaign_partial_update_and_state(db: Database) -> None:
    cid = await new_campaign(db, dial_ratio=2.0)
    async with db.transaction() as s:
        before = await campaigns.get_campaign(s, campaign_id=cid)
        updated = await campaigns.update_campaign(
            s, campaign_id=cid, changes={"dial_ratio": 3.0, "mode": "progressive"}
        )
    assert updated.settings.dial_ratio == 3.0
    assert updated.settings.mode is DialMode.PROGRESSIVE
    assert updated.settings.name == before.settings.name
    assert updated.updated_at >= before.updated_at
    async with db.transaction() as s:
        running = await campaigns.set_state(s, campaign_id=cid, state=RunState.RUNNING)
    assert running.settings.state is RunState.RUNNING
    async with db.transaction() as s:
        assert (await campaigns.get_campaign(s, campaign_id=cid)).settings.state is RunState.RUNNING


async def test_campaign_update_validates(db: Database) -> None:
    cid = await new_campaign(db)
    taken = unique_name()
    await new_campaign(db)
    async with db.transaction() as s:
        await campaigns.create_campaign(s, settings=CampaignSettings(id="", name=taken))
    async with db.transaction() as s:
        with pytest.raises(InvalidInput) as bad_field:
            await campaigns.update_campaign(s, campaign_id=cid, changes={"colour": "red"})
        assert bad_field.value.field == "colour"
        with pytest.raises(InvalidInput) as read_only:
            await campaigns.update_campaign(s, campaign_id=cid, changes={"id": "x"})
        assert read_only.value.field == "id"
        with pytest.raises(InvalidInput) as too_short:
            await campaigns.update_campaign(s, campaign_id=cid, changes={"ring_timeout_s": 10})
        assert too_short.value.field == "ring_timeout_s"
        with pytest.raises(InvalidInput) as bad_mode:
            await campaigns.update_campaign(s, campaign_id=cid, changes={"mode": "psychic"})
        assert bad_mode.value.field == "mode"
        with pytest.raises(ConflictError):
            await campaigns.update_campaign(s, campaign_id=cid, changes={"name": taken})
        with pytest.raises(InvalidInput):
            await campaigns.update_campaign(s, campaign_id=cid, changes={"name": "  "})
    async with db.transaction() as s:
        with pytest.raises(InvalidInput):
            await campaigns.create_campaign(s, settings=CampaignSettings(id="", name=""))


async def test_campaign_delete_cascades_and_keeps_call_records(db: Database) -> None:
    cid = await new_campaign(db)
    phone = unique_phone()
    async with db.transaction() as s:
        await leads.add_leads(s, campaign_id=cid, leads=[NewLead(phone)])
        await dnc.add_numbers(s, numbers=[phone], scope=DncScope.CAMPAIGN, campaign_id=cid)
        agent, _ = await agents.create_agent(s, name="Ann", campaign_ids=[cid])
    async with db.transaction() as s:
        await campaigns.delete_campaign(s, campaign_id=cid)
    async with db.transaction() as s:
        with pytest.raises(NotFound):
            await campaigns.get_campaign(s, campaign_id=cid)
        assert await dnc.lookup(s, phone=phone) == []
        assert (await agents.get_agent(s, agent_id=agent.id)).campaign_ids == ()
        lead_count = await s.scalar(
            text("SELECT count(*) FROM leads WHERE campaign_id = :c"), {"c": cid}
        )
    assert lead_count == 0

    kept = await new_campaign(db)
    async with db.transaction() as s:
        await leads.add_leads(s, campaign_id=kept, leads=[NewLead(unique_phone())])
        [lead] = await leads.list_leads(s, campaign_id=kept)
        await calls.record_call_placed(
            s,
            call_id=f"c-{uuid.uuid4()}",
            campaign_id=kept,
            lead_id=lead.id,
            phone=lead.phone,
            dialed_at=T0,
        )
    async with db.transaction() as s:
        with pytest.raises(ConflictError, match="call records"):
            await campaigns.delete_campaign(s, campaign_id=kept)


@pytest.mark.parametrize("state", [RunState.RUNNING, RunState.PAUSED])
async def test_a_campaign_that_may_be_dialing_is_not_deleted(db: Database, state: RunState) -> None:
    cid = await new_campaign(db)
    async with db.transaction() as s:
        await campaigns.set_state(s, campaign_id=cid, state=state)
    async with db.transaction() as s:
        with pytest.raises(ConflictError, match="stop it first"):
            await campaigns.delete_campaign(s, campaign_id=cid)
    async with db.transaction() as s:
        assert (await campaigns.get_campaign(s, campaign_id=cid)).settings.state is state


# --- leads -------------------------------------------------------------------
async def test_add_leads_counts_duplicates_and_rejects(db: Database) -> None:
    cid = await new_campaign(db)
    a, b, c = unique_phone(), unique_phone(), unique_phone()
    async with db.transaction() as s:
        first = await leads.add_leads(
            s,
            campaign_id=cid,
            leads=[
                NewLead(a, timezone="America/New_York", data={"name": "Ann", "n": 1}),
                NewLead(b),
                NewLead(a),  # duplicate within the batch
                NewLead("5551234"),  # not E.164
                NewLead(c, timezone="Mars/Olympus_Mons"),
            ],
        )
    assert first.accepted == 2
    assert first.duplicates == 1
    assert [(r.row, r.phone) for r in first.rejected] == [(3, "5551234"), (4, c)]
    assert "E.164" in first.rejected[0].reason

    async with db.transaction() as s:
        second = await leads.add_leads(
            s, campaign_id=cid, leads=[NewLead(b), NewLead(c), NewLead(c)]
        )
    assert (second.accepted, second.duplicates, second.rejected) == (1, 2, ())

    async with db.transaction() as s:
        stored = await leads.list_leads(s, campaign_id=cid)
    assert sorted(lead.phone for lead in stored) == sorted([a, b, c])
    ann = next(lead for lead in stored if lead.phone == a)
    assert ann.data == {"name": "Ann", "n": 1}
    assert ann.timezone == "America/New_York"
    assert ann.status is LeadStatus.NEW
    assert ann.attempts == 0
    assert ann.created_at.tzinfo is UTC

    # The same number in another campaign is no duplicate.
    other = await new_campaign(db)
    async with db.transaction() as s:
        assert (await leads.add_leads(s, campaign_id=other, leads=[NewLead(a)])).accepted == 1


async def test_priorities_at_the_columns_bounds_load_and_beyond_them_are_rejected(
    db: Database,
) -> None:
    cid = await new_campaign(db)
    low, high, over, under = (unique_phone() for _ in range(4))
    async with db.transaction() as s:
        result = await leads.add_leads(
            s,
            campaign_id=cid,
            leads=[
                NewLead(low, priority=PRIORITY_RANGE.start),
                NewLead(high, priority=PRIORITY_RANGE.stop - 1),
                NewLead(over, priority=PRIORITY_RANGE.stop),
                NewLead(under, priority=PRIORITY_RANGE.start - 1),
            ],
        )
    assert result.accepted == 2
    assert [(r.row, r.phone) for r in result.rejected] == [(2, over), (3, under)]
    assert all("priority" in r.reason for r in result.rejected)
    async with db.transaction() as s:
        stored = {lead.phone: lead.priority for lead in await leads.list_leads(s, campaign_id=cid)}
    assert stored == {low: -(2**31), high: 2**31 - 1}


async def test_add_leads_unknown_campaign(db: Database) -> None:
    async with db.transaction() as s:
        with pytest.raises(NotFound):
            await leads.add_leads(s, campaign_id="nope", leads=[NewLead(unique_phone())])
        with pytest.raises(NotFound):
            await leads.list_leads(s, campaign_id="nope")


async def test_add_ten_thousand_leads(db: Database) -> None:
    cid = await new_campaign(db)
    base = uuid.uuid4().int % 10**6
    phones = [f"+1{(base * 10**4 + i) % 10**10:010d}" for i in range(10_000)]
    batch = [NewLead(p, data={"row": i}) for i, p in enumerate(phones)]
    batch += [NewLead(phones[i]) for i in range(0, 10_000, 10)]  # 1,000 repeats
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with db.transaction() as s:
        result = await leads.add_leads(s, campaign_id=cid, leads=batch)
    elapsed = loop.time() - started
    assert (result.accepted, result.duplicates, result.rejected) == (10_000, 1_000, ())
    assert elapsed < 30, f"10,000 leads took {elapsed:.1f} s"
    async with db.transaction() as s:
        again = await leads.add_leads(s, campaign_id=cid, leads=batch[:10_000])
        assert (again.accepted, again.duplicates) == (0, 10_000)
        assert await leads.count_remaining(s, campaign_id=cid) == 10_000
        counts = await leads.count_by_status(s, campaign_id=cid)
    assert counts[LeadStatus.NEW] == 10_000
    assert sum(counts.values()) == 10_000


async def test_list_leads_filters_and_pages(db: Database) -> None:
    cid = await new_campaign(db)
    async with db.transaction() as s:
        await leads.add_leads(s, campaign_id=cid, leads=[NewLead(unique_phone()) for _ in range(5)])
        claimed = await leads.claim_leads(s, campaign_id=cid, owner="p1", limit=2, now=T0)
    async with db.transaction() as s:
        everything = await leads.list_leads(s, campaign_id=cid)
        page1 = await leads.list_leads(s, campaign_id=cid, limit=3)
        page2 = await leads.list_leads(s, campaign_id=cid, limit=3, offset=3)
        in_progress = await leads.list_leads(s, campaign_id=cid, status=LeadStatus.IN_PROGRESS)
        with pytest.raises(InvalidInput):
            await leads.list_leads(s, campaign_id=cid, limit=0)
    assert len(everything) == 5
    assert [x.id for x in page1 + page2] == [x.id for x in everything]
    assert {x.id for x in in_progress} == {x.id for x in claimed}
    assert all(x.claimed_by == "p1" and x.claimed_at == T0 for x in in_progress)


async def test_claim_respects_due_time_attempts_and_priority(db: Database) -> None:
    cid = await new_campaign(db, max_attempts=2)
    phones = {name: unique_phone() for name in ("low", "high", "later", "tired", "due", "done")}
    async with db.transaction() as s:
        await leads.add_leads(
            s,
            campaign_id=cid,
            leads=[
                NewLead(phones["low"]),
                NewLead(phones["high"], priority=5),
                NewLead(phones["later"], priority=9),
                NewLead(phones["tired"], priority=9),
                NewLead(phones["due"]),
                NewLead(phones["done"], priority=9),
            ],
        )
        by_phone = {x.phone: x.id for x in await leads.list_leads(s, campaign_id=cid)}
        # "later": a retry not due until T0 + 1 h.
        await leads.set_lead_status(
            s,
            lead_id=by_phone[phones["later"]],
            status=LeadStatus.RETRY,
            next_attempt_at=T0 + timedelta(hours=1),
        )
        # "tired": two attempts already, max_attempts is 2.
        for _ in range(2):
            await leads.finish_attempt(
                s,
                lead_id=by_phone[phones["tired"]],
                outcome="busy",
                next_status=LeadStatus.CALLBACK,
                next_attempt_at=T0 - timedelta(hours=1),
            )
        # "due": a retry due an hour ago, ahead of never-tried leads of its priority.
        await leads.set_lead_status(
            s,
            lead_id=by_phone[phones["due"]],
            status=LeadStatus.RETRY,
            next_attempt_at=T0 - timedelta(hours=1),
        )
        await leads.set_lead_status(s, lead_id=by_phone[phones["done"]], status=LeadStatus.DONE)
    async with db.transaction() as s:
        first = await leads.claim_leads(s, campaign_id=cid, owner="p1", limit=2, now=T0)
    assert [x.phone for x in first] == [phones["high"], phones["due"]]
    assert first[1].attempts == 0
    async with db.transaction() as s:
        rest = await leads.claim_leads(s, campaign_id=cid, owner="p1", limit=10, now=T0)
        none_left = await leads.claim_leads(s, campaign_id=cid, owner="p2", limit=10, now=T0)
    assert [x.phone for x in rest] == [phones["low"]]
    assert none_left == []
    async with db.transaction() as s:
        later = await leads.claim_leads(
            s, campaign_id=cid, owner="p2", limit=10, now=T0 + timedelta(hours=1)
        )
    assert [x.phone for x in later] == [phones["later"]]
    async with db.transaction() as s:
        assert await leads.count_remaining(s, campaign_id=cid) == 4  # 4 claimed
        with pytest.raises(NotFound):
            await leads.claim_leads(s, campaign_id="nope", owner="p1", limit=1, now=T0)
        with pytest.raises(InvalidInput):
            await leads.claim_leads(
                s, campaign_id=cid, owner="p1", limit=1, now=datetime(2026, 1, 1)
            )


async def test_release_finish_and_status_changes(db: Database) -> None:
    cid = await new_campaign(db, max_attempts=2)
    async with db.transaction() as s:
        await leads.add_leads(s, campaign_id=cid, leads=[NewLead(unique_phone()) for _ in range(3)])
        claimed = await leads.claim_leads(s, campaign_id=cid, owner="dead", limit=3, now=T0)
        assert len(claimed) == 3
    async with db.transaction() as s:
        assert await leads.release_leads(s, owner="someone-else") == 0
        assert await leads.release_leads(s, owner="dead") == 3
        released = await leads.list_leads(s, campaign_id=cid, status=LeadStatus.NEW)  # never tried
    assert len(released) == 3
    assert all(x.claimed_by is None and x.claimed_at is None for x in released)

    async with db.transaction() as s:
        a, b, c = await leads.claim_leads(s, campaign_id=cid, owner="p", limit=3, now=T0)
        retry_at = T0 + timedelta(minutes=10)
        a1 = await leads.finish_attempt(
            s,
            lead_id=a.id,
            outcome=CallOutcome.BUSY,
            next_status=LeadStatus.RETRY,
            next_attempt_at=retry_at,
        )
        b1 = await leads.finish_attempt(
            s, lead_id=b.id, outcome=CallOutcome.HUMAN, next_status=LeadStatus.DONE
        )
    assert (a1.status, a1.attempts, a1.last_outcome) == (LeadStatus.RETRY, 1, "busy")
    assert a1.next_attempt_at == retry_at
    assert a1.claimed_by is None
    assert (b1.status, b1.attempts) == (LeadStatus.DONE, 1)

    async with db.transaction() as s:
        [again] = await leads.claim_leads(s, campaign_id=cid, owner="p", limit=3, now=retry_at)
        assert again.id == a.id and again.attempts == 1
        # Out of attempts: a retry becomes exhausted.
        a2 = await leads.finish_attempt(
            s,
            lead_id=a.id,
            outcome="no_answer",
            next_status=LeadStatus.RETRY,
            next_attempt_at=retry_at,
        )
        assert (a2.status, a2.attempts) == (LeadStatus.EXHAUSTED, 2)
        # A skipped lead goes back without an attempt counted; a callback waits.
        callback_at = T0 + timedelta(days=1)
        c1 = await leads.set_lead_status(
            s, lead_id=c.id, status=LeadStatus.CALLBACK, next_attempt_at=callback_at
        )
        assert (c1.status, c1.attempts, c1.next_attempt_at) == (
            LeadStatus.CALLBACK,
            0,
            callback_at,
        )
        assert await leads.claim_leads(s, campaign_id=cid, owner="p", limit=3, now=T0) == []
        [cb] = await leads.claim_leads(s, campaign_id=cid, owner="p", limit=3, now=callback_at)
        assert cb.id == c.id
        with pytest.raises(InvalidInput):
            await leads.set_lead_status(s, lead_id=c.id, status=LeadStatus.IN_PROGRESS)
        with pytest.raises(InvalidInput):
            await leads.finish_attempt(
                s, lead_id=c.id, outcome=None, next_status=LeadStatus.IN_PROGRESS
            )
        with pytest.raises(NotFound):
            await leads.finish_attempt(s, lead_id="nope", outcome=None, next_status=LeadStatus.DONE)
        with pytest.raises(NotFound):
            await leads.get_lead(s, lead_id="nope")
        assert (await leads.get_lead(s, lead_id=c.id)).status is LeadStatus.IN_PROGRESS
        assert await leads.count_remaining(s, campaign_id=cid) == 1


async def test_mark_dnc(db: Database) -> None:
    one, two = await new_campaign(db), await new_campaign(db)
    phone = unique_phone()
    async with db.transaction() as s:
        await leads.add_leads(s, campaign_id=one, leads=[NewLead(phone)])
        await leads.add_leads(s, campaign_id=two, leads=[NewLead(phone)])
        assert await leads.mark_dnc(s, phones=[phone], campaign_id=one) == 1
        assert await leads.mark_dnc(s, phones=[phone, phone]) == 1  # only two's was dialable
        assert await leads.count_by_status(s, campaign_id=two) == {
            **dict.fromkeys(LeadStatus, 0),
            LeadStatus.DNC: 1,
        }


async def test_concurrent_claimers_never_share_a_lead(db_url: str) -> None:
    """Four processes (engines) claim at once until nothing is left."""
    await upgrade_async(db_url)
    setup = Database(db_url)
    workers = [Database(db_url) for _ in range(4)]
    try:
        cid = await new_campaign(setup)
        async with setup.transaction() as s:
            await leads.add_leads(
                s, campaign_id=cid, leads=[NewLead(unique_phone()) for _ in range(400)]
            )

        async def claimer(database: Database, owner: str) -> list[str]:
            got: list[str] = []
            while True:
                async with database.transaction() as s:
                    batch = await leads.claim_leads(
                        s, campaign_id=cid, owner=owner, limit=7, now=T0
                    )
                    await asyncio.sleep(0)  # let the others run while the locks are held
                if not batch:
                    return got
                got.extend(lead.id for lead in batch)

        results = await asyncio.gather(*(claimer(w, f"p{i}") for i, w in enumerate(workers)))
        everything = [lead_id for result in results for lead_id in result]
        assert len(everything) == len(set(everything)) == 400
        if setup.dialect == "postgresql":
            assert sum(1 for result in results if result) > 1, "no real concurrency"
        async with setup.transaction() as s:
            rows = await leads.list_leads(s, campaign_id=cid, limit=1000)
        owner_of = {lead_id: f"p{i}" for i, r in enumerate(results) for lead_id in r}
        assert all(row.claimed_by == owner_of[row.id] for row in rows)
    finally:
        for database in [setup, *workers]:
            await database.dispose()


async def test_postgres_skip_locked_does_not_wait_or_share(db_url: str) -> None:
    """A claim held open in one transaction is skipped, not waited for, by another."""
    await upgrade_async(db_url)
    one, two = Database(db_url), Database(db_url)
    try:
        if one.dialect != "postgresql":
            pytest.skip("SQLite has one writer at a time: a second claimer waits by design")
        cid = await new_campaign(one)
        async with one.transaction() as s:
            await leads.add_leads(
                s, campaign_id=cid, leads=[NewLead(unique_phone()) for _ in range(10)]
            )
        holding = asyncio.Event()
        release = asyncio.Event()

        async def first() -> list[str]:
            async with one.transaction() as s:
                got = await leads.claim_leads(s, campaign_id=cid, owner="a", limit=6, now=T0)
                holding.set()
                await release.wait()  # the row locks stay held until this commits
            return [lead.id for lead in got]

        async def second() -> list[str]:
            await holding.wait()
            async with two.transaction() as s:
                got = await asyncio.wait_for(
                    leads.claim_leads(s, campaign_id=cid, owner="b", limit=10, now=T0), 10
                )
            release.set()
            return [lead.id for lead in got]

        a, b = await asyncio.gather(first(), second())
        assert len(a) == 6 and len(b) == 4
        assert not set(a) & set(b)
    finally:
        await one.dispose()
        await two.dispose()


# --- calls -------------------------------------------------------------------
async def _lead(db: Database, cid: str) -> str:
    async with db.transaction() as s:
        await leads.add_leads(s, campaign_id=cid, leads=[NewLead(unique_phone())])
        [lead] = await leads.claim_leads(s, campaign_id=cid, owner="p", limit=1, now=T0)
    return lead.id


async def test_call_written_ahead_then_updated(db: Database) -> None:
    cid = await new_campaign(db)
    lead_id = await _lead(db, cid)
    call_id = f"call-{uuid.uuid4()}"
    async with db.transaction() as s:
        lead = await leads.get_lead(s, lead_id=lead_id)
        placed = await calls.record_call_placed(
            s,
            call_id=call_id,
            campaign_id=cid,
            lead_id=lead_id,
            phone=lead.phone,
            dialed_at=T0,
            decision="allowed",
            placed_by="p",
        )
    assert placed.outcome is None and placed.ended_at is None and not placed.abandoned
    assert placed.dialed_at == T0 and placed.decision == "allowed"

    # Driver clock: instant 0.0 is T0 minus 100 s, so the dial at 100.0 is T0.
    clock = FixedOffsetClock.starting_at(T0 - timedelta(seconds=100))
    answered = CallRecord(
        id=call_id,
        campaign_id=cid,
        lead_id=lead_id,
        phone=lead.phone,
        agent_id=None,
        outcome=CallOutcome.HUMAN,
        abandoned=False,
        dialed_at=100.0,
        answered_at=105.0,
        bridged_at=None,
        ended_at=None,
    )
    async with db.transaction() as s:
        one = await calls.update_call(s, record=answered, clock=clock, amd="human")
    assert one.answered_at == T0 + timedelta(seconds=5)
    assert one.outcome is CallOutcome.HUMAN and one.amd == "human"
    assert one.decision == "allowed"  # kept: the record had none

    ended = dataclasses.replace(
        answered, agent_id="agent-1", bridged_at=106.5, ended_at=160.0, answered_at=None
    )
    async with db.transaction() as s:
        two = await calls.update_call(s, record=ended, clock=clock)
        read = await calls.get_call(s, call_id=call_id)
    assert two == read
    assert read.answered_at == T0 + timedelta(seconds=5)  # kept, not erased
    assert read.bridged_at == T0 + timedelta(seconds=6.5)
    assert read.ended_at == T0 + timedelta(seconds=60)
    assert read.agent_id == "agent-1"
    assert read.amd == "human" and read.placed_by == "p"
    assert read.dialed_at.tzinfo is UTC and read.ended_at is not None
    assert read.ended_at.tzinfo is UTC

    # The agent's wrap-up.
    callback_at = datetime(2026, 3, 3, 10, 0, tzinfo=timezone(timedelta(hours=-5)))
    async with db.transaction() as s:
        disposed = await calls.set_disposition(
            s, call_id=call_id, code="callback", notes="after ten", callback_at=callback_at
        )
    assert disposed.disposition == "callback" and disposed.notes == "after ten"
    assert disposed.callback_at == callback_at
    assert disposed.callback_at is not None and disposed.callback_at.tzinfo is UTC
    # A later record without a disposition does not erase it.
    async with db.transaction() as s:
        after = await calls.update_call(s, record=ended, clock=clock)
    assert after.disposition == "callback"
    # The write-behind twin writes the same, keeps the same, reads nothing back.
    late = dataclasses.replace(ended, outcome=CallOutcome.MACHINE, bridged_at=None)
    async with db.transaction() as s:
        await calls.call_write(db.dialect, record=late, clock=clock)(s)
        read = await calls.get_call(s, call_id=call_id)
    assert read.outcome is CallOutcome.MACHINE
    assert read.bridged_at == T0 + timedelta(seconds=6.5)  # kept, not erased
    assert (read.disposition, read.amd, read.placed_by) == ("callback", "human", "p")


async def test_call_errors(db: Database) -> None:
    cid = await new_campaign(db)
    lead_id = await _lead(db, cid)
    call_id = f"call-{uuid.uuid4()}"
    args: dict[str, Any] = {
        "campaign_id": cid,
        "lead_id": lead_id,
        "phone": "+15550000000",
        "dialed_at": T0,
    }
    async with db.transaction() as s:
        await calls.record_call_placed(s, call_id=call_id, **args)
    async with db.transaction() as s:
        with pytest.raises(ConflictError):
            await calls.record_call_placed(s, call_id=call_id, **args)
        with pytest.raises(NotFound):
            await calls.get_call(s, call_id="nope")
        with pytest.raises(NotFound):
            await calls.set_disposition(s, call_id="nope", code="sale")
        with pytest.raises(InvalidInput):
            await calls.set_disposition(s, call_id=call_id, code="")
        with pytest.raises(InvalidInput):
            await calls.list_calls(s, cursor="not-a-cursor")
        with pytest.raises(InvalidInput):
            await calls.list_calls(s, limit=0)
        with pytest.raises(InvalidInput):
            await calls.abandonment_counts(s, campaign_id=cid, since=datetime(2026, 1, 1))
    with pytest.raises(NotFound):
        async with db.transaction() as s:
            await calls.record_call_placed(
                s,
                call_id=f"call-{uuid.uuid4()}",
                campaign_id=cid,
                lead_id="no-such-lead",
                phone="+15550000000",
                dialed_at=T0,
            )


async def test_update_call_inserts_a_call_never_placed(db: Database) -> None:
    cid = await new_campaign(db)
    lead_id = await _lead(db, cid)
    clock = FixedOffsetClock.starting_at(T0)
    record = CallRecord(
        id=f"call-{uuid.uuid4()}",
        campaign_id=cid,
        lead_id=lead_id,
        phone="+15550000001",
        agent_id=None,
        outcome=CallOutcome.BUSY,
        abandoned=False,
        dialed_at=1.0,
        answered_at=None,
        bridged_at=None,
        ended_at=2.0,
        decision="allowed",
    )
    async with db.transaction() as s:
        stored = await calls.update_call(s, record=record, clock=clock)
    assert stored.dialed_at == T0 + timedelta(seconds=1)
    assert stored.outcome is CallOutcome.BUSY and stored.decision == "allowed"


async def _place(
    db: Database,
    cid: str,
    lead_id: str,
    dialed_at: datetime,
    *,
    human: bool = False,
    abandoned: bool = False,
    open_: bool = False,
) -> str:
    call_id = f"call-{uuid.uuid4()}"
    clock = FixedOffsetClock.starting_at(dialed_at)
    record = CallRecord(
        id=call_id,
        campaign_id=cid,
        lead_id=lead_id,
        phone="+15550000002",
        agent_id=None,
        outcome=CallOutcome.HUMAN if human else CallOutcome.NO_ANSWER,
        abandoned=abandoned,
        dialed_at=0.0,
        answered_at=3.0 if human else None,
        bridged_at=None,
        ended_at=None if open_ else 20.0,
    )
    async with db.transaction() as s:
        await calls.record_call_placed(
            s,
            call_id=call_id,
            campaign_id=cid,
            lead_id=lead_id,
            phone=record.phone,
            dialed_at=dialed_at,
            placed_by="proc-1" if open_ else "proc-0",
        )
        await calls.update_call(s, record=record, clock=clock)
    return call_id


async def test_list_calls_newest_first_with_cursor(db: Database) -> None:
    cid = await new_campaign(db)
    other = await new_campaign(db)
    lead_id = await _lead(db, cid)
    other_lead = await _lead(db, other)
    when: dict[str, datetime] = {}
    for minute in [0, 1, 2, 3, 4, 5, 6, 6]:  # two at the same instant: the id breaks the tie
        at = T0 + timedelta(minutes=minute)
        when[await _place(db, cid, lead_id, at)] = at
    await _place(db, other, other_lead, T0 + timedelta(minutes=3))

    async with db.transaction() as s:
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = await calls.list_calls(s, campaign_id=cid, limit=3, cursor=cursor)
            seen.extend(c.id for c in page.items)
            pages += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        since = await calls.list_calls(s, campaign_id=cid, since=T0 + timedelta(minutes=5))
        everywhere = await calls.list_calls(s, since=T0, limit=1000)
    assert pages == 3
    assert seen == sorted(when, key=lambda call_id: (when[call_id], call_id), reverse=True)
    assert len(since.items) == 3 and since.next_cursor is None
    assert {c.campaign_id for c in everywhere.items} >= {cid, other}
    dialed = [c.dialed_at for c in everywhere.items]
    assert dialed == sorted(dialed, reverse=True)


async def test_abandonment_counts_and_totals(db: Database) -> None:
    cid = await new_campaign(db)
    lead_id = await _lead(db, cid)
    now = T0
    # Outside a 24 h window (but inside 30 d): 2 human, 1 of them abandoned.
    await _place(db, cid, lead_id, now - timedelta(days=3), human=True, abandoned=True)
    await _place(db, cid, lead_id, now - timedelta(days=3), human=True)
    # Inside 24 h: 3 human (1 abandoned), 2 unanswered.
    await _place(db, cid, lead_id, now - timedelta(hours=2), human=True, abandoned=True)
    await _place(db, cid, lead_id, now - timedelta(hours=2), human=True)
    await _place(db, cid, lead_id, now - timedelta(hours=1), human=True)
    await _place(db, cid, lead_id, now - timedelta(hours=1))
    await _place(db, cid, lead_id, now - timedelta(hours=1))
    # Older than 30 days.
    await _place(db, cid, lead_id, now - timedelta(days=40), human=True, abandoned=True)

    async with db.transaction() as s:
        day = await calls.abandonment_counts(s, campaign_id=cid, since=now - timedelta(days=1))
        month = await calls.abandonment_counts(s, campaign_id=cid, since=now - timedelta(days=30))
        between = await calls.abandonment_counts(
            s, campaign_id=cid, since=now - timedelta(days=30), until=now - timedelta(days=1)
        )
        totals = await calls.campaign_totals(s, campaign_id=cid)
        empty = await calls.abandonment_counts(s, campaign_id="nope", since=now)
    assert day == (3, 1)
    assert (day.human_answered, day.abandoned) == (3, 1)
    assert month == (5, 2)
    assert between == (2, 1)
    assert totals == (8, 6, 3)
    assert (totals.dialed, totals.human_answered, totals.abandoned) == (8, 6, 3)
    assert empty == (0, 0)


async def test_open_calls(db: Database) -> None:
    cid = await new_campaign(db)
    lead_id = await _lead(db, cid)
    open_id = await _place(db, cid, lead_id, T0, human=True, open_=True)
    await _place(db, cid, lead_id, T0)
    async with db.transaction() as s:
        mine = await calls.open_calls(s, campaign_id=cid)
        by_process = await calls.open_calls(s, placed_by="proc-1", campaign_id=cid)
    assert [c.id for c in mine] == [open_id] == [c.id for c in by_process]


# --- agents ------------------------------------------------------------------
async def test_agents_and_tokens(db: Database) -> None:
    one, two = await new_campaign(db), await new_campaign(db)
    async with db.transaction() as s:
        agent, token = await agents.create_agent(s, name="Ann", campaign_ids=[two, one, one])
        other, other_token = await agents.create_agent(s, name="Bob", campaign_ids=[one])
    assert agent.campaign_ids == tuple(sorted([one, two]))
    assert agent.created_at.tzinfo is UTC
    assert len(token) >= 40 and token != other_token
    async with db.transaction() as s:
        stored_hash = await s.scalar(
            text("SELECT token_hash FROM agents WHERE id = :i"), {"i": agent.id}
        )
        assert stored_hash == agents.hash_token(token) != token
        assert await agents.verify_token(s, agent_id=agent.id, token=token)
        assert not await agents.verify_token(s, agent_id=agent.id, token=other_token)
        assert not await agents.verify_token(s, agent_id=agent.id, token="")
        assert not await agents.verify_token(s, agent_id="nope", token=token)
        assert await agents.get_agent(s, agent_id=agent.id) == agent
        in_two = await agents.list_agents(s, campaign_id=two)
        everyone = await agents.list_agents(s)
        assert [a.id for a in in_two] == [agent.id]
        assert {agent.id, other.id} <= {a.id for a in everyone}

        renamed = await agents.update_agent(s, agent_id=other.id, name="Rob", campaign_ids=[two])
        assert (renamed.name, renamed.campaign_ids) == ("Rob", (two,))
        with pytest.raises(NotFound):
            await agents.get_agent(s, agent_id="nope")
        with pytest.raises(NotFound):
            await agents.update_agent(s, agent_id=agent.id, campaign_ids=["nope"])
        with pytest.raises(InvalidInput):
            await agents.update_agent(s, agent_id=agent.id, name="")
        await agents.delete_agent(s, agent_id=other.id)
        with pytest.raises(NotFound):
            await agents.delete_agent(s, agent_id=other.id)
    async with db.transaction() as s:
        with pytest.raises(NotFound):
            await agents.create_agent(s, name="Cy", campaign_ids=["nope"])
        with pytest.raises(InvalidInput):
            await agents.create_agent(s, name=" ", campaign_ids=[])


async def test_a_deleted_agents_callbacks_become_anyones_at_their_time(db: Database) -> None:
    """Before, a callback booked for an agent who was then deleted waited for
    it personal_callback_wait_s (an hour) past its time, the person waiting."""
    cid = await new_campaign(db)
    async with db.transaction() as s:
        ann, _ = await agents.create_agent(s, name="Ann", campaign_ids=[cid])
        bob, _ = await agents.create_agent(s, name="Bob", campaign_ids=[cid])
        await leads.add_leads(s, campaign_id=cid, leads=[NewLead(unique_phone()) for _ in range(2)])
        mine, theirs = await leads.list_leads(s, campaign_id=cid)
        due = T0 + timedelta(hours=2)
        for lead, agent in ((mine, ann), (theirs, bob)):
            await leads.finish_attempt(
                s,
                lead_id=lead.id,
                outcome="callback",
                next_status=LeadStatus.CALLBACK,
                next_attempt_at=due,
                callback_agent_id=agent.id,
            )
    async with db.transaction() as s:
        assert await agents.delete_agent(s, agent_id=ann.id)
    async with db.transaction() as s:
        after = await leads.get_lead(s, lead_id=mine.id)
        assert (after.status, after.callback_at, after.callback_agent_id) == (
            LeadStatus.CALLBACK,
            due,
            None,
        )
        assert (await leads.get_lead(s, lead_id=theirs.id)).callback_agent_id == bob.id


# --- do not call -------------------------------------------------------------
async def test_dnc_add_lookup_remove(db: Database) -> None:
    cid, other = await new_campaign(db), await new_campaign(db)
    internal, registry, campaign_only, clean = (unique_phone() for _ in range(4))
    async with db.transaction() as s:
        assert await dnc.add_numbers(s, numbers=[internal, internal], source="agent") == 1
        assert await dnc.add_numbers(s, numbers=[internal]) == 0  # idempotent
        assert await dnc.add_numbers(s, numbers=[registry], scope=DncScope.REGISTRY) == 1
        assert (
            await dnc.add_numbers(
                s, numbers=[campaign_only, internal], scope=DncScope.CAMPAIGN, campaign_id=cid
            )
            == 2
        )
        assert (
            await dnc.add_numbers(
                s, numbers=[campaign_only], scope=DncScope.CAMPAIGN, campaign_id=cid
            )
            == 0
        )
    async with db.transaction() as s:
        listed = await dnc.lookup(s, phone=internal)
        assert [(x.scope, x.campaign_id) for x in listed] == [
            (DncScope.CAMPAIGN, cid),
            (DncScope.INTERNAL, None),
        ]
        assert listed[1].source == "agent" and listed[1].added_at.tzinfo is UTC
        assert await dnc.lookup(s, phone=clean) == []
        for phone in (internal, registry, campaign_only):
            assert await dnc.is_blocked(s, phone=phone, campaign_id=cid)
        assert await dnc.is_blocked(s, phone=registry, campaign_id=other)
        assert not await dnc.is_blocked(s, phone=campaign_only, campaign_id=other)
        assert not await dnc.is_blocked(s, phone=clean, campaign_id=cid)
        everyone = [internal, registry, campaign_only, clean, clean]
        assert await dnc.blocked_among(s, phones=everyone, campaign_id=cid) == {
            internal,
            registry,
            campaign_only,
        }
        assert await dnc.blocked_among(s, phones=everyone, campaign_id=other) == {
            internal,
            registry,
        }
        assert await dnc.blocked_among(s, phones=[], campaign_id=cid) == set()

    async with db.transaction() as s:
        await dnc.remove_number(s, phone=internal)
        with pytest.raises(NotFound):
            await dnc.remove_number(s, phone=internal)
        with pytest.raises(NotFound):
            await dnc.remove_number(s, phone=registry)  # registry entries stay
        await dnc.remove_number(s, phone=campaign_only, campaign_id=cid)
    async with db.transaction() as s:
        assert [x.scope for x in await dnc.lookup(s, phone=internal)] == [DncScope.CAMPAIGN]
        assert [x.scope for x in await dnc.lookup(s, phone=registry)] == [DncScope.REGISTRY]
        assert not await dnc.is_blocked(s, phone=campaign_only, campaign_id=cid)


async def test_dnc_validation(db: Database) -> None:
    cid = await new_campaign(db)
    async with db.transaction() as s:
        with pytest.raises(InvalidInput) as bad:
            await dnc.add_numbers(s, numbers=[unique_phone(), "555-1234"])
        assert bad.value.field == "numbers"
        with pytest.raises(InvalidInput):
            await dnc.add_numbers(s, numbers=[unique_phone()], scope=DncScope.CAMPAIGN)
        with pytest.raises(InvalidInput):
            await dnc.add_numbers(s, numbers=[unique_phone()], campaign_id=cid)
        with pytest.raises(NotFound):
            await dnc.add_numbers(
                s, numbers=[unique_phone()], scope=DncScope.CAMPAIGN, campaign_id="nope"
            )


async def test_dnc_bulk(db: Database) -> None:
    cid = await new_campaign(db)
    base = uuid.uuid4().int % 10**6
    phones = [f"+44{(base * 10**4 + i) % 10**10:010d}" for i in range(3_000)]
    async with db.transaction() as s:
        assert (
            await dnc.add_numbers(s, numbers=phones, scope=DncScope.REGISTRY, source="r1") == 3000
        )
        assert await dnc.add_numbers(s, numbers=phones, scope=DncScope.REGISTRY) == 0
        probe = phones[::2] + [unique_phone() for _ in range(1_000)]
        assert await dnc.blocked_among(s, phones=probe, campaign_id=cid) == set(phones[::2])


# --- settings ----------------------------------------------------------------
async def test_settings_kv(db: Database) -> None:
    key = f"test.{uuid.uuid4().hex}"
    async with db.transaction() as s:
        assert await settings_kv.get_setting(s, key=key) is None
        await settings_kv.set_setting(s, key=key, value="one")
        assert await settings_kv.get_setting(s, key=key) == "one"
        await settings_kv.set_setting(s, key=key, value="two")
    async with db.transaction() as s:
        assert await settings_kv.get_setting(s, key=key) == "two"
        assert await settings_kv.delete_setting(s, key=key)
        assert not await settings_kv.delete_setting(s, key=key)
        with pytest.raises(InvalidInput):
            await settings_kv.set_setting(s, key="", value="x")


# --- time --------------------------------------------------------------------
async def test_datetimes_are_utc_in_and_out(db: Database) -> None:
    cid = await new_campaign(db)
    lead_id = await _lead(db, cid)
    paris = timezone(timedelta(hours=1))
    local = datetime(2026, 3, 2, 16, 0, 0, 123456, tzinfo=paris)
    async with db.transaction() as s:
        stored = await leads.set_lead_status(
            s, lead_id=lead_id, status=LeadStatus.RETRY, next_attempt_at=local
        )
    assert stored.next_attempt_at == local
    assert stored.next_attempt_at is not None and stored.next_attempt_at.tzinfo is UTC
    assert stored.next_attempt_at.hour == 15 and stored.next_attempt_at.microsecond == 123456
    async with db.transaction() as s:
        # Compared as instants, whatever zone the bound value is in.
        due = await leads.claim_leads(s, campaign_id=cid, owner="p", limit=5, now=local)
        assert [x.id for x in due] == [lead_id]
        with pytest.raises(InvalidInput):
            await leads.set_lead_status(
                s, lead_id=lead_id, status=LeadStatus.RETRY, next_attempt_at=datetime(2026, 1, 1)
            )
