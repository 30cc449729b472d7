"""Stats and health: the shapes dashboards and probes read."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from api.schemas.base import ReadModel

__all__ = ["CampaignStatsRead", "HealthRead"]


class CampaignStatsRead(ReadModel):
    """The figures spec/api.md promises; the service may add more, passed through."""

    model_config = ConfigDict(extra="allow")

    state: str
    lines_in_flight: int
    agents: dict[str, int] = Field(description="agent counts by state")
    dialed: int
    human_answered: int
    abandoned: int
    abandon_rate_24h: float
    abandon_rate_30d: float
    dial_level: float = Field(description="lines per ready agent the pacer is aiming at")
    leads_remaining: int


class HealthRead(ReadModel):
    model_config = ConfigDict(extra="allow")

    status: str = Field(description='"ok" or "unavailable"')
    database: str
    telephony: str
