"""Phone numbers: normalisation to E.164 and the time zones a number may be in.

phonenumbers (the full package: its lite twin has no zone data) does the work.
A number that cannot be parsed, or is not a valid number for its region, is
refused with a reason a person can act on; it is never dialed. An extension
(``+1 415 555 0100 x 12``) is not part of the number dialed: it is split off,
for a lead to keep in its data (the agent dials it by hand).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

import phonenumbers
from phonenumbers import timezone as phone_zones

from dialer.errors import InvalidInput

__all__ = ["normalize_phone", "parse_phone", "zones_for_number"]

_UNKNOWN_ZONE = "Etc/Unknown"


def normalize_phone(raw: str, default_region: str = "US") -> str:
    """``raw`` as E.164 (``+14155552671``); InvalidInput says why it is not a number."""
    return parse_phone(raw, default_region)[0]


def parse_phone(raw: str, default_region: str = "US") -> tuple[str, str | None]:
    """``raw`` as E.164 and its extension (None when it has none); InvalidInput as above."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise InvalidInput("phone is empty", field="phone")
    if len(text) > 40:
        raise InvalidInput("phone is too long to be a number", field="phone")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"not a phone number: {exc._msg}", field="phone") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"not a valid number: {_why_invalid(number)}", field="phone")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, number.extension or None


_LENGTH_REASONS: Final = {
    phonenumbers.ValidationResult.TOO_SHORT: "too short",
    phonenumbers.ValidationResult.TOO_LONG: "too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "the wrong length",
}


def _why_invalid(number: phonenumbers.PhoneNumber) -> str:
    """What is wrong with a parsed number that is not valid, in words a user can act on."""
    cc = number.country_code
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == phonenumbers.ValidationResult.INVALID_COUNTRY_CODE:
        return f"+{cc} is not a country code"
    if reason in _LENGTH_REASONS:
        return f"{_LENGTH_REASONS[reason]} for +{cc}"
    # The right length, but no such range is assigned (an unused area code, say).
    return f"no such number range is assigned under +{cc}"


@lru_cache(maxsize=65536)
def zones_for_number(e164: str) -> tuple[str, ...]:
    """IANA zones the number may ring in; empty when nobody can tell.

    A number valid for a whole country with several zones (a US toll-free
    number, say) maps to all of them: calling hours then hold only when every
    one of them is inside the window.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return ()
    zones = tuple(z for z in phone_zones.time_zones_for_number(number) if z != _UNKNOWN_ZONE)
    return zones
