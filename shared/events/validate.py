"""The contract's rules, applied to a whole batch at once with Arrow and NumPy kernels.

Each rule yields a boolean mask over the batch; a row takes the reason of the first rule it
fails (rules run in the order written here), so every rejected row has exactly one reason.
Columns are converted to NumPy once and the per-type rules work on event-type codes, which
keeps a 1,000-event batch to a few dozen kernel calls. Cost and memory are linear in the
batch whatever its mix of bad rows: the rows parsing rejected are applied sparsely, each
rule is resolved against a running mask of the rows no earlier rule failed, and only the
rejected rows get a Python string for their detail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shared.events.contract import (
    EARLIEST_OCCURRED_AT,
    ENVELOPE_REQUIRED,
    EVENT_TYPES,
    FIELDS,
    FIELDS_BY_NAME,
    IDENTITY_FIELDS,
    REASONS,
    REQUIRED_BY_TYPE,
    SCHEMA_VERSIONS,
)
from shared.events.parse import ParsedBatch, Problem
from shared.events.timestamps import parse_rfc3339

_EARLIEST_US = int(np.datetime64(EARLIEST_OCCURRED_AT.rstrip("Z"), "us").astype(np.int64))
_EVENT_TYPES = pa.array(EVENT_TYPES)
_SCHEMA_VERSIONS = pa.array(SCHEMA_VERSIONS, pa.float64())


@dataclass(frozen=True)
class Rule:
    reason: str
    field: str | None
    detail: str
    per_event_type: bool = False  # the detail is a template naming {event_type}


@dataclass
class Verdicts:
    """Per row: accepted (reason -1), or the reason code, offending field and detail."""

    reason: np.ndarray  # int8 index into REASONS
    field: list[str | None]
    detail: list[str | None]
    occurred_at: pa.TimestampArray

    @property
    def accepted(self) -> np.ndarray:
        return self.reason < 0


class _Checks:
    """Takes rules in order and keeps, for each row, the first rule it fails."""

    def __init__(self, rows: int) -> None:
        self.passing = np.ones(rows, dtype=bool)  # rows no rule has failed so far
        self.rule = np.full(rows, -1, dtype=np.int32)  # index into self.rules
        self.rules: list[Rule] = []

    def add(self, mask: np.ndarray, reason: str, field: str | None, detail: str,
            per_event_type: bool = False) -> None:
        self.add_rows(np.flatnonzero(mask), reason, field, detail, per_event_type)

    def add_rows(self, rows: np.ndarray, reason: str, field: str | None, detail: str,
                 per_event_type: bool = False) -> None:
        """The rule fails `rows` (indices): a sparse mask, for rules about a few rows."""
        rows = rows[self.passing[rows]]
        if rows.size:
            self.rule[rows] = len(self.rules)
            self.passing[rows] = False
            self.rules.append(Rule(reason, field, detail, per_event_type))

    def resolve(self, event_types: pa.ChunkedArray) -> tuple[np.ndarray, list, list]:
        rows = len(self.rule)
        reason = np.full(rows, -1, dtype=np.int8)
        fields: list[str | None] = [None] * rows
        details: list[str | None] = [None] * rows
        rejected = np.flatnonzero(self.rule >= 0)
        codes = np.array([REASONS.index(rule.reason) for rule in self.rules], dtype=np.int8)
        reason[rejected] = codes[self.rule[rejected]]
        type_names = event_types.take(rejected).to_pylist()
        for row, rule_index, type_name in zip(rejected.tolist(), self.rule[rejected].tolist(),
                                              type_names, strict=True):
            rule = self.rules[rule_index]
            fields[row] = rule.field
            details[row] = (rule.detail.format(event_type=type_name) if rule.per_event_type
                            else rule.detail)
        return reason, fields, details


def _numpy(array: pa.Array | pa.ChunkedArray, null: object) -> np.ndarray:
    return pc.fill_null(array, null).to_numpy(zero_copy_only=False)


def _string_offsets(array: pa.StringArray) -> np.ndarray:
    """The value offsets of a string array, as NumPy, without copying."""
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)
    return offsets[array.offset : array.offset + len(array) + 1]


def _byte_lengths(column: pa.ChunkedArray) -> np.ndarray:
    """Byte length of each value, -1 for null: read straight off the offsets buffer."""
    if column.null_count == len(column):  # optional fields are mostly all-null in a batch
        return np.full(len(column), -1)
    nulls = _numpy(pc.is_null(column), True) if column.null_count else None
    if not pa.types.is_string(column.type):
        return np.ones(len(column), dtype=np.int64) if nulls is None else np.where(nulls, -1, 1)
    lengths = np.diff(_string_offsets(column.combine_chunks())).astype(np.int64)
    return lengths if nulls is None else np.where(nulls, -1, lengths)


def _byte_table(charset: str) -> np.ndarray:
    """A 256-entry lookup of the bytes a regex character class body (ASCII) allows."""
    allowed = np.zeros(256, dtype=bool)
    position = 0
    while position < len(charset):
        if position + 2 < len(charset) and charset[position + 1] == "-":
            allowed[ord(charset[position]) : ord(charset[position + 2]) + 1] = True
            position += 3
        else:
            allowed[ord(charset[position])] = True
            position += 1
    return allowed


_CHARSETS = {f.name: _byte_table(f.charset) for f in FIELDS if f.charset is not None}


def _outside_charset(column: pa.ChunkedArray, allowed: np.ndarray) -> np.ndarray:
    """Rows holding a byte outside `allowed`: one lookup over the column's data buffer,
    then bad bytes summed per row through the offsets (no regex, no per-row work)."""
    array = column.combine_chunks()
    rows = np.zeros(len(array), dtype=bool)
    if array.null_count == len(array) or len(array) == 0:
        return rows
    offsets = _string_offsets(array)
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    bad = ~allowed[data]
    if not bad.any():
        return rows
    bad_before = np.concatenate(([0], np.cumsum(bad)))
    starts = offsets - offsets[0]
    return bad_before[starts[1:]] > bad_before[starts[:-1]]


def _too_long(column: pa.ChunkedArray, byte_lengths: np.ndarray, max_length: int) -> np.ndarray:
    """Longer than `max_length` characters; byte lengths bound them from above."""
    if not (byte_lengths > max_length).any():
        return np.zeros(len(column), dtype=bool)
    return _numpy(pc.utf8_length(column), 0) > max_length


# For each field some event types require: a lookup from event-type code (-1 = unknown,
# which indexes the trailing False) to "this row needs the field".
_REQUIRED_FOR_CODE = {
    name: np.array([name in REQUIRED_BY_TYPE[t] for t in EVENT_TYPES] + [False])
    for name in dict.fromkeys(n for required in REQUIRED_BY_TYPE.values() for n in required)
}


def validate(
    parsed: ParsedBatch,
    body_sizes: np.ndarray,
    received_at_us: np.ndarray,
    *,
    max_event_bytes: int,
    future_tolerance_s: int,
) -> Verdicts:
    """Check every row of `parsed`; `received_at_us` is each row's reference clock (UTC µs)."""
    table = parsed.table
    rows = table.num_rows
    checks = _Checks(rows)
    checks.add(body_sizes > max_event_bytes, "oversize", None,
               f"event body is larger than {max_event_bytes} bytes")
    rows_by_problem: dict[Problem, list[int]] = {}
    for problem_row, problem in parsed.problems.items():
        rows_by_problem.setdefault(problem, []).append(problem_row)
    for (reason, field, detail), problem_rows in rows_by_problem.items():
        checks.add_rows(np.array(problem_rows, dtype=np.intp), reason, field, detail)

    byte_lengths = {f.name: _byte_lengths(table[f.name]) for f in FIELDS}
    # Null, or for strings also "": a required value that is empty is missing.
    absent = {name: lengths <= 0 for name, lengths in byte_lengths.items()}
    numbers = {f.name: _numpy(table[f.name], np.nan) for f in FIELDS
               if f.json_type != "string" and not absent[f.name].all()}
    for name, values in numbers.items():
        if FIELDS_BY_NAME[name].json_type == "integer":
            checks.add((values != np.floor(values)) & ~np.isnan(values), "wrong_type", name,
                       f"{name} must be a JSON integer, got a number with a fraction")
    for name in ENVELOPE_REQUIRED:
        checks.add(absent[name], "missing_field", name, f"{name} is required")
    version_ok = _numpy(pc.is_in(table["schema_version"], value_set=_SCHEMA_VERSIONS), True)
    checks.add(~version_ok, "unsupported_schema_version", "schema_version",
               f"schema_version must be one of {list(SCHEMA_VERSIONS)}")
    type_code = _numpy(pc.index_in(table["event_type"], value_set=_EVENT_TYPES), -1).astype(
        np.intp)
    checks.add((type_code < 0) & ~absent["event_type"], "unknown_event_type", "event_type",
               f"event_type must be one of {', '.join(EVENT_TYPES)}")
    checks.add(np.logical_and.reduce([absent[name] for name in IDENTITY_FIELDS]),
               "missing_field", IDENTITY_FIELDS[0], f"{' or '.join(IDENTITY_FIELDS)} is required")
    for name, required_for_code in _REQUIRED_FOR_CODE.items():
        checks.add(required_for_code[type_code] & absent[name], "missing_field", name,
                   f"{name} is required for {{event_type}}", per_event_type=True)

    occurred_at = parse_rfc3339(table["occurred_at"].combine_chunks())
    occurred_us = _numpy(occurred_at.cast(pa.int64()), np.iinfo(np.int64).min)
    unparsed = occurred_us == np.iinfo(np.int64).min
    checks.add(unparsed & ~absent["occurred_at"], "bad_timestamp", "occurred_at",
               "occurred_at must be an RFC 3339 date-time with a zone offset")
    checks.add(occurred_us > received_at_us + future_tolerance_s * 1_000_000,
               "future_timestamp", "occurred_at",
               f"occurred_at is more than {future_tolerance_s} s after the event was received")
    checks.add(~unparsed & (occurred_us < _EARLIEST_US), "out_of_range", "occurred_at",
               f"occurred_at is before {EARLIEST_OCCURRED_AT}")

    for contract_field in FIELDS:
        column = table[contract_field.name]
        if absent[contract_field.name].all():
            continue
        low, high = contract_field.minimum, contract_field.maximum
        if low is not None and high is not None:
            values = numbers[contract_field.name]
            # Written so that NaN and infinities fail too: nothing unfit may reach the cast.
            inside = (values >= low) & (values <= high)
            checks.add(~inside & ~absent[contract_field.name], "out_of_range",
                       contract_field.name,
                       f"{contract_field.name} must be between {low:g} and {high:g}")
        if contract_field.max_length is not None:
            checks.add(_too_long(column, byte_lengths[contract_field.name],
                                 contract_field.max_length), "out_of_range",
                       contract_field.name,
                       f"{contract_field.name} is longer than {contract_field.max_length} "
                       "characters")
        if contract_field.charset is not None:
            lengths = byte_lengths[contract_field.name]
            wrong = _outside_charset(column, _CHARSETS[contract_field.name])
            if contract_field.length is not None:
                wrong |= (lengths != contract_field.length) & (lengths > 0)
            checks.add(wrong, "bad_format", contract_field.name,
                       f"{contract_field.name} must match {contract_field.pattern}")

    checks.add(_repeated(table["event_id"], checks.passing), "duplicate_event_id",
               "event_id", "event_id already appeared earlier in this batch")
    reason, fields, details = checks.resolve(table["event_type"])
    return Verdicts(reason, fields, details, occurred_at)


def _repeated(ids: pa.ChunkedArray, candidates: np.ndarray) -> np.ndarray:
    """True for each candidate row whose id an earlier candidate row already carries."""
    repeated = np.zeros(len(candidates), dtype=bool)
    rows = np.flatnonzero(candidates)
    if rows.size == 0 or pc.count_distinct(ids).as_py() == len(ids) - ids.null_count:
        return repeated
    codes = _numpy(pc.dictionary_encode(ids.combine_chunks()).indices, -1)
    _, first = np.unique(codes[rows], return_index=True)
    if first.size == rows.size:
        return repeated
    repeated[rows] = True
    repeated[rows[first]] = False
    return repeated
