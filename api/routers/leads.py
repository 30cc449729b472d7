"""``/campaigns/{id}/leads``: load leads as JSON or CSV, and list them.

A load is all-or-nothing only for what makes the whole request unusable (too
big, not JSON, a CSV without a ``phone`` column, an unknown campaign); a bad
row is rejected with its row number and the rest of the batch still loads.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import ValidationError

from api.bodies import decode_json, is_csv, is_json, parse_json_model, read_body
from api.csv_input import NumberedRows, csv_charset, decode_csv, lead_rows
from api.deps import ServiceDep
from api.errors import PayloadTooLarge
from api.openapi import json_or_csv_body
from api.schemas.base import error_text
from api.schemas.leads import LeadBatch, LeadIn, LeadLoadRead, LeadRead, lead_load_read
from dialer.runtime.service import RowError
from dialer.storage.records import LeadStatus

__all__ = ["router"]

router = APIRouter(prefix="/campaigns/{campaign_id}/leads", tags=["leads"])

_CSV_EXAMPLE = "phone,timezone,first_name\n+14155550100,America/Los_Angeles,Ada\n"
_JSON_FIRST_ROW = 1


def _check_batch_size(count: int, limit: int) -> None:
    if count > limit:
        raise PayloadTooLarge(
            f"{count} leads in one request; at most {limit} are accepted: split the file"
        )


def unsupported_media_type(request: Request) -> HTTPException:
    return HTTPException(
        status_code=HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        detail=f"send application/json or text/csv, not {request.headers.get('content-type')}",
    )


@router.post(
    "",
    response_model=LeadLoadRead,
    openapi_extra=json_or_csv_body(
        LeadBatch,
        csv_description=(
            "A header row naming `phone` (and optionally `timezone` and "
            "`priority`); every other column goes into the lead's `data`. Rejected "
            "rows are numbered by their line in the file (the header is line 1). "
            "UTF-8 unless the Content-Type names a `charset`; fields split by `,`, "
            "`;`, tab or `|`, whichever makes the header name `phone`; a column "
            "named twice is a 422."
        ),
        csv_example=_CSV_EXAMPLE,
    ),
    responses={
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE: {"description": "over 100,000 leads or 20 MB"},
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE: {"description": "neither JSON nor CSV"},
    },
)
async def add_leads(campaign_id: str, request: Request, service: ServiceDep) -> LeadLoadRead:
    """Add leads; JSON rows are numbered from 1, CSV rows by their line in the file."""
    await service.get_campaign(campaign_id)  # 404 before reading megabytes
    limit = service.settings.max_leads_per_request
    body = await read_body(request)
    if is_csv(request):
        parsed = lead_rows(decode_csv(body, csv_charset(request.headers.get("content-type"))))
        _check_batch_size(len(parsed.rows) + len(parsed.rejected), limit)
        first_row = parsed.lines[0] if parsed.lines else 2
        result = await service.add_leads(campaign_id, parsed.rows, first_row=first_row)
        rejected = parsed.renumber(result.rejected, first_row)
        return lead_load_read(result, [*parsed.rejected, *rejected])
    if not is_json(request):
        raise unsupported_media_type(request)
    value: Any = decode_json(body)
    # Counted before validation: no point validating ten million rows to refuse them.
    if isinstance(value, dict) and isinstance(value.get("leads"), list):
        _check_batch_size(len(value["leads"]), limit)
    batch = parse_json_model(value, LeadBatch)
    parsed = _json_rows(batch.leads)
    result = await service.add_leads(campaign_id, parsed.rows, first_row=_JSON_FIRST_ROW)
    rejected = parsed.renumber(result.rejected, _JSON_FIRST_ROW)
    return lead_load_read(result, [*parsed.rejected, *rejected])


def _json_rows(items: list[Any]) -> NumberedRows:
    """Each JSON row checked on its own: a row of the wrong shape is that row's fault."""
    out = NumberedRows()
    for number, item in enumerate(items, start=_JSON_FIRST_ROW):
        try:
            lead = LeadIn.model_validate(item)
        except ValidationError as exc:
            phone = item.get("phone") if isinstance(item, dict) else None
            shown = phone if isinstance(phone, str) else ("" if phone is None else repr(phone))
            out.rejected.append(RowError(number, shown, _reason(exc)))
            continue
        out.rows.append(lead.model_dump())
        out.lines.append(number)
    return out


def _reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        if not where:
            parts.append("a lead must be an object with a phone")
        else:
            parts.append(f"{where}: {error_text(error)}")
    return "; ".join(parts)


@router.get("", response_model=list[LeadRead])
async def list_leads(
    campaign_id: str,
    service: ServiceDep,
    status: LeadStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    # Bounded so that it fits both databases' integers (a larger one is a 422,
    # not an overflow inside the driver).
    offset: Annotated[int, Query(ge=0, le=2**53 - 1)] = 0,
) -> list[LeadRead]:
    """The campaign's leads with their status and attempt count, oldest first."""
    leads = await service.list_leads(
        campaign_id, status=None if status is None else status.value, limit=limit, offset=offset
    )
    return [LeadRead.of(lead) for lead in leads]
