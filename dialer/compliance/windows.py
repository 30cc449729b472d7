"""The abandonment window of a compliance profile, as instants.

Rolling windows (us: 30 days, uk: 24 hours) end now and never close; a
calendar month (ca) runs from the first of the month to the first of the
next, in UTC: the rate resets when the month turns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from dialer.compliance.profiles import AbandonWindow

__all__ = ["WindowSpan", "window_span"]


class WindowSpan(NamedTuple):
    since: float  # epoch: records answered at or after this count
    ends_at: float | None  # epoch the window closes (None: rolling)


def window_span(kind: AbandonWindow, wall_epoch: float) -> WindowSpan:
    if kind is AbandonWindow.CALENDAR_MONTH:
        now = datetime.fromtimestamp(wall_epoch, UTC)
        start = datetime(now.year, now.month, 1, tzinfo=UTC)
        year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
        return WindowSpan(start.timestamp(), datetime(year, month, 1, tzinfo=UTC).timestamp())
    return WindowSpan(wall_epoch - kind.span_s, None)
