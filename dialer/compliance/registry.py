"""National do-not-call registries: which there are, and membership in a loaded copy.

A registry copy is held as a sorted, de-duplicated ``int64`` array of the
numbers' E.164 digits (``+14155550100`` is ``14155550100``): 8 bytes a number,
so 50 million fit in 400 MB, and membership is a binary search. E.164 numbers
start with a non-zero digit and have at most 15 digits, so the integer names
exactly one number and fits in 63 bits. Files are parsed into such arrays by
:mod:`dialer.compliance.registry_file`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final

import numpy as np
import numpy.typing as npt

from dialer.compliance.registry_file import MAX_DIGITS, e164_lines_to_ints

__all__ = [
    "NATIONAL_COUNTRY_CODE",
    "Registry",
    "RegistryCopy",
    "RegistryIndex",
    "RegistryNumbers",
    "copy_age_days",
    "e164_to_int",
    "int_to_e164",
    "phones_to_ints",
]

Int64Array = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class Registry(enum.StrEnum):
    """Which national list a copy is of: the compliance profile it serves."""

    US = "us"  # US National Do Not Call Registry (FTC)
    UK = "uk"  # UK Telephone Preference Service (TPS)
    CA = "ca"  # Canada's National Do Not Call List (CRTC)


# The country code a registry's national lines get (registry_file knows the
# national form of each). The NANP registries publish ten digits; the TPS
# publishes numbers with the UK trunk 0. A 10-digit line is a NANP number in a
# US file and a UK one in a TPS file: read it as the other would block the
# wrong person and miss the right one.
NATIONAL_COUNTRY_CODE: Final[dict[Registry, int | None]] = {
    Registry.US: 1,
    Registry.CA: 1,
    Registry.UK: 44,
}


def e164_to_int(phone: str) -> int | None:
    """``+14155550100`` -> ``14155550100``; None for anything not E.164."""
    if len(phone) < 3 or len(phone) > MAX_DIGITS + 1 or phone[0] != "+":
        return None
    digits = phone[1:]
    if not (digits.isascii() and digits.isdigit()) or digits[0] == "0":
        return None
    return int(digits)


def int_to_e164(value: int) -> str:
    return f"+{value}"


_PHONES_AT_ONCE: Final = 1 << 19


def phones_to_ints(phones: Sequence[str]) -> Int64Array:
    """E.164 strings as int64, as :func:`e164_to_int` would; -1 (on no registry) for the rest.

    Vectorised: the strings are joined into lines and parsed as a registry
    file is, E.164 only. Strings the line parser could not tell apart from
    their neighbours (a newline inside one) or would strip (spaces) go the
    slow way, one by one.
    """
    out = np.full(len(phones), -1, dtype=np.int64)
    for start in range(0, len(phones), _PHONES_AT_ONCE):
        batch = phones[start : start + _PHONES_AT_ONCE]
        out[start : start + len(batch)] = _phones_batch(batch)
    return out


def _one_by_one(phones: Sequence[str]) -> Int64Array:
    values = (e164_to_int(p) if isinstance(p, str) else None for p in phones)
    return np.fromiter((-1 if v is None else v for v in values), np.int64, count=len(phones))


def _phones_batch(phones: Sequence[str]) -> Int64Array:
    try:
        text = "\n".join(phones).encode("utf-8")
    except (TypeError, UnicodeEncodeError):
        return _one_by_one(phones)
    lines_apart = text.count(b"\n") == len(phones) - 1
    if not text or not lines_apart or any(c in text for c in (b" ", b"\t", b"\r")):
        return _one_by_one(phones)
    return e164_lines_to_ints(text, len(phones))


_SORT_KEYS_FROM: Final = 1024


def _search(numbers: Int64Array, values: Int64Array) -> BoolArray:
    at = np.searchsorted(numbers, values)
    np.minimum(at, numbers.size - 1, out=at)
    found: BoolArray = numbers[at] == values
    return found


class RegistryNumbers:
    """An immutable sorted set of numbers (int64 E.164 digits)."""

    __slots__ = ("_numbers",)

    def __init__(self, sorted_unique: Int64Array) -> None:
        """Takes the array as is: sorted and unique, as the parser and storage give it."""
        if sorted_unique.dtype != np.int64 or sorted_unique.ndim != 1:
            raise ValueError("registry numbers are a 1-D int64 array")
        view = sorted_unique.view()
        view.flags.writeable = False
        self._numbers = view

    @classmethod
    def from_unsorted(cls, values: Iterable[int] | Int64Array) -> RegistryNumbers:
        array = np.asarray(values if isinstance(values, np.ndarray) else list(values), np.int64)
        return cls(np.unique(array))

    @property
    def array(self) -> Int64Array:
        """The sorted numbers (read-only)."""
        return self._numbers

    def __len__(self) -> int:
        return int(self._numbers.size)

    def __contains__(self, phone: object) -> bool:
        if not isinstance(phone, str):
            return False
        value = e164_to_int(phone)
        return value is not None and self.contains_int(value)

    def contains_int(self, value: int) -> bool:
        numbers = self._numbers
        i = int(np.searchsorted(numbers, value))
        return i < numbers.size and int(numbers[i]) == value

    def contains_ints(self, values: Int64Array) -> BoolArray:
        """Membership of each of ``values``, in their order, in one vectorised search.

        A big batch is searched in sorted order: each search then starts where
        the last one ended and walks memory forwards, which for a registry
        far larger than the CPU caches is several times faster than probing
        it in the leads' own order, sort included (benchmarks/RESULTS.md).
        """
        numbers = self._numbers
        if numbers.size == 0 or values.size == 0:
            return np.zeros(values.shape, dtype=np.bool_)
        if values.size < _SORT_KEYS_FROM:
            return _search(numbers, values)
        order = np.argsort(values)
        found = np.empty(values.shape, dtype=np.bool_)
        found[order] = _search(numbers, values[order])
        return found

    def contains_many(self, phones: Sequence[str]) -> BoolArray:
        return self.contains_ints(phones_to_ints(phones))


@dataclass(frozen=True, slots=True)
class RegistryCopy:
    """The loaded copy of one registry, and the date it was published or downloaded."""

    registry: Registry
    numbers: RegistryNumbers
    published_on: date
    version: str = ""  # who made it, e.g. the storage's load id

    def age_days(self, wall_epoch: float) -> float:
        return copy_age_days(self.published_on, wall_epoch)


def copy_age_days(published_on: date, wall_epoch: float) -> float:
    """Days from the start (UTC) of ``published_on`` to ``wall_epoch``.

    A copy dated today is between 0 and 1 day old; "older than 31 days" is
    ``copy_age_days(...) > 31``.
    """
    start = datetime(published_on.year, published_on.month, published_on.day, tzinfo=UTC)
    return (wall_epoch - start.timestamp()) / 86400.0


class RegistryIndex:
    """The loaded copy of each registry; a number on any of them is not called.

    A copy is replaced whole (:meth:`replace`), so a reader always sees one
    complete copy or the other, never a mix.
    """

    __slots__ = ("_copies",)

    def __init__(self) -> None:
        self._copies: dict[Registry, RegistryCopy] = {}

    def replace(self, copy: RegistryCopy) -> None:
        self._copies[copy.registry] = copy

    def copy_of(self, registry: Registry | str) -> RegistryCopy | None:
        return self._copies.get(Registry(registry))

    def copies(self) -> tuple[RegistryCopy, ...]:
        return tuple(self._copies[r] for r in Registry if r in self._copies)

    def __contains__(self, phone: object) -> bool:
        if not self._copies or not isinstance(phone, str):
            return False
        value = e164_to_int(phone)
        if value is None:
            return False
        return any(c.numbers.contains_int(value) for c in self._copies.values())

    def listing(self, phone: str) -> tuple[Registry, ...]:
        """The registries that list ``phone``, in :class:`Registry` order."""
        value = e164_to_int(phone)
        if value is None:
            return ()
        return tuple(c.registry for c in self.copies() if c.numbers.contains_int(value))

    def listed_many(self, phones: Sequence[str]) -> BoolArray:
        """For each of ``phones``, whether any registry lists it (vectorised)."""
        listed = np.zeros(len(phones), dtype=np.bool_)
        if not self._copies or not phones:
            return listed
        values = phones_to_ints(phones)
        for copy in self._copies.values():
            listed |= copy.numbers.contains_ints(values)
        return listed

    def age_days(self, registry: Registry | str, wall_epoch: float) -> float | None:
        """How old the copy of ``registry`` is at ``wall_epoch``; None if none is loaded."""
        copy = self.copy_of(registry)
        return None if copy is None else copy.age_days(wall_epoch)
