"""The service end to end in one process: real database, real core, simulated calls.

Agents here are in-process softphones talking to the service facade; the
WebSocket layer has its own tests over real sockets (tests/api/).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from service_testing import Softphone, make_campaign, running_floor, telephony

from dialer.campaign import DialMode, RunState
from dialer.errors import ConflictError, IllegalTransition, InvalidInput, NotFound
from dialer.runtime.demo import demo_numbers
from dialer.runtime.service import DialerService
from dialer.runtime.settings import Settings
from simulator.telephony import SimulatedTelephony


async def test_a_person_answers_reaches_the_agent_and_the_record_is_complete(
    service: DialerService,
) -> None:
    cid = await make_campaign(service)
    numbers = demo_numbers(5, time.time())
    result = await service.add_leads(cid, [{"phone": n, "data": {"name": "Ada"}} for n in numbers])
    assert result.accepted == 5
    agent, _token = await service.create_agent("ada", [cid])
    phone = Softphone(service, agent.id)
    await phone.connect()
    assert (await phone.expect("state"))["state"] == "paused"
    await service.set_campaign_state(cid, RunState.RUNNING)
    await phone.say(type="ready")
    call = await phone.expect("call")
    assert call["campaign_id"] == cid and call["lead"]["data"] == {"name": "Ada"}
    await phone.say(type="hangup", call_id=call["call_id"])
    ended = await phone.expect("call_ended")
    assert ended == {"type": "call_ended", "call_id": call["call_id"], "by": "agent"}
    await phone.say(type="disposition", call_id=call["call_id"], code="sale", notes="yes")
    record = await service.get_call(call["call_id"])
    assert record.agent_id == agent.id and record.disposition == "sale"
    assert record.answered_at and record.bridged_at and record.ended_at
    assert record.dialed_at <= record.answered_at <= record.bridged_at <= record.ended_at
    assert not record.abandoned
    stats = await service.campaign_stats(cid)
    assert stats["dialed"] >= 1 and stats["human_answered"] >= 1


async def test_customer_hangup_then_disposition_frees_the_agent(service: DialerService) -> None:
    _, phone = await running_floor(service, "bob")
    agent_id = phone.agent_id
    await phone.say(type="ready")
    call = await phone.expect("call")
    ended = await phone.expect("call_ended")
    assert ended["by"] == "customer"
    with pytest.raises(IllegalTransition):
        await phone.say(type="ready")  # wrap-up ends with a disposition, not "ready"
    await phone.say(type="disposition", call_id=call["call_id"], code="done")
    assert (await service.get_agent(agent_id)).state in ("ready", "on_call")


async def test_bad_lead_rows_are_rejected_with_their_row_and_the_rest_load(
    service: DialerService,
) -> None:
    cid = await make_campaign(service)
    good = demo_numbers(3, time.time())
    rows: list[dict[str, Any]] = [
        {"phone": good[0]},
        {"phone": "not a number"},
        {"phone": good[1], "timezone": "Mars/Olympus"},
        {"phone": good[2]},
        {"phone": good[0]},
        {"phone": 12},
    ]
    result = await service.add_leads(cid, rows)
    assert result.accepted == 2
    assert result.duplicates == 1
    assert [r.row for r in result.rejected] == [2, 3, 6]
    assert "time zone" in result.rejected[1].reason


async def test_a_leads_extension_is_kept_in_its_data_and_a_dnc_one_blocks_the_number(
    service: DialerService,
) -> None:
    cid = await make_campaign(service)
    numbers = demo_numbers(3, time.time())
    added = await service.add_dnc([f"{numbers[2]} x9"], None)
    assert added.added == 1 and (await service.lookup_dnc(numbers[2])).listed
    result = await service.add_leads(
        cid,
        [
            {"phone": f"{numbers[0]} ext. 12", "data": {"name": "Ada"}},
            {"phone": f"{numbers[1]} x34", "data": {"extension": "front desk"}},
            {"phone": f"{numbers[2]} x5"},
        ],
    )
    assert (result.accepted, result.dnc, result.rejected) == (2, 1, ())
    leads = {
        lead.phone: lead for lead in await service.list_leads(cid, status=None, limit=10, offset=0)
    }
    assert leads[numbers[0]].data == {"name": "Ada", "extension": "12"}
    assert leads[numbers[1]].data == {"extension": "front desk"}  # the caller's own wins
    assert numbers[2] not in leads


async def test_dnc_numbers_are_not_loaded_and_not_dialed(service: DialerService) -> None:
    cid = await make_campaign(service)
    numbers = demo_numbers(4, time.time())
    added = await service.add_dnc(numbers[:2], None)
    assert added.added == 2
    result = await service.add_leads(cid, [{"phone": n} for n in numbers])
    assert (result.accepted, result.dnc) == (2, 2)
    lookup = await service.lookup_dnc(numbers[0])
    assert lookup.listed and lookup.scopes == ("internal",)
    await service.remove_dnc(numbers[0])
    assert not (await service.lookup_dnc(numbers[0])).listed
    with pytest.raises(NotFound):
        await service.remove_dnc(numbers[0])
    with pytest.raises(InvalidInput):
        await service.lookup_dnc("garbage")


async def test_a_disconnected_agent_is_paused_and_offered_nothing(
    service: DialerService,
) -> None:
    cid, phone = await running_floor(service, "cy")
    agent_id = phone.agent_id
    await service.agent_disconnected(agent_id, phone.session)
    view = await service.get_agent(agent_id)
    assert view.state == "paused" and not view.connected
    await asyncio.sleep(0.3)
    assert (await service.campaign_stats(cid))["dialed"] == 0
    again = Softphone(service, agent_id)
    await again.connect()
    await again.say(type="ready")
    await again.expect("call")


async def test_a_newer_connection_replaces_the_old_one(service: DialerService) -> None:
    """One softphone per agent: a second connection (another tab, a reconnect
    before the old socket timed out) closes the first, whose messages are
    refused from then on, so it can neither make the agent ready behind the
    new one's back nor leave it ready once both are gone."""
    _, first = await running_floor(service, "re")
    agent_id = first.agent_id
    second = Softphone(service, agent_id)
    await second.connect()
    assert first.replaced and not second.replaced
    await second.say(type="pause", reason="break")
    with pytest.raises(ConflictError, match="replaced"):
        await first.say(type="ready")
    assert (await service.get_agent(agent_id)).state == "paused"
    # The old socket's end changes nothing; the new one's pauses the agent.
    await service.agent_disconnected(agent_id, first.session)
    assert (await service.get_agent(agent_id)).connected
    await service.agent_disconnected(agent_id, second.session)
    view = await service.get_agent(agent_id)
    assert view.state == "paused" and not view.connected
    with pytest.raises(ConflictError):  # and the old one still cannot
        await first.say(type="ready")
    assert (await service.get_agent(agent_id)).state == "paused"


async def test_a_connection_that_replaces_a_ready_one_is_paused_until_it_says_ready(
    service: DialerService,
) -> None:
    """Found with a real softphone: a second connection took over the first's
    ready, and was routed a call without ever saying ready."""
    cid = await make_campaign(service, state=RunState.RUNNING)
    agent, _ = await service.create_agent("rey", [cid])
    first = Softphone(service, agent.id)
    await first.connect()
    await first.say(type="ready")
    second = Softphone(service, agent.id)
    await second.connect()
    assert first.replaced
    assert (await second.expect("state"))["state"] == "paused"
    await service.add_leads(cid, [{"phone": n} for n in demo_numbers(3, time.time())])
    await asyncio.sleep(0.5)
    assert (await service.campaign_stats(cid))["dialed"] == 0
    await second.say(type="ready")
    await second.expect("call")


async def test_a_softphone_is_told_its_state_once_when_it_connects(
    service: DialerService,
) -> None:
    cid = await make_campaign(service)
    agent, _ = await service.create_agent("una", [cid])
    for _ in range(2):  # the first connection logs the agent in; the next finds it so
        phone = Softphone(service, agent.id)
        await phone.connect()
        await asyncio.sleep(0.1)
        frames = [phone.inbox.get_nowait() for _ in range(phone.inbox.qsize())]
        assert frames == [{"type": "state", "state": "paused"}]
        await service.agent_disconnected(agent.id, phone.session)


async def test_a_softphone_lost_in_wrap_up_files_its_disposition_when_back(
    service: DialerService,
) -> None:
    _, phone = await running_floor(service, "di")
    agent_id = phone.agent_id
    await phone.say(type="ready")
    call = await phone.expect("call")
    await phone.expect("call_ended")  # the customer hung up: wrap-up
    await service.agent_disconnected(agent_id, phone.session)
    view = await service.get_agent(agent_id)
    assert view.state == "wrap_up" and not view.connected  # paused once it is filed
    again = Softphone(service, agent_id)
    await again.connect()
    await again.say(type="disposition", call_id=call["call_id"], code="dnc")
    record = await service.get_call(call["call_id"])
    assert record.disposition == "dnc"
    assert (await service.lookup_dnc(record.phone)).listed
    assert (await service.get_agent(agent_id)).state == "paused"
    await again.say(type="ready")
    await again.expect("call")


async def test_the_api_key_is_checked(service: DialerService) -> None:
    assert service.authenticate_api_key("secret")
    assert not service.authenticate_api_key("Secret")
    assert not service.authenticate_api_key("")


def _zone_outside_calling_hours() -> str:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    for name in (
        "Pacific/Kiritimati",
        "Asia/Tokyo",
        "Europe/London",
        "America/New_York",
        "Pacific/Honolulu",
        "Asia/Kolkata",
        "Pacific/Pago_Pago",
        "America/Sao_Paulo",
    ):
        local = datetime.now(UTC).astimezone(ZoneInfo(name))
        if not 7 <= local.hour < 21:  # a margin of an hour before the window opens
            return name
    raise AssertionError("some zone is always outside 08:00-21:00")


async def test_a_lead_outside_calling_hours_is_not_dialed_and_says_why(
    service: DialerService,
) -> None:
    cid = await make_campaign(service, state=RunState.RUNNING)
    number = demo_numbers(1, time.time())[0]
    zone = _zone_outside_calling_hours()
    assert (await service.add_leads(cid, [{"phone": number, "timezone": zone}])).accepted == 1
    agent, _ = await service.create_agent("dee", [cid])
    phone = Softphone(service, agent.id)
    await phone.connect()
    await phone.say(type="ready")
    for _ in range(50):
        leads = await service.list_leads(cid, status=None, limit=10, offset=0)
        if leads[0].last_outcome:
            break
        await asyncio.sleep(0.05)
    assert leads[0].last_outcome == "skipped:outside_calling_hours"
    assert leads[0].status.value == "new" and leads[0].next_attempt_at is not None  # untried
    assert (await service.campaign_stats(cid))["dialed"] == 0


async def test_stopping_a_campaign_hands_its_undialed_leads_back_as_they_were(
    service: DialerService,
) -> None:
    """Found by an audit: a stopped campaign's hopper stayed claimed, its
    leads listed in_progress (no call, no attempt) until it ran again."""
    cid = await make_campaign(service, state=RunState.RUNNING, mode=DialMode.PREVIEW)
    await service.add_leads(cid, [{"phone": n} for n in demo_numbers(5, time.time())])
    agent, _ = await service.create_agent("ada", [cid])
    phone = Softphone(service, agent.id)
    await phone.connect()
    await phone.say(type="ready")

    async def listed(status: str) -> int:
        return len(await service.list_leads(cid, status=status, limit=100, offset=0))

    for _ in range(100):  # a preview agent, ready: the hopper fills and nothing is dialed
        if await listed("in_progress") == 5:
            break
        await asyncio.sleep(0.02)
    assert await listed("in_progress") == 5
    await service.set_campaign_state(cid, RunState.STOPPED)
    await service.driver.writer.flush()
    assert (await listed("in_progress"), await listed("new")) == (0, 5)
    assert service.core.stats(cid).hopper == 0
    # Started again, they are claimed again and dialed for the agent.
    await service.set_campaign_state(cid, RunState.RUNNING)
    for _ in range(100):
        if service.core.stats(cid).hopper == 5:
            break
        await asyncio.sleep(0.02)
    await phone.say(type="dial")
    assert (await phone.expect("call"))["campaign_id"] == cid


class _SlowBridge(SimulatedTelephony):
    """Bridges take a while, as real telephony's do."""

    async def bridge(self, call_id: str, agent_id: str) -> None:
        await asyncio.sleep(0.3)
        await super().bridge(call_id, agent_id)


async def test_an_agent_who_hangs_up_before_the_bridge_is_sent_no_stale_call(
    db_url: str,
) -> None:
    """Found with a real softphone: hanging up on the on_call state frame,
    before the bridge had finished, the agent was made ready and then sent
    the call frame of the call it had just ended, with no call_ended after."""
    base = telephony()
    svc = DialerService(
        Settings(database_url=db_url, api_key="secret"),
        telephony=_SlowBridge(base.behaviour, seed=3),
    )
    await svc.start()
    try:
        _, phone = await running_floor(svc, "hal")
        await phone.say(type="ready")
        offered = await phone.expect("state")
        while offered["state"] != "on_call":
            offered = await phone.expect("state")
        await phone.say(type="hangup", call_id=offered["call_id"])
        assert (await phone.expect("state"))["state"] == "ready"
        await asyncio.sleep(0.6)  # past the bridge
        frames = []
        while not phone.inbox.empty():
            frames.append(phone.inbox.get_nowait())
        assert [f for f in frames if f.get("call_id") == offered["call_id"]] == []
    finally:
        await svc.stop()


async def test_a_callback_in_the_past_is_refused_and_the_agent_can_dispose_again(
    service: DialerService,
) -> None:
    """Before, callback_at 2020-01-01 was booked as given: due at once."""
    _, phone = await running_floor(service, "cal")
    await phone.say(type="ready")
    call = await phone.expect("call")
    await phone.expect("call_ended")
    past = datetime.now(UTC) - timedelta(days=7)
    with pytest.raises(InvalidInput, match="in the past") as refused:
        await phone.say(
            type="disposition", call_id=call["call_id"], code="callback", callback_at=past
        )
    assert refused.value.field == "callback_at"
    assert (await service.get_agent(phone.agent_id)).state == "wrap_up"
    soon = datetime.now(UTC) + timedelta(hours=1)
    await phone.say(type="disposition", call_id=call["call_id"], code="callback", callback_at=soon)
    assert (await service.get_call(call["call_id"])).disposition == "callback"


async def test_a_wrap_up_the_limit_closes_is_told_to_the_softphone(
    service: DialerService,
) -> None:
    """Before, the softphone saw only its state change, and its late
    disposition was refused as "not this agent's call"."""
    _, phone = await running_floor(service, "wen", wrap_up_limit_s=0.3)
    await phone.say(type="ready")
    call = await phone.expect("call")
    await phone.expect("call_ended")
    closed = await phone.expect("wrap_up_closed")
    assert closed == {"type": "wrap_up_closed", "call_id": call["call_id"], "code": "wrap_timeout"}
    assert (await phone.expect("state"))["state"] == "ready"
    for _ in range(100):  # the record is written behind the frames
        if (await service.get_call(call["call_id"])).disposition == "wrap_timeout":
            break
        await asyncio.sleep(0.02)
    with pytest.raises(InvalidInput, match=r"already has its disposition \(wrap_timeout\)"):
        await phone.say(type="disposition", call_id=call["call_id"], code="sale")
    assert (await service.get_call(call["call_id"])).disposition == "wrap_timeout"


async def test_an_agent_long_away_is_logged_out_and_logs_in_again_when_back(
    db_url: str,
) -> None:
    """Before, a softphone that went (closed for the night) left its agent
    paused for as long as the process ran: counted as logged in on the
    wallboard, and holding its campaign's leads claimed."""
    svc = DialerService(
        Settings(database_url=db_url, api_key="secret", stats_interval_s=0.05, away_logout_s=0.4),
        telephony=telephony(human=1.0, talk_s=0.5),
    )
    await svc.start()
    try:
        cid, phone = await running_floor(svc, "ned", leads=3, wrap_up_limit_s=60)
        agent_id = phone.agent_id
        await phone.say(type="ready")
        call = await phone.expect("call")
        await svc.agent_disconnected(agent_id, phone.session)  # gone mid-call
        await asyncio.sleep(1.0)  # past away_logout_s: its call, then wrap-up, keep it
        assert svc.core.agent_call(agent_id) == call["call_id"]
        assert (await svc.get_agent(agent_id)).state == "wrap_up"
        await phone.connect()  # back: it files its disposition
        await phone.say(type="disposition", call_id=call["call_id"], code="done")
        await phone.say(type="pause")
        await svc.agent_disconnected(agent_id, phone.session)  # gone, no call
        assert (await svc.get_agent(agent_id)).state == "paused"
        for _ in range(100):
            if svc.core.agent_campaigns(agent_id) is None:
                break
            await asyncio.sleep(0.02)
        assert (await svc.get_agent(agent_id)).state == "logged_out"
        assert svc.core.stats(cid).agents.paused == 0
        morning = Softphone(svc, agent_id)  # back the next morning
        await morning.connect()
        assert (await morning.expect("state"))["state"] == "paused"
        await morning.say(type="ready")
        assert (await morning.expect("call"))["campaign_id"] == cid
    finally:
        await svc.stop()
