"""Hostile input: every promise holds whatever the bodies hold, at a cost linear in them.

Nothing in parsing, validation or landing may raise on content (an exception would make the
Event Hubs trigger retry the batch forever); every body is landed or quarantined with a
reason; a body's verdict does not depend on its neighbours or on how it was sent.
"""

from __future__ import annotations

import tempfile

import numpy as np
import orjson
import pytest
from hypothesis import given, settings

from shared.events.ingest import EventBatch, IngestResult, ingest_event_batch
from shared.events.parse import _Joined, _plain, _read, _read_lines, _screen, parse_bodies
from shared.events.raw import quarantined_events, raw_events
from shared.events.requests import split_request_body
from shared.lake import Lake
from tests.support.events import make_batch
from tests.support.hostile import (
    ENQUEUED_AT,
    GOOD_EVENTS,
    MAX_EVENT_BYTES,
    assert_reconciles,
    batches,
    hostile_bodies,
    revalidated,
)
from tests.support.memory import with_peak_memory

NDJSON, JSON = "application/x-ndjson", "application/json"


def eventhub_batch(bodies: list[bytes]) -> EventBatch:
    return make_batch(bodies, enqueued_at=ENQUEUED_AT.replace(tzinfo=None).isoformat())


@settings(max_examples=100)
@given(batches())
def test_hostile_batches_reconcile_and_never_raise(bodies: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        lake = Lake.open(f"{folder}/lake")

        result = ingest_event_batch(lake, eventhub_batch(bodies), max_event_bytes=MAX_EVENT_BYTES)

        assert_reconciles(result.received, result.landed,
                          [(r.sequence_number, r.reason) for r in result.rejects])
        landed = raw_events(lake).to_table()
        assert landed.num_rows == result.landed
        assert revalidated(landed) == [-1] * result.landed
        quarantine = quarantined_events(lake).to_table(columns=["sequence_number", "body"])
        assert all(bodies[position] == body for position, body in zip(
            quarantine["sequence_number"].to_pylist(), quarantine["body"].to_pylist(),
            strict=True))


@settings(max_examples=100)
@given(batches(max_size=12))
def test_a_body_is_judged_alone_whatever_its_neighbours(bodies: list[bytes]) -> None:
    parsed = parse_bodies(bodies)

    for row, body in enumerate(bodies):
        alone = parse_bodies([body])
        assert parsed.problems.get(row) == alone.problems.get(0), body
        assert parsed.table.slice(row, 1).equals(alone.table), body


@settings(max_examples=300)
@given(hostile_bodies())
def test_the_reader_and_the_screen_agree_on_plain_bodies(body: bytes) -> None:
    """A plain body is left to the reader, unless the reader refuses bodies near it too
    often: then it is screened. Both must reach the same verdict and the same values."""
    if not _plain(_Joined([body]))[0]:
        return
    problem, line = _screen(body)

    by_reader = parse_bodies([body])

    assert (0 in by_reader.problems) == (problem is not None), body
    if problem is None:
        assert by_reader.table.equals(_read(line))
    else:
        assert by_reader.problems[0][:2] == problem[:2]


def test_many_refusals_switch_to_screening_with_the_same_verdicts() -> None:
    good = orjson.dumps(GOOD_EVENTS[1])
    bodies = [good.replace(b'"quantity":2', b'"quantity":"2"') if i % 3 == 0 else good
              for i in range(600)]  # a refusal every 3 lines: all screened

    parsed = parse_bodies(bodies)

    assert set(parsed.problems) == set(range(0, 600, 3))
    assert set(parsed.problems.values()) == {
        ("wrong_type", "quantity", "quantity must be a JSON number, got a string")}
    assert parsed.table["quantity"].to_pylist() == [None if i % 3 == 0 else 2.0
                                                   for i in range(600)]


def test_sparse_refusals_are_found_one_read_each_with_the_same_verdicts() -> None:
    good = orjson.dumps(GOOD_EVENTS[1])
    bodies = [good] * 1000
    bodies[300] = good.replace(b'"quantity":2', b'"quantity":true')
    bodies[700] = good[:-1] + b',"currency":"EUR"}'
    bodies[999] = good.replace(b'"unit_price":9.5', b'"unit_price":1e400')

    parsed = parse_bodies(bodies)

    assert parsed.problems == {
        300: ("wrong_type", "quantity", "quantity must be a JSON number, got a boolean"),
        700: ("bad_json", "currency", "currency was specified twice")}
    assert parsed.table["unit_price"].to_pylist()[998:] == [9.5, float("inf")]
    assert parsed.table["quantity"].null_count == 2


def test_a_line_the_reader_refuses_after_screening_gets_the_readers_reason() -> None:
    lines = [b'{"event_id": "a"}', b'{"event_id": 7}', b'{"event_id": "c"}', b"{} {}"]
    problems: dict = {}

    table = _read_lines(_Joined(lines), list(lines), np.ones(len(lines), dtype=bool), problems)

    assert table["event_id"].to_pylist() == ["a", None, "c", None]
    assert problems[1] == ("wrong_type", "event_id", "event_id must be a JSON string, got a number")
    assert problems[3][0] == "bad_json"


# Regressions for issue 10, each as reported.

def ingest_request(body: bytes, content_type: str, lake: Lake) -> IngestResult:
    bodies = split_request_body(body, content_type)
    return ingest_event_batch(lake, EventBatch.from_http(bodies, body, ENQUEUED_AT),
                        max_event_bytes=MAX_EVENT_BYTES)


def test_25000_unparseable_lines_cost_memory_linear_in_the_batch(local_lake: Lake) -> None:
    body = b"not json\n" * 25_000

    result, peak = with_peak_memory(lambda: ingest_request(body, NDJSON, local_lake))

    assert (result.received, result.landed, result.reasons) == (25_000, 0, {"bad_json": 25_000})
    # About 1 KiB per event (its reject and report); a row-by-row mask per bad row (the
    # cause of this issue) took 25,000² bytes several times over.
    assert peak < 2048 * 25_000


def test_100000_nulls_in_a_json_array_are_100000_rejects(local_lake: Lake) -> None:
    body = b"[" + b",".join([b"null"] * 100_000) + b"]"

    result = ingest_request(body, JSON, local_lake)

    assert (result.received, result.landed) == (100_000, 0)
    assert result.reasons == {"not_an_object": 100_000}
    assert result.rejects[0].detail == "body is a JSON null, not an object"


def with_value(event: dict, name: str, text: bytes) -> bytes:
    """`event` as JSON with `name` written as `text`, which orjson could not write."""
    return orjson.dumps({**event, name: 0}).replace(b'"%s":0' % name.encode(),
                                                    b'"%s":%s' % (name.encode(), text))


def hundred_events(name: str, text: bytes) -> list[bytes]:
    """99 valid events of the kind that carries `name`, and the 51st with `name` = text."""
    event = GOOD_EVENTS[2] if name == "rating" else GOOD_EVENTS[1]
    bodies = [orjson.dumps({**event, "event_id": f"e-{i}"}) for i in range(100)]
    bodies[50] = with_value({**event, "event_id": "e-50"}, name, text)
    return bodies


@pytest.mark.parametrize("text", [b"NaN", b"Infinity", b"-Infinity"])
@pytest.mark.parametrize("name", ["quantity", "rating", "unit_price"])
@pytest.mark.parametrize("content_type", [NDJSON, JSON])
def test_nan_is_not_json_and_costs_one_event_not_the_request(
        local_lake: Lake, name: str, text: bytes, content_type: str) -> None:
    bodies = hundred_events(name, text)
    body = b"\n".join(bodies) if content_type == NDJSON else b"[" + b",".join(bodies) + b"]"

    result = ingest_request(body, content_type, local_lake)

    assert (result.received, result.landed, result.quarantined) == (100, 99, 1)
    [reject] = result.rejects
    assert (reject.sequence_number, reject.reason, reject.field) == (50, "bad_json", name)
    assert reject.detail == f"{name} is {text.decode()}, which is not a JSON number"


@pytest.mark.parametrize(("name", "text", "reason"), [
    ("unit_price", b"1e400", "out_of_range"),
    ("unit_price", b"-1e400", "out_of_range"),
    ("quantity", b"1e400", "out_of_range"),
    ("quantity", b"1" + b"0" * 400, "out_of_range"),
    ("quantity", str(2**70).encode(), "out_of_range"),
    ("quantity", str(2**64).encode(), "out_of_range"),
    ("rating", b"1e400", "out_of_range"),
    ("schema_version", b"1e400", "unsupported_schema_version"),
    ("schema_version", str(2**70).encode(), "unsupported_schema_version"),
    ("event_id", str(2**70).encode(), "wrong_type"),
    ("currency", b"1e400", "wrong_type"),
])
def test_huge_numbers_are_json_judged_by_the_rules(local_lake: Lake, name: str, text: bytes,
                                                   reason: str) -> None:
    bodies = hundred_events(name, text)

    result = ingest_event_batch(local_lake, eventhub_batch(bodies), max_event_bytes=MAX_EVENT_BYTES)

    assert (result.landed, [(r.sequence_number, r.reason, r.field) for r in result.rejects]) == (
        99, [(50, reason, name)])


def test_a_huge_number_in_an_unknown_property_is_ignored(local_lake: Lake) -> None:
    bodies = hundred_events("extra", b"1e400")

    result = ingest_event_batch(local_lake, eventhub_batch(bodies), max_event_bytes=MAX_EVENT_BYTES)

    assert result.landed == 100


@pytest.mark.parametrize("content_type", [NDJSON, JSON])
def test_one_broken_element_does_not_lose_its_neighbours(local_lake: Lake,
                                                         content_type: str) -> None:
    bodies = hundred_events("quantity", b"2")
    bodies[10] = bodies[10][:-1] + b",}"  # a trailing comma
    bodies[20] = bodies[20][:-1] + b',"event_id":"again"}'  # a key twice
    bodies[30] = b"[" * 10_000 + b"]" * 10_000
    body = b"\n".join(bodies) if content_type == NDJSON else b"[" + b",".join(bodies) + b"]"

    result = ingest_request(body, content_type, local_lake)

    assert result.landed == 97
    assert [(r.sequence_number, r.reason, r.field) for r in result.rejects] == [
        (10, "bad_json", None), (20, "bad_json", "event_id"), (30, "bad_json", None)]


@pytest.mark.parametrize("nesting", [1023, 1024, 1025, 10_000])
def test_nesting_deeper_than_1024_levels_is_refused_in_any_batch(nesting: int) -> None:
    deep = b'{"extra":' + b"[" * (nesting - 1) + b"]" * (nesting - 1) + b"}"
    good = orjson.dumps(GOOD_EVENTS[0])

    for batch in ([deep], [good, deep], [good, b"not json", deep]):
        parsed = parse_bodies(batch)
        row = len(batch) - 1
        assert (row in parsed.problems) == (nesting > 1024)


def test_received_is_landed_plus_quarantined_when_every_event_is_invalid_utf8(
        local_lake: Lake) -> None:
    bodies = [b'{"event_id": "\xff"}', b"\xed\xa0\x80", b'{"query": "\xc3\x28"}']

    result = ingest_event_batch(local_lake, eventhub_batch(bodies), max_event_bytes=MAX_EVENT_BYTES)

    assert result.reasons == {"bad_json": 3}
    assert {r.detail for r in result.rejects} == {"body is not UTF-8"}
