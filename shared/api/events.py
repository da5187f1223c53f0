"""POST /api/events: the same validation and landing as the Event Hubs trigger."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from shared.api.deps import services_of
from shared.events.contract import json_schema
from shared.events.ingest import EventBatch
from shared.events.requests import UnsupportedContentType, split_request_body

router = APIRouter(tags=["events"])


class RejectedEvent(BaseModel):
    index: int
    reason: str
    field: str | None
    detail: str


class IngestReport(BaseModel):
    batch: str
    received: int
    landed: int
    quarantined: int
    reasons: dict[str, int]
    rejects: list[RejectedEvent]


class ErrorReport(BaseModel):
    error: str
    message: str


_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"oneOf": [
            {"type": "array", "items": {"$ref": "#/components/schemas/ShopperEvent"}},
            {"$ref": "#/components/schemas/ShopperEvent"},
        ]}},
        "application/x-ndjson": {"schema": {"type": "string",
                                            "description": "One event (JSON object) per line"}},
    },
}


@router.post(
    "/events",
    status_code=202,
    response_model=IngestReport,
    summary="Ingest shopper events",
    description="A JSON array of events, one JSON event, or NDJSON. Valid events land in the "
    "raw zone; invalid ones are quarantined with a reason. 202 when all landed; 400 lists "
    "the rejected ones (the valid ones in the same request still landed). Resending the "
    "same body rewrites the same files instead of duplicating events.",
    responses={
        400: {"model": IngestReport | ErrorReport,
              "description": "Some events were rejected (a report), or the request holds "
              "no events (an error)"},
        413: {"model": ErrorReport, "description": "Body larger than MAX_REQUEST_BYTES"},
        415: {"model": ErrorReport, "description": "Not JSON or NDJSON"},
    },
    openapi_extra={"requestBody": _REQUEST_BODY},
)
async def post_events(request: Request) -> JSONResponse:
    services = services_of(request)
    limit = services.settings.max_request_bytes
    body = await _read_limited(request, limit)
    try:
        bodies = split_request_body(body, request.headers.get("content-type"))
    except UnsupportedContentType as error:
        raise HTTPException(415, {"message": str(error)}) from None
    if not bodies:
        raise HTTPException(400, {"message": "the request holds no events"})
    batch = EventBatch.from_http(bodies, body, datetime.now(UTC))
    result = await run_in_threadpool(services.ingest, batch)
    report = IngestReport(
        batch=result.batch,
        received=result.received,
        landed=result.landed,
        quarantined=result.quarantined,
        reasons=result.reasons,
        rejects=[RejectedEvent(index=r.sequence_number, reason=r.reason, field=r.field,
                               detail=r.detail) for r in result.rejects],
    )
    return JSONResponse(report.model_dump(), status_code=400 if result.quarantined else 202)


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing early (by Content-Length) or as soon as it passes `limit`."""
    too_large = HTTPException(413, {"message": f"request body is larger than {limit} bytes"})
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def event_schema_component() -> dict:
    """The event contract as an OpenAPI component (JSON Schema 2020-12 is OpenAPI 3.1's)."""
    schema = dict(json_schema())
    for key in ("$schema", "$id"):
        schema.pop(key)
    return schema
