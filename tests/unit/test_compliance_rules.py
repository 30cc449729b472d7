"""Compliance rules, pure: profiles, calling hours across zones and DST, the dial gate.

The property tests check the gate against an oracle written here from the
rules' text (not from the gate's code): a different way of computing the same
answer, minute by minute in each zone with zoneinfo.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from compliance_oracle import ORACLE_DAYS, ZONES, instants, oracle_open
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.campaign import CampaignSettings, Lead, PastAttempt
from dialer.compliance.gate import ComplianceGate, DncIndex
from dialer.compliance.hours import check_calling_hours
from dialer.compliance.phones import normalize_phone, parse_phone
from dialer.compliance.profiles import (
    PROFILES,
    AbandonWindow,
    DailyWindow,
    WeeklyHours,
    campaign_hours,
    check_campaign,
)
from dialer.compliance.registry import Registry, RegistryCopy, RegistryNumbers
from dialer.errors import InvalidInput


# --------------------------------------------------------------- profiles
def test_profiles_carry_the_regulators_figures() -> None:
    us, uk, ca = PROFILES["us"], PROFILES["uk"], PROFILES["ca"]
    assert (us.max_abandon_rate, us.abandon_window) == (0.03, AbandonWindow.ROLLING_30D)
    assert (uk.max_abandon_rate, uk.abandon_window) == (0.03, AbandonWindow.ROLLING_24H)
    assert (ca.max_abandon_rate, ca.abandon_window) == (0.05, AbandonWindow.CALENDAR_MONTH)
    assert uk.abandoned_redial_guard_s == 72 * 3600 and uk.machine_redial_same_day_guard
    assert us.abandoned_redial_guard_s is None and not us.machine_redial_same_day_guard
    assert all(p.min_ring_timeout_s == 15.0 for p in PROFILES.values())
    saturday = datetime(2026, 12, 5).date()
    monday = datetime(2026, 12, 7).date()
    assert ca.hours.on(saturday) == DailyWindow(600, 1080)
    assert ca.hours.on(monday) == DailyWindow(540, 1290)
    assert us.registry_max_age_days == 31 and uk.registry_max_age_days == 28


def _check(**kw: object) -> list[str]:
    base: dict[str, object] = {
        "profile_name": "us",
        "max_abandon_rate": 0.03,
        "ring_timeout_s": 15.0,
        "connect_deadline_s": 2.0,
        "calling_hours_start_min": 8 * 60,
        "calling_hours_end_min": 21 * 60,
        "registry_max_age_days": None,
    }
    base.update(kw)
    return [p.field for p in check_campaign(**base)]  # type: ignore[arg-type]


def test_a_campaign_may_only_tighten_its_profile() -> None:
    assert _check() == []
    assert _check(max_abandon_rate=0.01, ring_timeout_s=30.0, connect_deadline_s=1.0) == []
    assert _check(max_abandon_rate=0.031) == ["max_abandon_rate"]
    assert _check(profile_name="ca", max_abandon_rate=0.05) == ["calling_hours.start"]
    assert (
        _check(
            profile_name="ca",
            max_abandon_rate=0.05,
            calling_hours_start_min=540,
            calling_hours_end_min=1290,
        )
        == []
    )
    assert _check(ring_timeout_s=14.9) == ["ring_timeout_s"]
    assert _check(connect_deadline_s=2.5) == ["connect_deadline_s"]
    assert _check(calling_hours_start_min=7 * 60) == ["calling_hours.start"]
    assert _check(calling_hours_end_min=21 * 60 + 1) == ["calling_hours.end"]
    assert _check(registry_max_age_days=32) == ["registry_max_age_days"]
    assert _check(registry_max_age_days=7) == []
    assert _check(profile_name="xx") == ["compliance_profile"]


def test_weekly_hours_narrow_day_by_day() -> None:
    hours = campaign_hours("ca", 9 * 60, 20 * 60)
    assert hours.on(datetime(2026, 12, 7).date()) == DailyWindow(540, 1200)  # Monday
    assert hours.on(datetime(2026, 12, 6).date()) == DailyWindow(600, 1080)  # Sunday
    evening = campaign_hours("ca", 19 * 60, 21 * 60)
    assert evening.on(datetime(2026, 12, 6).date()) is None  # nothing left on a Sunday
    with pytest.raises(ValueError):
        WeeklyHours((None,) * 6)


# ---------------------------------------------------------- calling hours
def _epoch(text: str, tz: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


def test_hours_follow_daylight_saving() -> None:
    us = campaign_hours("us", 8 * 60, 21 * 60)
    # 2026-03-08: New York springs forward at 02:00. 08:00 local is 12:00 UTC.
    assert check_calling_hours(
        _epoch("2026-03-08T08:00", "America/New_York"), ("America/New_York",), us
    ).allowed
    before = check_calling_hours(
        _epoch("2026-03-08T07:59", "America/New_York"), ("America/New_York",), us
    )
    assert not before.allowed and before.reason == "outside_calling_hours"
    assert before.retry_at == _epoch("2026-03-08T08:00", "America/New_York")
    # After 21:00 the next opening is tomorrow at 08:00: an hour further away
    # when the clocks go back in the night.
    late = check_calling_hours(
        _epoch("2026-10-31T21:30", "America/New_York"), ("America/New_York",), us
    )
    assert late.retry_at == _epoch("2026-11-01T08:00", "America/New_York")
    assert late.retry_at - _epoch("2026-10-31T21:30", "America/New_York") == 10.5 * 3600 + 3600


def test_every_zone_of_a_number_must_be_open() -> None:
    us = campaign_hours("us", 8 * 60, 21 * 60)
    # 08:30 in New York is 05:30 in Los Angeles: not yet.
    at = _epoch("2026-06-01T08:30", "America/New_York")
    verdict = check_calling_hours(at, ("America/New_York", "America/Los_Angeles"), us)
    assert not verdict.allowed
    assert verdict.retry_at == _epoch("2026-06-01T08:00", "America/Los_Angeles")
    # Zones that never share an open minute are never dialed (13 hours apart,
    # a 3-hour window).
    mornings = campaign_hours("us", 9 * 60, 12 * 60)
    never = check_calling_hours(at, ("America/New_York", "Asia/Tokyo"), mornings)
    assert not never.allowed and never.retry_at is None
    assert check_calling_hours(at, (), us).reason == "no_time_zone"
    assert check_calling_hours(at, ("Mars/Olympus",), us).reason.startswith("unknown_time_zone")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    at=instants,
    zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True).map(tuple),
    prof=st.sampled_from(sorted(ORACLE_DAYS)),
    start=st.integers(0, 23 * 60),
    length=st.integers(30, 24 * 60),
)
def test_calling_hours_agree_with_the_oracle(
    at: float, zones: tuple[str, ...], prof: str, start: int, length: int
) -> None:
    end = min(start + length, 24 * 60)
    hours = campaign_hours(prof, start, end)
    verdict = check_calling_hours(at, zones, hours)
    assert verdict.allowed == oracle_open(at, zones, prof, start, end)
    if verdict.allowed or verdict.retry_at is None:
        return
    # The retry instant is open, in the future, and nothing before it was.
    assert verdict.retry_at > at
    assert oracle_open(verdict.retry_at, zones, prof, start, end)
    # Zones hours apart may share an open minute only while their DST dates
    # disagree, weeks away.
    assert verdict.retry_at - at <= 40 * 86400
    t = at
    while t < verdict.retry_at - 60:
        assert not oracle_open(t, zones, prof, start, end), datetime.fromtimestamp(t, UTC)
        t += 15 * 60


# ------------------------------------------------------------------- gate
NOON_NY = _epoch("2026-12-02T12:00", "America/New_York")  # a Wednesday


def campaign(**kw: object) -> CampaignSettings:
    base: dict[str, object] = {"id": "c1", "scrub_national_registry": False}
    base.update(kw)
    return CampaignSettings(**base)  # type: ignore[arg-type]


def lead(**kw: object) -> Lead:
    base: dict[str, object] = {
        "id": "l1",
        "campaign_id": "c1",
        "phone": "+12125550123",
        "timezone": "America/New_York",
    }
    base.update(kw)
    return Lead(**base)  # type: ignore[arg-type]


def test_the_gate_lets_a_clean_lead_through() -> None:
    verdict = ComplianceGate(DncIndex()).check(lead(), campaign(), NOON_NY)
    assert verdict.allowed and not verdict.needs_agent and verdict.reason == "allowed"


def test_dnc_wins_over_everything() -> None:
    dnc = DncIndex()
    dnc.add("+12125550123", "c1")
    gate = ComplianceGate(dnc)
    assert gate.check(lead(), campaign(), NOON_NY).reason == "dnc"
    assert gate.check(lead(campaign_id="c2"), campaign(id="c2"), NOON_NY).allowed
    dnc.add("+12125550123")
    assert gate.check(lead(campaign_id="c2"), campaign(id="c2"), NOON_NY).reason == "dnc"


def test_a_stale_or_missing_registry_blocks_the_campaign() -> None:
    ages: dict[str, float] = {}
    gate = ComplianceGate(DncIndex(), registry_age=lambda reg, _t: ages.get(reg))
    scrubbing = campaign(scrub_national_registry=True)
    missing = gate.check(lead(), scrubbing, NOON_NY)
    assert not missing.allowed and missing.campaign_blocked
    assert missing.reason == "registry_missing:us"
    ages["us"] = 31.5
    assert gate.check(lead(), scrubbing, NOON_NY).reason == "registry_stale:us"
    ages["us"] = 30.0
    assert gate.check(lead(), scrubbing, NOON_NY).allowed
    assert (
        gate.check(lead(), dataclasses.replace(scrubbing, registry_max_age_days=7), NOON_NY).reason
        == "registry_stale:us"
    )
    # A campaign the registry does not cover does not care.
    ages.clear()
    assert gate.check(lead(), campaign(scrub_national_registry=False), NOON_NY).allowed


def test_attempt_limits_lifetime_and_per_local_day() -> None:
    gate = ComplianceGate(DncIndex())
    c = campaign(max_attempts=5, max_attempts_per_day=2)
    assert gate.check(lead(attempts=5), c, NOON_NY).reason == "max_attempts"
    morning = _epoch("2026-12-02T09:00", "America/New_York")
    last_night = _epoch("2026-12-01T20:00", "America/New_York")
    two_today = (PastAttempt(morning, "c1"), PastAttempt(morning + 600, "c1"))
    refused = gate.check(lead(attempts=2, recent=two_today), c, NOON_NY)
    assert refused.reason == "max_attempts_per_day"
    assert refused.retry_at == _epoch("2026-12-03T00:00", "America/New_York")
    # Yesterday's attempts and other campaigns' do not count against today.
    other = (PastAttempt(last_night, "c1"), PastAttempt(morning, "c1"), PastAttempt(morning, "c9"))
    assert gate.check(lead(attempts=3, recent=other), c, NOON_NY).allowed


def test_calling_hours_use_the_leads_zone_then_the_numbers_then_the_assumed_one() -> None:
    gate = ComplianceGate(DncIndex())
    tokyo_night = _epoch("2026-12-02T23:00", "Asia/Tokyo")
    assert (
        gate.check(lead(timezone="Asia/Tokyo"), campaign(), tokyo_night).reason
        == "outside_calling_hours"
    )
    # No zone of its own: the number's (+81 is Japan).
    assert (
        gate.check(lead(timezone=None, phone="+81312345678"), campaign(), tokyo_night).reason
        == "outside_calling_hours"
    )
    assert gate.check(
        lead(timezone=None, phone="+81312345678"), campaign(), tokyo_night - 4 * 3600
    ).allowed
    # A number nobody can place (a satellite service) needs an assumed zone.
    unplaced = lead(timezone=None, phone="+881612345678")
    assert gate.check(unplaced, campaign(), NOON_NY).reason == "no_time_zone"
    assert gate.check(unplaced, campaign(assume_time_zone="America/New_York"), NOON_NY).allowed


def test_uk_repeat_calls_need_a_reserved_agent() -> None:
    gate = ComplianceGate(DncIndex())
    uk = campaign(compliance_profile="uk")
    london = lead(phone="+442079460000", timezone="Europe/London")
    noon = _epoch("2026-12-02T12:00", "Europe/London")
    abandoned = PastAttempt(noon - 71 * 3600, "c7", abandoned=True)  # another campaign's
    verdict = gate.check(dataclasses.replace(london, recent=(abandoned,)), uk, noon)
    assert verdict.allowed and verdict.needs_agent and verdict.agent_id is None
    assert verdict.reason == "abandoned_recently"
    old = PastAttempt(noon - 73 * 3600, "c1", abandoned=True)
    assert not gate.check(dataclasses.replace(london, recent=(old,)), uk, noon).needs_agent
    machine_today = PastAttempt(noon - 3 * 3600, "c1", amd_machine=True)
    machine_yesterday = PastAttempt(noon - 20 * 3600, "c1", amd_machine=True)
    assert (
        gate.check(dataclasses.replace(london, recent=(machine_today,)), uk, noon).reason
        == "amd_machine_today"
    )
    assert not gate.check(
        dataclasses.replace(london, recent=(machine_yesterday,)), uk, noon
    ).needs_agent
    # The us profile has neither rule.
    assert not gate.check(
        dataclasses.replace(london, recent=(abandoned, machine_today)), campaign(), noon
    ).needs_agent


def test_a_personal_callback_waits_for_its_agent_then_anyone() -> None:
    gate = ComplianceGate(DncIndex())
    c = campaign(personal_callback_wait_s=1800.0)
    due = lead(callback_at=NOON_NY - 600, callback_agent_id="ada")
    verdict = gate.check(due, c, NOON_NY)
    assert verdict.allowed and verdict.needs_agent and verdict.agent_id == "ada"
    later = gate.check(due, c, NOON_NY + 1800)
    assert later.allowed and not later.needs_agent
    # A callback booked for outside calling hours still waits for them.
    night = lead(callback_at=NOON_NY + 11 * 3600, callback_agent_id="ada")
    assert gate.check(night, c, NOON_NY + 11 * 3600).reason == "outside_calling_hours"


# ------------------------------------------------------ the gate, properties
past_attempts = st.lists(
    st.builds(
        PastAttempt,
        at=st.floats(min_value=-4 * 86400.0, max_value=0.0),
        campaign_id=st.sampled_from(["c1", "c2"]),
        abandoned=st.booleans(),
        amd_machine=st.booleans(),
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(
    at=instants,
    prof=st.sampled_from(sorted(PROFILES)),
    zone_name=st.sampled_from(ZONES),
    attempts=st.integers(0, 6),
    recent=past_attempts,
    max_attempts=st.integers(1, 5),
    per_day=st.integers(1, 4),
    listed=st.sampled_from(["none", "internal", "campaign", "other campaign"]),
)
def test_the_gate_never_allows_what_a_rule_forbids(
    at: float,
    prof: str,
    zone_name: str,
    attempts: int,
    recent: list[PastAttempt],
    max_attempts: int,
    per_day: int,
    listed: str,
) -> None:
    dnc = DncIndex()
    phone = "+12125550123"
    if listed == "internal":
        dnc.add(phone)
    elif listed == "campaign":
        dnc.add(phone, "c1")
    elif listed == "other campaign":
        dnc.add(phone, "c2")
    start, end = {"ca": (540, 1290)}.get(prof, (480, 1260))
    c = campaign(
        compliance_profile=prof,
        max_abandon_rate=PROFILES[prof].max_abandon_rate,
        max_attempts=max_attempts,
        max_attempts_per_day=per_day,
        calling_hours_start_min=start,
        calling_hours_end_min=end,
    )
    history = tuple(dataclasses.replace(a, at=at + a.at) for a in recent)
    the_lead = lead(timezone=zone_name, attempts=attempts, recent=history)
    verdict = ComplianceGate(dnc).check(the_lead, c, at)
    if not verdict.allowed:
        return
    # Whatever got through breaks no rule, checked from scratch.
    assert listed in ("none", "other campaign")
    assert attempts < max_attempts
    tz = ZoneInfo(zone_name)
    today = datetime.fromtimestamp(at, tz).date()
    same_day = [
        a
        for a in history
        if a.campaign_id == "c1" and datetime.fromtimestamp(a.at, tz).date() == today
    ]
    assert len(same_day) < per_day
    assert oracle_open(at, (zone_name,), prof, start, end)
    if prof == "uk":
        recent_abandon = any(a.abandoned and at - a.at < 72 * 3600 for a in history)
        machine_today = any(
            a.amd_machine and datetime.fromtimestamp(a.at, tz).date() == today for a in history
        )
        if recent_abandon or machine_today:
            assert verdict.needs_agent


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "phone is empty"),
        ("nope", "not a phone number"),
        ("+1415555", "not a valid number: too short for +1"),
        ("+14155550123999", "not a valid number: too long for +1"),
        ("+44123", "not a valid number: too short for +44"),
        ("+11235550123", "not a valid number: no such number range is assigned under +1"),
    ],
)
def test_a_number_that_is_not_one_says_what_is_wrong(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_phone(raw)
    assert str(err.value).startswith(reason)


def test_a_number_is_normalised_to_e164() -> None:
    assert normalize_phone(" (415) 555-0123 ") == "+14155550123"
    assert normalize_phone("+44 20 7946 0000") == "+442079460000"


@pytest.mark.parametrize(
    ("raw", "extension"),
    [
        ("+1 415 555 0123 x12", "12"),
        ("(415) 555-0123 ext. 7", "7"),
        ("+14155550123", None),
        # A marker with no digits after it is no extension at all.
        ("+14155550123x", None),
    ],
)
def test_an_extension_is_split_off_the_number_dialed(raw: str, extension: str | None) -> None:
    assert parse_phone(raw) == ("+14155550123", extension)
    assert normalize_phone(raw) == "+14155550123"


def test_a_registry_number_is_called_only_by_campaigns_the_registry_does_not_cover() -> None:
    """Before, scrub_national_registry false only skipped the registry's age
    check: its numbers were still refused (as "dnc", the lead marked so),
    though the campaign had said the registry does not cover its calls."""
    dnc = DncIndex()
    dnc.registries.replace(
        RegistryCopy(
            Registry.US, RegistryNumbers.from_unsorted([12125550123]), datetime.now(UTC).date()
        )
    )
    gate = ComplianceGate(dnc, registry_age=lambda _reg, _t: 1.0)
    assert gate.check(lead(), campaign(scrub_national_registry=True), NOON_NY).reason == "dnc"
    assert gate.check(lead(), campaign(scrub_national_registry=False), NOON_NY).allowed
    # The internal lists bind every campaign.
    dnc.add("+12125550123", "c1")
    assert gate.check(lead(), campaign(scrub_national_registry=False), NOON_NY).reason == "dnc"
    assert dnc.blocked_many(["+12125550123", "+12125550124"], "c9", registries=False) == [
        False,
        False,
    ]
    assert dnc.blocked_many(["+12125550123"], "c9") == [True]
