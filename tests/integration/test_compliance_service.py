"""Compliance through the running service, on SQLite and PostgreSQL.

History comes from call records written the way the service writes them, so
these tests also prove that the rules read their facts from the records (and
so survive a restart) rather than from memory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from service_testing import Softphone, make_campaign

from dialer.calls import CallRecord
from dialer.campaign import CallOutcome, DialMode, RunState
from dialer.compliance.hours import check_calling_hours
from dialer.compliance.phones import zones_for_number
from dialer.compliance.profiles import campaign_hours
from dialer.runtime.demo import demo_numbers
from dialer.runtime.service import DialerService
from dialer.runtime.settings import Settings
from dialer.storage import calls as call_repo
from dialer.storage.records import LeadStatus
from dialer.storage.retention import MIN_RETENTION_DAYS


class _Epoch:
    """A clock for update_call that reads driver instants as epoch seconds."""

    def wall_epoch(self, now: float) -> float:
        return now


async def past_call(
    svc: DialerService,
    *,
    campaign_id: str,
    lead_id: str,
    phone: str,
    ago_s: float,
    abandoned: bool = False,
    amd: str | None = None,
) -> None:
    """A finished attempt ``ago_s`` seconds ago, recorded as the service records one."""
    at = time.time() - ago_s
    call_id = f"old-{lead_id}-{int(ago_s)}"
    async with svc.store.db.transaction() as s:
        await call_repo.record_call_placed(
            s,
            call_id=call_id,
            campaign_id=campaign_id,
            lead_id=lead_id,
            phone=phone,
            dialed_at=datetime.fromtimestamp(at, UTC),
        )
        await call_repo.update_call(
            s,
            record=CallRecord(
                id=call_id,
                campaign_id=campaign_id,
                lead_id=lead_id,
                phone=phone,
                agent_id=None,
                outcome=CallOutcome.MACHINE if amd == "machine" else CallOutcome.HUMAN,
                abandoned=abandoned,
                dialed_at=at,
                answered_at=at + 5,
                bridged_at=None,
                ended_at=at + 8,
            ),
            clock=_Epoch(),
            amd=amd,
        )


async def lead_of(svc: DialerService, campaign_id: str, phone: str) -> str:
    for lead in await svc.list_leads(campaign_id, status=None, limit=100, offset=0):
        if lead.phone == phone:
            return lead.id
    raise AssertionError(f"no lead for {phone}")


async def until(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_a_uk_repeat_after_an_abandoned_call_waits_for_an_agent_of_its_own(
    service: DialerService,
) -> None:
    other = await make_campaign(service, compliance_profile="uk")
    cid = await make_campaign(service, compliance_profile="uk", mode=DialMode.POWER, dial_ratio=3.0)
    number = demo_numbers(1, time.time())[0]
    await service.add_leads(other, [{"phone": number}])
    # Another campaign abandoned this number 10 hours ago: the rule is about the number.
    await past_call(
        service,
        campaign_id=other,
        lead_id=await lead_of(service, other, number),
        phone=number,
        ago_s=10 * 3600,
        abandoned=True,
    )
    await service.add_leads(cid, [{"phone": number}])
    agent, _ = await service.create_agent("uma", [cid])
    phone = Softphone(service, agent.id)
    await phone.connect()
    await service.set_campaign_state(cid, RunState.RUNNING)
    await phone.say(type="ready")
    call = await phone.expect("call")
    record = await service.get_call(call["call_id"])
    assert record.decision == "abandoned_recently:reserved_agent"
    assert record.agent_id == agent.id


async def test_the_per_day_limit_counts_todays_records(service: DialerService) -> None:
    cid = await make_campaign(service, max_attempts_per_day=1)
    number = demo_numbers(1, time.time())[0]
    await service.add_leads(cid, [{"phone": number}])
    await past_call(
        service,
        campaign_id=cid,
        lead_id=await lead_of(service, cid, number),
        phone=number,
        ago_s=600,
    )
    agent, _ = await service.create_agent("pat", [cid])
    phone = Softphone(service, agent.id)
    await phone.connect()
    await phone.say(type="ready")
    await service.set_campaign_state(cid, RunState.RUNNING)

    async def skipped() -> bool:
        return bool(await service.list_skips(cid, since=None, limit=10))

    await until(skipped)
    (skip,) = await service.list_skips(cid, since=None, limit=10)
    assert skip.reason == "max_attempts_per_day" and skip.phone == number
    assert skip.retry_at is not None and skip.retry_at > datetime.now(UTC)
    lead = (await service.list_leads(cid, status=None, limit=10, offset=0))[0]
    # This lead's own count is 0 (its calls were recorded by hand): back as new.
    assert lead.status is LeadStatus.NEW and lead.last_outcome == "skipped:max_attempts_per_day"
    assert (await service.campaign_stats(cid))["dialed"] == 1  # the earlier one only


async def test_a_personal_callback_goes_to_its_agent_only(service: DialerService) -> None:
    cid = await make_campaign(service, state=RunState.RUNNING)
    number = demo_numbers(1, time.time())[0]
    await service.add_leads(cid, [{"phone": number}])
    ada, _ = await service.create_agent("ada", [cid])
    bob, _ = await service.create_agent("bob", [cid])
    ada_phone, bob_phone = Softphone(service, ada.id), Softphone(service, bob.id)
    await ada_phone.connect()
    await bob_phone.connect()
    await ada_phone.say(type="ready")
    first = await ada_phone.expect("call")
    await ada_phone.expect("call_ended")
    soon = datetime.now(UTC) + timedelta(seconds=0.3)
    await ada_phone.say(
        type="disposition",
        call_id=first["call_id"],
        code="callback",
        callback_at=soon,
        personal=True,
    )
    await ada_phone.say(type="pause", reason="lunch")
    lead = (await service.list_leads(cid, status=None, limit=10, offset=0))[0]
    assert lead.status is LeadStatus.CALLBACK and lead.callback_agent_id == ada.id
    await bob_phone.say(type="ready")
    await asyncio.sleep(1.0)  # the callback is due, and bob is free: still not his
    assert service.core.agent_call(bob.id) is None
    await ada_phone.say(type="ready")
    again = await ada_phone.expect("call")
    assert again["lead"]["phone"] == number
    assert (await service.get_call(again["call_id"])).decision == "personal_callback:reserved_agent"


async def test_a_manual_dial_is_gated_like_any_other(service: DialerService) -> None:
    cid = await make_campaign(service, mode=DialMode.PREVIEW, state=RunState.RUNNING)
    number, listed = demo_numbers(2, time.time())
    await service.add_dnc([listed], None)
    agent, _ = await service.create_agent("max", [cid])
    phone = Softphone(service, agent.id)
    await phone.connect()
    await phone.say(type="ready")
    await phone.say(type="dial", phone=listed)  # refused as the gate refuses (was an error)
    refused = await phone.expect("dial_refused")
    assert (refused["reason"], refused["lead_id"]) == ("dnc", None)
    assert all(
        lead.phone != listed
        for lead in await service.list_leads(cid, status=None, limit=10, offset=0)
    )
    await phone.say(type="dial", phone=number)
    call = await phone.expect("call")
    assert call["lead"]["phone"] == number
    record = await service.get_call(call["call_id"])
    assert record.agent_id == agent.id and record.decision == "allowed"
    await phone.say(type="hangup", call_id=call["call_id"])
    await phone.say(type="disposition", call_id=call["call_id"], code="done")
    # A number whose zone is asleep comes back refused, with the gate's reason.
    closed = next(
        n
        for n in ("+81312345678", "+12125550123", "+442079460000", "+61293744000")
        if not _open_now(n)
    )
    await phone.say(type="dial", phone=closed)
    refused = await phone.expect("dial_refused")
    assert refused["reason"] == "outside_calling_hours" and refused["retry_at"]


async def test_a_manual_dial_in_national_form_is_read_in_the_profiles_country(
    service: DialerService,
) -> None:
    cid = await make_campaign(
        service, mode=DialMode.PREVIEW, state=RunState.RUNNING, compliance_profile="uk"
    )
    agent, _ = await service.create_agent("sam", [cid])
    phone = Softphone(service, agent.id)
    await phone.connect()
    await phone.say(type="ready")
    # On a us campaign "020 7946 0000" is no number ("too long for +1").
    await phone.say(type="dial", phone="020 7946 0000")
    if _open_now("+442079460000", "uk"):
        call = await phone.expect("call")
        assert call["lead"]["phone"] == "+442079460000"
    else:
        assert (await phone.expect("dial_refused"))["reason"] == "outside_calling_hours"
    leads = await service.list_leads(cid, status=None, limit=10, offset=0)
    assert [lead.phone for lead in leads] == ["+442079460000"]


def _open_now(number: str, profile: str = "us") -> bool:
    hours = campaign_hours(profile, 8 * 60, 21 * 60)
    return check_calling_hours(time.time(), zones_for_number(number), hours).allowed


async def test_the_abandonment_window_survives_a_restart(db_url: str) -> None:
    from service_testing import telephony

    settings = Settings(database_url=db_url, api_key="k", stats_interval_s=0.1)
    svc = DialerService(settings, telephony=telephony())
    await svc.start()
    try:
        cid = await make_campaign(svc, compliance_profile="uk")
        numbers = demo_numbers(4, time.time())
        await svc.add_leads(cid, [{"phone": n} for n in numbers])
        for i, n in enumerate(numbers):
            lead = await lead_of(svc, cid, n)
            await past_call(
                svc, campaign_id=cid, lead_id=lead, phone=n, ago_s=3600, abandoned=i == 0
            )
        # An abandoned call two days ago is outside the uk window (24 hours).
        await past_call(
            svc, campaign_id=cid, lead_id=lead, phone=numbers[-1], ago_s=2 * 86400, abandoned=True
        )
    finally:
        await svc.stop()
    again = DialerService(settings, telephony=telephony())
    await again.start()
    try:
        stats = await again.campaign_stats(cid)
        assert stats["abandon_window"] == "rolling_24h"
        assert (stats["window_human_answered"], stats["window_abandoned"]) == (4, 1)
        assert stats["abandon_rate_window"] == pytest.approx(0.25)
        assert stats["abandon_rate_30d"] == pytest.approx(2 / 5)
        # 25 % is over the 3 % cap: the core knows it from the records, and paces progressive.
        assert again.core.stats(cid).capped
    finally:
        await again.stop()


async def test_retention_keeps_five_years_and_purges_older(service: DialerService) -> None:
    cid = await make_campaign(service)
    numbers = demo_numbers(2, time.time())
    await service.add_leads(cid, [{"phone": n} for n in numbers])
    old, recent = numbers
    await past_call(
        service,
        campaign_id=cid,
        lead_id=await lead_of(service, cid, old),
        phone=old,
        ago_s=(MIN_RETENTION_DAYS + 3) * 86400,
    )
    await past_call(
        service,
        campaign_id=cid,
        lead_id=await lead_of(service, cid, recent),
        phone=recent,
        ago_s=(MIN_RETENTION_DAYS - 3) * 86400,
    )
    assert await service.purge_old_records() == 1
    page = await service.list_calls(campaign_id=cid, since=None, limit=10, cursor=None)
    assert [c.phone for c in page.items] == [recent]
    with pytest.raises(ValueError, match="retention_days"):
        Settings(retention_days=365)


async def test_the_retention_job_prunes_do_not_call_removals_after_a_day(
    service: DialerService,
) -> None:
    # The rows other processes follow removals by; the numbers' leads and
    # the lists themselves are not the job's.
    first, second = demo_numbers(2, time.time())
    await service.add_dnc([first, second], None)
    await service.remove_dnc(first)
    await service.purge_old_records()  # a fresh removal stays...
    assert [p for p, _, _ in await service.store.dnc_removed_since(0)] == [first]
    await service.remove_dnc(second)
    await service.purge_old_records(datetime.now(UTC) + timedelta(days=1, seconds=1))
    assert await service.store.dnc_removed_since(0) == []  # ...a day-old one goes


async def _registry_body(numbers: list[str]) -> AsyncIterator[bytes]:
    yield "\n".join(numbers).encode()


async def test_a_campaign_without_a_fresh_registry_copy_dials_nothing(
    service: DialerService,
) -> None:
    cid = await make_campaign(service, scrub_national_registry=True, state=RunState.RUNNING)
    numbers = demo_numbers(3, time.time())
    await service.add_leads(cid, [{"phone": n} for n in numbers])
    agent, _ = await service.create_agent("reg", [cid])
    phone = Softphone(service, agent.id)
    await phone.connect()
    await phone.say(type="ready")

    async def blocked() -> bool:
        return bool((await service.campaign_stats(cid))["blocked_reason"] == "registry_missing:us")

    await until(blocked)
    # A copy 40 days old is as good as none.
    stale = (datetime.now(UTC) - timedelta(days=40)).date()
    await service.load_registry("us", _registry_body(numbers[:1]), published_on=stale)

    async def stale_now() -> bool:
        return bool((await service.campaign_stats(cid))["blocked_reason"] == "registry_stale:us")

    await until(stale_now)
    assert (await service.campaign_stats(cid))["dialed"] == 0
    assert service.blocked_reason(cid) == "registry_stale:us"  # GET /campaigns/{id} says so
    # A fresh copy: the campaign dials at once, and never the number on it.
    await service.load_registry("us", _registry_body(numbers[:1]))
    call = await phone.expect("call")
    assert call["lead"]["phone"] != numbers[0]
    assert (await service.campaign_stats(cid))["blocked_reason"] is None


async def test_the_floor_wide_list_reads_national_numbers_in_the_default_region(
    db_url: str,
) -> None:
    from service_testing import telephony

    settings = Settings(database_url=db_url, api_key="k", default_region="gb")
    assert settings.default_region == "GB"
    svc = DialerService(settings, telephony=telephony())
    await svc.start()
    try:
        result = await svc.add_dnc(["020 7946 0018", "415 555 0100"], None)
        # A US number in national form is no GB number: refused by its row.
        assert result.added == 1 and [r.row for r in result.rejected] == [2]
        found = await svc.lookup_dnc("020 7946 0018")
        assert found.phone == "+442079460018" and found.listed
        await svc.remove_dnc("020 7946 0018")
        assert not (await svc.lookup_dnc("+442079460018")).listed
    finally:
        await svc.stop()


def test_an_unknown_default_region_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="'XX' is not a region code"):
        Settings(default_region="XX")
