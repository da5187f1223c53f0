"""The FastAPI application and its error contract: every error is JSON, never a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import __version__
from shoplake.api import customers, dashboard, events, forecasts, health, kpis, recommendations
from shoplake.api.errors import error_body, invalid_request, where
from shoplake.services import Services

logger = logging.getLogger("shoplake.api")


def create_app(services: Services | None = None) -> FastAPI:
    """The API; `services` defaults to the process-wide ones, resolved on first request."""
    api = FastAPI(
        title="shoplake",
        version=__version__,
        summary="E-commerce lakehouse API: event ingestion, recommendations, KPIs and a dashboard.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    api.state.services = services
    api.add_middleware(HeadAsGet)
    _publish_event_schema(api)
    api.include_router(events.router, prefix="/api")
    api.include_router(recommendations.router, prefix="/api")
    api.include_router(kpis.router, prefix="/api")
    api.include_router(forecasts.router, prefix="/api")
    api.include_router(customers.router, prefix="/api")
    api.include_router(dashboard.router, prefix="/api")
    api.include_router(health.router, prefix="/api")

    @api.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        detail = error.detail if isinstance(error.detail, dict) else {"message": str(error.detail)}
        return JSONResponse(error_body(error.status_code, **detail),
                            status_code=error.status_code, headers=error.headers)

    @api.exception_handler(RequestValidationError)
    async def bad_request(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(invalid_request((where(e["loc"]), e["msg"]) for e in error.errors()),
                            status_code=400)

    @api.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body(500, "the server failed; the error is logged"),
                            status_code=500)

    return api


class HeadAsGet:
    """HEAD answered as GET is, without the body (RFC 9110 9.3.2): uptime probes and link
    checkers send HEAD; FastAPI's routes would answer 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def _publish_event_schema(api: FastAPI) -> None:
    """Add the event contract to the OpenAPI document as `ShopperEvent`."""
    build = api.openapi

    def openapi() -> dict:
        if api.openapi_schema is None:
            document = build()
            # Invalid requests answer 400 (see bad_request below), never FastAPI's 422.
            for operation in _operations(document):
                operation.get("responses", {}).pop("422", None)
            document.setdefault("components", {}).setdefault("schemas", {})[
                "ShopperEvent"] = events.event_schema_component()
            api.openapi_schema = document
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]


def _operations(document: dict) -> list[dict]:
    return [operation for path in document.get("paths", {}).values()
            for operation in path.values() if isinstance(operation, dict)]

