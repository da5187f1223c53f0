"""Ingestion's records as the `ingest_log` relation."""

from __future__ import annotations

import orjson

from shared.analytics import IngestLog
from shared.lake import Lake, Zone


def _records(lake: Lake) -> list[str]:
    return lake.list_files(lake.path(Zone.STATE, "ingest", "events"), ".json")


def test_received_is_landed_plus_quarantined_per_source(lake_copy: Lake) -> None:
    table = IngestLog(lake_copy).table()
    sources = set(table["source"].to_pylist())
    assert sources == {"events", "order_lines", "products", "customers"}
    received = sum(orjson.loads(lake_copy.read_bytes(p))["received"] for p in _records(lake_copy))
    events = table.filter([s == "events" for s in table["source"].to_pylist()])
    assert sum(events["records"].to_pylist()) == received


def test_a_record_is_read_again_only_when_it_changes(lake_copy: Lake) -> None:
    log = IngestLog(lake_copy)
    first = log.table()
    assert log.table() is first and log.generation == 1
    path = _records(lake_copy)[0]
    record = orjson.loads(lake_copy.read_bytes(path))
    lake_copy.write_bytes(path, orjson.dumps({**record, "received": record["received"] + 5,
                                              "landed": record["landed"] + 5}))
    second = log.table()
    assert log.generation == 2
    assert sum(second["records"].to_pylist()) == sum(first["records"].to_pylist()) + 5


def test_records_without_a_received_date_take_their_folders(lake_copy: Lake) -> None:
    log = IngestLog(lake_copy)
    before = sorted(log.table().to_pylist(), key=str)
    for path in _records(lake_copy):  # as ingestion wrote them before it kept the date
        record = orjson.loads(lake_copy.read_bytes(path))
        del record["received_date"]
        lake_copy.write_bytes(path, orjson.dumps(record))
    assert sorted(IngestLog(lake_copy).table().to_pylist(), key=str) == before


def test_damaged_and_unfinished_records_are_left_out(lake_copy: Lake) -> None:
    rows = IngestLog(lake_copy).table().num_rows
    lake_copy.write_bytes(lake_copy.path(Zone.STATE, "ingest", "events", "short.json"),
                          orjson.dumps({"received": 9, "landed": 5, "reasons": {"bad_json": 1},
                                        "received_date": "2026-10-02"}))
    lake_copy.write_bytes(lake_copy.path(Zone.STATE, "ingest", "events", "broken.json"), b"{")
    lake_copy.write_bytes(lake_copy.path(Zone.STATE, "ingest", "events", "list.json"), b"[1]")
    lake_copy.write_bytes(lake_copy.path(Zone.STATE, "ingest", "batch", "queued.json"),
                          orjson.dumps({"status": "queued", "dataset": "order_lines",
                                        "landed": 0, "reasons": {}}))
    assert IngestLog(lake_copy).table().num_rows == rows
