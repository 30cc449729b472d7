"""Agents over the wire. The token is shown once, in the answer to the create."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from api.schemas.base import ReadModel, RequestModel
from dialer.runtime.service import AgentView

__all__ = ["AgentChange", "AgentCreate", "AgentCreated", "AgentRead"]


class AgentCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    campaign_ids: list[str] = Field(default_factory=list)


class AgentChange(RequestModel):
    """A rename or a move to other campaigns; a field left out stays as it is."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    campaign_ids: list[str] | None = Field(
        default=None, description="the whole new list (not added to the old one)"
    )


class AgentRead(ReadModel):
    id: str
    name: str
    campaign_ids: list[str]
    created_at: datetime
    state: str = Field(description="logged_out, ready, paused, on_call or wrap_up")
    connected: bool = Field(description="whether its softphone socket is open")
    call_id: str | None = None

    @classmethod
    def of(cls, view: AgentView) -> AgentRead:
        agent = view.agent
        return cls(
            id=agent.id,
            name=agent.name,
            campaign_ids=list(agent.campaign_ids),
            created_at=agent.created_at,
            state=view.state,
            connected=view.connected,
            call_id=view.call_id,
        )


class AgentCreated(AgentRead):
    token: str = Field(description="the softphone's secret for the agent WebSocket; shown once")
