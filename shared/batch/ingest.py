"""Land one uploaded export: parse it with its mapping, write landed rows and quarantine.

A file is known by the SHA-256 of its bytes. The ledger entry
`_state/ingest/batch/<sha256>.json` (see `shared.batch.ledger`) is written last, so a file
is either fully landed and recorded, or is processed again from scratch (rewriting the same
files): a re-upload or a duplicated blob-created event finds it `landed` and changes
nothing. An entry of a Synapse run (`queued`, `failed`) is replaced when the file lands.

- `raw/batch/<mapping>/<name>`: the upload as it arrived (the blob trigger's path).
- `raw/landed/<dataset>/<sha256>.parquet`: its rows in the dataset's canonical columns,
  with `source_file` (the hash) and `landed_at`.
- `quarantine/batch/<dataset>/<sha256>.parquet`: rejected rows with reason, row number
  and original line; a file rejected whole (missing columns, not CSV, a broken compressed
  stream) is copied to `quarantine/batch/<dataset>/<sha256>-<name>` with the error in the
  ledger, and nothing of it lands. What a file holds never raises; storage failures do,
  so that the trigger retries.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from shared.batch.ledger import entry_bytes, ledger_path, read_entry
from shared.batch.mapping import Mapping
from shared.batch.reader import (
    MissingColumnsError,
    UnreadableFileError,
    count_records,
    read_batch_file,
)
from shared.lake import Lake, Zone
from shared.landed import ROW_QUARANTINE_SCHEMA, landed_folder, landed_schema

Status = Literal["landed", "duplicate", "rejected", "queued"]
_READ_BLOCK = 1 << 20
_ROWS_FILE = re.compile(r"[0-9a-f]{64}\.parquet")
QUARANTINE_FILE_SCHEMA = ROW_QUARANTINE_SCHEMA.append(pa.field("source_file", pa.string()))


@dataclass(frozen=True)
class BatchFileResult:
    """What happened to one file; received = landed + quarantined, always."""

    file: str  # for a duplicate: the file whose identical content landed first
    mapping: str
    dataset: str
    sha256: str
    status: Status
    received: int
    landed: int
    quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    run_id: str | None = None  # the Synapse pipeline run that lands (or landed) it

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def duplicate_of(cls, entry: dict[str, Any]) -> BatchFileResult:
        """What a file whose content has the ledger entry `entry` comes to: nothing new."""
        fields = {name: entry[name] for name in cls.__dataclass_fields__ if name in entry}
        return cls(**{**fields, "status": "duplicate"})


def content_sha256(lake: Lake, path: str) -> str:
    """The ledger key of an upload: its bytes' SHA-256."""
    digest = hashlib.sha256()
    with lake.open_input(path) as stream:
        while block := stream.read(_READ_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def quarantined_rows(lake: Lake) -> ds.Dataset:
    """Every quarantined batch row, of every dataset (empty, with its schema, if none)."""
    # Only `<sha256>.parquet`: a Parquet file uploaded by mistake is kept beside them whole,
    # as `<sha256>-<name>`, and is no quarantined rows.
    files = [info.path for info in lake.file_infos(lake.path(Zone.QUARANTINE, "batch"), ".parquet")
             if _ROWS_FILE.fullmatch(info.base_name)]
    return ds.dataset(files, schema=QUARANTINE_FILE_SCHEMA, filesystem=lake.fs,
                      format="parquet")


def ingest_batch_file(lake: Lake, path: str, mapping: Mapping,
                      now: datetime | None = None) -> BatchFileResult:
    """Land the lake file at `path` (once per content) with `mapping`."""
    sha256 = content_sha256(lake, path)
    ledger = ledger_path(lake, sha256)
    recorded = read_entry(lake, sha256)  # None: not landed yet (or its entry is damaged)
    # Only a landed file is done: a queued or failed one (a Synapse run's) is not landed yet,
    # and a rejected one may be retried with a new mapping.
    if recorded is not None and recorded.get("status") == "landed":
        return BatchFileResult.duplicate_of(recorded)
    landed_at = now or datetime.now(UTC)
    try:
        result = _land(lake, path, mapping, sha256, landed_at)
    except UnreadableFileError as error:
        reason = "missing_columns" if isinstance(error, MissingColumnsError) else "unreadable_file"
        result = _reject(lake, path, mapping, sha256, reason, str(error))
    if recorded is not None:  # the run it was queued for landed it
        result = replace(result, run_id=recorded.get("run_id"))
    # Written whole, over whatever the entry says by now: the file's outcome wins over its
    # run's bookkeeping (which is written compare-and-swap, so it never overwrites this).
    lake.write_bytes(ledger, entry_bytes({**result.to_json(), "landed_at": landed_at.isoformat()}))
    return result


def upload_file(lake: Lake, local_path: Path, mapping: Mapping) -> BatchFileResult:
    """Copy a local export to `raw/batch/<mapping>/<name>` and land it, as an upload is."""
    target = lake.path(Zone.RAW, "batch", mapping.name, local_path.name)
    with local_path.open("rb") as source, lake.open_output(target) as out:
        while block := source.read(_READ_BLOCK):
            out.write(block)
    return ingest_batch_file(lake, target, mapping)


def _land(lake: Lake, path: str, mapping: Mapping, sha256: str,
          landed_at: datetime) -> BatchFileResult:
    """Stream chunks into the landed file (and quarantine, opened on the first reject)."""
    dataset = mapping.dataset
    schema = landed_schema(dataset)
    landed = quarantined = 0
    reasons: Counter[str] = Counter()
    landed_file, rejected_rows = _row_files(lake, mapping, sha256)
    _remove(lake, rejected_rows)  # from an attempt that never reached the ledger
    with ExitStack() as files:
        stream = files.enter_context(lake.open_input(path))
        writer = files.enter_context(
            pq.ParquetWriter(files.enter_context(lake.open_output(landed_file)), schema))
        rejects: pq.ParquetWriter | None = None
        for chunk in read_batch_file(stream, mapping, name=path.rsplit("/", 1)[-1]):
            rows = chunk.landed.num_rows
            writer.write_table(pa.Table.from_arrays(
                [*chunk.landed.columns, _constant(sha256, pa.string(), rows),
                 _constant(landed_at, schema.field("landed_at").type, rows)], schema=schema))
            landed += rows
            if not chunk.quarantined.num_rows:
                continue
            if rejects is None:
                rejects = files.enter_context(pq.ParquetWriter(
                    files.enter_context(lake.open_output(rejected_rows)), QUARANTINE_FILE_SCHEMA))
            rows = chunk.quarantined.num_rows
            rejects.write_table(pa.Table.from_arrays(
                [*chunk.quarantined.columns, _constant(sha256, pa.string(), rows)],
                schema=QUARANTINE_FILE_SCHEMA))
            quarantined += rows
            for item in pc.value_counts(chunk.quarantined["reason"]).to_pylist():
                reasons[item["values"]] += item["counts"]
    return BatchFileResult(lake.relative(path), mapping.name, dataset.value, sha256, "landed",
                           landed + quarantined, landed, quarantined, dict(sorted(reasons.items())))


def _constant(value: object, kind: pa.DataType, rows: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, kind), rows)


def _row_files(lake: Lake, mapping: Mapping, sha256: str) -> tuple[str, str]:
    """Where a file's landed rows and its quarantined rows go."""
    dataset = mapping.dataset
    return (f"{landed_folder(lake, dataset)}/{sha256}.parquet",
            lake.path(Zone.QUARANTINE, "batch", dataset.value, f"{sha256}.parquet"))


def _remove(lake: Lake, path: str) -> None:
    if lake.exists(path):
        lake.fs.delete_file(path)


def _reject(lake: Lake, path: str, mapping: Mapping, sha256: str, reason: str,
            error: str) -> BatchFileResult:
    """Keep the whole file in quarantine; count its records so nothing goes unaccounted.

    Nothing of it stays landed: this attempt's files were removed by `Lake.open_output` when
    reading broke off, and those of an earlier attempt that never reached the ledger (with
    a mapping that read the file) are removed here.
    """
    for rows in _row_files(lake, mapping, sha256):
        _remove(lake, rows)
    name = path.rsplit("/", 1)[-1]
    target = lake.path(Zone.QUARANTINE, "batch", mapping.dataset.value, f"{sha256}-{name}")
    with lake.open_input(path) as stream, lake.open_output(target) as out:
        while block := stream.read(_READ_BLOCK):
            out.write(block)
    with lake.open_input(path) as stream:
        records = count_records(stream, mapping, name=name)
    return BatchFileResult(lake.relative(path), mapping.name, mapping.dataset.value, sha256,
                           "rejected", records, 0, records, {reason: records}, error)
