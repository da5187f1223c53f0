"""The API's one error shape, built here for every route: `{"error": name, "message": …}`
(plus `problems` for a bad request), named by status code."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel

ERROR_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    500: "internal_error",
    503: "unavailable",
}


class ErrorReport(BaseModel):
    error: str
    message: str


def error_body(status: int, message: str, **more: Any) -> dict[str, Any]:
    return {"error": ERROR_NAMES.get(status, "error"), "message": message, **more}


def invalid_request(problems: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """A 400 body listing each problem: where (`path.customer_id`) and what is wrong."""
    return error_body(400, "the request is invalid",
                      problems=[{"where": where, "message": message}
                                for where, message in problems])


def where(location: Sequence[Any]) -> str:
    """A pydantic error location as the API names it (`query.k`)."""
    return ".".join(str(part) for part in location)
