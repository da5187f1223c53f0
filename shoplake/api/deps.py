"""Request-scoped access to the shared services, and the request body limit."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from starlette.convertors import Convertor, register_url_convertor
from starlette.types import Message

from shoplake.services import Services, current_services


def services_of(request: Request) -> Services:
    """The app's own services when it was built with some (tests, CLI), else the process's."""
    return request.app.state.services or current_services()


async def read_limited(request: Request, limit: int) -> bytes:
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


class LimitedBodyRoute(APIRoute):
    """A route whose body FastAPI parses (a pydantic model parameter) gets it read within
    MAX_REQUEST_BYTES first: FastAPI alone buffers a body of any size before validating
    it. The model stays in the OpenAPI document, and validation errors stay 400s."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:  # no body, or one the endpoint reads itself
            return handler

        async def limited(request: Request) -> Response:
            body = await read_limited(request, services_of(request).settings.max_request_bytes)
            replay: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive() -> Message:
                # The body as read, once; then the connection as it goes on (a disconnect).
                return replay.pop() if replay else await request.receive()

            return await handler(Request(request.scope, receive))

        return limited


class _WholeIdConvertor(Convertor[str]):
    """The rest of the path, whatever it holds, so that validation, not routing, judges an id
    (`{customer_id:whole_id}`, `{name:whole_id}`).

    A plain parameter is one path segment, and an id may hold "/" (sent as %2F, it arrives
    decoded): such a customer, or a KPI name, would get a 404 rather than its 400.
    Starlette's `path` convertor (`.*`) stops at a newline and its route's `$` then drops a
    trailing one, so "C1%0A" would be served as "C1"; this one matches newlines too, and the
    id pattern refuses them with a 400.
    """

    regex = r"(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("whole_id", _WholeIdConvertor())
