"""``/dnc``: the do-not-call list. A number added here is never dialed after the answer."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.bodies import decode_json, is_csv, is_json, parse_json_model, read_body
from api.csv_input import csv_charset, decode_csv, dnc_rows
from api.deps import ServiceDep
from api.errors import PayloadTooLarge
from api.openapi import json_or_csv_body
from api.routers.leads import unsupported_media_type
from api.schemas.dnc import DncAddRead, DncCreate, DncRead
from api.schemas.leads import RowErrorRead
from dialer.errors import InvalidInput, NotFound
from dialer.runtime.service import DialerService

__all__ = ["router"]

router = APIRouter(prefix="/dnc", tags=["do-not-call"])


async def _check_campaign(service: DialerService, campaign_id: str | None) -> None:
    # A campaign named in the body is a bad field, not a missing URL: 422, not 404.
    if campaign_id is None:
        return
    try:
        await service.get_campaign(campaign_id)
    except NotFound as exc:
        raise InvalidInput(str(exc), field="campaign_id") from None


def _check_count(count: int, limit: int) -> None:
    if count > limit:
        raise PayloadTooLarge(f"{count} numbers in one request; at most {limit} are accepted")


@router.post(
    "",
    response_model=DncAddRead,
    openapi_extra=json_or_csv_body(
        DncCreate,
        csv_description=(
            "One number per line, optionally under a header naming `phone` (other "
            "columns are ignored). Use the `campaign_id` query parameter to list "
            "them for one campaign only. UTF-8 unless the Content-Type names a "
            "`charset`; under a header, fields split by `,`, `;`, tab or `|`."
        ),
        csv_example="phone\n+14155550100\n+14155550101\n",
    ),
    responses={
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE: {"description": "over the batch or size limit"}
    },
)
async def add_dnc(
    request: Request,
    service: ServiceDep,
    campaign_id: Annotated[
        str | None, Query(description="CSV bodies: list for this campaign only")
    ] = None,
) -> DncAddRead:
    """Add numbers: for every campaign, or for ``campaign_id`` only."""
    limit = service.settings.max_leads_per_request
    body = await read_body(request)
    if is_csv(request):
        parsed = dnc_rows(decode_csv(body, csv_charset(request.headers.get("content-type"))))
        _check_count(len(parsed.rows), limit)
        await _check_campaign(service, campaign_id)
        first_row = parsed.lines[0] if parsed.lines else 1
        result = await service.add_dnc(parsed.rows, campaign_id, first_row=first_row)
        rejected = parsed.renumber(result.rejected, first_row)
    elif is_json(request):
        value: Any = decode_json(body)
        if isinstance(value, dict) and isinstance(value.get("numbers"), list):
            _check_count(len(value["numbers"]), limit)
        create = parse_json_model(value, DncCreate)
        if campaign_id is not None and create.campaign_id not in (None, campaign_id):
            raise InvalidInput("campaign_id differs between the query and the body", "campaign_id")
        target = create.campaign_id or campaign_id
        await _check_campaign(service, target)
        result = await service.add_dnc(create.numbers, target, first_row=1)
        rejected = list(result.rejected)
    else:
        raise unsupported_media_type(request)
    return DncAddRead(
        added=result.added,
        rejected=[RowErrorRead.model_validate(e) for e in sorted(rejected, key=lambda e: e.row)],
    )


@router.get("/{phone}", response_model=DncRead)
async def lookup_dnc(phone: str, service: ServiceDep) -> DncRead:
    """Whether ``phone`` is listed, and on which lists."""
    found = await service.lookup_dnc(phone)
    return DncRead(
        phone=found.phone,
        listed=found.listed,
        scopes=list(found.scopes),
        registries=list(found.registries),
    )


@router.delete(
    "/{phone}",
    status_code=HTTPStatus.NO_CONTENT,
    response_class=Response,
    responses={
        HTTPStatus.NOT_FOUND: {"description": "the number is not on the internal list"},
        HTTPStatus.CONFLICT: {
            "description": "the person asked on a call not to be called: needs consent=true"
        },
    },
)
async def remove_dnc(phone: str, service: ServiceDep, consent: bool = False) -> Response:
    """Take ``phone`` off the internal list (registry entries stay). A number
    the person asked for on a call (a ``dnc`` disposition) goes only with
    ``consent=true``: they have agreed to be called since."""
    await service.remove_dnc(phone, consent=consent)
    return Response(status_code=HTTPStatus.NO_CONTENT)
