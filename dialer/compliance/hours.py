"""Calling hours in the called party's local time, with daylight saving.

Each local day has its window ``[start, end)`` (a :class:`WeeklyHours`: the
profile's hours cut to the campaign's). A lead's own zone wins; else every
zone its number may ring in must be inside its window at once. A number with
no known zone is not dialed unless the campaign names one to assume.
``retry_at`` says when every zone is open again, so a skipped lead is retried
when its window opens rather than polled.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dialer.compliance.profiles import DailyWindow, WeeklyHours

__all__ = ["HoursVerdict", "check_calling_hours", "next_local_midnight", "zone"]

# How far ahead an opening is looked for: a week covers every weekly pattern.
_LOOKAHEAD_DAYS = 8


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    # "localtime" is this host's own zone (a link some systems keep beside
    # the zones), not a place a called party lives in.
    return frozenset(available_timezones()) - {"localtime"}


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo | None:
    """The IANA zone ``name``, or None if there is none by that name.

    Looked up among the zone names first: ``ZoneInfo`` takes its key as a
    path under the zone directories, so "America" (a directory) or a very
    long name raised OSError, and file names beside the zones there
    ("iso3166.tab") ValueError.
    """
    if name not in _zone_names():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


class HoursVerdict:
    __slots__ = ("allowed", "reason", "retry_at")

    def __init__(self, allowed: bool, reason: str, retry_at: float | None = None) -> None:
        self.allowed = allowed
        self.reason = reason
        self.retry_at = retry_at


def _local_instant(day: datetime, minute: int, tz: ZoneInfo) -> datetime:
    """The instant ``minute`` minutes after local midnight of ``day``'s date, in UTC.

    Built from the wall time and normalised through UTC: a wall time that a
    DST jump skips moves forward, and 24:00 is the next midnight.
    """
    midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
    wall = midnight + timedelta(minutes=minute)  # wall-clock arithmetic in tz
    return wall.astimezone(UTC)


def _open_now(now: datetime, tz: ZoneInfo, hours: WeeklyHours) -> bool:
    local = now.astimezone(tz)
    window = hours.on(local.date())
    return window is not None and window.contains(local.hour * 60 + local.minute)


def _next_open(now: datetime, tz: ZoneInfo, hours: WeeklyHours) -> datetime | None:
    """The first instant at or after ``now`` when ``tz`` is inside its window."""
    local = now.astimezone(tz)
    for offset in range(_LOOKAHEAD_DAYS):
        day = local + timedelta(days=offset)
        window: DailyWindow | None = hours.on(day.date())
        if window is None:
            continue
        opening = _local_instant(day, window.start_min, tz)
        closing = _local_instant(day, window.end_min, tz)
        if closing <= now or closing <= opening:
            continue
        return max(opening, now)
    return None


def next_local_midnight(wall_epoch: float, tz: ZoneInfo) -> float:
    """The epoch second the next local day starts in ``tz``."""
    local = datetime.fromtimestamp(wall_epoch, UTC).astimezone(tz)
    return _local_instant(local + timedelta(days=1), 0, tz).timestamp()


def check_calling_hours(
    wall_epoch: float, zones: tuple[str, ...], hours: WeeklyHours
) -> HoursVerdict:
    """Allowed when the instant is inside the window in every zone in ``zones``."""
    if not zones:
        return HoursVerdict(False, "no_time_zone")
    now = datetime.fromtimestamp(wall_epoch, UTC)
    tzs: list[ZoneInfo] = []
    for name in zones:
        tz = zone(name)
        if tz is None:
            return HoursVerdict(False, f"unknown_time_zone:{name}")
        tzs.append(tz)
    if all(_open_now(now, tz, hours) for tz in tzs):
        return HoursVerdict(True, "calling_hours")
    # The first instant every zone is open at once: move to the latest next
    # opening until they agree (zones hours apart may never overlap).
    at = now
    for _ in range(_LOOKAHEAD_DAYS * len(tzs) + 1):
        openings = [_next_open(at, tz, hours) for tz in tzs]
        if any(o is None for o in openings):
            break
        latest = max(o for o in openings if o is not None)
        if all(_open_now(latest, tz, hours) for tz in tzs):
            return HoursVerdict(False, "outside_calling_hours", latest.timestamp())
        at = latest + timedelta(minutes=1)
    return HoursVerdict(False, "never_inside_calling_hours")
