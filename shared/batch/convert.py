"""Typed conversion of CSV records to a canonical dataset, with row quarantine.

Values are converted a column at a time with Arrow kernels: a chunk of 100,000 records
costs a few dozen kernel calls, not a Python call per value. Only quarantined rows are
handled one by one, to describe them. A bad row never fails the file: it is quarantined
with the first failing check, in `ROW_REASONS` order, then in the dataset's field order.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shared.batch.options import parse_values
from shared.landed import PLAUSIBLE_TIMESTAMPS, ROW_QUARANTINE_SCHEMA, ROW_REASONS, SCHEMAS
from shared.types import MONEY, UTC_TIMESTAMP

if TYPE_CHECKING:
    from shared.batch.mapping import Mapping

_REASONS = list(ROW_REASONS)
_FAILURES = {pa.int64(): "bad_number", pa.int32(): "bad_number", MONEY: "bad_decimal",
             UTC_TIMESTAMP: "bad_timestamp", pa.date32(): "bad_date"}
"""The row reason for a value that does not convert to the field's type."""

Column = Callable[[int], pa.Array]
"""A source column of the chunk's well-formed records, by header position."""
Failure = tuple[int, int, np.ndarray]
"""(index in `_REASONS`, the field's schema position, the rows that fail)."""


@dataclass(frozen=True)
class ConvertedChunk:
    """One chunk of a file's records: those that landed and those that did not."""

    landed: pa.Table
    """Exactly `SCHEMAS[mapping.dataset]`."""
    quarantined: pa.Table
    """Exactly `ROW_QUARANTINE_SCHEMA`, in file order."""


@dataclass(frozen=True)
class RawChunk:
    """Records as the CSV reader split them, with the lines needed to quote bad ones."""

    records: list[list[str] | None]
    """Each record's raw fields; None when the record is not valid CSV."""
    rows: np.ndarray
    """Physical line on which each record starts (the header is line 1)."""
    ends: np.ndarray
    """Physical line on which each record ends."""
    lines: list[str]
    """The physical lines from `first_line` on, as decoded, with their terminators."""
    first_line: int
    malformed: dict[int, str]
    """Record index -> why the CSV module rejected it."""
    undecodable: dict[int, str]
    """Record index -> which bytes are not valid in the file's encoding."""

    def text(self, index: int) -> str:
        """The record's exact original text: its lines without the last line terminator."""
        text = "".join(self.lines[self.rows[index] - self.first_line:
                                  self.ends[index] - self.first_line + 1])
        if text.endswith("\r\n"):
            return text[:-2]
        return text[:-1] if text.endswith(("\r", "\n")) else text


class Converter:
    """Converts one file's records chunk by chunk.

    It lives as long as the file because position-based line numbers count an order's
    lines across the whole file, not within a chunk.
    """

    def __init__(self, mapping: Mapping, header: list[str]) -> None:
        self._mapping = mapping
        self._header = header
        self._schema = SCHEMAS[mapping.dataset]
        index = {name: i for i, name in enumerate(header)}
        self._index = {field: index[column] for field, column in mapping.columns.items()
                       if column in index}
        returns = mapping.returns
        self._returns_index = (index[returns.column]
                               if returns is not None and returns.column is not None else None)
        self._seen: dict[str, int] = {}
        """order_id -> its lines in earlier chunks (position-based line numbers)."""

    def convert(self, raw: RawChunk) -> ConvertedChunk:
        width = len(self._header)
        records = raw.records
        good: Sequence[int] = range(len(records))
        wrong: list[int] = []
        well_formed = records
        if raw.malformed or set(map(len, records)) != {width}:  # type: ignore[arg-type]
            good = [i for i, fields in enumerate(records)
                    if fields is not None and len(fields) == width]
            wrong = sorted(set(range(len(records))).difference(good))
            well_formed = [records[i] for i in good]
        values = pa.array(list(chain.from_iterable(well_formed)), pa.string())

        def column(index: int) -> pa.Array:
            return values.take(np.arange(index, len(values), width))

        arrays, failures = self._fields(column, len(good))
        arrays["source_row"] = pa.array(raw.rows[np.asarray(good, dtype=np.int64)])
        reason, culprit = self._verdicts(failures, good, raw)
        landed = pa.table([arrays[f.name] for f in self._schema], schema=self._schema)
        landed = landed.filter(pa.array(reason < 0))
        return ConvertedChunk(landed, self._quarantine(raw, good, wrong, reason, culprit))

    def _fields(self, column: Column, count: int) -> tuple[dict[str, pa.Array], list[Failure]]:
        """Every canonical field's values, and (reason, field position, rows) failures."""
        mapping = self._mapping
        arrays: dict[str, pa.Array] = {}
        failures: list[Failure] = []
        for position, field in enumerate(self._schema):
            name = field.name
            if name == "source_row":
                continue
            if name == "is_return":
                arrays[name] = self._is_return(column, arrays["quantity"])
                continue
            if name == "line_number" and name not in self._index and name not in mapping.defaults:
                arrays[name] = self._positions(arrays["order_id"])
                continue
            texts = self._texts(name, column, count, keep_spaces=(
                field.type == pa.string() and not mapping.csv.trim))
            parsed = parse_values(texts, field.type, mapping)
            arrays[name] = parsed
            if not field.nullable:
                missing = _mask(pc.is_null(texts))
                failures.append((_REASONS.index("missing_value"), position, missing))
            if field.type in _FAILURES:
                bad = pc.and_(pc.is_valid(texts), pc.is_null(parsed))
                failures.append((_REASONS.index(_FAILURES[field.type]), position, _mask(bad)))
            if field.type == UTC_TIMESTAMP:
                earliest, until = (pa.scalar(t, UTC_TIMESTAMP) for t in PLAUSIBLE_TIMESTAMPS)
                outside = pc.or_(pc.less(parsed, earliest), pc.greater_equal(parsed, until))
                failures.append((_REASONS.index("implausible_timestamp"), position,
                                 _mask(outside)))
        return arrays, failures

    def _texts(self, field: str, column: Column, count: int, *, keep_spaces: bool) -> pa.Array:
        """A field's source texts, null when empty (after trimming) or a guest placeholder,
        the mapping's default filled in."""
        mapping = self._mapping
        if field in self._index:
            raw = column(self._index[field])
            trimmed = pc.utf8_trim_whitespace(raw)
            present = pc.greater(pc.binary_length(trimmed), 0)
            if field == "customer_id" and mapping.guests is not None:
                guests = pa.array(mapping.guests.customer_ids, pa.string())
                present = pc.and_not(present, pc.is_in(trimmed, guests))
            texts = pc.if_else(present, raw if keep_spaces else trimmed, None)
        else:
            texts = pa.nulls(count, pa.string())
        default = mapping.defaults.get(field)
        return texts if default is None else pc.fill_null(texts, default)

    def _is_return(self, column: Column, quantity: pa.Array) -> pa.Array:
        rule = self._mapping.returns
        if rule is None or self._returns_index is None:
            flags = pc.less(quantity, 0)
        else:
            texts = pc.utf8_trim_whitespace(column(self._returns_index))
            flags = (pc.starts_with(texts, rule.prefix) if rule.prefix is not None
                     else pc.is_in(texts, pa.array(rule.values, pa.string())))
        return pc.fill_null(flags, False)

    def _positions(self, order_ids: pa.Array) -> pa.Array:
        """Each line's 1-based position among the file's lines of its order, in file order."""
        encoded = pc.dictionary_encode(order_ids)
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        keys = encoded.dictionary.to_pylist()
        if not keys:
            return pa.nulls(len(codes), pa.int32())
        valid = codes >= 0
        order = np.argsort(codes, kind="stable")
        ranks = np.empty(len(codes), dtype=np.int64)
        sorted_codes = codes[order]
        group_starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        sizes = np.diff(np.r_[group_starts, len(codes)])
        ranks[order] = np.arange(len(codes)) - np.repeat(group_starts, sizes)
        before = np.array([self._seen.get(key, 0) for key in keys], dtype=np.int64)
        counts = np.bincount(codes[valid], minlength=len(keys))
        self._seen.update(zip(keys, (before + counts).tolist(), strict=True))
        positions = np.where(valid, before[np.maximum(codes, 0)] + ranks + 1, 0)
        return pa.array(positions.astype(np.int32), mask=~valid)

    def _verdicts(self, failures: list[Failure], good: Sequence[int],
                  raw: RawChunk) -> tuple[np.ndarray, np.ndarray]:
        """Per good record: the index in `_REASONS` of its first failing check (-1: none),
        and the schema position of the field at fault (-1: none)."""
        reason = np.full(len(good), -1, dtype=np.int8)
        culprit = np.full(len(good), -1, dtype=np.int16)
        for i in raw.undecodable:
            k = bisect_left(good, i)
            if k < len(good) and good[k] == i:
                reason[k] = _REASONS.index("bad_encoding")
        for code, position, mask in sorted(failures, key=lambda f: (f[0], f[1])):
            hit = mask & (reason < 0)
            reason[hit] = code
            culprit[hit] = position
        return reason, culprit

    def _quarantine(self, raw: RawChunk, good: Sequence[int], wrong: list[int],
                    reason: np.ndarray, culprit: np.ndarray) -> pa.Table:
        """One row per failed record, in file order."""
        rows: dict[int, tuple[str, str | None, str, list[tuple[str, str]] | None]] = {}
        for i in wrong:
            fields = raw.records[i]
            detail = (f"not valid CSV ({raw.malformed[i]})" if fields is None else
                      f"expected {len(self._header)} fields like the header, found {len(fields)}")
            rows[i] = ("wrong_column_count", None, detail, None)
        for k in np.flatnonzero(reason >= 0).tolist():
            i = good[k]
            fields = raw.records[i]
            assert fields is not None
            name = _REASONS[reason[k]]
            field = self._schema.field(int(culprit[k])).name if culprit[k] >= 0 else None
            detail = (raw.undecodable[i] if name == "bad_encoding"
                      else self._detail(name, field, fields))
            rows[i] = (name, field, detail, list(zip(self._header, fields, strict=True)))
        ordered = sorted(rows)
        return pa.table([
            pa.array([raw.rows[i] for i in ordered], pa.int64()),
            pa.array([rows[i][0] for i in ordered], pa.string()),
            pa.array([rows[i][1] for i in ordered], pa.string()),
            pa.array([rows[i][2] for i in ordered], pa.string()),
            pa.array([raw.text(i) for i in ordered], pa.string()),
            pa.array([rows[i][3] for i in ordered], ROW_QUARANTINE_SCHEMA.field("original").type),
        ], schema=ROW_QUARANTINE_SCHEMA)

    def _detail(self, reason: str, field: str | None, fields: list[str]) -> str:
        """A sentence naming the field, its column and the bad value."""
        assert field is not None
        column = self._mapping.columns[field]
        value = fields[self._index[field]]
        where = f"{field} (column {column!r})"
        mapping = self._mapping
        if reason == "missing_value":
            return f"{where} is empty"
        if reason == "bad_number":
            return f"{where} is not a whole number: {value!r}"
        if reason == "bad_decimal":
            sep = mapping.numbers.decimal_separator
            return (f"{where} is not a decimal number with at most 14 digits before and 4 "
                    f"after the decimal separator {sep!r}: {value!r}")
        if reason == "implausible_timestamp":
            earliest, until = (t.date().isoformat() for t in PLAUSIBLE_TIMESTAMPS)
            return (f"{where} is not a plausible time (from {earliest}, before {until}): "
                    f"{value!r}")
        if reason == "bad_timestamp":
            zone = mapping.timestamps.timezone
            return (f"{where} matches none of the timestamp formats "
                    f"{', '.join(mapping.timestamps.formats)} as a real time in {zone}: "
                    f"{value!r}")
        return (f"{where} matches none of the date formats {', '.join(mapping.dates.formats)}: "
                f"{value!r}")


def _mask(flags: pa.Array) -> np.ndarray:
    return pc.fill_null(flags, False).to_numpy(zero_copy_only=False)
