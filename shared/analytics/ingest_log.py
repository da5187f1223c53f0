"""What ingestion received per day, read from its own records.

Every event batch leaves `_state/ingest/events/<batch>.json` and every upload a ledger entry
`_state/ingest/batch/<sha256>.json`, each saying received = landed + quarantined, with the
reasons. These are what the ingest health KPI counts: the `ingest_log` relation, one row per
(received date, source, outcome). Records are read once and remembered by name, size and
modification time, so a new batch costs one read however long the history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.fs as pafs

from shared.lake import Lake, Zone

INGEST_LOG_SCHEMA = pa.schema([
    pa.field("received_date", pa.date32(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("outcome", pa.string(), nullable=False),
    pa.field("records", pa.int64(), nullable=False),
])
"""`source`: `events` or an upload's dataset; `outcome`: `landed` or a quarantine reason."""

EVENTS = "events"
LANDED = "landed"
_FINAL_UPLOADS = ("landed", "rejected")  # queued and failed uploads have no outcome yet

Outcomes = list[tuple[date, str, str, int]]
MAX_COUNT = 2**40
"""More records than any batch or file holds: a count beyond it is damage."""


@dataclass(frozen=True)
class _Seen:
    size: int
    mtime_ns: int | None
    outcomes: Outcomes


class IngestLog:
    """The ingest records of one lake, read incrementally (not thread-safe: callers lock)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._seen: dict[str, _Seen] = {}
        self._signature: tuple | None = None
        self._table = INGEST_LOG_SCHEMA.empty_table()
        self.generation = 0
        """Counts the changes of `table()`'s answer."""

    def table(self) -> pa.Table:
        """Every record's outcomes; the same object while no record changed."""
        infos = [*self._infos(EVENTS), *self._infos("batch")]
        signature = tuple((info.path, info.size, info.mtime_ns) for info in infos)
        if signature == self._signature:
            return self._table
        current = {}
        for info in infos:
            seen = self._seen.get(info.path)
            if seen is None or (seen.size, seen.mtime_ns) != (info.size, info.mtime_ns):
                seen = _Seen(info.size, info.mtime_ns, self._read(info.path))
            current[info.path] = seen
        self._seen = current
        rows = [row for seen in current.values() for row in seen.outcomes]
        self._table = pa.Table.from_pylist(
            [dict(zip(INGEST_LOG_SCHEMA.names, row, strict=True)) for row in rows],
            schema=INGEST_LOG_SCHEMA)
        self._signature = signature
        self.generation += 1
        return self._table

    def _infos(self, kind: str) -> list[pafs.FileInfo]:
        return self.lake.file_infos(self.lake.path(Zone.STATE, "ingest", kind), ".json")

    def _read(self, path: str) -> Outcomes:
        try:
            record = orjson.loads(self.lake.read_bytes(path))
        except (FileNotFoundError, orjson.JSONDecodeError):
            return []  # removed meanwhile, or damaged: its next write replaces it
        if not isinstance(record, dict):
            return []
        if "/ingest/events/" in path:
            return _outcomes(_event_day(record), EVENTS, record)
        if record.get("status") not in _FINAL_UPLOADS or not isinstance(record.get("dataset"),
                                                                         str):
            return []
        return _outcomes(_upload_day(record), record["dataset"], record)


def _outcomes(day: date | None, source: str, record: dict[str, Any]) -> Outcomes:
    """A record's counts; none for a record whose counts are not counts or do not add up
    (received = landed + quarantined, by reason): it is damaged, and its next write mends it."""
    received, landed, reasons = (record.get(k) for k in ("received", "landed", "reasons"))
    if day is None or not isinstance(reasons, dict):
        return []
    counts = [landed, *reasons.values()]
    if not all(_is_count(n) for n in (received, *counts)) or sum(counts) != received:
        return []
    found = [(day, source, LANDED, landed)] if landed else []
    found += [(day, source, str(reason), count) for reason, count in sorted(reasons.items())
              if count]
    return found


def _is_count(value: object) -> bool:
    # JSON's true is a Python bool, and bool is an int: not a count.
    return type(value) is int and 0 <= value <= MAX_COUNT


def _event_day(record: dict[str, Any]) -> date | None:
    """The record's received date; records written before it was kept give the day from the
    folder of their quarantine file (the received date) or of their first raw file."""
    if isinstance(record.get("received_date"), str):
        return _iso_date(record["received_date"])
    files = record.get("files")
    files = " ".join(path for path in files if isinstance(path, str)) if isinstance(
        files, list) else ""
    for folder in ("received_date", "event_date"):
        days = sorted(re.findall(rf"{folder}=(\d{{4}}-\d{{2}}-\d{{2}})/", files))
        if days:
            return _iso_date(days[0])
    return None


def _upload_day(record: dict[str, Any]) -> date | None:
    landed_at = record.get("landed_at")
    if not isinstance(landed_at, str):
        return None
    try:
        return datetime.fromisoformat(landed_at).date()
    except ValueError:
        return None


def _iso_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
