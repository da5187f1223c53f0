"""Event bodies are compact JSON that parses back to the event; keys pick partitions."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pyarrow as pa
import pytest

from shared.simulator import EVENTS_SCHEMA, event_bodies, event_partition_keys

from .checks import ISO_MILLIS


def _expected(row: dict[str, object]) -> dict[str, object]:
    present = {k: v for k, v in row.items() if v is not None}
    at = present["occurred_at"]
    assert isinstance(at, datetime)
    present["occurred_at"] = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
    return present


def test_bodies_round_trip_to_the_non_null_fields(events: pa.Table) -> None:
    bodies = event_bodies(events)  # several serialisation passes over several chunks
    assert len(bodies) == events.num_rows > 2 * 32_768
    for row, body in zip(events.slice(0, 5000).to_pylist() + events.slice(60_000).to_pylist(),
                         bodies[:5000] + bodies[60_000:], strict=True):
        parsed = orjson.loads(body)
        assert parsed == _expected(row)
        assert list(parsed) == [k for k in EVENTS_SCHEMA.names if k in parsed]
        assert ISO_MILLIS.match(parsed["occurred_at"])
        assert body == orjson.dumps(parsed)  # compact, nothing but the fields
        for name in ("schema_version", "quantity", "rating"):
            assert type(parsed.get(name, 0)) is int


def test_awkward_values_are_escaped_and_typed() -> None:
    rows = [
        {"event_id": "e1", "event_type": "search", "occurred_at": datetime(2026, 9, 1, tzinfo=UTC),
         "session_id": 's"1', "schema_version": 1, "query": 'red "mug", \\ \n\t\x01 café ☕'},
        {"event_id": "e2", "event_type": "add_to_cart",
         "occurred_at": datetime(2026, 9, 1, 23, 59, 59, 999_999, tzinfo=UTC),
         "customer_id": "C1", "schema_version": 1, "product_id": "P1", "quantity": 2,
         "unit_price": 19.0, "currency": "GBP", "query": '","'},
        {"event_id": "e3", "event_type": "purchase",
         "occurred_at": datetime(1999, 12, 31, 12, tzinfo=UTC), "customer_id": "C2",
         "schema_version": 1, "product_id": "P2", "quantity": 1, "unit_price": 0.1,
         "currency": "GBP", "order_id": "O-1"},
    ]
    table = pa.Table.from_pylist(rows, schema=EVENTS_SCHEMA)
    parsed = [orjson.loads(b) for b in event_bodies(table)]
    assert parsed[0]["query"] == rows[0]["query"]
    assert parsed[0]["session_id"] == 's"1'
    assert parsed[0]["occurred_at"] == "2026-09-01T00:00:00.000Z"
    assert parsed[1]["occurred_at"] == "2026-09-01T23:59:59.999Z"  # truncated, not rounded
    assert parsed[1]["unit_price"] == 19.0 and type(parsed[1]["unit_price"]) is float
    assert parsed[1]["query"] == '","'
    assert parsed[2] == _expected(rows[2] | {k: None for k in EVENTS_SCHEMA.names
                                             if k not in rows[2]})
    assert event_bodies(table.slice(0, 0)) == []


def test_partition_key_is_the_customer_else_the_session() -> None:
    table = pa.table({"customer_id": ["C1", None, "C3"], "session_id": ["s1", "s2", None]})
    assert event_partition_keys(table) == ["C1", "s2", "C3"]
    orphan = pa.table({"customer_id": ["C1", None], "session_id": ["s1", None]},
                      schema=pa.schema([("customer_id", pa.string()), ("session_id", pa.string())]))
    with pytest.raises(ValueError, match="row 1"):
        event_partition_keys(orphan)
