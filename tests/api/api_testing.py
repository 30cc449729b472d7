"""Constants and helpers the API tests share (a module, not conftest, so tests can import it)."""

from __future__ import annotations

from typing import Any

from dialer.runtime.settings import Settings

__all__ = ["API_KEY", "AUTH", "BASE_URL", "Seen", "real_settings"]

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
