"""Land one delivered batch of events: validate, write raw and quarantine, record the counts.

Every path in is the same call (`ingest_event_batch`): the Event Hubs trigger, POST
/api/events, the demo and the benchmark. A batch's files are named from its source
position, and the reference clock for "in the future" is the time the source received each
event, so a redelivered batch rewrites byte-identical files instead of adding duplicates.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shared.events.contract import (
    EVENT_QUARANTINE_SCHEMA,
    FUTURE_TOLERANCE_SECONDS,
    RAW_SCHEMA,
    REASONS,
)
from shared.events.parse import parse_bodies
from shared.events.validate import Verdicts, validate
from shared.lake import Lake, Zone
from shared.types import UTC_TIMESTAMP

_US = np.dtype("datetime64[us]")
# Dictionary pages pay only for the few-valued columns; statistics only where readers prune.
_DICTIONARY_COLUMNS = ["event_type", "currency", "reason", "field"]
_STATISTICS_COLUMNS = ["event_type", "occurred_at", "customer_id", "product_id",
                       "sequence_number", "reason"]


@dataclass(frozen=True)
class EventBatch:
    """Message bodies exactly as a source delivered them, and where each came from."""

    source: str  # "eventhub" or "http"
    partition: str  # Event Hub partition id; for HTTP, a digest of the request body
    bodies: list[bytes]
    sequence_numbers: np.ndarray  # int64, one per body
    enqueued_at: np.ndarray  # datetime64[us] UTC, when the source received each body

    def __post_init__(self) -> None:
        if not self.bodies:
            raise ValueError("an event batch needs at least one body")
        if not (len(self.bodies) == len(self.sequence_numbers) == len(self.enqueued_at)):
            raise ValueError("bodies, sequence numbers and enqueue times must align")

    @property
    def name(self) -> str:
        """Deterministic batch name: source, partition, first and last sequence number."""
        first, last = int(self.sequence_numbers.min()), int(self.sequence_numbers.max())
        return f"{self.source}-{self.partition}-{first:020d}-{last:020d}"

    @classmethod
    def from_eventhub(cls, partition: str, bodies: list[bytes], sequence_numbers: list[int],
                      enqueued_times: list[datetime]) -> EventBatch:
        """A batch from the Event Hubs trigger (naive enqueue times are UTC, as Event Hubs
        reports them)."""
        return cls(
            "eventhub",
            partition,
            bodies,
            np.asarray(sequence_numbers, dtype=np.int64),
            np.array([to_datetime64(t) for t in enqueued_times], dtype=_US),
        )

    @classmethod
    def from_http(cls, bodies: list[bytes], request_body: bytes,
                  received_at: datetime) -> EventBatch:
        """An HTTP request as a batch: a retried identical request maps to the same files."""
        digest = hashlib.sha256(request_body).hexdigest()[:16]
        return cls(
            "http",
            digest,
            bodies,
            np.arange(len(bodies), dtype=np.int64),
            np.full(len(bodies), to_datetime64(received_at), dtype=_US),
        )


@dataclass(frozen=True)
class Reject:
    sequence_number: int
    reason: str
    field: str | None
    detail: str


@dataclass
class IngestResult:
    """What became of a batch: received = landed + quarantined, always."""

    batch: str
    received: int
    landed: int
    quarantined: int
    reasons: dict[str, int]
    files: list[str]
    parser: str
    received_date: str
    """ISO date its first event was enqueued: the day the batch counts as received."""
    rejects: list[Reject] = field(default_factory=list)
    # The landed rows (RAW_SCHEMA), for consumers in the same process such as live profiles;
    # never part of the summary or any report.
    landed_events: pa.Table = field(default_factory=RAW_SCHEMA.empty_table, repr=False,
                                    compare=False)

    def summary(self) -> dict[str, object]:
        return {
            "batch": self.batch,
            "received": self.received,
            "landed": self.landed,
            "quarantined": self.quarantined,
            "reasons": self.reasons,
            "files": self.files,
            "parser": self.parser,
            "received_date": self.received_date,
        }


def ingest_event_batch(lake: Lake, batch: EventBatch, *, max_event_bytes: int,
                       future_tolerance_s: int = FUTURE_TOLERANCE_SECONDS) -> IngestResult:
    sizes = np.fromiter(map(len, batch.bodies), dtype=np.int64, count=len(batch.bodies))
    oversize = sizes > max_event_bytes
    parsed = parse_bodies(batch.bodies, skip=oversize)
    verdicts = validate(
        parsed,
        sizes,
        batch.enqueued_at.astype(_US).astype(np.int64),
        max_event_bytes=max_event_bytes,
        future_tolerance_s=future_tolerance_s,
    )
    landed = _landed_table(parsed.table, verdicts, batch)
    quarantined = _quarantine_table(verdicts, batch)

    files = [*_write_raw(lake, batch.name, landed), *_write_quarantine(lake, batch, quarantined)]
    reasons = dict(sorted(Counter(quarantined["reason"].to_pylist()).items()))
    result = IngestResult(
        batch=batch.name,
        received=len(batch.bodies),
        landed=landed.num_rows,
        quarantined=quarantined.num_rows,
        reasons=reasons,
        files=[lake.relative(f) for f in files],
        parser=parsed.path,
        received_date=received_date(batch).isoformat(),
        rejects=[
            Reject(row["sequence_number"], row["reason"], row["field"], row["detail"])
            for row in quarantined.select(["sequence_number", "reason", "field", "detail"])
            .to_pylist()
        ],
        landed_events=landed,
    )
    # The record is written last: its presence says every file of the batch is in place.
    lake.write_bytes(
        lake.path(Zone.STATE, "ingest", "events", f"{batch.name}.json"),
        orjson.dumps(result.summary(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS),
    )
    return result


def _constant(value: str, rows: int) -> pa.Array:
    return pa.array([value], pa.string()).take(np.zeros(rows, dtype=np.int32))


def _position_columns(batch: EventBatch, rows: np.ndarray | None) -> dict[str, pa.Array]:
    """Where each of `rows` (None: all) came from: source, partition, sequence, enqueue time."""
    sequence_numbers = batch.sequence_numbers if rows is None else batch.sequence_numbers[rows]
    enqueued_at = batch.enqueued_at if rows is None else batch.enqueued_at[rows]
    enqueued_us = np.ascontiguousarray(enqueued_at.astype(_US)).view(np.int64)
    return {
        "source": _constant(batch.source, len(sequence_numbers)),
        "source_partition": _constant(batch.partition, len(sequence_numbers)),
        "sequence_number": pa.array(sequence_numbers, pa.int64()),
        "enqueued_at": pa.array(enqueued_us).view(UTC_TIMESTAMP),
    }


def _landed_table(parsed: pa.Table, verdicts: Verdicts, batch: EventBatch) -> pa.Table:
    accepted = verdicts.accepted
    rows = None if accepted.all() else np.flatnonzero(accepted)

    def pick(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        return column if rows is None else column.take(rows)

    columns = _position_columns(batch, rows)
    columns["occurred_at"] = pick(verdicts.occurred_at)
    for raw_field in RAW_SCHEMA:
        if raw_field.name not in columns:
            columns[raw_field.name] = pick(parsed[raw_field.name]).cast(raw_field.type)
    return pa.table({f.name: columns[f.name] for f in RAW_SCHEMA}, schema=RAW_SCHEMA)


def _quarantine_table(verdicts: Verdicts, batch: EventBatch) -> pa.Table:
    rows = np.flatnonzero(~verdicts.accepted)
    if rows.size == 0:
        return EVENT_QUARANTINE_SCHEMA.empty_table()
    return pa.table(
        {
            **_position_columns(batch, rows),
            "reason": pa.array([REASONS[verdicts.reason[r]] for r in rows], pa.string()),
            "field": pa.array([verdicts.field[r] for r in rows], pa.string()),
            "detail": pa.array([verdicts.detail[r] for r in rows], pa.string()),
            "body": pa.array([batch.bodies[r] for r in rows], pa.binary()),
        },
        schema=EVENT_QUARANTINE_SCHEMA,
    )


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy", use_dictionary=_DICTIONARY_COLUMNS,
                   write_statistics=_STATISTICS_COLUMNS)
    return sink.getvalue()


def _write_raw(lake: Lake, batch_name: str, landed: pa.Table) -> list[str]:
    """One Parquet file per event date touched, `raw/events/event_date=…/<batch>.parquet`."""
    if landed.num_rows == 0:
        return []
    event_date = pc.cast(landed["occurred_at"], pa.date32())
    days = pc.unique(event_date).to_pylist()
    files = []
    for day in sorted(days):
        part = (landed if len(days) == 1
                else landed.filter(pc.equal(event_date, pa.scalar(day, pa.date32()))))
        path = lake.path(Zone.RAW, "events", f"event_date={day.isoformat()}",
                         f"{batch_name}.parquet")
        lake.write_bytes(path, _parquet_bytes(part))
        files.append(path)
    return files


def _write_quarantine(lake: Lake, batch: EventBatch, rejects: pa.Table) -> list[str]:
    """Rejects of a batch in one file, foldered by the date the batch was received."""
    if rejects.num_rows == 0:
        return []
    folder = f"received_date={received_date(batch).isoformat()}"
    path = lake.path(Zone.QUARANTINE, "events", folder, f"{batch.name}.parquet")
    lake.write_bytes(path, _parquet_bytes(rejects))
    return [path]


def received_date(batch: EventBatch) -> date:
    """The day a batch counts as received: when its first event was enqueued (UTC)."""
    return batch.enqueued_at.min().astype(datetime).date()


def to_datetime64(moment: datetime) -> np.datetime64:
    """UTC as a NumPy value; naive datetimes are taken to be UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(moment, "us")
