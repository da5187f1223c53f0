"""Hostile event bodies, as buggy or malicious producers send them, for property tests.

Each body is what a producer could put in one Event Hubs message or one NDJSON line:
valid events, and events broken in the ways parsers disagree about (NaN, huge numbers,
deep nesting, bad UTF-8, lone surrogates, repeated keys, BOMs, stray CR/LF, ...).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import orjson
import pyarrow as pa
from hypothesis import strategies as st

from shared.events.contract import EVENT_SCHEMA, FIELDS, REASONS
from shared.events.parse import parse_bodies
from shared.events.validate import validate

ENQUEUED_AT = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
MAX_EVENT_BYTES = 32 * 1024

GOOD_EVENTS: list[dict] = [
    {"event_id": "e-view", "event_type": "product_view", "occurred_at": "2026-11-10T11:00:00Z",
     "session_id": "s-1", "schema_version": 1, "product_id": "P1"},
    {"event_id": "e-cart", "event_type": "add_to_cart", "occurred_at": "2026-11-10T11:01:00Z",
     "customer_id": "C1", "schema_version": 1, "product_id": "P1", "quantity": 2,
     "unit_price": 9.5, "currency": "GBP"},
    {"event_id": "e-review", "event_type": "review", "occurred_at": "2026-11-10T11:02:00Z",
     "customer_id": "C1", "schema_version": 1, "product_id": "P1", "rating": 4},
    {"event_id": "e-search", "event_type": "search", "occurred_at": "2026-11-10T11:03:00+01:00",
     "session_id": "s-2", "schema_version": 1, "query": "red mug"},
]

# Raw JSON-ish value texts: each replaces a field's value as written in the body.
_VALUES = [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"18446744073709551616",
           b"1180591620717411303424", b"1" + b"0" * 400, b"1.0", b"2.5", b"-0", b"true",
           b"null", b'"1"', b'"\\ud800"', b'"\\u0000"', b'"a\x00b"', b'"\xed\xa0\x80"',
           b'"\xff"', b'"caf\xc3\xa9"', b"[" * 10_000 + b"]" * 10_000, b"{}", b"[1,]", b'"x' * 3,
           b'"' + b"y" * 3000 + b'"', b'"' + b"z" * 40_000 + b'"', b'"raw\nnewline"',
           b'"NaN"', b"nan", b"01", b'"2026-11-10T11:00:00Z"', b"1e-400"]
_NAMES = [f.name for f in FIELDS] + ["extra"]


@st.composite
def hostile_bodies(draw: st.DrawFn) -> bytes:
    """A valid event, or one broken in one (or two) of many ways."""
    event = {**draw(st.sampled_from(GOOD_EVENTS)), "event_id": f"e-{draw(st.integers(0, 99))}"}
    body = orjson.dumps(event)
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2]))):
        body = draw(_MUTATIONS)(draw, body)
    return body


def _with_value(body: bytes, name: str, value: bytes) -> bytes:
    """`body` with `name` written as `value`: in place if present (bytes as written)."""
    key = b'"%s":' % name.encode()
    if key not in body:
        return body[:-1] + b"," + key + value + b"}"
    start = body.index(key) + len(key)
    end = start
    while end < len(body) and body[end:end + 1] not in (b",", b"}"):
        end += 1
    return body[:start] + value + body[end:]


def _set_value(draw: st.DrawFn, body: bytes) -> bytes:
    return _with_value(body, draw(st.sampled_from(_NAMES)), draw(st.sampled_from(_VALUES)))


def _bad_number(draw: st.DrawFn, body: bytes) -> bytes:
    """A number field written as something a lenient parser takes for a number."""
    name = draw(st.sampled_from(["quantity", "rating", "unit_price", "schema_version"]))
    return _with_value(body, name, draw(st.sampled_from([
        b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"18446744073709551616",
        b"1" + b"0" * 400, b"2.0"])))


def _repeat_key(draw: st.DrawFn, body: bytes) -> bytes:
    name = draw(st.sampled_from(_NAMES))
    return body[:-1] + b',"%s":"again"}' % name.encode()


def _cut(draw: st.DrawFn, body: bytes) -> bytes:
    return body[: draw(st.integers(0, max(len(body) - 1, 0)))]


def _wrap(draw: st.DrawFn, body: bytes) -> bytes:
    before, after = draw(st.sampled_from([
        (b"\xef\xbb\xbf", b""), (b" ", b" "), (b"\r\n", b"\r\n"), (b"", b"\n"), (b"[", b"]"),
        (b"", b" {}"), (b"\x00", b""), (b"", b"\x00")]))
    return before + body + after


def _pretty(draw: st.DrawFn, body: bytes) -> bytes:
    return body.replace(b",", draw(st.sampled_from([b",\n  ", b",\r\n", b",\r"])))


def _replace(draw: st.DrawFn, body: bytes) -> bytes:
    return draw(st.sampled_from([
        b"", b"   ", b"null", b"[]", b"[1, 2]", b'"text"', b"42", b"true", b"{}", b"{} {}",
        b"[" * 10_000 + b"]" * 10_000, b"\xff\xfe", b"\x00", b"{", b"}", b"{'a': 1}",
        b'{"a": NaN}', b'{"a": 1e400}', b'{"a": 1, "a": 2}']))


def _bytes(draw: st.DrawFn, body: bytes) -> bytes:
    position = draw(st.integers(0, len(body)))
    return body[:position] + draw(st.binary(min_size=1, max_size=4)) + body[position:]


_MUTATIONS = st.sampled_from([_set_value, _bad_number, _bad_number, _repeat_key, _cut, _wrap,
                              _pretty, _replace, _bytes])


def batches(max_size: int = 30) -> st.SearchStrategy[list[bytes]]:
    return st.lists(hostile_bodies(), min_size=1, max_size=max_size)


def assert_reconciles(received: int, landed: int, rejects: list[tuple[int, str]]) -> None:
    """received = landed + quarantined, each reject once, with a reason from the contract."""
    assert received == landed + len(rejects)
    assert len({position for position, _ in rejects}) == len(rejects)
    assert {reason for _, reason in rejects} <= set(REASONS)


def revalidated(landed: pa.Table) -> list[int]:
    """Landed events written back as JSON bodies and judged again: reason codes, -1 = ok."""
    events = landed.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)
    bodies = [orjson.dumps({k: v for k, v in event.items() if v is not None},
                           option=orjson.OPT_UTC_Z)
              for event in events.to_pylist()]
    if not bodies:
        return []
    received_us = landed["enqueued_at"].cast(pa.int64()).to_numpy()
    verdicts = validate(parse_bodies(bodies), np.array([len(b) for b in bodies]), received_us,
                        max_event_bytes=MAX_EVENT_BYTES, future_tolerance_s=300)
    return verdicts.reason.tolist()
