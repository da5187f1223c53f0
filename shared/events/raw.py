"""Read back what ingestion wrote: raw events, quarantined events and the batch records."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
import pyarrow as pa
import pyarrow.dataset as ds

from shared.events.contract import EVENT_QUARANTINE_SCHEMA, RAW_SCHEMA
from shared.lake import Lake, Zone


def raw_events(lake: Lake) -> ds.Dataset:
    """`raw/events/` as one dataset, `event_date` from the folder names."""
    return _dataset(lake, lake.path(Zone.RAW, "events"), RAW_SCHEMA, "event_date")


def quarantined_events(lake: Lake) -> ds.Dataset:
    return _dataset(lake, lake.path(Zone.QUARANTINE, "events"), EVENT_QUARANTINE_SCHEMA,
                    "received_date")


def _dataset(lake: Lake, folder: str, schema: pa.Schema, partition_field: str) -> ds.Dataset:
    partition = pa.field(partition_field, pa.date32())
    return ds.dataset(
        # An empty file is what an interrupted write of older versions left (see
        # shared.warehouse.sources.raw_event_files): never a Parquet file.
        [info.path for info in lake.file_infos(folder, suffix=".parquet") if info.size],
        schema=schema.append(partition),
        filesystem=lake.fs,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([partition]), flavor="hive"),
        partition_base_dir=folder,
    )


@dataclass
class IngestTotals:
    """Counts summed over batches (records, or results as they come)."""

    batches: int = 0
    received: int = 0
    landed: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, received: int, landed: int, quarantined: int,
            reasons: dict[str, int]) -> None:
        self.batches += 1
        self.received += received
        self.landed += landed
        self.quarantined += quarantined
        for reason, count in reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + count
        self.reasons = dict(sorted(self.reasons.items()))


def ingest_totals(lake: Lake) -> IngestTotals:
    """Sums over every batch record in `_state/ingest/events/`."""
    totals = IngestTotals()
    for path in lake.list_files(lake.path(Zone.STATE, "ingest", "events"), suffix=".json"):
        record = orjson.loads(lake.read_bytes(path))
        totals.add(record["received"], record["landed"], record["quarantined"],
                   record["reasons"])
    return totals
