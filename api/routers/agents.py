"""``/agents``: create agents (with their softphone token) and see their state."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import APIRouter, Response

from api.deps import ServiceDep
from api.schemas.agents import AgentChange, AgentCreate, AgentCreated, AgentRead
from dialer.errors import InvalidInput, NotFound

__all__ = ["router"]

router = APIRouter(prefix="/agents", tags=["agents"])


@router.post("", status_code=HTTPStatus.CREATED, response_model=AgentCreated)
async def create_agent(body: AgentCreate, service: ServiceDep) -> AgentCreated:
    """Create an agent; the answer's ``token`` opens its WebSocket and is shown only here."""
    try:
        agent, token = await service.create_agent(body.name, body.campaign_ids)
    except NotFound as exc:
        # An unknown campaign in the body is a bad field, not a missing URL.
        raise InvalidInput(str(exc), field="campaign_ids") from None
    view = await service.get_agent(agent.id)
    return AgentCreated(**AgentRead.of(view).model_dump(), token=token)


@router.post(
    "/{agent_id}/token",
    response_model=AgentCreated,
    responses={HTTPStatus.NOT_FOUND: {"description": "no such agent"}},
)
async def replace_agent_token(agent_id: str, service: ServiceDep) -> AgentCreated:
    """Give the agent a new softphone token, shown only here. The old token
    opens nothing from now on, and a socket open with it is closed (4401)."""
    token = await service.replace_agent_token(agent_id)
    view = await service.get_agent(agent_id)
    return AgentCreated(**AgentRead.of(view).model_dump(), token=token)


@router.get("", response_model=list[AgentRead])
async def list_agents(service: ServiceDep) -> list[AgentRead]:
    return [AgentRead.of(view) for view in await service.list_agents()]


@router.get("/{agent_id}", response_model=AgentRead)
async def get_agent(agent_id: str, service: ServiceDep) -> AgentRead:
    return AgentRead.of(await service.get_agent(agent_id))


@router.patch(
    "/{agent_id}",
    response_model=AgentRead,
    responses={HTTPStatus.NOT_FOUND: {"description": "no such agent"}},
)
async def update_agent(agent_id: str, body: AgentChange, service: ServiceDep) -> AgentRead:
    """Rename the agent or move it to other campaigns. A logged-in agent is
    offered the new campaigns' calls from now on (through another process,
    within its refresh); a call it is on stays its campaign's to the end of
    wrap-up. Its softphone gets a ``campaigns`` message."""
    view = await service.update_agent(agent_id, name=body.name, campaign_ids=body.campaign_ids)
    return AgentRead.of(view)


@router.delete(
    "/{agent_id}",
    status_code=HTTPStatus.NO_CONTENT,
    response_class=Response,
    responses={
        HTTPStatus.NOT_FOUND: {"description": "no such agent"},
        HTTPStatus.CONFLICT: {
            "description": "on a call or in wrap-up, or its softphone is on another process"
        },
    },
)
async def delete_agent(agent_id: str, service: ServiceDep) -> Response:
    """Delete the agent: its softphone socket is closed (4401) and it is logged
    out. Its call records keep its id."""
    await service.delete_agent(agent_id)
    return Response(status_code=HTTPStatus.NO_CONTENT)
