"""Landing batches: exactly-once in effect, nothing lost, rejects explained."""

from __future__ import annotations

import hashlib
from collections import Counter

import orjson
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from shared.events.ingest import EventBatch, ingest_event_batch
from shared.events.raw import ingest_totals, quarantined_events, raw_events
from shared.lake import Lake, Zone
from shared.simulator.faults import FAULTS, inject_faults
from tests.support.events import make_batch

MAX_EVENT_BYTES = 32 * 1024


def lake_digest(lake: Lake) -> dict[str, str]:
    """Every file of the lake with a digest of its bytes."""
    root = lake.path(Zone.RAW)[: -len("/raw")]
    return {lake.relative(p): hashlib.sha256(lake.read_bytes(p)).hexdigest()
            for p in lake.list_files(root)}


def test_valid_batch_lands_in_date_partitions_named_by_position(
        any_lake: Lake, shop_bodies: list[bytes]) -> None:
    batch = make_batch(shop_bodies[:1000], partition="3", first_sequence=5000)

    result = ingest_event_batch(any_lake, batch, max_event_bytes=MAX_EVENT_BYTES)

    assert (result.received, result.landed, result.quarantined) == (1000, 1000, 0)
    name = "eventhub-3-00000000000000005000-00000000000000005999"
    assert result.batch == name
    assert all(f.startswith("raw/events/event_date=") and f.endswith(f"/{name}.parquet")
               for f in result.files)
    landed = raw_events(any_lake).to_table()
    assert landed.num_rows == 1000
    assert pc.all(pc.equal(pc.cast(landed["occurred_at"], "date32"), landed["event_date"])).as_py()
    assert landed["sequence_number"].to_pylist() == sorted(landed["sequence_number"].to_pylist())
    record = orjson.loads(any_lake.read_bytes(
        any_lake.path(Zone.STATE, "ingest", "events", f"{name}.json")))
    assert (record["received"], record["landed"], record["quarantined"]) == (1000, 1000, 0)


def test_redelivered_batch_leaves_the_lake_byte_identical(
        any_lake: Lake, shop_bodies: list[bytes]) -> None:
    poisoned, _ = inject_faults(shop_bodies[:1000], 0.05, seed=3)
    batch = make_batch(poisoned)

    ingest_event_batch(any_lake, batch, max_event_bytes=MAX_EVENT_BYTES)
    first = lake_digest(any_lake)
    for _ in range(2):
        ingest_event_batch(any_lake, batch, max_event_bytes=MAX_EVENT_BYTES)

    assert lake_digest(any_lake) == first
    ids = raw_events(any_lake).to_table(columns=["event_id"])["event_id"]
    assert pc.count_distinct(ids).as_py() == len(ids) == 950


def test_ten_percent_poison_is_quarantined_with_reasons_and_counts_reconcile(
        local_lake: Lake, shop_bodies: list[bytes]) -> None:
    poisoned, expected = inject_faults(shop_bodies[:2000], 0.10, seed=5)
    results = [ingest_event_batch(local_lake, make_batch(poisoned[i:i + 1000], first_sequence=i),
                                  max_event_bytes=MAX_EVENT_BYTES) for i in (0, 1000)]

    expected_reasons = Counter(r for r in expected if r is not None)
    assert set(expected_reasons) == set(FAULTS)  # every kind of poison was exercised
    totals = ingest_totals(local_lake)
    assert totals.received == 2000 == totals.landed + totals.quarantined
    assert totals.quarantined == 200
    assert totals.reasons == dict(sorted(expected_reasons.items()))
    rejected = {r.sequence_number: r for result in results for r in result.rejects}
    assert {seq: rejected[seq].reason for seq in rejected} == {
        seq: reason for seq, reason in enumerate(expected) if reason is not None}

    quarantine = quarantined_events(local_lake).to_table()
    assert quarantine.num_rows == 200
    bodies = dict(zip(quarantine["sequence_number"].to_pylist(),
                      quarantine["body"].to_pylist(), strict=True))
    assert all(bodies[seq] == poisoned[seq] for seq in bodies)  # original bytes kept
    assert all(quarantine["detail"].to_pylist())


def test_future_is_judged_against_the_enqueue_time_not_the_wall_clock(
        local_lake: Lake) -> None:
    body = orjson.dumps({"event_id": "e1", "event_type": "page_view", "session_id": "s",
                         "occurred_at": "2026-11-10T00:04:59Z", "schema_version": 1})
    late = orjson.dumps({**orjson.loads(body), "event_id": "e2",
                         "occurred_at": "2026-11-10T00:05:01Z"})

    result = ingest_event_batch(local_lake,
                                make_batch([body, late], enqueued_at="2026-11-10T00:00:00"),
                                max_event_bytes=MAX_EVENT_BYTES)

    assert [(r.sequence_number, r.reason) for r in result.rejects] == [(1, "future_timestamp")]


def test_duplicate_event_id_within_a_batch_lands_once(local_lake: Lake,
                                                      shop_bodies: list[bytes]) -> None:
    bodies = [shop_bodies[0], shop_bodies[1], shop_bodies[0]]

    result = ingest_event_batch(local_lake, make_batch(bodies), max_event_bytes=MAX_EVENT_BYTES)

    assert result.landed == 2
    assert [(r.sequence_number, r.reason) for r in result.rejects] == [(2, "duplicate_event_id")]


def test_all_rejected_batch_writes_no_raw_file_but_records_the_batch(local_lake: Lake) -> None:
    result = ingest_event_batch(local_lake, make_batch([b"not json", b"{}"]),
                                max_event_bytes=MAX_EVENT_BYTES)

    assert (result.landed, result.quarantined) == (0, 2)
    assert raw_events(local_lake).count_rows() == 0
    assert ingest_totals(local_lake).quarantined == 2


def test_raw_files_carry_the_contract_schema(local_lake: Lake, shop_bodies: list[bytes]) -> None:
    result = ingest_event_batch(local_lake, make_batch(shop_bodies[:50]),
                                max_event_bytes=MAX_EVENT_BYTES)
    from shared.events.contract import RAW_SCHEMA

    path = local_lake.path(Zone.RAW) + result.files[0].removeprefix("raw")
    assert pq.read_schema(path).remove_metadata() == RAW_SCHEMA


def test_batch_needs_aligned_positions() -> None:
    with pytest.raises(ValueError, match="align"):
        EventBatch("eventhub", "0", [b"{}"], make_batch([b"{}", b"{}"]).sequence_numbers,
                   make_batch([b"{}"]).enqueued_at)
    with pytest.raises(ValueError, match="at least one"):
        make_batch([])
