"""Vectorised RFC 3339 parsing: one pass of Arrow kernels per batch, no per-row Python."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shared.events.contract import RFC3339_PATTERN
from shared.types import UTC_TIMESTAMP

_US_PER_MINUTE = 60_000_000


def parse_rfc3339(texts: pa.Array) -> pa.TimestampArray:
    """UTC microsecond timestamps; null where a text is not a valid RFC 3339 date-time.

    Texts with the RFC 3339 shape go through Arrow's strict ISO 8601 cast in one kernel
    (the others are nulled first: the cast alone would take forms RFC 3339 does not). The
    cast is all or nothing, so an impossible date among them takes the exact, slower path.
    """
    shaped = pc.match_substring_regex(texts, RFC3339_PATTERN)
    candidates = texts if pc.all(shaped).as_py() is not False else pc.if_else(shaped, texts, None)
    try:
        nanos = pc.cast(candidates, pa.timestamp("ns", tz="UTC")).cast(pa.int64())
    except pa.ArrowInvalid:
        return _parse_rfc3339_exact(texts)
    # Floor to microseconds like the exact path (a cast truncates toward 1970).
    micros = np.floor_divide(_numpy_int64(nanos), 1000)
    return pa.array(micros, mask=pc.is_null(nanos).to_numpy(zero_copy_only=False)).cast(
        UTC_TIMESTAMP)


def _numpy_int64(values: pa.Array) -> np.ndarray:
    return pc.fill_null(values, 0).to_numpy(zero_copy_only=False)


def _parse_rfc3339_exact(texts: pa.Array) -> pa.TimestampArray:
    """Per-part parsing that yields null for each bad text instead of failing the batch.

    Arrow's `strptime` rolls impossible dates over (Feb 30 → Mar 2), so each parsed value
    is formatted back and compared with its text; fractions beyond microseconds truncate.
    """
    parts = pc.extract_regex(texts, RFC3339_PATTERN)
    base = pc.utf8_replace_slice(pc.struct_field(parts, "base"), 10, 11, "T")
    naive_s = pc.strptime(base, format="%Y-%m-%dT%H:%M:%S", unit="s", error_is_null=True)
    calendar_ok = pc.equal(pc.strftime(naive_s, format="%Y-%m-%dT%H:%M:%S"), base)

    digits = pc.utf8_slice_codeunits(pc.utf8_rpad(pc.struct_field(parts, "fraction"), 6, "0"), 0, 6)
    fraction_us = pc.cast(digits, pa.int64())

    offset = pc.utf8_upper(pc.struct_field(parts, "offset"))
    is_utc = pc.equal(offset, "Z")
    hours = pc.cast(pc.if_else(is_utc, "0", pc.utf8_slice_codeunits(offset, 1, 3)), pa.int64())
    minutes = pc.cast(pc.if_else(is_utc, "0", pc.utf8_slice_codeunits(offset, 4, 6)), pa.int64())
    offset_ok = pc.and_(pc.less_equal(hours, 23), pc.less_equal(minutes, 59))
    sign = pc.if_else(pc.starts_with(offset, "-"), -1, 1)
    offset_us = pc.multiply(sign, pc.multiply(pc.add(pc.multiply(hours, 60), minutes),
                                              _US_PER_MINUTE))

    local_us = pc.add(pc.multiply(pc.cast(naive_s, pa.int64()), 1_000_000), fraction_us)
    utc_us = pc.subtract(local_us, offset_us)
    valid = pc.and_(calendar_ok, offset_ok)
    return pc.if_else(valid, utc_us, None).cast(UTC_TIMESTAMP)
