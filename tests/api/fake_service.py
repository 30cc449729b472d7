"""A small in-memory stand-in for DialerService, for what the real one cannot stage.

The API suite runs against the real service; this fake covers what that makes
hard to reach on purpose: every error class the facade may raise, an
unhealthy dependency, pages of call records, and recording exactly what the
agent socket hands the service. It implements only the facade's methods the
API calls, with the same signatures.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from dialer.campaign import CallOutcome, CampaignSettings, RunState
from dialer.errors import InvalidInput, NotFound
from dialer.runtime.service import (
    AgentView,
    CloseAgentSocket,
    DncAddResult,
    DncLookup,
    LeadLoadResult,
    RowError,
    SendToAgent,
)
from dialer.runtime.settings import Settings
from dialer.storage.records import (
    CallPage,
    LeadStatus,
    StoredAgent,
    StoredCall,
    StoredCampaign,
    StoredLead,
)

__all__ = ["FakeService"]

_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class FakeService:
    def __init__(self, *, api_key: str = "fake-key") -> None:
        self.settings = Settings(api_key=api_key, database_url="sqlite+aiosqlite:///:memory:")
        self.api_key = api_key
        self.started = False
        self.stopped = False
        self.healthy = True
        # Raised by the next facade call that checks it, then cleared.
        self.fail_next: Exception | None = None
        self.campaigns: dict[str, StoredCampaign] = {}
        self.leads: list[StoredLead] = []
        self.dnc: dict[str, set[str]] = {}
        self.agents: dict[str, tuple[StoredAgent, str]] = {}
        self.calls: list[StoredCall] = []
        self.sends: dict[str, SendToAgent] = {}
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.disconnects: list[tuple[str, object]] = []
        self._ids = itertools.count(1)

    def _maybe_fail(self) -> None:
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc

    # life
    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    def authenticate_api_key(self, key: str) -> bool:
        return key == self.api_key

    # campaigns
    async def create_campaign(self, settings: CampaignSettings) -> StoredCampaign:
        self._maybe_fail()
        stored = StoredCampaign(settings, _EPOCH, _EPOCH)
        self.campaigns[settings.id] = stored
        return stored

    async def list_campaigns(self) -> list[StoredCampaign]:
        return list(self.campaigns.values())

    async def get_campaign(self, campaign_id: str) -> StoredCampaign:
        try:
            return self.campaigns[campaign_id]
        except KeyError:
            raise NotFound("campaign", campaign_id) from None

    async def update_campaign(
        self,
        campaign_id: str,
        changes: Mapping[str, Any] | Callable[[CampaignSettings], Mapping[str, Any]],
    ) -> StoredCampaign:
        self._maybe_fail()
        current = await self.get_campaign(campaign_id)
        if callable(changes):
            changes = changes(current.settings)
        settings = dataclasses.replace(current.settings, **dict(changes))
        stored = StoredCampaign(settings, current.created_at, _EPOCH + timedelta(seconds=1))
        self.campaigns[campaign_id] = stored
        return stored

    async def set_campaign_state(self, campaign_id: str, state: RunState) -> StoredCampaign:
        self._maybe_fail()
        current = await self.get_campaign(campaign_id)
        stored = dataclasses.replace(
            current, settings=dataclasses.replace(current.settings, state=state)
        )
        self.campaigns[campaign_id] = stored
        return stored

    def blocked_reason(self, campaign_id: str) -> str | None:
        return None

    async def campaign_stats(self, campaign_id: str) -> dict[str, Any]:
        campaign = await self.get_campaign(campaign_id)
        return {
            "state": campaign.settings.state.value,
            "lines_in_flight": 0,
            "agents": {"ready": 0, "on_call": 0, "wrap_up": 0, "paused": 0},
            "dialed": 0,
            "human_answered": 0,
            "abandoned": 0,
            "abandon_rate_24h": 0.0,
            "abandon_rate_30d": 0.0,
            "dial_level": 0.0,
            "leads_remaining": sum(1 for lead in self.leads if lead.campaign_id == campaign_id),
            "capped": False,
        }

    # leads
    async def add_leads(
        self, campaign_id: str, rows: Sequence[Mapping[str, Any]], *, first_row: int = 1
    ) -> LeadLoadResult:
        await self.get_campaign(campaign_id)
        rejected: list[RowError] = []
        accepted = duplicates = 0
        seen = {lead.phone for lead in self.leads if lead.campaign_id == campaign_id}
        for i, row in enumerate(rows):
            phone = str(row.get("phone", ""))
            if not _E164.match(phone):
                rejected.append(RowError(first_row + i, phone, "not a phone number"))
            elif phone in seen:
                duplicates += 1
            else:
                seen.add(phone)
                accepted += 1
                self.leads.append(
                    StoredLead(
                        id=str(next(self._ids)),
                        campaign_id=campaign_id,
                        phone=phone,
                        timezone=row.get("timezone"),
                        data=dict(row.get("data") or {}),
                        status=LeadStatus.NEW,
                        attempts=0,
                        priority=int(row.get("priority") or 0),
                        next_attempt_at=None,
                        claimed_by=None,
                        claimed_at=None,
                        last_outcome=None,
                        created_at=_EPOCH,
                    )
                )
        return LeadLoadResult(accepted, tuple(rejected), duplicates, 0)

    async def list_leads(
        self, campaign_id: str, *, status: str | None, limit: int, offset: int
    ) -> list[StoredLead]:
        await self.get_campaign(campaign_id)
        mine = [
            lead
            for lead in self.leads
            if lead.campaign_id == campaign_id and (status is None or lead.status == status)
        ]
        return mine[offset : offset + limit]

    # do-not-call
    async def add_dnc(
        self, numbers: Sequence[str], campaign_id: str | None, *, first_row: int = 1
    ) -> DncAddResult:
        rejected: list[RowError] = []
        added = 0
        for i, number in enumerate(numbers):
            if not _E164.match(number):
                rejected.append(RowError(first_row + i, number, "not a phone number"))
                continue
            scope = f"campaign:{campaign_id}" if campaign_id else "internal"
            self.dnc.setdefault(number, set()).add(scope)
            added += 1
        return DncAddResult(added, tuple(rejected))

    async def remove_dnc(self, phone: str, *, consent: bool = False) -> None:
        self.dnc.pop(phone, None)

    async def lookup_dnc(self, phone: str) -> DncLookup:
        if not _E164.match(phone):
            raise InvalidInput("not a phone number", field="phone")
        scopes = tuple(sorted(self.dnc.get(phone, ())))
        return DncLookup(phone, bool(scopes), scopes)

    # agents
    async def create_agent(self, name: str, campaign_ids: Sequence[str]) -> tuple[StoredAgent, str]:
        for cid in campaign_ids:
            await self.get_campaign(cid)
        agent = StoredAgent(str(uuid.uuid4()), name, tuple(campaign_ids), _EPOCH)
        token = f"token-{agent.id}"
        self.agents[agent.id] = (agent, token)
        return agent, token

    def _view(self, agent: StoredAgent) -> AgentView:
        connected = agent.id in self.sends
        return AgentView(agent, "paused" if connected else "logged_out", connected)

    async def list_agents(self) -> list[AgentView]:
        return [self._view(agent) for agent, _ in self.agents.values()]

    async def get_agent(self, agent_id: str) -> AgentView:
        if agent_id not in self.agents:
            raise NotFound("agent", agent_id)
        return self._view(self.agents[agent_id][0])

    async def authenticate_agent(self, agent_id: str, token: str) -> bool:
        entry = self.agents.get(agent_id)
        return entry is not None and entry[1] == token

    async def agent_connected(
        self, agent_id: str, send: SendToAgent, *, close: CloseAgentSocket | None = None
    ) -> object:
        self.sends[agent_id] = send
        session = object()
        await send({"type": "state", "state": "paused"})
        return session

    async def agent_message(
        self, agent_id: str, message: Mapping[str, Any], *, session: object | None = None
    ) -> None:
        self._maybe_fail()
        self.messages.append((agent_id, dict(message)))
        if message["type"] == "ready":
            await self.sends[agent_id]({"type": "state", "state": "ready"})

    async def agent_disconnected(self, agent_id: str, session: object) -> None:
        self.sends.pop(agent_id, None)
        self.disconnects.append((agent_id, session))

    # calls
    def add_calls(self, campaign_id: str, count: int) -> None:
        """Stage ``count`` finished calls, one a minute, for paging tests."""
        for i in range(count):
            dialed = _EPOCH + timedelta(minutes=len(self.calls) + i)
            self.calls.append(
                StoredCall(
                    id=f"call-{len(self.calls) + 1:04d}",
                    campaign_id=campaign_id,
                    lead_id="lead",
                    phone="+14155550100",
                    agent_id=None,
                    outcome=CallOutcome.NO_ANSWER,
                    abandoned=False,
                    dialed_at=dialed,
                    answered_at=None,
                    bridged_at=None,
                    ended_at=dialed + timedelta(seconds=20),
                    disposition=None,
                    notes=None,
                    callback_at=None,
                    decision=None,
                    amd=None,
                    placed_by=None,
                )
            )

    async def list_calls(
        self, *, campaign_id: str | None, since: datetime | None, limit: int, cursor: str | None
    ) -> CallPage:
        if cursor is not None and not cursor.isdigit():
            raise InvalidInput("bad cursor", field="cursor")
        calls = sorted(self.calls, key=lambda c: c.dialed_at, reverse=True)
        calls = [
            c
            for c in calls
            if (campaign_id is None or c.campaign_id == campaign_id)
            and (since is None or c.dialed_at >= since)
        ]
        start = int(cursor or 0)
        page = calls[start : start + limit]
        more = start + limit < len(calls)
        return CallPage(tuple(page), str(start + limit) if more else None)

    async def get_call(self, call_id: str) -> StoredCall:
        for call in self.calls:
            if call.id == call_id:
                return call
        raise NotFound("call", call_id)

    # operations
    async def health(self) -> dict[str, Any]:
        self._maybe_fail()
        telephony = "ok" if self.healthy else "unavailable"
        return {"database": "ok", "telephony": telephony, "ok": self.healthy}

    def metrics_text(self) -> tuple[bytes, str]:
        return b"# fake\ndialer_up 1\n", "text/plain; version=0.0.4; charset=utf-8"
