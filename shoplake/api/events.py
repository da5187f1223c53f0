"""POST /api/events: the same validation and landing as the Event Hubs trigger."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from shared.events.contract import json_schema
from shared.events.ingest import EventBatch
from shared.events.requests import UnsupportedContentType, split_request_body
from shoplake.api.deps import LimitedBodyRoute, read_limited, services_of
from shoplake.api.errors import ErrorReport
from shoplake.services import Services

router = APIRouter(tags=["events"], route_class=LimitedBodyRoute)


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
        413: {"model": ErrorReport, "description": "Body larger than MAX_REQUEST_BYTES, or "
              "more events than MAX_REQUEST_EVENTS"},
        415: {"model": ErrorReport, "description": "Not JSON or NDJSON"},
    },
    openapi_extra={"requestBody": _REQUEST_BODY},
)
async def post_events(request: Request) -> Response:
    services = services_of(request)
    body = await read_limited(request, services.settings.max_request_bytes)
    # Splitting, validating, landing and the report grow with the body (the report of a
    # full request of bad events is megabytes of JSON): all of it runs in the threadpool,
    # so that other requests are served meanwhile.
    status, report = await run_in_threadpool(
        _ingest, services, body, request.headers.get("content-type"))
    return Response(report, status_code=status, media_type="application/json")


def _ingest(services: Services, body: bytes, content_type: str | None) -> tuple[int, bytes]:
    """Land the request's events; the status and the `IngestReport` as JSON."""
    try:
        bodies = split_request_body(body, content_type)
    except UnsupportedContentType as error:
        raise HTTPException(415, {"message": str(error)}) from None
    if not bodies:
        raise HTTPException(400, {"message": "the request holds no events"})
    limit = services.settings.max_request_events
    if len(bodies) > limit:
        raise HTTPException(413, {"message": f"the request holds {len(bodies)} events; at "
                                  f"most {limit} are taken at once (MAX_REQUEST_EVENTS): "
                                  "send them in smaller requests"})
    result = services.ingest(EventBatch.from_http(bodies, body, datetime.now(UTC)))
    report = {
        "batch": result.batch,
        "received": result.received,
        "landed": result.landed,
        "quarantined": result.quarantined,
        "reasons": result.reasons,
        "rejects": [{"index": r.sequence_number, "reason": r.reason, "field": r.field,
                     "detail": r.detail} for r in result.rejects],
    }
    return 400 if result.quarantined else 202, orjson.dumps(report)


def event_schema_component() -> dict:
    """The event contract as an OpenAPI component (JSON Schema 2020-12 is OpenAPI 3.1's)."""
    schema = dict(json_schema())
    for key in ("$schema", "$id"):
        schema.pop(key)
    return schema
