"""fast_init: events, commands and leads build exactly as plain frozen dataclasses do."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from dialer import commands, events
from dialer.calls import CallRecord
from dialer.campaign import Lead
from dialer.frozen import fast_init

CLASSES = [
    getattr(module, name)
    for module in (events, commands)
    for name in module.__all__
    if dataclasses.is_dataclass(getattr(module, name))
] + [Lead, CallRecord]


def _reference(cls: type) -> Any:
    """The same fields through dataclasses' own generated ``__init__``."""
    fields = [
        (f.name, f.type, dataclasses.field(default=f.default, default_factory=f.default_factory))
        for f in dataclasses.fields(cls)
    ]
    return dataclasses.make_dataclass(cls.__name__, fields, frozen=True, slots=True)


def _arguments(cls: type) -> list[object]:
    return [
        f"v{i}"
        for i, f in enumerate(dataclasses.fields(cls))
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_signature_and_values_match_the_generated_init(cls: type) -> None:
    ref = _reference(cls)
    assert str(inspect.signature(cls)) == str(inspect.signature(ref))
    args = _arguments(cls)
    built, expected = cls(*args), ref(*args)
    assert dataclasses.astuple(built) == dataclasses.astuple(expected)
    everything = [f"w{i}" for i in range(len(dataclasses.fields(cls)))]
    assert dataclasses.astuple(cls(*everything)) == tuple(everything)
    names = [f.name for f in dataclasses.fields(cls)]
    assert dataclasses.astuple(cls(**dict(zip(names, everything, strict=True)))) == tuple(
        everything
    )


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_still_frozen_and_slotted(cls: type) -> None:
    obj = cls(*_arguments(cls))
    first = dataclasses.fields(cls)[0].name if dataclasses.fields(cls) else "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, first, "changed")
    assert not hasattr(obj, "__dict__")


def test_default_factories_make_a_fresh_value_each_time() -> None:
    assert events.Tick().data == {}
    assert events.Tick().data is not events.Tick().data
    assert Lead("l", "c", "+1").data is not Lead("l", "c", "+1").data


def test_missing_arguments_raise_as_before() -> None:
    with pytest.raises(TypeError):
        commands.PlaceCall("c1")  # type: ignore[call-arg]


def test_refuses_what_it_cannot_mirror() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    for cls in (NoSlots, PostInit):
        with pytest.raises(TypeError):
            fast_init(cls)
