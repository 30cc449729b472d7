"""Calling hours in the called party's local time, with daylight saving.

The window is [start, end) in minutes after local midnight. A lead's own zone
wins; else every zone its number may ring in must be inside the window. A
number with no known zone is not dialed unless the campaign names one to
assume. ``next_allowed`` says when to try again, so a skipped lead is retried
when its window opens rather than polled.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["HoursVerdict", "check_calling_hours", "zone"]


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


class HoursVerdict:
    __slots__ = ("allowed", "reason", "retry_at")

    def __init__(self, allowed: bool, reason: str, retry_at: float | None = None) -> None:
        self.allowed = allowed
        self.reason = reason
        self.retry_at = retry_at


def _inside(local: datetime, start_min: int, end_min: int) -> bool:
    minute = local.hour * 60 + local.minute
    return start_min <= minute < end_min


def _next_open(now_utc: datetime, tz: ZoneInfo, start_min: int, end_min: int) -> datetime:
    """The next instant at or after ``now_utc`` when the window is open in ``tz``."""
    local = now_utc.astimezone(tz)
    for day in range(0, 3):
        d = (local + timedelta(days=day)).date()
        opening = datetime(d.year, d.month, d.day, start_min // 60, start_min % 60, tzinfo=tz)
        # Normalise through UTC: a wall time skipped by DST moves forward.
        opening = opening.astimezone(UTC).astimezone(tz)
        if opening >= local and _inside(opening, start_min, end_min):
            return opening.astimezone(UTC)
        if day == 0 and _inside(local, start_min, end_min):
            return now_utc
    return now_utc + timedelta(hours=24)


def check_calling_hours(
    wall_epoch: float,
    zones: tuple[str, ...],
    start_min: int,
    end_min: int,
) -> HoursVerdict:
    """Allowed when the instant is inside the window in every zone in ``zones``."""
    if not zones:
        return HoursVerdict(False, "no_time_zone")
    now = datetime.fromtimestamp(wall_epoch, UTC)
    latest_open = now
    allowed = True
    for name in zones:
        tz = zone(name)
        if tz is None:
            return HoursVerdict(False, f"unknown_time_zone:{name}")
        if not _inside(now.astimezone(tz), start_min, end_min):
            allowed = False
            opening = _next_open(now, tz, start_min, end_min)
            latest_open = max(latest_open, opening)
    if allowed:
        return HoursVerdict(True, "calling_hours")
    return HoursVerdict(False, "outside_calling_hours", latest_open.timestamp())
