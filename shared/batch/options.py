"""How an export writes its values: a mapping's option sections, and reading texts by them.

The mapping (whose defaults must parse under its own formats) and the converter (which
parses every value of a file) both read values here, so neither needs the other for it.
"""

from __future__ import annotations

from typing import Annotated, Literal, Protocol, Self

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.events.timestamps import parse_rfc3339
from shared.types import MONEY, UTC_TIMESTAMP

ISO8601 = "iso8601"
"""The format name for ISO 8601 / RFC 3339 timestamps ("YYYY-MM-DD" for dates)."""

_ISO8601_PARTS = (
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<clock>\d{2}:\d{2})"
    r"(?::(?P<second>\d{2})(?P<fraction>\.\d{1,9})?)?(?P<offset>[Zz]|[+-]\d{2}:?\d{2})?$"
)
_INT32 = (-(2**31), 2**31 - 1)
_ASCII = bytes(range(128))


class Section(BaseModel):
    """A section of a mapping file: unknown keys are mistakes, and it never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


_OneChar = Annotated[str, Field(min_length=1, max_length=1)]


class CsvOptions(Section):
    """How the file's bytes become fields."""

    encoding: str = "utf-8"
    delimiter: _OneChar = ","
    quote: _OneChar = '"'
    trim: bool = True
    """Strip surrounding whitespace from text values (numbers and times are always stripped)."""

    @field_validator("encoding")
    @classmethod
    def _ascii_compatible(cls, value: str) -> str:
        """Lines are split on the raw bytes, so the encoding must keep ASCII as it is."""
        try:
            same = _ASCII.decode(value, errors="replace") == _ASCII.decode("ascii")
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        if not same:
            raise ValueError(f"encoding {value!r} is not ASCII-compatible (use utf-8, "
                             "latin-1, cp1252 or similar)")
        return value

    @field_validator("delimiter", "quote")
    @classmethod
    def _not_newline(cls, value: str) -> str:
        if value in "\r\n":
            raise ValueError("must not be a line break")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if self.delimiter == self.quote:
            raise ValueError("delimiter and quote must differ")
        return self


class NumberOptions(Section):
    """How quantities and prices are written."""

    decimal_separator: Literal[".", ","] = "."
    thousands_separator: Literal["", ",", ".", " ", "'", "\u00a0", "\u202f"] = ""
    """Empty: numbers have no digit grouping."""

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if self.decimal_separator == self.thousands_separator:
            raise ValueError("decimal_separator and thousands_separator must differ")
        return self


class _Formats(Section):
    formats: Annotated[tuple[str, ...], Field(min_length=1)] = (ISO8601,)
    """strptime formats (or "iso8601"), tried in order: the first that parses a value wins."""

    @field_validator("formats")
    @classmethod
    def _known_kinds(cls, formats: tuple[str, ...]) -> tuple[str, ...]:
        for fmt in formats:
            if fmt != ISO8601 and "%" not in fmt:
                raise ValueError(f"{fmt!r} is neither {ISO8601!r} nor a strptime format")
            if "%z" in fmt or "%Z" in fmt:
                raise ValueError(f"{fmt!r}: timestamps with a UTC offset need {ISO8601!r}; "
                                 "strptime formats describe local times")
        return formats


class TimestampOptions(_Formats):
    """Times without a UTC offset are local times in `timezone`, converted to UTC."""

    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        """Checked with Arrow, which converts the times, against its time zone database."""
        try:
            pc.assume_timezone(pa.array([0], pa.timestamp("s")), timezone=value)
        except pa.ArrowInvalid:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as "
                             "'Europe/London')") from None
        return value


class DateOptions(_Formats):
    """Formats of calendar dates ("iso8601" is YYYY-MM-DD)."""


class ValueFormats(Protocol):
    """How numbers, timestamps and dates are written (a `Mapping` says)."""

    @property
    def numbers(self) -> NumberOptions: ...

    @property
    def timestamps(self) -> TimestampOptions: ...

    @property
    def dates(self) -> DateOptions: ...


def parse_values(texts: pa.Array, type_: pa.DataType, formats: ValueFormats) -> pa.Array:
    """Texts (already trimmed, null when empty) as `type_`; null where one does not convert.

    Exports repeat the same dates, prices and quantities over and over, so each distinct
    text is parsed once.
    """
    if type_ == pa.string():
        return texts
    encoded = pc.dictionary_encode(texts)
    return _parse_distinct(encoded.dictionary, type_, formats).take(encoded.indices)


def _parse_distinct(texts: pa.Array, type_: pa.DataType, formats: ValueFormats
                    ) -> pa.Array:
    if type_ in (pa.int64(), pa.int32()):
        return parse_integers(texts, formats.numbers, type_)
    if type_ == MONEY:
        return parse_decimals(texts, formats.numbers)
    if type_ == UTC_TIMESTAMP:
        return parse_timestamps(texts, formats.timestamps)
    if type_ == pa.date32():
        return parse_dates(texts, formats.dates)
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
    result = pa.nulls(len(texts), UTC_TIMESTAMP)
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
        return naive.cast(UTC_TIMESTAMP)
    earliest = pc.assume_timezone(naive, timezone=timezone, ambiguous="earliest",
                                  nonexistent="earliest")
    latest = pc.assume_timezone(naive, timezone=timezone, ambiguous="earliest",
                                nonexistent="latest")
    return pc.if_else(pc.equal(earliest, latest), earliest, None).cast(UTC_TIMESTAMP)
