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

from shared.batch.datasets import MONEY, QUARANTINE_SCHEMA, ROW_REASONS, SCHEMAS, TIMESTAMP
from shared.events.timestamps import parse_rfc3339

if TYPE_CHECKING:
    from shared.batch.mapping import DateOptions, Mapping, NumberOptions, TimestampOptions

ISO8601 = "iso8601"
"""The format name for ISO 8601 / RFC 3339 timestamps ("YYYY-MM-DD" for dates)."""

_ISO8601_PARTS = (
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<clock>\d{2}:\d{2})"
    r"(?::(?P<second>\d{2})(?P<fraction>\.\d{1,9})?)?(?P<offset>[Zz]|[+-]\d{2}:?\d{2})?$"
)
_REASONS = list(ROW_REASONS)
_FAILURES = {pa.int64(): "bad_number", pa.int32(): "bad_number", MONEY: "bad_decimal",
             TIMESTAMP: "bad_timestamp", pa.date32(): "bad_date"}
"""The row reason for a value that does not convert to the field's type."""
_INT32 = (-(2**31), 2**31 - 1)

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
    """Exactly `QUARANTINE_SCHEMA`, in file order."""


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
            pa.array([rows[i][3] for i in ordered], QUARANTINE_SCHEMA.field("original").type),
        ], schema=QUARANTINE_SCHEMA)

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
        if reason == "bad_timestamp":
            zone = mapping.timestamps.timezone
            return (f"{where} matches none of the timestamp formats "
                    f"{', '.join(mapping.timestamps.formats)} as a real time in {zone}: "
                    f"{value!r}")
        return (f"{where} matches none of the date formats {', '.join(mapping.dates.formats)}: "
                f"{value!r}")


def parse_values(texts: pa.Array, type_: pa.DataType, mapping: Mapping) -> pa.Array:
    """Texts (already trimmed, null when empty) as `type_`; null where one does not convert.

    Exports repeat the same dates, prices and quantities over and over, so each distinct
    text is parsed once.
    """
    if type_ == pa.string():
        return texts
    encoded = pc.dictionary_encode(texts)
    return _parse_distinct(encoded.dictionary, type_, mapping).take(encoded.indices)


def _parse_distinct(texts: pa.Array, type_: pa.DataType, mapping: Mapping) -> pa.Array:
    if type_ in (pa.int64(), pa.int32()):
        return parse_integers(texts, mapping.numbers, type_)
    if type_ == MONEY:
        return parse_decimals(texts, mapping.numbers)
    if type_ == TIMESTAMP:
        return parse_timestamps(texts, mapping.timestamps)
    if type_ == pa.date32():
        return parse_dates(texts, mapping.dates)
    raise TypeError(f"no conversion from text to {type_}")


def parse_integers(texts: pa.Array, numbers: NumberOptions, type_: pa.DataType) -> pa.Array:
    """Whole numbers; digit grouping as the mapping says, and "6.0" is the whole number 6."""
    plain = _plain_numbers(texts, numbers)
    ok = pc.match_substring_regex(plain, r"^-?\d{1,18}$")
    values = pc.cast(pc.if_else(ok, plain, None), pa.int64())
    if type_ == pa.int64():
        return values
    lo, hi = _INT32
    return pc.if_else(pc.and_(pc.greater_equal(values, lo), pc.less_equal(values, hi)),
                      values, None).cast(type_)


def parse_decimals(texts: pa.Array, numbers: NumberOptions) -> pa.Array:
    """Exact decimal(18, 4) prices; more than 4 significant decimals is not a price."""
    plain = _plain_numbers(texts, numbers)
    ok = pc.match_substring_regex(plain, r"^-?\d{1,14}(\.\d{1,4})?$")
    return pc.cast(pc.if_else(ok, plain, None), MONEY)


def _plain_numbers(texts: pa.Array, numbers: NumberOptions) -> pa.Array:
    """Numbers as "-123.45" (no "+", grouping, leading or trailing zeros); null if malformed."""
    dec = f"[{numbers.decimal_separator}]"
    sep = numbers.thousands_separator
    if sep:
        grouped = pc.match_substring_regex(
            texts, rf"^[+-]?\d{{1,3}}([{sep}]\d{{3}})+({dec}\d*)?$")
        texts = pc.if_else(grouped, pc.replace_substring(texts, sep, ""),
                           pc.if_else(pc.match_substring(texts, sep), None, texts))
    ok = pc.match_substring_regex(texts, rf"^[+-]?(\d+({dec}\d*)?|{dec}\d+)$")
    plain = pc.if_else(ok, texts, None)
    if numbers.decimal_separator != ".":
        plain = pc.replace_substring(plain, numbers.decimal_separator, ".")
    for pattern, replacement in (
        (r"^\+", ""),
        (r"^(-?)\.", r"\10."),  # ".5" -> "0.5" (RE2 group references are one digit)
        (r"(\.\d*?)0+$", r"\1"),  # trailing zeros of the fraction
        (r"\.$", ""),
        (r"^(-?)0+(\d)", r"\1\2"),  # leading zeros
    ):
        plain = pc.replace_substring_regex(plain, pattern=pattern, replacement=replacement)
    return plain


def parse_timestamps(texts: pa.Array, options: TimestampOptions) -> pa.Array:
    """UTC instants; each text is parsed by the first of the formats that accepts it."""
    result = pa.nulls(len(texts), TIMESTAMP)
    for fmt in options.formats:
        pending = pc.if_else(pc.is_null(result), texts, None)
        if pending.null_count == len(pending):
            break
        parsed = (_iso8601(pending, options.timezone) if fmt == ISO8601
                  else _local_to_utc(_strptime(pending, fmt), options.timezone))
        result = pc.coalesce(result, parsed)
    return result


def parse_dates(texts: pa.Array, options: DateOptions) -> pa.Array:
    result = pa.nulls(len(texts), pa.date32())
    for fmt in options.formats:
        pending = pc.if_else(pc.is_null(result), texts, None)
        if pending.null_count == len(pending):
            break
        parsed = _strptime(pending, "%Y-%m-%d" if fmt == ISO8601 else fmt)
        result = pc.coalesce(result, parsed.cast(pa.date32()))
    return result


def _strptime(texts: pa.Array, fmt: str) -> pa.Array:
    """Naive timestamps; null where a text does not match or names an impossible day.

    Arrow's strptime takes "2/30/11" as March 2, so each value is formatted back and its
    numbers compared with the text's (leading zeros aside, as formats need not pad).
    """
    parsed = pc.strptime(texts, format=fmt, unit="s", error_is_null=True)
    same = pc.equal(_numbers(pc.strftime(parsed, format=fmt)), _numbers(texts))
    return pc.if_else(same, parsed, None).cast(pa.timestamp("us"))


def _numbers(texts: pa.Array) -> pa.Array:
    spaced = pc.replace_substring_regex(texts, pattern=r"\D+", replacement=" ")
    unpadded = pc.replace_substring_regex(spaced, pattern=r"(^| )0+(\d)", replacement=r"\1\2")
    return pc.utf8_trim(unpadded, characters=" ")


def _iso8601(texts: pa.Array, timezone: str) -> pa.Array:
    """ISO 8601 date-times, seconds optional; without an offset they are local times."""
    parts = pc.extract_regex(texts, _ISO8601_PARTS)
    second = pc.struct_field(parts, "second")
    offset = pc.struct_field(parts, "offset")
    naive = pc.equal(offset, "")
    rfc3339 = pc.binary_join_element_wise(
        pc.struct_field(parts, "date"), "T", pc.struct_field(parts, "clock"), ":",
        pc.if_else(pc.equal(second, ""), "00", second), pc.struct_field(parts, "fraction"),
        pc.if_else(naive, "Z", pc.replace_substring_regex(
            offset, pattern=r"^([+-]\d{2})(\d{2})$", replacement=r"\1:\2")),
        "")
    instants = parse_rfc3339(rfc3339)
    if timezone == "UTC":
        return instants
    local = _local_to_utc(instants.cast(pa.timestamp("us")), timezone)
    return pc.if_else(naive, local, instants)


def _local_to_utc(naive: pa.Array, timezone: str) -> pa.Array:
    """Wall-clock times in `timezone` as UTC; a time skipped by a clock change is null,
    and a repeated one is its first occurrence."""
    if timezone == "UTC":
        return naive.cast(TIMESTAMP)
    earliest = pc.assume_timezone(naive, timezone=timezone, ambiguous="earliest",
                                  nonexistent="earliest")
    latest = pc.assume_timezone(naive, timezone=timezone, ambiguous="earliest",
                                nonexistent="latest")
    return pc.if_else(pc.equal(earliest, latest), earliest, None).cast(TIMESTAMP)


def _mask(flags: pa.Array) -> np.ndarray:
    return pc.fill_null(flags, False).to_numpy(zero_copy_only=False)
