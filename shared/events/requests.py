"""Split an HTTP request body into event bodies, the way Event Hubs would deliver them."""

from __future__ import annotations

import orjson

JSON_CONTENT_TYPES = frozenset({"application/json"})
NDJSON_CONTENT_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)


class UnsupportedContentType(ValueError):
    pass


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def split_request_body(body: bytes, content_type: str | None) -> list[bytes]:
    """One body per event.

    NDJSON lines are kept byte for byte (blank lines are not events). A JSON array yields
    its elements, re-serialised compactly; a lone JSON object is one event. A JSON body that
    does not parse is kept whole as a single event, so it is quarantined rather than lost.
    """
    kind = media_type(content_type)
    if kind in NDJSON_CONTENT_TYPES:
        lines = (line.removesuffix(b"\r") for line in body.split(b"\n"))
        return [line for line in lines if line.strip()]
    if kind not in JSON_CONTENT_TYPES:
        raise UnsupportedContentType(
            f"unsupported content type {kind or '(none)'!r}; send application/json (an array "
            "of events or one event) or application/x-ndjson (one event per line)"
        )
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return [body]
    if isinstance(document, list):
        return [orjson.dumps(element) for element in document]
    return [body]
