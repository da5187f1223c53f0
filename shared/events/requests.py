"""Split an HTTP request body into event bodies, the way Event Hubs would deliver them."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from shared.events.parse import string_quotes

JSON_CONTENT_TYPES = frozenset({"application/json"})
NDJSON_CONTENT_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)

_WHITESPACE = b" \t\n\r"  # JSON's whitespace
_STRUCTURE = np.zeros(256, dtype=bool)  # the bytes that shape an array: brackets and commas
_STRUCTURE[list(b"[]{},")] = True
_NESTING = np.zeros(256, dtype=np.int8)
_NESTING[list(b"[{")] = 1
_NESTING[list(b"]}")] = -1


class UnsupportedContentType(ValueError):
    pass


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def split_request_body(body: bytes, content_type: str | None) -> list[bytes]:
    """One body per event.

    NDJSON lines are kept byte for byte (blank lines are not events). A JSON array yields
    its elements byte for byte, so each is judged as the same bytes sent to Event Hubs or
    on an NDJSON line would be (a duplicate key, a NaN or a broken element is quarantined
    alone). Any other JSON body (an object, or anything that is not an array at its top
    level) is one event: quarantined rather than lost when it is not an event.
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
    elements = array_elements(body)
    return [body] if elements is None else elements


def array_elements(body: bytes) -> list[bytes] | None:
    """The elements of a JSON array as written (without the whitespace around them), or
    None when `body` is not one array at its top level.

    Elements are not parsed here, only found: with strings told apart by their quotes, the
    commas at depth 1 separate them. A few NumPy passes, linear in the body.
    """
    text = body.strip(_WHITESPACE)
    if text[:1] != b"[" or text[-1:] != b"]":
        return None
    data = np.frombuffer(text, dtype=np.uint8)
    quotes = string_quotes(data)
    if quotes.size % 2:  # a string is never closed: nothing after it can be placed
        return None
    marks = np.flatnonzero(_STRUCTURE[data])
    marks = marks[np.searchsorted(quotes, marks) % 2 == 0]
    depth = np.cumsum(_NESTING[data[marks]], dtype=np.int64)
    # The first mark opens the array and the last closes it; none between may close it.
    if depth[-1] != 0 or (depth[:-1] < 1).any():
        return None
    cuts = [0, *marks[(data[marks] == ord(",")) & (depth == 1)].tolist(), len(text) - 1]
    elements = [text[start + 1 : end].strip(_WHITESPACE)
                for start, end in pairwise(cuts)]
    return [] if elements == [b""] else elements
