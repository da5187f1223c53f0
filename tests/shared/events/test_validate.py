"""The contract's rules, one by one, and their agreement with the published JSON Schema."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.events.contract import EVENT_TYPES, FIELDS_BY_NAME, REQUIRED_BY_TYPE, json_schema
from shared.events.parse import parse_bodies
from shared.events.validate import validate

RECEIVED_US = int(np.datetime64("2026-11-10T12:00:00", "us").astype(np.int64))
VALID = {"event_id": "e-1", "event_type": "purchase", "occurred_at": "2026-11-10T11:59:00Z",
         "customer_id": "C1", "schema_version": 1, "product_id": "P1", "quantity": 2,
         "unit_price": 9.99, "currency": "GBP", "order_id": "O1"}


def verdict(*events: dict | bytes, max_event_bytes: int = 32768) -> list[tuple]:
    bodies = [e if isinstance(e, bytes) else orjson.dumps(e) for e in events]
    parsed = parse_bodies(bodies)
    result = validate(parsed, np.array([len(b) for b in bodies]),
                      np.full(len(bodies), RECEIVED_US), max_event_bytes=max_event_bytes,
                      future_tolerance_s=300)
    from shared.events.contract import REASONS

    return [(REASONS[r], f) if r >= 0 else None
            for r, f in zip(result.reason, result.field, strict=True)]


def changed(**fields: object) -> dict:
    event = {**VALID, **fields}
    return {k: v for k, v in event.items() if v is not ...}


@pytest.mark.parametrize(("event", "expected"), [
    (changed(), None),
    (changed(event_id=...), ("missing_field", "event_id")),
    (changed(event_id=""), ("missing_field", "event_id")),
    (changed(event_type="wishlist"), ("unknown_event_type", "event_type")),
    (changed(schema_version=2), ("unsupported_schema_version", "schema_version")),
    (changed(customer_id=None), ("missing_field", "customer_id")),
    (changed(customer_id=None, session_id="s1"), None),
    (changed(order_id=...), ("missing_field", "order_id")),
    (changed(event_type="page_view", product_id=None, quantity=None), None),
    (changed(event_type="search"), ("missing_field", "query")),
    (changed(event_type="review"), ("missing_field", "rating")),
    (changed(event_type="review", rating=6), ("out_of_range", "rating")),
    (changed(quantity=0), ("out_of_range", "quantity")),
    (changed(quantity=2.5), ("wrong_type", "quantity")),
    (changed(quantity=2.0), None),  # JSON Schema counts 2.0 as an integer too
    (changed(quantity=9223372036854775807), ("out_of_range", "quantity")),
    (changed(unit_price=-0.01), ("out_of_range", "unit_price")),
    (changed(currency="gbp"), ("bad_format", "currency")),
    (changed(currency="EURO"), ("bad_format", "currency")),
    (changed(event_id="caf\u00e9"), ("bad_format", "event_id")),
    (changed(event_id="has space"), ("bad_format", "event_id")),
    (changed(event_id="x" * 65), ("out_of_range", "event_id")),
    (changed(query="q" * 513, event_type="search"), ("out_of_range", "query")),
    (changed(occurred_at="2026-11-10 11:59"), ("bad_timestamp", "occurred_at")),
    (changed(occurred_at="2026-11-10T12:05:00Z"), None),
    (changed(occurred_at="2026-11-10T12:05:01Z"), ("future_timestamp", "occurred_at")),
    (changed(occurred_at="1999-12-31T23:59:59Z"), ("out_of_range", "occurred_at")),
    (changed(page_url="/" + "é" * 2047), None),  # lengths count characters, not bytes
    (changed(page_url="/" + "é" * 2048), ("out_of_range", "page_url")),
])
def test_rules(event: dict, expected: tuple | None) -> None:
    assert verdict(event) == [expected]


def test_first_failing_rule_wins_and_details_name_the_event_type() -> None:
    bodies = [orjson.dumps(changed(event_type="add_to_cart", product_id=None, quantity=0))]
    parsed = parse_bodies(bodies)
    result = validate(parsed, np.array([len(bodies[0])]), np.array([RECEIVED_US]),
                      max_event_bytes=32768, future_tolerance_s=300)

    assert result.field == ["product_id"]
    assert result.detail == ["product_id is required for add_to_cart"]


def test_oversize_is_checked_before_parsing() -> None:
    big = orjson.dumps(changed(page_url="/" + "a" * 100))

    assert verdict(big, max_event_bytes=100) == [("oversize", None)]


def test_later_copies_of_an_event_id_are_duplicates_but_not_rejected_ones() -> None:
    bad_first = changed(quantity=0)
    assert verdict(bad_first, VALID, VALID, changed(event_id="e-2")) == [
        ("out_of_range", "quantity"), None, ("duplicate_event_id", "event_id"), None]


# The published JSON Schema and the vectorised validator must accept the same events.
# (The schema cannot express the clock, sizes, duplicates or calendar validity, so the
# generated timestamps are valid RFC 3339 and in the past.)
SCHEMA_VALIDATOR = jsonschema.Draft202012Validator(json_schema())


def value_for(name: str) -> st.SearchStrategy:
    field = FIELDS_BY_NAME[name]
    if name == "event_type":
        return st.sampled_from([*EVENT_TYPES, "refund"])
    if name == "schema_version":
        return st.sampled_from([1, 2])
    if name == "occurred_at":
        return st.sampled_from(["2026-11-01T10:00:00Z", "2026-11-01T10:00:00.5+01:00",
                                "2026-11-01 10:00", "1999-01-01T00:00:00Z"])
    if name == "currency":
        return st.sampled_from(["GBP", "EUR", "gbp", "EURO", ""])
    if name == "event_id":
        return st.sampled_from(["e1", "", "a b", "x" * 65])
    if field.json_type == "integer":
        return st.integers(-3, 12_000)
    if field.json_type == "number":
        return st.floats(-10, 2e6, allow_nan=False) | st.integers(-10, 2_000_000)
    return st.text(alphabet="ab", max_size=3) | st.just("")


events = st.fixed_dictionaries({}, optional={
    name: st.none() | value_for(name) for name in FIELDS_BY_NAME})


@settings(max_examples=300)
@given(events)
def test_json_schema_and_validator_agree(event: dict) -> None:
    schema_accepts = SCHEMA_VALIDATOR.is_valid(event)

    assert (verdict(event) == [None]) == schema_accepts, json.dumps(event)


def test_every_event_type_has_its_required_fields_in_the_schema() -> None:
    for event_type, required in REQUIRED_BY_TYPE.items():
        minimal = {"event_id": "e", "event_type": event_type, "schema_version": 1,
                   "occurred_at": "2026-11-01T10:00:00Z", "session_id": "s"}
        for name in required:
            minimal[name] = {"quantity": 1, "unit_price": 1.0, "rating": 3,
                             "currency": "GBP"}.get(name, "v")
        assert SCHEMA_VALIDATOR.is_valid(minimal), event_type
        assert verdict(minimal) == [None], event_type


def test_charset_check_handles_slices_chunks_nulls_and_non_ascii() -> None:
    import pyarrow as pa

    from shared.events.validate import _byte_table, _outside_charset

    allowed = _byte_table("A-Za-z0-9_.:-")
    values = pa.array(["skip", "ok-1", None, "", "bad id", "é", "fine.2", "x:y"]).slice(1)
    column = pa.chunked_array([values.slice(0, 3), values.slice(3)])

    assert _outside_charset(column, allowed).tolist() == [
        False, False, False, True, True, False, False]


def strict_json(body: bytes) -> object:
    """`body` as RFC 8259 JSON with unique names (I-JSON), else ValueError: no NaN or
    Infinity, no repeated key (Python's json module takes both)."""
    def unique(pairs: list[tuple[str, object]]) -> dict:
        if len({name for name, _ in pairs}) != len(pairs):
            raise ValueError("a name appears twice")
        return dict(pairs)

    def constant(token: str) -> float:
        raise ValueError(f"{token} is not JSON")

    return json.loads(body, parse_constant=constant, object_pairs_hook=unique)


def written_as(field: str, text: str, event_type: str = "purchase") -> bytes:
    event = changed(event_type=event_type, rating=4 if event_type == "review" else ...)
    return orjson.dumps({**event, field: 0}).replace(f'"{field}":0'.encode(),
                                                     f'"{field}":{text}'.encode())


TRICKY = [
    *(written_as("schema_version", text) for text in (
        "1", "1.0", "1e0", "10e-1", "1.5", "2", "NaN", "Infinity", "true", '"1"', "1e400",
        str(2**70), "-1")),
    *(written_as("quantity", text) for text in (
        "2", "2.0", "2e0", "1.5", "0", "NaN", "-Infinity", "true", '"2"', "1e400", "-1e400",
        str(2**64), str(2**70), "1" + "0" * 400, "null")),
    *(written_as("rating", text, "review") for text in (
        "5", "5.0", "5.5", "6", "NaN", "Infinity", "1e400", "false")),
    *(written_as("unit_price", text) for text in (
        "9.99", "0", "-0.0", "1e-400", "1e6", "1000000.01", "NaN", "Infinity", "1e400",
        '"9.99"')),
    *(written_as("extra", text) for text in ("1e400", "NaN", '"NaN"', "[[[1]]]")),
    orjson.dumps(VALID)[:-1] + b',"quantity":3}',
    orjson.dumps(VALID)[:-1] + b',"event_id":"e-2"}',
]


@pytest.mark.parametrize("body", TRICKY, ids=lambda body: body.decode()[-40:])
def test_tricky_bodies_get_the_verdict_of_the_published_schema(body: bytes) -> None:
    """Where a body is JSON, the published JSON Schema decides; where it is not, it is
    bad_json. (JSON Schema counts 1.0 and 1e0 as integers, and 1e400 is a number.)"""
    [ours] = verdict(body)
    try:
        event = strict_json(body)
    except ValueError:
        assert ours is not None and ours[0] == "bad_json"
        return
    assert (ours is None) == SCHEMA_VALIDATOR.is_valid(event), ours
