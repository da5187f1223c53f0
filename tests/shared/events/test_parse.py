"""Parsing batches: the bulk and tolerant paths give identical values; problems per row."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.events.contract import PARSE_SCHEMA
from shared.events.parse import parse_bodies

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
                         st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=8))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)
field_names = st.sampled_from([f.name for f in PARSE_SCHEMA] + ["extra"])
objects = st.dictionaries(field_names, json_values, max_size=6)


def well_typed(field: str) -> st.SearchStrategy:
    kind = PARSE_SCHEMA.field(field).type
    if kind == "double":
        return st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53)
    return st.text(max_size=12)


good_objects = st.fixed_dictionaries({}, optional={
    f.name: st.none() | well_typed(f.name) for f in PARSE_SCHEMA})


bad_bodies = st.sampled_from([b'{"event_id": 1}', b"[]", b"", b'{"quantity": "x"', b"\xff",
                               b'{"a": 1} {"b": 2}', b"null"])


@given(st.lists(good_objects, min_size=1, max_size=30),
       st.lists(st.tuples(st.integers(0, 30), bad_bodies), min_size=1, max_size=5))
def test_bad_bodies_do_not_change_the_good_rows(events: list[dict], bad: list) -> None:
    good = [orjson.dumps(e) for e in events]
    mixed = list(good)
    for position, body in sorted(bad, reverse=True):
        mixed.insert(min(position, len(mixed)), body)

    clean, tolerant = parse_bodies(good), parse_bodies(mixed)

    assert clean.path == "bulk" and tolerant.path == "tolerant"
    assert len(tolerant.problems) == len(bad)
    kept = [row for row in range(len(mixed)) if row not in tolerant.problems]
    assert tolerant.table.take(kept).equals(clean.table)


@settings(max_examples=200)
@given(st.lists(objects | st.binary(max_size=20) | json_values, min_size=1, max_size=20))
def test_each_row_parses_as_it_would_alone(items: list) -> None:
    """Batch context never changes a row's outcome: one bad body cannot spoil others."""
    bodies = [item if isinstance(item, bytes) else orjson.dumps(item) for item in items]

    together = parse_bodies(bodies)

    for row, body in enumerate(bodies):
        alone = parse_bodies([body])
        assert (row in together.problems) == (0 in alone.problems), body
        if row in together.problems:
            assert together.problems[row][0] == alone.problems[0][0]
        else:
            assert together.table.slice(row, 1).equals(alone.table)


@pytest.mark.parametrize(("body", "reason", "field"), [
    (b'{"event_id": "x"', "bad_json", None),
    (b"\xff\xfe{}", "bad_json", None),
    (b"", "bad_json", None),
    (b"[1, 2]", "not_an_object", None),
    (b'"text"', "not_an_object", None),
    (b"  \t", "bad_json", None),
    (b"null", "not_an_object", None),
    (b'{"query": "raw\nnewline"}', "bad_json", None),
    (b'{"query": "raw\ttab"}', "bad_json", None),
    (b'{"query": "\xff"}', "bad_json", None),
    (b'{"quantity": "2"}', "wrong_type", "quantity"),
    (b'{"unit_price": true}', "wrong_type", "unit_price"),
    (b'{"event_id": 7}', "wrong_type", "event_id"),
    (b'{"customer_id": {"id": 1}}', "wrong_type", "customer_id"),
    (b'{"event_id": "a", "event_id": "b"}', "bad_json", "event_id"),
    (b"{} {}", "bad_json", None),
    (b'{"quantity": NaN}', "bad_json", "quantity"),
    (b'{"unit_price": -Infinity}', "bad_json", "unit_price"),
    (b'{"extra": [Infinity]}', "bad_json", None),
    (b'{"extra": ' + b"[" * 1024 + b"]" * 1024 + b"}", "bad_json", None),
    (b'\xef\xbb\xbf{"event_id": "x"}', "bad_json", None),
    (b'{"event_id": "\\ud800"}', "bad_json", None),
    (b'{"quantity": "x", "quantity": 2}', "bad_json", "quantity"),
])
def test_problem_rows_are_named_and_do_not_spoil_the_batch(body: bytes, reason: str,
                                                           field: str | None) -> None:
    good = b'{"event_id": "ok", "quantity": 3, "unit_price": 2}'

    parsed = parse_bodies([good, body, good])

    assert parsed.path == "tolerant"
    assert set(parsed.problems) == {1}
    assert parsed.problems[1][:2] == (reason, field)
    assert parsed.table.column("event_id").to_pylist() == ["ok", None, "ok"]
    assert parsed.table.column("quantity").to_pylist() == [3, None, 3]


def test_many_bad_rows_are_each_found() -> None:
    good = b'{"event_id": "ok"}'
    bodies = [good if i % 7 else b'{"event_id": 1}' for i in range(300)]

    parsed = parse_bodies(bodies)

    assert set(parsed.problems) == {i for i in range(300) if i % 7 == 0}
    assert parsed.table.column("event_id").null_count == len(parsed.problems)


def test_pretty_printed_json_is_one_event() -> None:
    body = b'{\n  "event_id": "p",\r\n  "quantity": 1\n}'

    parsed = parse_bodies([body])

    assert parsed.problems == {}
    assert parsed.table.column("event_id").to_pylist() == ["p"]


def test_skipped_rows_parse_as_empty() -> None:
    import numpy as np

    parsed = parse_bodies([b'{"event_id": "a"}', b"garbage"], skip=np.array([False, True]))

    assert parsed.path == "bulk"
    assert parsed.table.column("event_id").to_pylist() == ["a", None]


def test_numbers_beyond_a_double_are_json_and_read_as_infinities() -> None:
    parsed = parse_bodies([b'{"unit_price": 1e400, "quantity": -1' + b"0" * 400 + b"}"])

    assert parsed.problems == {}
    assert parsed.table.select(["unit_price", "quantity"]).to_pylist() == [
        {"unit_price": float("inf"), "quantity": float("-inf")}]


def test_nan_and_infinity_in_strings_are_just_text() -> None:
    parsed = parse_bodies([b'{"query": "NaN or Infinity", "event_id": "I\\"N"}'])

    assert (parsed.path, parsed.problems) == ("bulk", {})  # read as it is, not screened
    assert parsed.table["query"].to_pylist() == ["NaN or Infinity"]
