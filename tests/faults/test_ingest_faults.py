"""Storage faults at each write of event ingest and of batch landing, then a redelivery.

Each case breaks one write of a clean run (see `inject`: raise, hang, 0-byte, partial),
checks that the operation raised and recorded nothing, redelivers the same input with the
storage healthy, and compares the lake with a clean run on a fresh lake: every file of
raw/, quarantine/ and the records, byte for byte (event ingest, every fault on both
backends against the same local reference) or row for row (batch landing, whose rows
carry a landing time; raise and hang on both backends, 0-byte and partial locally).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from shared.lake import Lake
from tests.faults import scenarios
from tests.faults.inject import InjectedFault
from tests.faults.params import Fault, unwrap
from tests.faults.references import batch_reference, events_reference, exports

EVENT_FOLDERS = ("raw", "quarantine", "_state/ingest")
BATCH_FOLDERS = ("raw/batch", "raw/landed", "quarantine/batch", "_state/ingest/batch")


def expected_error(fault: Fault) -> type[BaseException]:
    return TimeoutError if fault.kind == "hang" else InjectedFault


def assert_no_temporary_files(lake: Lake) -> None:
    assert scenarios.temporary_files(lake) == []


def assert_bad_bytes_left(lake: Lake, fault: Fault, clean: Lake) -> None:
    """After a `zero` or `partial` fault the target holds what the storage left: nothing,
    or the first half of the clean run's bytes (as many, for batch files: their rows and
    records carry the landing time)."""
    if fault.kind not in ("zero", "partial"):
        return
    left = lake.read_bytes(scenarios.at(lake, fault.write.target))
    whole = clean.read_bytes(scenarios.at(clean, fault.write.target))
    if fault.kind == "zero":
        assert left == b""
    elif fault.write.target.startswith(("raw/landed/", "_state/ingest/batch/")):
        assert len(left) == len(whole) // 2
    else:
        assert left == whole[:len(whole) // 2]


# -- event ingest ----------------------------------------------------------------------------


def test_event_ingest_recovers_from_a_storage_fault_at_each_write(
        event_fault: Any, empty_lake: Lake, injected: Any) -> None:
    fault: Fault = unwrap(event_fault)
    reference = events_reference()
    clean = Lake.open(str(reference.after))
    record = fault.write.target.startswith("_state/ingest/")
    injector = injected(fault.injector())

    def while_hung() -> None:
        # Nothing of the stuck write is visible, and the batch is not recorded.
        assert not empty_lake.exists(scenarios.at(empty_lake, fault.write.target))
        assert scenarios.files(empty_lake, "_state/ingest") == {}

    error = injector.run(lambda: scenarios.ingest_events(empty_lake), while_hung)

    assert isinstance(error, expected_error(fault)), error
    assert injector.failed is not None and injector.failed.number == fault.write.number
    assert_no_temporary_files(empty_lake)
    assert_bad_bytes_left(empty_lake, fault, clean)
    if not record or fault.kind in ("raise", "hang"):
        # The record is written last: a batch with a failed write has none.
        assert scenarios.files(empty_lake, "_state/ingest") == {}
    injector.fail_at = None  # the storage is healthy again: the batch is redelivered

    result = scenarios.ingest_events(empty_lake)

    assert result.received == result.landed + result.quarantined
    assert scenarios.files(empty_lake, *EVENT_FOLDERS) == scenarios.files(clean, *EVENT_FOLDERS)
    assert_counts_add_up(empty_lake)
    assert_no_temporary_files(empty_lake)


def assert_counts_add_up(lake: Lake) -> None:
    """received = landed + quarantined, in the record and in the files' rows."""
    for path, data in scenarios.files(lake, "_state/ingest/events").items():
        record = orjson.loads(data)
        assert record["received"] == record["landed"] + record["quarantined"], path
        rows = {"raw": 0, "quarantine": 0}
        for name in record["files"]:
            data = lake.read_bytes(scenarios.at(lake, name))
            rows[name.split("/", 1)[0]] += pq.read_metadata(pa.BufferReader(data)).num_rows
        assert (rows["raw"], rows["quarantine"]) == (record["landed"], record["quarantined"])


# -- batch landing ---------------------------------------------------------------------------


def test_batch_landing_recovers_from_a_storage_fault_at_each_write(
        batch_fault: Any, empty_lake: Lake, injected: Any) -> None:
    file, fault = unwrap(batch_fault)
    clean = Lake.open(str(batch_reference(file).after))
    export: Path = exports()[file]
    injector = injected(fault.injector())

    def while_hung() -> None:
        assert not empty_lake.exists(scenarios.at(empty_lake, fault.write.target))
        assert scenarios.files(empty_lake, "_state/ingest/batch") == {}

    error = injector.run(lambda: scenarios.upload(empty_lake, export), while_hung)

    if not fault.write.committed and fault.kind != "raise":
        # The reader abandons this stream before it is committed (the file is rejected
        # whole): a fault at its commit is never reached, and the upload is as clean.
        assert error is None
    else:
        assert isinstance(error, expected_error(fault)), error
        assert injector.failed is not None and injector.failed.number == fault.write.number
        assert_bad_bytes_left(empty_lake, fault, clean)
        if fault.write.number < len(batch_reference(file).writes) or fault.kind in (
                "raise", "hang"):
            # The ledger entry is written last: a file with a failed write has none.
            assert scenarios.files(empty_lake, "_state/ingest/batch") == {}
    assert_no_temporary_files(empty_lake)
    injector.fail_at = None

    result = scenarios.upload(empty_lake, export)

    assert result.status == ("rejected" if file == "whole" else "landed")
    assert result.received == result.landed + result.quarantined
    if file == "rows":  # and in the rows of its files
        rows = {folder: sum(pq.read_metadata(pa.BufferReader(data)).num_rows
                            for data in scenarios.files(empty_lake, folder).values())
                for folder in ("raw/landed", "quarantine/batch")}
        assert (rows["raw/landed"], rows["quarantine/batch"]) == (result.landed,
                                                                  result.quarantined)
    assert scenarios.contents(empty_lake, *BATCH_FOLDERS) == scenarios.contents(
        clean, *BATCH_FOLDERS)
    assert_no_temporary_files(empty_lake)
