"""What the compliance tests share: awkward zones, DST instants and the rules' oracle.

The oracle is written from the rules' text, not from dialer.compliance: a
second way of computing the same answer, minute by minute in each zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

# Zones with something awkward about them: DST in either hemisphere, half-
# and quarter-hour offsets, DST switching at midnight, a 30-minute DST step,
# Ramadan DST suspensions, a +14 h zone.
ZONES = (
    "America/New_York",
    "America/Los_Angeles",
    "America/St_Johns",
    "America/Havana",
    "America/Santiago",
    "Europe/London",
    "Europe/Dublin",
    "Australia/Lord_Howe",
    "Australia/Adelaide",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Tehran",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
    "Africa/Casablanca",
    "Asia/Tokyo",
)


def _transitions(name: str, year: int) -> list[float]:
    """UTC instants (epoch) where ``name`` changes its offset during ``year``."""
    tz = ZoneInfo(name)
    out = []
    t = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    before = t.astimezone(tz).utcoffset()
    while t < end:
        t2 = t + timedelta(hours=1)
        after = t2.astimezone(tz).utcoffset()
        if after != before:
            out.append(t2.timestamp())
        before = after
        t = t2
    return out


TRANSITIONS = sorted({x for z in ZONES for x in _transitions(z, 2026)})

instants = st.one_of(
    # Anywhere in 2026-2027.
    st.floats(
        min_value=datetime(2026, 1, 1, tzinfo=UTC).timestamp(),
        max_value=datetime(2027, 12, 31, tzinfo=UTC).timestamp(),
    ),
    # Close to a DST transition in one of the zones.
    st.builds(
        lambda base, off: base + off,
        st.sampled_from(TRANSITIONS),
        st.floats(min_value=-36 * 3600.0, max_value=36 * 3600.0),
    ),
)

# ----------------------------------------------------------------- the oracle
ORACLE_DAYS = {  # profile -> (weekday window, weekend window), minutes, from the rules' text
    "us": ((8 * 60, 21 * 60), (8 * 60, 21 * 60)),
    "uk": ((8 * 60, 21 * 60), (8 * 60, 21 * 60)),
    "ca": ((9 * 60, 21 * 60 + 30), (10 * 60, 18 * 60)),
}


def oracle_open(epoch: float, zones: tuple[str, ...], prof: str, start: int, end: int) -> bool:
    if not zones:
        return False
    for name in zones:
        local = datetime.fromtimestamp(epoch, ZoneInfo(name))
        weekday, weekend = ORACLE_DAYS[prof]
        lo, hi = weekend if local.weekday() >= 5 else weekday
        lo, hi = max(lo, start), min(hi, end)
        minute = local.hour * 60 + local.minute
        if not lo <= minute < hi:
            return False
    return True
