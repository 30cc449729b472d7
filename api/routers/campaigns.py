"""``/campaigns``: create, read, change settings, move the run state, delete."""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api.deps import ServiceDep
from api.schemas.base import UtcDatetime
from api.schemas.calls import SkippedDialRead
from api.schemas.campaigns import (
    CampaignCreate,
    CampaignRead,
    CampaignUpdate,
    campaign_read,
    settings_changes,
    settings_from_create,
)
from api.schemas.operations import CampaignStatsRead
from dialer.campaign import RunState
from dialer.errors import InvalidInput
from dialer.runtime.service import DialerService
from dialer.storage.records import StoredCampaign

__all__ = ["router"]

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


def _read(service: DialerService, stored: StoredCampaign) -> CampaignRead:
    return campaign_read(stored, service.blocked_reason(stored.id))


_NAME_TAKEN: dict[int | str, dict[str, Any]] = {
    HTTPStatus.CONFLICT: {"description": "another campaign has that name"}
}


@router.post("", status_code=HTTPStatus.CREATED, response_model=CampaignRead, responses=_NAME_TAKEN)
async def create_campaign(body: CampaignCreate, service: ServiceDep) -> CampaignRead:
    try:
        settings = settings_from_create(str(uuid.uuid4()), body)
    except ValueError as exc:  # the core's own checks, should the schema ever lag them
        raise InvalidInput(str(exc)) from None
    return _read(service, await service.create_campaign(settings))


@router.get("", response_model=list[CampaignRead])
async def list_campaigns(service: ServiceDep) -> list[CampaignRead]:
    return [_read(service, c) for c in await service.list_campaigns()]


@router.get("/{campaign_id}", response_model=CampaignRead)
async def get_campaign(campaign_id: str, service: ServiceDep) -> CampaignRead:
    return _read(service, await service.get_campaign(campaign_id))


@router.patch("/{campaign_id}", response_model=CampaignRead, responses=_NAME_TAKEN)
async def update_campaign(
    campaign_id: str, body: CampaignUpdate, service: ServiceDep
) -> CampaignRead:
    """Change settings; a running campaign picks them up at once. ``state`` is not here:
    use start, pause and stop."""
    # The changes are worked out from the settings inside the service's
    # turn for this campaign (retry_delays_s merges into the current ones).
    stored = await service.update_campaign(
        campaign_id, lambda current: settings_changes(body, current)
    )
    return _read(service, stored)


async def _set_state(service: ServiceDep, campaign_id: str, state: RunState) -> CampaignRead:
    return _read(service, await service.set_campaign_state(campaign_id, state))


@router.post("/{campaign_id}/start", response_model=CampaignRead)
async def start_campaign(campaign_id: str, service: ServiceDep) -> CampaignRead:
    return await _set_state(service, campaign_id, RunState.RUNNING)


@router.post("/{campaign_id}/pause", response_model=CampaignRead)
async def pause_campaign(campaign_id: str, service: ServiceDep) -> CampaignRead:
    return await _set_state(service, campaign_id, RunState.PAUSED)


@router.post("/{campaign_id}/stop", response_model=CampaignRead)
async def stop_campaign(campaign_id: str, service: ServiceDep) -> CampaignRead:
    return await _set_state(service, campaign_id, RunState.STOPPED)


@router.delete(
    "/{campaign_id}",
    status_code=HTTPStatus.NO_CONTENT,
    response_class=Response,
    responses={
        HTTPStatus.NOT_FOUND: {"description": "no such campaign"},
        HTTPStatus.CONFLICT: {
            "description": "running or paused (stop it first), or it has call records,"
            " which are kept for compliance (stopped, it dials no more)"
        },
    },
)
async def delete_campaign(campaign_id: str, service: ServiceDep) -> Response:
    """Delete a stopped campaign that never placed a call (made by mistake, a
    test), with its leads, agent links and do-not-call entries. Its agents go
    on with their other campaigns; softphones are sent a ``campaigns`` frame."""
    await service.delete_campaign(campaign_id)
    return Response(status_code=HTTPStatus.NO_CONTENT)


@router.get("/{campaign_id}/stats", response_model=CampaignStatsRead)
async def campaign_stats(campaign_id: str, service: ServiceDep) -> CampaignStatsRead:
    """Live figures: run state, lines in flight, agents by state, abandonment, dial level."""
    return CampaignStatsRead.model_validate(await service.campaign_stats(campaign_id))


@router.get("/{campaign_id}/skips", response_model=list[SkippedDialRead])
async def campaign_skips(
    campaign_id: str,
    service: ServiceDep,
    since: Annotated[
        UtcDatetime | None,
        Query(description="ISO-8601; only decisions at or after it (no zone: UTC)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SkippedDialRead]:
    """Leads the compliance gate kept from being dialed, and why, newest first."""
    skips = await service.list_skips(campaign_id, since=since, limit=limit)
    return [SkippedDialRead.of(s) for s in skips]
