"""Read back what ingestion wrote: raw events, quarantined events and the batch records."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pyarrow as pa
import pyarrow.dataset as ds

from shared.events.contract import QUARANTINE_SCHEMA, RAW_SCHEMA
from shared.lake import Lake, Zone


def raw_events(lake: Lake) -> ds.Dataset:
    """`raw/events/` as one dataset, `event_date` from the folder names."""
    return _dataset(lake, lake.path(Zone.RAW, "events"), RAW_SCHEMA, "event_date")


def quarantined_events(lake: Lake) -> ds.Dataset:
    return _dataset(lake, lake.path(Zone.QUARANTINE, "events"), QUARANTINE_SCHEMA,
                    "received_date")


def _dataset(lake: Lake, folder: str, schema: pa.Schema, partition_field: str) -> ds.Dataset:
    partition = pa.field(partition_field, pa.date32())
    return ds.dataset(
        lake.list_files(folder, suffix=".parquet"),
        schema=schema.append(partition),
        filesystem=lake.fs,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([partition]), flavor="hive"),
        partition_base_dir=folder,
    )


@dataclass
class IngestTotals:
    batches: int
    received: int
    landed: int
    quarantined: int
    reasons: dict[str, int]


def ingest_totals(lake: Lake) -> IngestTotals:
    """Sums over every batch record in `_state/ingest/events/`."""
    totals = IngestTotals(0, 0, 0, 0, {})
    for path in lake.list_files(lake.path(Zone.STATE, "ingest", "events"), suffix=".json"):
        record = orjson.loads(lake.read_bytes(path))
        totals.batches += 1
        totals.received += record["received"]
        totals.landed += record["landed"]
        totals.quarantined += record["quarantined"]
        for reason, count in record["reasons"].items():
            totals.reasons[reason] = totals.reasons.get(reason, 0) + count
    totals.reasons = dict(sorted(totals.reasons.items()))
    return totals
