"""Poison never stalls a partition: `ingest_events`, invoked with events built by the
worker's own converter, lands or quarantines every event of any batch and never raises (the
trigger retries a raising batch forever)."""

from __future__ import annotations

import itertools
from pathlib import Path

import orjson
import pyarrow.dataset as ds
import pytest
from hypothesis import HealthCheck, given, settings

from shared.events.raw import quarantined_events, raw_events
from shared.lake import Lake, Zone
from tests.support.functions_host import app_function, eventhub_events
from tests.support.hostile import ENQUEUED_AT, assert_reconciles, batches, revalidated

PARTITION = "5"
# Each example is a new stretch of the partition, so its batch has files of its own.
_FIRST_SEQUENCES = itertools.count(0, 1000)


@pytest.fixture
def lake(environment: Path) -> Lake:
    return Lake.open(str(environment))


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bodies=batches())
def test_any_batch_is_landed_or_quarantined_and_the_trigger_never_raises(
        lake: Lake, bodies: list[bytes]) -> None:
    first = next(_FIRST_SEQUENCES)
    events = eventhub_events(bodies, partition=PARTITION, first_sequence=first,
                             enqueued_at=ENQUEUED_AT)

    app_function("ingest_events")(events)

    name = f"eventhub-{PARTITION}-{first:020d}-{first + len(bodies) - 1:020d}"
    record = orjson.loads(lake.read_bytes(lake.path(Zone.STATE, "ingest", "events",
                                                    f"{name}.json")))
    position = ds.field("sequence_number")
    this_batch = ((ds.field("source_partition") == PARTITION) & (position >= first)
                  & (position < first + len(bodies)))
    landed = raw_events(lake).to_table(filter=this_batch)
    rejected = quarantined_events(lake).to_table(
        columns=["sequence_number", "reason", "body"], filter=this_batch)
    rejects = list(zip(rejected["sequence_number"].to_pylist(), rejected["reason"].to_pylist(),
                       strict=True))
    assert (record["received"], record["landed"], record["quarantined"]) == (
        len(bodies), landed.num_rows, len(rejects))
    assert_reconciles(record["received"], record["landed"], rejects)
    assert revalidated(landed) == [-1] * landed.num_rows
    assert all(bodies[sequence - first] == body for sequence, body in zip(
        rejected["sequence_number"].to_pylist(), rejected["body"].to_pylist(), strict=True))
