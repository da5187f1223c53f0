"""What the transforms read: raw and landed files (raw zone) and Delta tables (later zones).

An input is an Arrow dataset (any lake: DuckDB scans it lazily with filters pushed down)
or the list of its Parquet files (`ParquetFiles`: what Spark reads, and DuckDB's own
reader on a local lake, several times faster); the engine says which it wants. A Delta
table's files are the live ones its log lists, never a folder listing (that would see
replaced files).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from deltalake import DeltaTable

from shared.events.contract import RAW_SCHEMA
from shared.lake import Lake, Zone
from shared.landed import Dataset, landed_folder, landed_rows, landed_schema

EVENT_DATE = pa.field("event_date", pa.date32())


@dataclass(frozen=True)
class ParquetFiles:
    """Parquet files (local paths or URIs); partition columns come from hive-style folder
    names."""

    paths: list[str]
    schema: pa.Schema
    partitioning: dict[str, str]
    """Partition column -> its DuckDB type."""


Rows = ds.Dataset | ParquetFiles
_DUCKDB_TYPES = {pa.date32(): "DATE", pa.string(): "VARCHAR"}


def raw_event_files(lake: Lake) -> dict[date, list[pafs.FileInfo]]:
    """The raw event files of each event date, with sizes, from one listing.

    Empty files are left out: no Parquet file is empty, and one is only what a write
    interrupted by older versions left (pyarrow's Azure stream emptied the blob first);
    its batch had no record, so it was redelivered or landed again.
    """
    folder = lake.path(Zone.RAW, "events")
    by_date: dict[date, list[pafs.FileInfo]] = defaultdict(list)
    for info in lake.file_infos(folder, ".parquet"):
        if not info.size:
            continue
        partition = info.path[len(folder) + 1:].split("/", 1)[0]
        by_date[date.fromisoformat(partition.removeprefix("event_date="))].append(info)
    return dict(by_date)


def landed_input(lake: Lake, dataset: Dataset, names: list[str], *, as_files: bool) -> Rows:
    if not as_files:
        return landed_rows(lake, dataset, names)
    folder = landed_folder(lake, dataset)
    return ParquetFiles([lake.uri(f"{folder}/{name}") for name in names],
                        landed_schema(dataset), {})


def raw_event_dataset(lake: Lake, files: list[pafs.FileInfo]) -> ds.Dataset:
    """The given raw event files as one dataset with `event_date` from their folders."""
    folder = lake.path(Zone.RAW, "events")
    return ds.dataset(
        [info.path for info in files],
        schema=RAW_SCHEMA.append(EVENT_DATE),
        filesystem=lake.fs,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([EVENT_DATE]), flavor="hive"),
        partition_base_dir=folder,
    )


def raw_events_input(lake: Lake, files: list[pafs.FileInfo], *, as_files: bool) -> Rows:
    if not as_files:
        return raw_event_dataset(lake, files)
    return ParquetFiles([lake.uri(info.path) for info in files], RAW_SCHEMA.append(EVENT_DATE),
                        {EVENT_DATE.name: "DATE"})


def table_input(lake: Lake, delta: DeltaTable, date_column: str | None = None,
                dates: list[date] | None = None, *, as_files: bool | None = None) -> Rows:
    """A Delta table's live rows (optionally only some date partitions): as its files when
    `as_files` (by default on a local lake), else as a dataset."""
    if not (lake.local if as_files is None else as_files):
        return table_rows(delta, date_column, dates)
    schema = pa.schema(delta.schema().to_arrow())
    pruning = None if dates is None else [(date_column, "in", [d.isoformat() for d in dates])]
    return ParquetFiles(
        delta.file_uris(file_pruning_predicate=pruning),
        schema,
        {column: _DUCKDB_TYPES[schema.field(column).type]
         for column in delta.metadata().partition_columns},
    )


def partition_dates(rows: Rows, column: str) -> set[date]:
    """The date partitions a table's live files are in, from their paths (nothing read)."""
    paths = rows.paths if isinstance(rows, ParquetFiles) else rows.files
    prefix = f"{column}="
    return {date.fromisoformat(part.removeprefix(prefix))
            for path in paths for part in path.split("/") if part.startswith(prefix)}


def table_rows(delta: DeltaTable, date_column: str | None = None,
               dates: list[date] | None = None) -> ds.Dataset:
    """A Delta table's current rows, optionally only some date partitions (file pruning)."""
    if dates is None:
        return delta.to_pyarrow_dataset()
    return delta.to_pyarrow_dataset(
        file_pruning_predicate=[(date_column, "in", [d.isoformat() for d in dates])]
    )
