"""Registry membership: one number, a batch, several registries, against plain Python."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.compliance.gate import ComplianceGate, DncIndex
from dialer.compliance.registry import (
    Registry,
    RegistryCopy,
    RegistryIndex,
    RegistryNumbers,
    e164_to_int,
    int_to_e164,
    phones_to_ints,
)


@pytest.mark.parametrize(
    ("phone", "value"),
    [
        ("+14155550100", 14155550100),
        ("+12", 12),
        ("+999999999999999", 999999999999999),
        ("+0123", None),
        ("+1", None),
        ("14155550100", None),
        ("+1415555010a", None),
        ("+1234567890123456", None),
        ("+١٢٣", None),  # Arabic-Indic digits are digits to str.isdigit, not to E.164
        ("", None),
    ],
)
def test_e164_to_int(phone: str, value: int | None) -> None:
    assert e164_to_int(phone) == value


_values = st.integers(10, 999_999_999_999_999)


@settings(max_examples=200, deadline=None)
@given(st.sets(_values, max_size=300), st.lists(_values, max_size=300))
def test_membership_matches_a_python_set(listed: set[int], probes: list[int]) -> None:
    registry = RegistryNumbers.from_unsorted(listed)
    queries = probes + list(listed)[:50]
    phones = [int_to_e164(v) for v in queries]
    expected = [v in listed for v in queries]
    assert registry.contains_many(phones).tolist() == expected
    assert [p in registry for p in phones] == expected
    assert len(registry) == len(listed)


def test_membership_of_what_is_not_a_number_is_false() -> None:
    registry = RegistryNumbers.from_unsorted([14155550100])
    assert "14155550100" not in registry
    assert 14155550100 not in registry
    assert registry.contains_many(["nope", "+14155550100", ""]).tolist() == [False, True, False]
    empty = RegistryNumbers.from_unsorted([])
    assert "+14155550100" not in empty
    assert empty.contains_many(["+14155550100"]).tolist() == [False]


def test_numbers_must_be_one_dimensional_int64() -> None:
    with pytest.raises(ValueError):
        RegistryNumbers(np.array([1.0]))


def _copy(registry: Registry, values: list[int], published_on: date) -> RegistryCopy:
    return RegistryCopy(registry, RegistryNumbers.from_unsorted(values), published_on)


def test_index_of_several_registries() -> None:
    index = RegistryIndex()
    assert "+14155550100" not in index
    assert index.listed_many(["+14155550100"]).tolist() == [False]
    index.replace(_copy(Registry.US, [14155550100, 442079460000], date(2026, 1, 1)))
    index.replace(_copy(Registry.UK, [442079460000], date(2026, 1, 1)))
    assert "+14155550100" in index
    assert index.listing("+442079460000") == (Registry.US, Registry.UK)
    assert index.listing("+14155550199") == ()
    assert index.listing("garbage") == ()
    phones = ["+14155550100", "+14155550199", "+442079460000", "x"]
    assert index.listed_many(phones).tolist() == [True, False, True, False]
    # A new copy replaces the old whole.
    index.replace(_copy(Registry.US, [14155550199], date(2026, 2, 1)))
    assert index.listed_many(phones).tolist() == [False, True, True, False]


def test_age_in_days_from_the_publication_date() -> None:
    index = RegistryIndex()
    noon = datetime(2026, 3, 2, 12, tzinfo=UTC).timestamp()
    assert index.age_days(Registry.US, noon) is None
    index.replace(_copy(Registry.US, [14155550100], date(2026, 1, 30)))
    assert index.age_days("us", noon) == pytest.approx(31.5)
    assert index.age_days(Registry.CA, noon) is None
    with pytest.raises(ValueError):
        index.age_days("xx", noon)


def test_the_gate_blocks_registry_numbers_for_every_campaign() -> None:
    from dialer.campaign import CampaignSettings, Lead

    dnc = DncIndex()
    # A copy a day old: fresh enough to dial by.
    dnc.registries.replace(_copy(Registry.US, [14155550100], date(2026, 3, 1)))
    gate = ComplianceGate(dnc)
    campaign = CampaignSettings(id="c1")
    noon = datetime(2026, 3, 2, 18, tzinfo=UTC).timestamp()  # 10:00 in California
    blocked = gate.check(Lead(id="l1", campaign_id="c1", phone="+14155550100"), campaign, noon)
    assert (blocked.allowed, blocked.reason) == (False, "dnc")
    other = gate.check(Lead(id="l2", campaign_id="c1", phone="+14155550101"), campaign, noon)
    assert other.allowed
    assert dnc.blocked_many(["+14155550101", "+14155550100"], "c1") == [False, True]


_phone_text = st.one_of(
    st.from_regex(r"\A\+[1-9][0-9]{1,14}\Z"),
    st.from_regex(r"\A\+1[2-9][0-9]{9}\Z"),
    st.text(max_size=18),
    st.text("+0123456789 \n\r\t", max_size=18),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_phone_text, max_size=40))
def test_phones_to_ints_agrees_with_e164_to_int(phones: list[str]) -> None:
    expected = [-1 if (v := e164_to_int(p)) is None else v for p in phones]
    assert phones_to_ints(phones).tolist() == expected


def test_phones_to_ints_in_batches_and_of_one_width() -> None:
    phones = [f"+1415555{i:04d}" for i in range(10_000)]
    assert phones_to_ints(phones).tolist() == [int(p[1:]) for p in phones]
    mixed = [*phones[:3], "+442079460000", "4155550100", "", "+1 415"]
    assert phones_to_ints(mixed).tolist() == [
        *(int(p[1:]) for p in phones[:3]),
        442079460000,
        -1,
        -1,
        -1,
    ]
    assert phones_to_ints([]).tolist() == []


def test_a_big_batch_is_searched_in_sorted_order_and_answered_in_its_own() -> None:
    rng = np.random.default_rng(9)
    listed = rng.integers(10**10, 2 * 10**10, 20_000)
    registry = RegistryNumbers.from_unsorted(listed)
    probes = np.concatenate([rng.integers(10**10, 2 * 10**10, 5000), listed[:5000]])
    rng.shuffle(probes)
    expected = np.isin(probes, listed)
    assert np.array_equal(registry.contains_ints(probes), expected)
    assert np.array_equal(registry.contains_ints(probes[:100]), expected[:100])
