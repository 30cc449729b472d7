"""Do-not-call lists across processes, and what taking a number off one gives back.

Run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from service_testing import Softphone, make_campaign, started, telephony
from sqlalchemy import update

from dialer.campaign import RunState
from dialer.errors import ConflictError, NotFound
from dialer.runtime.demo import demo_numbers
from dialer.runtime.service import DialerService
from dialer.runtime.settings import Settings
from dialer.runtime.store import DNC_PER_TRANSACTION
from dialer.storage import Database, dnc
from dialer.storage.models import LeadRow
from dialer.storage.records import DncScope, DncVersions, LeadStatus


def _service(url: str) -> DialerService:
    return DialerService(
        Settings(database_url=url, api_key="secret", dnc_refresh_s=0.05),
        telephony=telephony(),
    )


async def _eventually(check: Callable[[], Awaitable[bool]], within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.02)
    return await check()


async def test_a_number_listed_through_one_process_is_kept_from_the_others(
    db_url: str,
) -> None:
    """Found with two processes on one database: each checked dials against
    the lists as they were when it started, plus its own changes, so a number
    put on the list through one was loaded and dialed by the other until it
    restarted. Each follows the others' changes now, removals included."""
    first, second = _service(db_url), _service(db_url)
    async with started(first, second):
        cid = await make_campaign(first)
        everywhere, own, later = demo_numbers(3, time.time())
        await first.add_dnc([everywhere], None)
        await first.add_dnc([own], cid)

        async def second_refuses() -> bool:
            return second.dnc.blocked(everywhere, cid) and second.dnc.blocked(own, cid)

        assert await _eventually(second_refuses)
        loaded = await second.add_leads(cid, [{"phone": everywhere}, {"phone": own}])
        assert (loaded.accepted, loaded.dnc) == (0, 2)

        await first.remove_dnc(everywhere)

        async def second_allows() -> bool:
            return not second.dnc.blocked(everywhere, cid)

        assert await _eventually(second_allows)
        assert second.dnc.blocked(own, cid)  # the reload kept the campaign's own list
        # A number the second adds while it follows the first's changes stays in force.
        await second.add_dnc([later], None)
        await asyncio.sleep(0.2)
        assert second.dnc.blocked(later, cid) and first.dnc.blocked(later, cid)
        assert (await second.add_leads(cid, [{"phone": everywhere}])).accepted == 1


async def test_removals_are_followed_row_by_row_and_a_number_listed_again_stays_blocked(
    db_url: str,
) -> None:
    """A removal used to make every other process read the whole lists again
    (200 ms of its event loop at 200,000 entries). Now it fetches the
    removal's row, and still never lets through a number the store lists:
    one removed and listed again before it looked, or on another list."""
    first, second = _service(db_url), _service(db_url)
    async with started(first, second):
        cid = await make_campaign(first)
        gone, again, also_campaign, kept = demo_numbers(4, time.time())
        await first.add_dnc([gone, again, also_campaign, kept], None)
        await first.add_dnc([also_campaign], cid)
        assert await _eventually(lambda: _blocked(second, [gone, again, also_campaign, kept], cid))
        reads: list[int] = []
        whole = second.store.all_dnc

        async def counted_all_dnc() -> tuple[DncVersions, list[tuple[str, str | None]]]:
            reads.append(1)
            return await whole()

        second.store.all_dnc = counted_all_dnc  # type: ignore[method-assign]  # counts the reads
        async with second._dnc_lock:  # one look of the second's takes in all three
            await first.remove_dnc(gone)
            await first.remove_dnc(again)
            await first.add_dnc([again], None)
            await first.remove_dnc(also_campaign)
        assert await _eventually(lambda: _allowed(second, [gone], cid))
        await asyncio.sleep(0.2)
        assert second.dnc.blocked(again, cid)  # off and on again: on
        assert second.dnc.blocked(also_campaign, cid)  # still on the campaign's own list
        assert not second.dnc.blocked(also_campaign, "another campaign")
        assert second.dnc.blocked(kept, cid)
        assert reads == []  # no whole read of the lists
        assert second._dnc_versions == await second.store.dnc_versions()


async def test_a_process_behind_the_pruned_removals_reads_the_lists_afresh(
    db_url: str,
) -> None:
    first, second = _service(db_url), _service(db_url)
    async with started(first, second):
        cid = await make_campaign(first)
        gone, kept = demo_numbers(2, time.time())
        await first.add_dnc([gone, kept], None)
        assert await _eventually(lambda: _blocked(second, [gone, kept], cid))
        async with second._dnc_lock:  # the second is held back...
            await first.remove_dnc(gone)
            # ...while the rows it would follow are pruned (as if a day went by).
            assert await first.store.prune_dnc_removals(datetime.now(UTC) + timedelta(days=1)) == 1
        assert await _eventually(lambda: _allowed(second, [gone], cid))
        assert second.dnc.blocked(kept, cid)


async def _blocked(svc: DialerService, phones: list[str], cid: str) -> bool:
    return all(svc.dnc.blocked(p, cid) for p in phones)


async def _allowed(svc: DialerService, phones: list[str], cid: str) -> bool:
    return not any(svc.dnc.blocked(p, cid) for p in phones)


async def test_every_change_to_the_lists_is_counted_in_order(db: Database) -> None:
    phones = ["+14155550101", "+14155550102", "+14155550103"]
    async with db.transaction() as s:
        start = await dnc.versions(s)
        await dnc.add_numbers(s, numbers=phones[:2])
    async with db.transaction() as s:
        await dnc.add_numbers(s, numbers=phones[1:])  # one new, one already listed
        await dnc.add_numbers(s, numbers=[])  # nothing: no change counted
    async with db.transaction() as s:
        after_adds = await dnc.versions(s)
        fetched = await dnc.added_since(s, version=start.added)
        newest = await dnc.added_since(s, version=start.added + 1)
        await dnc.remove_number(s, phone=phones[0])
        after_removal = await dnc.versions(s)
    assert after_adds == DncVersions(start.added + 2, start.removed)
    assert sorted((p, v - start.added) for p, _, v in fetched) == [
        (phones[0], 1),
        (phones[1], 1),
        (phones[2], 2),
    ]
    assert [(p, cid) for p, cid, _ in newest] == [(phones[2], None)]
    assert after_removal == DncVersions(after_adds.added, after_adds.removed + 1)
    async with db.transaction() as s:
        assert [e.scope for e in await dnc.lookup(s, phone=phones[0])] == []
        assert [e.scope for e in await dnc.lookup(s, phone=phones[2])] == [DncScope.INTERNAL]


async def test_a_number_off_the_list_gives_back_the_leads_only_the_list_stopped(
    service: DialerService,
) -> None:
    """Before, a number taken off the list kept its leads marked ``dnc`` for
    good: nothing could dial them again short of loading them anew, which
    the duplicate check refused."""
    phone = demo_numbers(1, time.time())[0]
    fresh, tried, spent, asked, own_list, booked = [
        await make_campaign(service, max_attempts=3) for _ in range(6)
    ]
    for cid in (fresh, tried, spent, asked, own_list, booked):
        assert (await service.add_leads(cid, [{"phone": phone}])).accepted == 1
    soon = datetime.now(UTC) + timedelta(hours=2)
    async with service.store.db.transaction() as s:
        await s.execute(update(LeadRow).where(LeadRow.campaign_id == tried).values(attempts=1))
        await s.execute(update(LeadRow).where(LeadRow.campaign_id == spent).values(attempts=3))
        await s.execute(  # the person asked not to be called again
            update(LeadRow)
            .where(LeadRow.campaign_id == asked)
            .values(attempts=1, last_outcome="dnc")
        )
        await s.execute(
            update(LeadRow)
            .where(LeadRow.campaign_id == booked)
            .values(attempts=1, callback_at=soon)
        )
    await service.add_dnc([phone], own_list)
    await service.add_dnc([phone], None)

    async def status(cid: str) -> tuple[LeadStatus, datetime | None]:
        (lead,) = await service.list_leads(cid, status=None, limit=5, offset=0)
        return lead.status, lead.next_attempt_at

    for cid in (fresh, tried, spent, asked, own_list, booked):
        assert (await status(cid))[0] is LeadStatus.DNC

    before = datetime.now(UTC)
    assert await service.remove_dnc(phone) == 4
    assert await status(fresh) == (LeadStatus.NEW, None)
    state, due = await status(tried)
    assert state is LeadStatus.RETRY and due is not None and due <= datetime.now(UTC)
    assert due >= before - timedelta(seconds=1)
    assert (await status(spent))[0] is LeadStatus.EXHAUSTED
    assert (await status(booked)) == (LeadStatus.CALLBACK, soon)
    assert (await status(asked))[0] is LeadStatus.DNC
    assert (await status(own_list))[0] is LeadStatus.DNC  # its campaign's list still has it
    assert service.dnc.blocked(phone, own_list) and not service.dnc.blocked(phone, fresh)


async def test_a_big_list_goes_in_slices_and_is_all_in_force_at_the_answer(
    service: DialerService,
) -> None:
    """One transaction for 50,000 numbers held SQLite's write lock for a
    minute (the heartbeat failed behind it): slices commit one by one now."""
    cid = await make_campaign(service)
    phones = [f"+1212{3_000_000 + i:07d}" for i in range(DNC_PER_TRANSACTION * 2 + 10)]
    assert (await service.add_leads(cid, [{"phone": p} for p in phones[::500]])).accepted == 21
    async with service.store.db.transaction() as s:
        before = await dnc.versions(s)
    result = await service.add_dnc([*phones, "not a number", phones[0]], None)
    assert result.added == len(phones)
    assert [(r.row, r.phone) for r in result.rejected] == [(len(phones) + 1, "not a number")]
    async with service.store.db.transaction() as s:
        after = await dnc.versions(s)
    assert after.added - before.added == 3  # three transactions
    assert all(service.dnc.blocked(p, cid) for p in phones)
    statuses = {
        lead.status for lead in await service.list_leads(cid, status=None, limit=50, offset=0)
    }
    assert statuses == {LeadStatus.DNC}


async def test_concurrent_adds_and_removals_never_fail_on_each_other(db_url: str) -> None:
    """Found with two processes on PostgreSQL: an add took the change counter
    then the entry, a removal the entry then the counter, and the two
    deadlocked (a 500)."""
    first, second = _service(db_url), _service(db_url)
    async with started(first, second):
        numbers = demo_numbers(4, time.time())
        rng = random.Random(5)

        async def churn(svc: DialerService) -> None:
            for _ in range(150):
                phone = rng.choice(numbers)
                if rng.random() < 0.5:
                    await svc.add_dnc([phone], None)
                else:
                    with contextlib.suppress(NotFound):  # not listed: fine
                        await svc.remove_dnc(phone)

        await asyncio.gather(churn(first), churn(second), churn(first), churn(second))
        stored = {p: (await first.lookup_dnc(p)).listed for p in numbers}

        async def both_agree() -> bool:  # each follows the other's last changes
            return all(
                svc.dnc.blocked(p, "any") is listed
                for p, listed in stored.items()
                for svc in (first, second)
            )

        assert await _eventually(both_agree)


async def test_a_persons_own_request_comes_off_the_list_only_with_consent(
    service: DialerService,
) -> None:
    """Before, DELETE /dnc erased a number a person had asked on a call not to
    be called on, and their leads in other campaigns were dialable again."""
    phone = demo_numbers(1, time.time())[0]
    await service.store.add_dnc([phone], None, source="disposition")
    service.dnc.add(phone)
    with pytest.raises(ConflictError, match="consent=true"):
        await service.remove_dnc(phone)
    assert (await service.lookup_dnc(phone)).listed and service.dnc.blocked(phone, "any")
    await service.remove_dnc(phone, consent=True)
    assert not (await service.lookup_dnc(phone)).listed
    await service.add_dnc([phone], None)  # an operator's entry needs no consent
    await service.remove_dnc(phone)
    # Listed by an operator first, then asked on a call: the person's request wins.
    await service.add_dnc([phone], None)
    await service.store.add_dnc([phone], None, source="disposition")
    with pytest.raises(ConflictError):
        await service.remove_dnc(phone)


async def test_a_lead_refused_on_a_list_the_gate_had_not_caught_up_with_is_not_lost(
    service: DialerService,
) -> None:
    """Found with two processes: a number taken off the list through one was
    refused by the other's gate in the second before it caught up, and the
    lead was marked dnc for good although the number was on no list."""
    cid = await make_campaign(service, state=RunState.RUNNING)
    behind, listed = demo_numbers(2, time.time())
    await service.add_leads(cid, [{"phone": behind}, {"phone": listed}])
    service.dnc.add(behind)  # this gate's lists say listed; the stored ones do not
    await service.add_dnc([listed], None)
    agent, _ = await service.create_agent("gil", [cid])
    phone = Softphone(service, agent.id)
    await phone.connect()
    await phone.say(type="ready")

    async def statuses() -> dict[str, LeadStatus]:
        found = await service.list_leads(cid, status=None, limit=5, offset=0)
        return {lead.phone: lead.status for lead in found}

    async def refused() -> bool:
        found = await service.list_leads(cid, status=None, limit=5, offset=0)
        return any(lead.phone == behind and lead.last_outcome == "skipped:dnc" for lead in found)

    assert await _eventually(refused)
    assert await statuses() == {behind: LeadStatus.NEW, listed: LeadStatus.DNC}
    (back,) = [
        lead
        for lead in await service.list_leads(cid, status="new", limit=5, offset=0)
        if lead.phone == behind
    ]
    assert back.next_attempt_at is not None and back.next_attempt_at > datetime.now(UTC)
