"""Agents and their softphone tokens. Only a token's SHA-256 is stored.

A token is 32 random bytes (``secrets.token_urlsafe``), so a plain fast hash
is enough: there is nothing to brute-force that a slow hash would protect.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection, Sequence

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.errors import InvalidInput, NotFound
from dialer.storage._sql import new_id
from dialer.storage._time import utcnow
from dialer.storage.models import AgentCampaignRow, AgentRow, CampaignRow, LeadRow
from dialer.storage.records import StoredAgent

__all__ = [
    "attach_socket",
    "create_agent",
    "delete_agent",
    "detach_socket",
    "get_agent",
    "hash_token",
    "list_agents",
    "replace_token",
    "token_hashes",
    "update_agent",
    "verify_token",
]

# Compared against when the agent does not exist, so that a miss costs the
# same as a wrong token.
_NO_AGENT_HASH = hashlib.sha256(b"no such agent").hexdigest()


def hash_token(token: str) -> str:
    """The SHA-256 hex digest stored for ``token``."""
    return hashlib.sha256(token.encode()).hexdigest()


def _check_name(name: str) -> None:
    if not name or not name.strip():
        raise InvalidInput("an agent needs a name", field="name")
    if len(name) > 200:
        raise InvalidInput("an agent name has at most 200 characters", field="name")


async def _check_campaigns(session: AsyncSession, campaign_ids: Sequence[str]) -> tuple[str, ...]:
    if isinstance(campaign_ids, str):
        raise InvalidInput("campaign_ids must be a list", field="campaign_ids")
    unique = tuple(dict.fromkeys(campaign_ids))
    if unique:
        found = set(await session.scalars(select(CampaignRow.id).where(CampaignRow.id.in_(unique))))
        for campaign_id in unique:
            if campaign_id not in found:
                raise NotFound("campaign", campaign_id)
    return unique


async def _campaign_ids(session: AsyncSession, agent_ids: Sequence[str]) -> dict[str, list[str]]:
    links: dict[str, list[str]] = {agent_id: [] for agent_id in agent_ids}
    if not agent_ids:
        return links
    rows = await session.execute(
        select(AgentCampaignRow.agent_id, AgentCampaignRow.campaign_id)
        .where(AgentCampaignRow.agent_id.in_(agent_ids))
        .order_by(AgentCampaignRow.agent_id, AgentCampaignRow.campaign_id)
    )
    for agent_id, campaign_id in rows:
        links[agent_id].append(campaign_id)
    return links


def _to_record(row: AgentRow, campaign_ids: Sequence[str]) -> StoredAgent:
    return StoredAgent(
        id=row.id,
        name=row.name,
        campaign_ids=tuple(campaign_ids),
        created_at=row.created_at,
    )


async def _link(session: AsyncSession, agent_id: str, campaign_ids: Sequence[str]) -> None:
    if campaign_ids:
        await session.execute(
            insert(AgentCampaignRow),
            [{"agent_id": agent_id, "campaign_id": cid} for cid in campaign_ids],
        )


async def create_agent(
    session: AsyncSession, /, *, name: str, campaign_ids: Sequence[str] = ()
) -> tuple[StoredAgent, str]:
    """A new agent and its softphone token, in plain text this once only.

    Raises :class:`InvalidInput` (empty name), :class:`NotFound` (a campaign).
    """
    _check_name(name)
    campaigns = await _check_campaigns(session, campaign_ids)
    token = secrets.token_urlsafe(32)
    row = AgentRow(id=new_id(), name=name, token_hash=hash_token(token), created_at=utcnow())
    session.add(row)
    await session.flush()
    await _link(session, row.id, campaigns)
    return _to_record(row, sorted(campaigns)), token


async def replace_token(session: AsyncSession, /, *, agent_id: str) -> str:
    """A new softphone token for the agent, in plain text this once; the old
    one opens nothing from now on. Raises :class:`NotFound`."""
    row = await _row(session, agent_id)
    token = secrets.token_urlsafe(32)
    row.token_hash = hash_token(token)
    await session.flush()
    return token


async def _row(session: AsyncSession, agent_id: str) -> AgentRow:
    row = await session.get(AgentRow, agent_id)
    if row is None:
        raise NotFound("agent", agent_id)
    return row


async def get_agent(session: AsyncSession, /, *, agent_id: str) -> StoredAgent:
    """Raises :class:`NotFound`."""
    row = await _row(session, agent_id)
    links = await _campaign_ids(session, [agent_id])
    return _to_record(row, links[agent_id])


async def list_agents(
    session: AsyncSession,
    /,
    *,
    campaign_id: str | None = None,
    agent_ids: Sequence[str] | None = None,
) -> list[StoredAgent]:
    """Every agent (or those taking ``campaign_id``'s calls, or those of
    ``agent_ids`` that exist), oldest first."""
    stmt = select(AgentRow).order_by(AgentRow.created_at, AgentRow.id)
    if agent_ids is not None:
        stmt = stmt.where(AgentRow.id.in_(list(agent_ids)))
    if campaign_id is not None:
        stmt = stmt.join(AgentCampaignRow, AgentCampaignRow.agent_id == AgentRow.id).where(
            AgentCampaignRow.campaign_id == campaign_id
        )
    rows = list(await session.scalars(stmt))
    links = await _campaign_ids(session, [row.id for row in rows])
    return [_to_record(row, links[row.id]) for row in rows]


async def update_agent(
    session: AsyncSession,
    /,
    *,
    agent_id: str,
    name: str | None = None,
    campaign_ids: Sequence[str] | None = None,
) -> StoredAgent:
    """Rename an agent or replace its campaigns (None: unchanged). Raises :class:`NotFound`."""
    row = await _row(session, agent_id)
    if name is not None:
        _check_name(name)
        row.name = name
    if campaign_ids is not None:
        campaigns = await _check_campaigns(session, campaign_ids)
        await session.execute(delete(AgentCampaignRow).where(AgentCampaignRow.agent_id == agent_id))
        await _link(session, agent_id, campaigns)
    await session.flush()
    return await get_agent(session, agent_id=agent_id)


async def delete_agent(
    session: AsyncSession,
    /,
    *,
    agent_id: str,
    process_id: str | None = None,
    live: Collection[str] = (),
) -> bool:
    """Delete the agent; False (and kept) if a live process other than
    ``process_id`` holds its softphone socket. Its call records keep its id.
    The callbacks booked for it become anyone's, due when they were booked
    (before, they waited for it ``personal_callback_wait_s`` past their
    time, an hour by default, with the person expecting the call).
    Raises :class:`NotFound`."""
    await _row(session, agent_id)
    stmt = delete(AgentRow).where(AgentRow.id == agent_id)
    if process_id is not None:
        # One statement: a socket attached meanwhile through another process
        # keeps the agent (its row lock orders the two).
        col = AgentRow.__table__.c.socket_process
        stmt = stmt.where(or_(col.is_(None), col == process_id, col.not_in(list(live))))
    result = await session.execute(stmt.returning(AgentRow.id))
    if result.first() is None:
        return False
    await session.execute(
        update(LeadRow).where(LeadRow.callback_agent_id == agent_id).values(callback_agent_id=None)
    )
    return True


async def token_hashes(session: AsyncSession, /, *, agent_ids: Sequence[str]) -> dict[str, str]:
    """The stored token digest of each agent named (an unknown one is left out)."""
    rows = await session.execute(
        select(AgentRow.id, AgentRow.token_hash).where(AgentRow.id.in_(list(agent_ids)))
    )
    return {agent_id: digest for agent_id, digest in rows}


async def verify_token(session: AsyncSession, /, *, agent_id: str, token: str) -> bool:
    """Whether ``token`` is ``agent_id``'s; False for an unknown agent too.

    The digests are compared in constant time, and an unknown agent costs
    the same comparison, so timing tells nothing about either.
    """
    stored = await session.scalar(select(AgentRow.token_hash).where(AgentRow.id == agent_id))
    given = hash_token(token) if isinstance(token, str) else ""
    matches = hmac.compare_digest(stored or _NO_AGENT_HASH, given)
    return stored is not None and matches


async def attach_socket(
    session: AsyncSession, /, *, agent_id: str, process_id: str, live: Collection[str]
) -> bool:
    """Record that ``process_id`` holds the agent's softphone socket; False if a
    live other process holds it (a process not in ``live`` is dead: its hold
    lapsed with it). Raises :class:`NotFound`."""
    await _row(session, agent_id)
    col = AgentRow.__table__.c.socket_process
    result = await session.execute(
        update(AgentRow)
        .where(
            AgentRow.id == agent_id,
            or_(col.is_(None), col == process_id, col.not_in(list(live))),
        )
        .values(socket_process=process_id)
        .returning(AgentRow.id)
    )
    return result.first() is not None


async def detach_socket(
    session: AsyncSession, /, *, process_id: str, agent_id: str | None = None
) -> None:
    """``process_id`` holds the agent's socket no more (no agent: none of them)."""
    stmt = update(AgentRow).where(AgentRow.socket_process == process_id)
    if agent_id is not None:
        stmt = stmt.where(AgentRow.id == agent_id)
    await session.execute(stmt.values(socket_process=None))
