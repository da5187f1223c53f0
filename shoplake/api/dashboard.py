"""GET /api/dashboard: the KPI dashboard, one self-contained HTML page."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from shoplake.dashboard import DashboardAssetsMissing, served_page

router = APIRouter(tags=["dashboard"])


@router.get("/dashboard", response_class=HTMLResponse, summary="The KPI dashboard",
            responses={503: {"description": "The chart library is not installed"}},
            description="Charts of the KPIs with a period and category filter that every "
                        "panel follows. Its script and chart library are inlined: it needs no "
                        "internet. In Azure, open it with the function key (`?code=`); the "
                        "page passes it on to the API.")
async def dashboard(request: Request) -> Response:
    try:
        page, compressed = await run_in_threadpool(served_page)
    except DashboardAssetsMissing as error:
        raise HTTPException(503, {"message": str(error)}) from None
    headers = {"Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if accepts_gzip(request.headers.get("accept-encoding", "")):
        return Response(compressed, media_type="text/html; charset=utf-8",
                        headers={**headers, "Content-Encoding": "gzip"})
    return Response(page, media_type="text/html; charset=utf-8", headers=headers)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header takes gzip (RFC 9110 12.5.3: `gzip;q=0` refuses it;
    `*` stands for any coding not named)."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, parameters = item.strip().partition(";")
        weight = 1.0
        name, _, value = parameters.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value)
            except ValueError:
                weight = 0.0
        weights[coding.strip().lower()] = weight
    gzip = weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0)))
    return gzip > 0
