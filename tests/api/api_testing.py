"""Constants and helpers the API tests share (a module, not conftest, so tests can import it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from dialer.runtime.settings import Settings

__all__ = ["API_KEY", "AUTH", "BASE_URL", "Seen", "open_zone", "real_settings"]

API_KEY = "test-api-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
BASE_URL = "http://dialer.test"

# (method, path, status) of every response in this test.
Seen = list[tuple[str, str, int]]


def real_settings(sqlite_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": sqlite_url,
        "api_key": API_KEY,
        "seed": 7,
        # Anything the simulated telephony does happens 100x faster.
        "time_scale": 0.01,
        "stats_interval_s": 0.2,
    }
    values.update(overrides)
    return Settings(**values)


def open_zone() -> str:
    """A time zone where it is now well inside 08:00-21:00, so its leads may be dialed."""
    for name in (
        "America/Chicago",
        "Europe/London",
        "Asia/Tokyo",
        "Asia/Kolkata",
        "Pacific/Honolulu",
        "America/Sao_Paulo",
        "Australia/Sydney",
    ):
        if 9 <= datetime.now(UTC).astimezone(ZoneInfo(name)).hour < 20:
            return name
    raise AssertionError("some zone is always between 09:00 and 20:00")
