"""Several processes on one database: only what dead processes held is taken back.

Before heartbeats, a starting process closed every open call and freed every
claimed lead, a running process's included (a second process, the new one
of a rolling restart): its calls were closed under it and its leads could be
dialed twice. Run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from service_testing import Softphone, make_campaign, running_floor, started, telephony
from sqlalchemy import func, select, update

from dialer.campaign import CampaignSettings, DialMode, RunState
from dialer.errors import ConflictError
from dialer.runtime.demo import demo_numbers
from dialer.runtime.service import DialerService
from dialer.runtime.settings import Settings
from dialer.runtime.store import RuntimeStore
from dialer.storage import Database, NewLead, calls, campaigns, database, leads, processes
from dialer.storage.models import AgentRow, CallRow, LeadRow
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
        assert await _state(db, ghost, None) == ("new", 0, None)  # never tried: new
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
    # Released as never tried: this test closed the call without counting it.
    assert (status, open_) == (LeadStatus.NEW.value, False)


async def _claimed_by(db: Database, cid: str) -> set[str | None]:
    async with db.transaction() as s:
        rows = await s.execute(select(LeadRow.claimed_by).where(LeadRow.campaign_id == cid))
        return {owner for (owner,) in rows}


async def test_a_stop_the_database_refuses_still_closes_and_the_lease_frees_its_leads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Someone else holds SQLite's write lock while the service stops.

    It cannot free its leads nor unregister, and must still close rather
    than raise; its lease runs out and the next process takes them back.
    """
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 200)  # not 30 s of waiting
    path = tmp_path / "dialer.db"
    url = f"sqlite+aiosqlite:///{path}"
    first = _service(url, lease_s=0.5)
    await first.start()
    cid = await make_campaign(first, mode=DialMode.PREVIEW)
    phones = [f"+1415555{i:04d}" for i in range(140, 150)]
    await first.add_leads(cid, [{"phone": p} for p in phones])
    agent, _ = await first.create_agent("ada", [cid])
    phone = Softphone(first, agent.id)
    await phone.connect()
    await phone.say(type="ready")  # a preview agent: leads are claimed for it, none dialed
    await first.set_campaign_state(cid, RunState.RUNNING)
    me = first.settings.process_id
    for _ in range(100):  # the hopper fills: leads claimed by this process
        if me in await _claimed_by(first.store.db, cid):
            break
        await asyncio.sleep(0.05)
    assert me in await _claimed_by(first.store.db, cid)

    # Taken in a thread: the service may be inside a transaction (its BEGIN
    # is IMMEDIATE, so holding the write lock) that needs this event loop to
    # commit, and a blocking wait here would deadlock with it until sqlite3's
    # timeout ran out (it did, on a loaded machine).
    lock = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
    await asyncio.to_thread(lock.execute, "BEGIN IMMEDIATE")
    try:
        with caplog.at_level(logging.WARNING, logger="dialer.runtime.service"):
            await asyncio.wait_for(first.stop(), 30.0)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert "could not free its leads" in caplog.text
    assert "could not unregister" in caplog.text
    assert not first.started

    await asyncio.sleep(0.6)  # the stopped process's lease lapses
    second = _service(url, lease_s=0.5)
    await second.start()
    try:
        owners = await _claimed_by(second.store.db, cid)
        assert me not in owners  # freed (and maybe claimed again by the new process)
        async with second.store.db.transaction() as s:
            count = await s.scalar(select(func.count()).where(LeadRow.campaign_id == cid))
        assert count == len(phones)  # every lead is still there
    finally:
        await second.stop()


async def _set_call(db: Database, call_id: str, **values: object) -> None:
    async with db.transaction() as s:
        await s.execute(update(CallRow).where(CallRow.id == call_id).values(**values))


async def test_a_person_reached_before_the_crash_is_not_dialed_again_at_once(
    db: Database, db_url: str
) -> None:
    """Found by killing a service mid-call: the person an agent was talking to
    (or had just talked to, the agent wrapping up) was handed back as a plain
    ``retry`` due at once and dialed again 0.2 s after the restart, the
    wrap-up's attempt never counted; and a person who answered and found no
    agent before the crash was not counted as abandoned."""
    cid = await _campaign(db)
    await _beating(db, "p-talk", age_s=600.0)
    await _beating(db, "p-wrap", age_s=600.0)
    await _beating(db, "p-wait", age_s=600.0)
    talking = await _holding(db, cid, "p-talk", "+14155550131", call=True)
    wrapping = await _holding(db, cid, "p-wrap", "+14155550132", call=True)
    waiting = await _holding(db, cid, "p-wait", "+14155550133", call=True)
    now = datetime.now(UTC)
    answered = {"outcome": "human", "answered_at": now - timedelta(seconds=60)}
    await _set_call(db, "p-talk-call", **answered, bridged_at=now - timedelta(seconds=59))
    await _set_call(
        db, "p-wrap-call", **answered, bridged_at=now - timedelta(seconds=59), ended_at=now
    )
    await _set_call(db, "p-wait-call", **answered)
    svc = _service(db_url)
    await svc.start()
    try:
        assert await _state(db, talking, "p-talk-call") == ("done", 1, False)
        assert await _state(db, wrapping, "p-wrap-call") == ("done", 1, False)
        assert await _state(db, waiting, "p-wait-call") == ("retry", 1, False)
        async with db.transaction() as s:
            talk = await calls.get_call(s, call_id="p-talk-call")
            wait = await calls.get_call(s, call_id="p-wait-call")
            counts = await calls.abandonment_counts(
                s, campaign_id=cid, since=now - timedelta(hours=1)
            )
        assert (talk.outcome, talk.abandoned) == ("human", False)
        assert (wait.outcome, wait.abandoned) == ("human", True)
        assert tuple(counts) == (3, 1)  # three people answered, one found nobody
    finally:
        await svc.stop()


async def test_two_processes_changing_one_campaign_at_once_lose_neither_change(
    db: Database, db_url: str
) -> None:
    """Each change is read, made and written with the campaign's row locked:
    two processes (two stores, two connection pools) changing different
    fields at the same moment both land."""
    cid = await _campaign(db)
    first, second = RuntimeStore(db_url, owner="p-a"), RuntimeStore(db_url, owner="p-b")
    await first.open()
    await second.open()
    try:
        for round_ in range(5):

            def ratio(current: CampaignSettings, v: float = 2.0 + round_) -> CampaignSettings:
                return dataclasses.replace(current, dial_ratio=v)

            def attempts(current: CampaignSettings, v: int = 3 + round_) -> CampaignSettings:
                return dataclasses.replace(current, max_attempts=v)

            await asyncio.gather(
                first.modify_campaign(cid, ratio), second.modify_campaign(cid, attempts)
            )
            stored = (await first.get_campaign(cid)).settings
            assert (stored.dial_ratio, stored.max_attempts) == (2.0 + round_, 3 + round_)
    finally:
        await first.close()
        await second.close()


async def test_a_big_lead_load_goes_in_slices_and_counts_as_one(db: Database, db_url: str) -> None:
    """Loaded a transaction per slice (one transaction for 50,000 held
    SQLite's write lock for seconds, delaying people's bridges): the counts,
    duplicates across slices and rejected row numbers are those of one load."""
    cid = await _campaign(db)
    store = RuntimeStore(db_url, owner="p-load")
    await store.open()
    try:
        n = 2_500  # three slices
        batch = [NewLead(f"+1415{5_000_000 + i:07d}") for i in range(n)]
        batch[2_200] = NewLead("not a number")  # in the third slice
        batch[1_500] = NewLead(batch[10].phone)  # a duplicate of the first slice
        result = await store.add_leads(cid, batch)
        assert (result.accepted, result.duplicates) == (n - 2, 1)
        assert [r.row for r in result.rejected] == [2_200]
        again = await store.add_leads(cid, batch[:1_200])
        assert (again.accepted, again.duplicates) == (0, 1_200)
        async with db.transaction() as s:
            count = await s.scalar(
                select(func.count()).select_from(LeadRow).where(LeadRow.campaign_id == cid)
            )
        assert count == n - 2
    finally:
        await store.close()


async def test_a_clean_stop_closes_its_own_calls_and_counts_their_attempts(
    db: Database, db_url: str
) -> None:
    """Before, a stop left its live calls open for another process's recovery
    and handed their leads back uncounted, so a third process could claim and
    dial such a lead and then have it reset under it by that recovery."""
    svc = DialerService(
        Settings(database_url=db_url, api_key="secret", stats_interval_s=0.1),
        telephony=telephony(human=1.0, talk_s=60.0),
    )
    await svc.start()
    stopped = False
    try:
        cid = await make_campaign(svc, state=RunState.RUNNING)
        await svc.add_leads(cid, [{"phone": n} for n in demo_numbers(4, time.time())])
        talking, _ = await svc.create_agent("talking", [cid])
        wrapping, _ = await svc.create_agent("wrapping", [cid])
        talk_phone, wrap_phone = Softphone(svc, talking.id), Softphone(svc, wrapping.id)
        await talk_phone.connect()
        await talk_phone.say(type="ready")
        talk_call = (await talk_phone.expect("call"))["call_id"]
        await wrap_phone.connect()
        await wrap_phone.say(type="ready")
        wrap_call = (await wrap_phone.expect("call"))["call_id"]
        await wrap_phone.say(type="hangup", call_id=wrap_call)
        await wrap_phone.expect("call_ended")
        await svc.stop()
        stopped = True
        async with db.transaction() as s:
            for call_id in (talk_call, wrap_call):
                record = await calls.get_call(s, call_id=call_id)
                assert record.ended_at is not None
                lead = await leads.get_lead(s, lead_id=record.lead_id)
                assert (lead.status, lead.attempts, lead.claimed_by) == (LeadStatus.DONE, 1, None)
    finally:
        if not stopped:
            await svc.stop()


async def test_a_process_taken_for_dead_drops_the_leads_it_held_and_dials_none_twice(
    db: Database, db_url: str
) -> None:
    """Found by stopping PostgreSQL for longer than the lease under two
    processes: one took the other for dead and freed its claimed leads, and
    the other, alive after all, went on dialing them from its hopper while
    they were anyone's to claim."""
    svc = _service(db_url, lease_s=3.0)
    await svc.start()
    try:
        cid = await make_campaign(svc, state=RunState.RUNNING, mode=DialMode.PREVIEW)
        await svc.add_leads(cid, [{"phone": n} for n in demo_numbers(6, time.time())])
        agent, _ = await svc.create_agent("ada", [cid])
        phone = Softphone(svc, agent.id)
        await phone.connect()
        await phone.say(type="ready")  # a preview agent: leads are claimed for it, none dialed

        async def hopper_full() -> bool:
            return svc.core.stats(cid).hopper == 6

        for _ in range(100):
            if await hopper_full():
                break
            await asyncio.sleep(0.05)
        assert await hopper_full()
        # What a reaper does to a process it takes for dead, then another
        # process (alive, beating) claims the leads so freed.
        owner = svc.settings.process_id
        await _beating(db, "p-other", age_s=0.0)
        async with db.transaction() as s:
            await processes.unregister(s, process_id=owner)
            assert await leads.release_leads(s, owner=owner) == 6
        async with db.transaction() as s:
            taken = await leads.claim_leads(
                s, campaign_id=cid, owner="p-other", limit=10, now=datetime.now(UTC)
            )
        assert len(taken) == 6
        for _ in range(40):  # the next heartbeat (every 0.5 s) finds it out
            if svc.core.stats(cid).hopper == 0:
                break
            await asyncio.sleep(0.05)
        assert svc.core.stats(cid).hopper == 0
        await phone.say(type="dial")  # p-other's leads are not dialed here
        assert (await phone.expect("dial_refused"))["reason"] == "no_leads"
        await asyncio.sleep(0.3)
        assert svc.core.stats(cid).dialed == 0
        async with db.transaction() as s:
            assert await s.scalar(select(func.count()).select_from(CallRow)) == 0
    finally:
        await svc.stop()


async def test_the_end_of_a_call_taken_back_does_not_touch_its_lead_again(db: Database) -> None:
    """A process taken for dead had its open call closed and the attempt
    counted by the one that took it back; when its own end of that call came
    later it counted the attempt again and reset the lead, even if another
    process had claimed it since."""
    cid = await _campaign(db)
    held = await _holding(db, cid, "p-new", "+14155550141", call=False)
    async with db.transaction() as s:
        lead = await leads.finish_attempt(
            s,
            lead_id=held,
            outcome="no_answer",
            next_status=LeadStatus.RETRY,
            claimed_by="p-old",  # not its claim any more
        )
    assert (lead.status, lead.attempts, lead.claimed_by) == (LeadStatus.IN_PROGRESS, 0, "p-new")


async def test_an_agents_softphone_connects_to_one_process_at_a_time(
    db: Database, db_url: str
) -> None:
    """Found with two processes on one database: a softphone connected to
    both, each routed calls to the agent, and one agent was bridged to two
    people at once. A second process refuses the socket while a live one
    holds it; once that socket closes, or its process dies, it is free."""
    first, second = _service(db_url), _service(db_url)
    async with started(first, second):
        cid = await make_campaign(first)
        agent, _ = await first.create_agent("ada", [cid])
        on_first = Softphone(first, agent.id)
        await on_first.connect()
        with pytest.raises(ConflictError, match="another dialer process"):
            await Softphone(second, agent.id).connect()
        # The same process: the newer socket replaces the older, as ever.
        again = Softphone(first, agent.id)
        await again.connect()
        assert on_first.replaced
        await first.agent_disconnected(agent.id, again.session)
        on_second = Softphone(second, agent.id)
        await on_second.connect()  # free now
        with pytest.raises(ConflictError):
            await Softphone(first, agent.id).connect()
        # A hold by a process that died lapses with its heartbeat.
        async with db.transaction() as s:
            await s.execute(
                update(AgentRow).where(AgentRow.id == agent.id).values(socket_process="p-gone")
            )
        await Softphone(first, agent.id).connect()
    async with db.transaction() as s:  # a clean stop lets go of its sockets
        held = await s.scalar(select(AgentRow.socket_process).where(AgentRow.id == agent.id))
    assert held is None


async def test_a_token_replaced_through_one_process_closes_the_socket_on_another(
    db_url: str,
) -> None:
    first = DialerService(
        Settings(database_url=db_url, api_key="secret", stats_interval_s=0.05),
        telephony=telephony(),
    )
    second = _service(db_url)
    async with started(first, second):
        cid = await make_campaign(first)
        agent, _ = await first.create_agent("leo", [cid])
        phone = Softphone(first, agent.id)
        await phone.connect()
        await second.replace_agent_token(agent.id)
        for _ in range(200):
            if phone.closed_with is not None:
                break
            await asyncio.sleep(0.02)
        assert phone.closed_with == (4401, "the agent's token was replaced")
        view = await first.get_agent(agent.id)
        assert view.state == "paused" and not view.connected


async def test_a_campaign_made_and_stopped_through_one_process_is_followed_by_another(
    db_url: str,
) -> None:
    """Found with two processes on one database: a campaign created through
    one was never dialed by the other (its refresh failed on a campaign its
    core did not know), and a pause there left the other dialing for 30 s."""
    first, second = _service(db_url), _service(db_url)
    async with started(first, second):
        cid, phone = await running_floor(first, "ola", leads=30, phone_on=second, max_attempts=50)
        await phone.say(type="ready")
        call = await phone.expect("call", timeout=5)  # dialed by the second process
        assert call["campaign_id"] == cid
        await first.set_campaign_state(cid, RunState.PAUSED)
        paused_at = datetime.now(UTC)
        await phone.expect("call_ended")
        await phone.say(type="disposition", call_id=call["call_id"], code="done")
        await asyncio.sleep(2.0)
        async with second.store.db.transaction() as s:
            late = await s.scalar(
                select(func.count())
                .select_from(CallRow)
                .where(
                    CallRow.campaign_id == cid,
                    CallRow.dialed_at > paused_at + timedelta(seconds=1.5),
                )
            )
        assert late == 0
        assert second.core.stats(cid).state is RunState.PAUSED
        # Stopped through the first, the second hands back the leads it holds.
        assert second.core.stats(cid).hopper > 0
        await first.set_campaign_state(cid, RunState.STOPPED)
        dialed = select(CallRow.lead_id).where(CallRow.campaign_id == cid)
        for _ in range(100):  # claimed and never dialed (a call may still be on)
            async with second.store.db.transaction() as s:
                held = await s.scalar(
                    select(func.count())
                    .select_from(LeadRow)
                    .where(
                        LeadRow.campaign_id == cid,
                        LeadRow.status == "in_progress",
                        LeadRow.id.not_in(dialed),
                    )
                )
            if held == 0:
                break
            await asyncio.sleep(0.05)
        assert held == 0
        assert second.core.stats(cid).hopper == 0


async def test_an_agent_away_mid_call_stays_with_the_process_that_has_the_call(
    db_url: str,
) -> None:
    """Found with two processes: a softphone dropped mid-call and reconnected
    to the other process, which took the agent as free (it could have been
    routed a second call) while its call went on where it could not be hung
    up or disposed."""
    first = DialerService(
        Settings(database_url=db_url, api_key="secret", stats_interval_s=0.1),
        telephony=telephony(human=1.0, talk_s=0.6),
    )
    second = _service(db_url)
    async with started(first, second):
        _, phone = await running_floor(first, "ivy", leads=1, wrap_up_limit_s=0.3)
        agent_id = phone.agent_id
        await phone.say(type="ready")
        await phone.expect("call")
        await first.agent_disconnected(agent_id, phone.session)  # gone mid-call
        with pytest.raises(ConflictError, match="another dialer process"):
            await Softphone(second, agent_id).connect()
        # The call ends there, its wrap-up runs out, and the agent is free.
        for _ in range(100):
            try:
                await Softphone(second, agent_id).connect()
                break
            except ConflictError:
                await asyncio.sleep(0.05)
        assert (await second.get_agent(agent_id)).connected
        assert first.core.agent_call(agent_id) is None


async def test_a_process_whose_agents_are_all_away_gives_its_leads_back(db_url: str) -> None:
    """Found looking at two processes on one database: a process whose
    softphones had all gone kept the leads it had claimed for them (away
    means paused, and a paused agent stays logged in), so however long
    they were away, the other process's agents could not have them."""
    first = _service(db_url)
    second = DialerService(
        Settings(database_url=db_url, api_key="secret", lead_hand_back_s=0.5),
        telephony=telephony(),
    )
    async with started(first, second):
        # Preview: nothing dials by itself, the claimed leads stay in the hopper.
        cid, phone = await running_floor(
            first, "una", leads=30, phone_on=second, mode=DialMode.PREVIEW
        )

        async def held_by_second() -> int:
            async with first.store.db.transaction() as s:
                return int(
                    await s.scalar(
                        select(func.count())
                        .select_from(LeadRow)
                        .where(LeadRow.campaign_id == cid, LeadRow.claimed_by == second.store.owner)
                    )
                    or 0
                )

        async def settles(want: int) -> int:
            held = -1
            for _ in range(150):
                held = await held_by_second()
                if held == want:
                    break
                await asyncio.sleep(0.02)
            return held

        assert await held_by_second() == 0  # paused: nothing claimed for it
        await phone.say(type="ready")
        assert await settles(25) == 25  # one agent's worth
        await second.agent_disconnected(phone.agent_id, phone.session)
        assert await settles(0) == 0  # half a second on, they are back...
        statuses = await first.list_leads(cid, status="new", limit=100, offset=0)
        assert len(statuses) == 30  # ...as they were: never tried
        assert second.core.stats(cid).hopper == 0
        await asyncio.sleep(0.6)
        assert await held_by_second() == 0  # and not claimed again while it is away
        # Back and ready, it is claimed for again.
        await phone.connect()
        await phone.say(type="ready")
        assert await settles(25) == 25


async def test_a_campaign_deleted_through_one_process_leaves_the_others(db_url: str) -> None:
    first = _service(db_url)
    second = DialerService(
        Settings(database_url=db_url, api_key="secret", stats_interval_s=0.1),
        telephony=telephony(),
    )
    async with started(first, second):
        mistake = await make_campaign(first)  # stopped, never dialed
        kept = await make_campaign(first)
        (own_number,) = demo_numbers(1, time.time())
        await first.add_dnc([own_number], mistake)  # the campaign's own list
        agent, _ = await first.create_agent("vera", [mistake, kept])
        phone = Softphone(second, agent.id)
        await phone.connect()
        for _ in range(100):  # the second process takes both campaigns in
            if {mistake, kept} <= set(second.core.campaign_ids()):
                break
            await asyncio.sleep(0.02)
        assert {mistake, kept} <= set(second.core.campaign_ids())
        for _ in range(250):  # the second's look at the lists, every second
            if second.dnc.blocked(own_number, mistake):
                break
            await asyncio.sleep(0.02)
        assert second.dnc.blocked(own_number, mistake)
        await asyncio.sleep(0.3)  # its gauges are set for both
        assert f'campaign="{mistake}"' in second.metrics.exposition()[0].decode()

        await first.delete_campaign(mistake)
        frame = await phone.expect("campaigns", timeout=5)  # the agent serves the other
        assert frame["campaign_ids"] == [kept]
        assert second.core.agent_campaigns(agent.id) == (kept,)
        for _ in range(100):
            if mistake not in second.core.campaign_ids():
                break
            await asyncio.sleep(0.02)
        assert mistake not in second.core.campaign_ids()
        assert len(second.dnc) == 0 and len(first.dnc) == 0  # its own list went with it
        await asyncio.sleep(0.3)
        gauges = [
            line
            for line in second.metrics.exposition()[0].decode().splitlines()
            if f'campaign="{mistake}"' in line and not line.startswith("#")
        ]
        assert [g for g in gauges if g.split("{")[0] in _GAUGES] == []
        # The second process goes on with the campaign left.
        await second.set_campaign_state(kept, RunState.RUNNING)
        assert (await second.get_campaign(kept)).settings.state is RunState.RUNNING


_GAUGES = {"dialer_agents", "dialer_abandon_rate", "dialer_lines_in_flight", "dialer_dial_level"}


async def test_a_campaign_that_runs_or_has_dialed_is_not_deleted(db_url: str) -> None:
    svc = _service(db_url)
    async with started(svc):
        cid, phone = await running_floor(svc, "wes")
        with pytest.raises(ConflictError, match="stop it first"):
            await svc.delete_campaign(cid)
        await phone.say(type="ready")
        call = await phone.expect("call")
        await phone.say(type="hangup", call_id=call["call_id"])
        await phone.say(type="disposition", call_id=call["call_id"], code="done")
        await svc.set_campaign_state(cid, RunState.STOPPED)
        with pytest.raises(ConflictError, match="call records"):
            await svc.delete_campaign(cid)
        assert (await svc.get_campaign(cid)).settings.state is RunState.STOPPED
        assert cid in svc.core.campaign_ids()
