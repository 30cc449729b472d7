"""National registries in the running service: load, scrub, never dial, survive a restart."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from dialer.campaign import CampaignSettings, DialMode, RunState
from dialer.errors import ConflictError, InvalidInput
from dialer.runtime.demo import demo_numbers
from dialer.runtime.service import DialerService
from dialer.runtime.settings import Settings
from simulator.distributions import parse_distribution
from simulator.telephony import CalleeBehaviour, SimulatedTelephony


def busy_lines() -> SimulatedTelephony:
    """Every call is busy at once: an agent stays ready and leads go by fast."""
    fixed = parse_distribution({"dist": "fixed", "value": 0.05})
    return SimulatedTelephony(
        CalleeBehaviour(
            human=0.0,
            machine=0.0,
            busy=1.0,
            invalid=0.0,
            answer_delay_s=fixed,
            fail_delay_s=fixed,
            talk_s=fixed,
            machine_talk_s=fixed,
        ),
        seed=3,
    )


def new_service(db_url: str, **overrides: Any) -> DialerService:
    settings = Settings(database_url=db_url, api_key="secret", stats_interval_s=0.1, **overrides)
    return DialerService(settings, telephony=busy_lines())


@asynccontextmanager
async def running(db_url: str, **overrides: Any) -> AsyncIterator[DialerService]:
    """A started service (one process), stopped on the way out."""
    svc = new_service(db_url, **overrides)
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()


@pytest.fixture
async def service(db_url: str) -> AsyncIterator[DialerService]:
    async with running(db_url) as svc:
        yield svc


async def pieces(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    """``data`` as an upload arrives: in pieces that cut lines anywhere."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def registry_file(phones: list[str]) -> bytes:
    """US registry layout: 10 digits a line for +1 numbers, E.164 for the rest."""
    lines = [p[2:] if p.startswith("+1") else p for p in phones]
    return ("\r\n".join(lines) + "\r\n").encode()


async def make_campaign(svc: DialerService, **kw: Any) -> str:
    settings = CampaignSettings(
        id=str(uuid.uuid4()),
        name=f"c-{uuid.uuid4().hex[:6]}",
        mode=DialMode.PROGRESSIVE,
        safe_harbor_message="ACME calling",
        **kw,
    )
    return (await svc.create_campaign(settings)).id


US = ["+14155550100", "+12125550101", "+13105550102"]


async def test_a_load_blocks_its_numbers_for_every_campaign(service: DialerService) -> None:
    data = b"phone\n4155550100\n2125550101\n+13105550102\nnot-a-number\n\n4155550100\n"
    result = await service.load_registry("us", pieces(data), published_on=date(2026, 11, 2))
    assert result.load.count == 3 and result.load.duplicates == 1
    assert [(r.line, r.text) for r in result.rejected] == [(5, "not-a-number")]
    assert result.rejected_count == 1 and result.header == "phone"
    assert result.load.name == "us registry 2026-11-02"
    found = await service.lookup_dnc("(415) 555-0100")
    assert (found.listed, found.scopes, found.registries) == (True, ("registry",), ("us",))
    assert not (await service.lookup_dnc("+14155550199")).listed
    for _ in range(2):
        cid = await make_campaign(service)
        rows = [{"phone": p} for p in [*US, "+14155550199"]]
        loaded = await service.add_leads(cid, rows)
        assert (loaded.accepted, loaded.dnc) == (1, 3)


async def test_a_number_on_two_lists_shows_both(service: DialerService) -> None:
    await service.load_registry("us", pieces(registry_file(US)))
    await service.add_dnc([US[0]], None)
    found = await service.lookup_dnc(US[0])
    assert found.scopes == ("internal", "registry")
    await service.remove_dnc(US[0])  # off the internal list: the registry still has it
    assert (await service.lookup_dnc(US[0])).scopes == ("registry",)
    cid = await make_campaign(service)
    assert (await service.add_leads(cid, [{"phone": US[0]}])).dnc == 1


async def test_off_the_internal_list_a_registry_number_stays_stopped_where_scrubbed(
    service: DialerService,
) -> None:
    scrubbed = await make_campaign(service)
    unscrubbed = await make_campaign(service, scrub_national_registry=False)
    for cid in (scrubbed, unscrubbed):
        assert (await service.add_leads(cid, [{"phone": US[0]}])).accepted == 1
    await service.load_registry("us", pieces(registry_file(US)))
    await service.add_dnc([US[0]], None)
    assert await service.remove_dnc(US[0]) == 1
    (kept,) = await service.list_leads(scrubbed, status=None, limit=5, offset=0)
    (lifted,) = await service.list_leads(unscrubbed, status=None, limit=5, offset=0)
    assert (kept.status.value, lifted.status.value) == ("dnc", "new")


async def test_a_big_lead_batch_is_scrubbed_in_one_search(service: DialerService) -> None:
    listed = [f"+1415555{i:04d}" for i in range(2000, 4000)]
    await service.load_registry("us", pieces(registry_file(listed), 4096))
    cid = await make_campaign(service)
    rows = [{"phone": f"+1415555{i:04d}"} for i in range(3000, 6000)]  # over 500: off the loop
    loaded = await service.add_leads(cid, rows)
    assert (loaded.accepted, loaded.dnc, loaded.rejected) == (2000, 1000, ())


async def test_a_registry_number_is_never_dialed(service: DialerService) -> None:
    """Leads loaded before the registry copy are stopped by the gate just before dialing."""
    numbers = demo_numbers(6, time.time(), seed=11)
    cid = await make_campaign(service, state=RunState.RUNNING)
    assert (await service.add_leads(cid, [{"phone": n} for n in numbers])).accepted == 6
    blocked = set(numbers[::2])
    await service.load_registry("us", pieces(registry_file(sorted(blocked))))
    agent, _ = await service.create_agent("ada", [cid])
    session = await service.agent_connected(agent.id, _ignore)
    await service.agent_message(agent.id, {"type": "ready"})
    for _ in range(200):
        leads = await service.list_leads(cid, status=None, limit=10, offset=0)
        if all(lead.status.value != "new" and lead.last_outcome for lead in leads):
            break
        await asyncio.sleep(0.05)
    by_phone = {lead.phone: lead for lead in leads}
    for phone in blocked:
        assert by_phone[phone].status.value == "dnc"
        assert by_phone[phone].last_outcome == "skipped:dnc"
    calls = await service.list_calls(campaign_id=cid, since=None, limit=100, cursor=None)
    dialed = {call.phone for call in calls.items}
    assert dialed == set(numbers) - blocked
    await service.agent_disconnected(agent.id, session)


async def _ignore(message: dict[str, Any]) -> None:
    return None


async def test_a_restarted_service_still_blocks_the_copy(db_url: str) -> None:
    async with running(db_url) as first:
        await first.load_registry("us", pieces(registry_file(US)), published_on=date(2026, 10, 1))
    async with running(db_url) as again:
        assert (await again.lookup_dnc(US[1])).registries == ("us",)
        cid = await make_campaign(again)
        assert (await again.add_leads(cid, [{"phone": p} for p in US])).dnc == 3
        noon = datetime(2026, 10, 11, 12, tzinfo=UTC).timestamp()
        assert again.registry_age_days("us", noon) == pytest.approx(10.5)


async def test_a_second_process_picks_up_a_new_copy(db_url: str) -> None:
    async with (
        running(db_url) as one,
        running(db_url, registry_refresh_s=0.05) as two,
    ):
        await one.load_registry("us", pieces(registry_file(US[:1])))
        for _ in range(100):
            if (await two.lookup_dnc(US[0])).listed:
                break
            await asyncio.sleep(0.05)
        assert (await two.lookup_dnc(US[0])).registries == ("us",)
        await one.load_registry("us", pieces(registry_file(US[1:])))
        # The second process's own loop (every 50 ms) picks the new copy up.
        for _ in range(100):
            if (await two.lookup_dnc(US[2])).listed:
                break
            await asyncio.sleep(0.05)
        assert (await two.lookup_dnc(US[2])).listed
        assert not (await two.lookup_dnc(US[0])).listed
        assert await two.registries.refresh() == []  # nothing new: nothing read


async def test_the_old_copy_blocks_until_the_new_one_commits(
    service: DialerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    await service.load_registry("us", pieces(registry_file(US[:1])))
    stored = asyncio.Event()
    release = asyncio.Event()
    replace = service.store.replace_registry

    async def slow_replace(*args: Any, **kwargs: Any) -> Any:
        stored.set()
        await release.wait()
        return await replace(*args, **kwargs)

    monkeypatch.setattr(service.store, "replace_registry", slow_replace)
    load = asyncio.create_task(service.load_registry("us", pieces(registry_file(US[1:]))))
    await stored.wait()
    # Parsed, not yet committed: the copy in force is still the old one.
    cid = await make_campaign(service)
    loaded = await service.add_leads(cid, [{"phone": p} for p in US])
    assert (loaded.accepted, loaded.dnc) == (2, 1)
    with pytest.raises(ConflictError, match="loading already"):
        await service.load_registry("us", pieces(b"4155550100\n"))
    release.set()
    await load
    assert (await service.lookup_dnc(US[0])).listed is False
    assert (await service.lookup_dnc(US[2])).listed is True


async def test_a_failed_store_keeps_the_old_copy(
    service: DialerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    await service.load_registry("us", pieces(registry_file(US[:1])))

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("database went away")

    monkeypatch.setattr(service.store, "replace_registry", broken)
    with pytest.raises(OSError):
        await service.load_registry("us", pieces(registry_file(US[1:])))
    assert (await service.lookup_dnc(US[0])).listed
    assert not (await service.lookup_dnc(US[1])).listed


async def test_bad_loads_change_nothing(service: DialerService) -> None:
    await service.load_registry("us", pieces(registry_file(US[:1])))
    tomorrow_but_one = datetime.now(UTC).date() + timedelta(days=2)
    cases: list[tuple[dict[str, Any], bytes, str]] = [
        ({"registry": "xx"}, b"4155550100\n", "registry"),
        ({"registry": "us", "published_on": tomorrow_but_one}, b"4155550100\n", "published_on"),
        ({"registry": "us", "name": " "}, b"4155550100\n", "name"),
        ({"registry": "us"}, b"", "body"),
        ({"registry": "us"}, b"phone\nnope\n\n", "body"),
        # A 10-digit NANP line is not a UK number: the TPS's have the trunk 0.
        ({"registry": "uk"}, b"2079460000\n", "body"),
    ]
    for kwargs, data, field in cases:
        registry = kwargs.pop("registry")
        with pytest.raises(InvalidInput) as caught:
            await service.load_registry(registry, pieces(data), **kwargs)
        assert caught.value.field == field, (registry, kwargs)
    loads = await service.list_registry_loads()
    assert [(x.registry.value, x.count) for x in loads] == [("us", 1)]
    assert (await service.lookup_dnc(US[0])).listed
    with pytest.raises(InvalidInput):
        service.registry_age_days("xx")
    with pytest.raises(InvalidInput):
        await service.list_registry_loads("xx")


async def test_each_registry_has_its_own_copy_and_age(service: DialerService) -> None:
    assert service.registry_age_days("us") is None
    await service.load_registry("us", pieces(b"4155550100\n"), published_on=date(2026, 9, 1))
    await service.load_registry("uk", pieces(b"+442079460000\n"), published_on=date(2026, 9, 20))
    await service.load_registry("us", pieces(b"4155550101\n"), published_on=date(2026, 10, 1))
    noon = datetime(2026, 10, 2, 12, tzinfo=UTC).timestamp()
    assert service.registry_age_days("us", noon) == pytest.approx(1.5)
    assert service.registry_age_days("uk", noon) == pytest.approx(12.5)
    assert service.registry_age_days("ca", noon) is None
    assert (await service.lookup_dnc("+442079460000")).registries == ("uk",)
    loads = await service.list_registry_loads()
    assert [(x.registry.value, x.published_on.day, x.current) for x in loads] == [
        ("us", 1, True),
        ("uk", 20, True),
        ("us", 1, False),
    ]
    assert [x.registry.value for x in await service.list_registry_loads("uk")] == ["uk"]


async def test_the_demo_never_replaces_a_copy_the_user_loaded(db_url: str) -> None:
    """--demo loads its stand-in registry only over nothing or over its own stale stand-in."""
    stale = (datetime.now(UTC) - timedelta(days=40)).date()
    user = [f"+1415555{i:04d}" for i in range(2000, 2100)]
    async with running(db_url) as first:
        await first.load_registry("us", pieces(registry_file(user), 4096), published_on=stale)
    async with running(db_url, demo=True, demo_agents=1) as demo:
        [current] = await demo.list_registry_loads("us", limit=1)
        assert current.published_on == stale and current.count == 100
        assert (await demo.lookup_dnc(user[0])).scopes == ("registry",)
    # The demo's own stand-in, gone stale, is refreshed.
    async with running(db_url) as again:
        numbers = [f"+1415555{i:04d}" for i in range(3000, 3010)]
        await again.load_registry(
            "us",
            pieces(registry_file(numbers)),
            name="demo registry",
            published_on=stale,
            allow_shrink=True,
        )
    async with running(db_url, demo=True, demo_agents=1) as demo:
        [current] = await demo.list_registry_loads("us", limit=1)
        assert current.name == "demo registry" and current.published_on > stale


async def test_the_demo_serves_when_its_campaign_was_made_unable_to_run(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A user who paused the demo campaign and cleared its safe-harbor message
    (so it may not start) still gets a service on the next start, told why."""
    async with running(db_url, demo=True, demo_agents=1) as demo:
        [campaign] = await demo.list_campaigns()
        await demo.set_campaign_state(campaign.id, RunState.PAUSED)
        await demo.update_campaign(campaign.id, {"safe_harbor_message": "", "caller_id": None})
    caplog.set_level("WARNING", logger="dialer")
    async with running(db_url, demo=True, demo_agents=1) as again:
        stored = await again.get_campaign(campaign.id)
        assert stored.settings.state is RunState.PAUSED
        assert (await again.campaign_stats(campaign.id))["state"] == "paused"
        with pytest.raises(InvalidInput, match="safe_harbor_message"):
            await again.set_campaign_state(campaign.id, RunState.RUNNING)
    assert any(
        campaign.id in r.getMessage() and "cannot be started" in r.getMessage()
        for r in caplog.records
    )


async def test_a_demo_agent_deleted_takes_its_bot_with_it(db_url: str) -> None:
    """Before, the demo bots had no close callback: a deleted demo agent's bot
    lived on (waiting on a socket the service had dropped)."""
    async with running(db_url, demo=True, demo_agents=1) as demo:
        assert demo._demo is not None
        [bot] = demo._demo._tasks
        [campaign] = await demo.list_campaigns()
        await demo.set_campaign_state(campaign.id, RunState.PAUSED)  # no call under way
        [view] = await demo.list_agents()
        for _ in range(200):  # its bot is connected, and its call (if one was on) over
            if demo.hub.connected(view.agent.id) and demo.core.agent_call(view.agent.id) is None:
                break
            await asyncio.sleep(0.05)
        assert demo.hub.connected(view.agent.id)
        await demo.delete_agent(view.agent.id)
        async with asyncio.timeout(5):
            await asyncio.shield(bot)  # it ends by itself
        assert not demo.hub.connected(view.agent.id)
