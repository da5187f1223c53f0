"""Checks shared by the simulator tests: the event contract, applied to a whole table."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shared.events.contract import (
    EARLIEST_OCCURRED_AT,
    EVENT_TYPES,
    FIELDS,
    IDENTITY_FIELDS,
    REQUIRED_BY_TYPE,
    SCHEMA_VERSIONS,
)

ISO_MILLIS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
UUID4 = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


def of_type(events: pa.Table, event_type: str) -> pa.Table:
    return events.filter(pc.equal(events["event_type"], event_type))


def contract_violations(events: pa.Table, day: date | None = None) -> list[str]:
    """Every way the table breaks the event contract (empty when it is valid)."""
    problems: list[str] = []
    if not _all(pc.is_in(events["event_type"], pa.array(EVENT_TYPES))):
        problems.append("unknown event_type")
    for name in ("event_id", "event_type", "occurred_at", "schema_version"):
        if events[name].null_count:
            problems.append(f"{name} missing")
    if not _all(pc.is_in(events["schema_version"], pa.array(SCHEMA_VERSIONS))):
        problems.append("unsupported schema_version")
    if pc.coalesce(*(events[name] for name in IDENTITY_FIELDS)).null_count:
        problems.append("neither customer_id nor session_id")
    for event_type, required in REQUIRED_BY_TYPE.items():
        rows = of_type(events, event_type)
        problems += [f"{event_type} without {n}" for n in required if rows[n].null_count]
    for field in FIELDS:
        values = events[field.name].drop_null()
        if len(values) == 0:
            continue
        if field.max_length is not None and \
                pc.max(pc.utf8_length(values)).as_py() > field.max_length:
            problems.append(f"{field.name} longer than {field.max_length}")
        if field.pattern is not None and \
                not _all(pc.match_substring_regex(values, field.pattern)):
            problems.append(f"{field.name} does not match {field.pattern}")
        if field.minimum is not None and pc.min(values).as_py() < field.minimum:
            problems.append(f"{field.name} below {field.minimum}")
        if field.maximum is not None and pc.max(values).as_py() > field.maximum:
            problems.append(f"{field.name} above {field.maximum}")
    if pc.count_distinct(events["event_id"]).as_py() != events.num_rows:
        problems.append("duplicate event_id")
    if not _all(pc.match_substring_regex(events["event_id"], UUID4)):
        problems.append("event_id is not a version-4 UUID")
    times = events["occurred_at"].to_numpy()
    if np.any(times < np.datetime64(EARLIEST_OCCURRED_AT.rstrip("Z"), "us")):
        problems.append("occurred_at before the earliest allowed")
    if np.any(np.diff(times) < np.timedelta64(0, "us")):
        problems.append("rows not sorted by occurred_at")
    if day is not None:
        start = np.datetime64(datetime.combine(day, datetime.min.time()), "us")
        end = start + np.timedelta64(timedelta(days=1))
        if np.any((times < start) | (times >= end)):
            problems.append(f"events outside {day}")
    return problems


def _all(values: pa.ChunkedArray | pa.Array) -> bool:
    return bool(pc.all(values, min_count=0).as_py())
