"""Vectorised string building: ids, UUIDs and timestamps straight into Arrow buffers.

Formatting millions of ids with Python f-strings would dominate the run time; writing
ASCII bytes into a fixed-width numpy matrix and handing its buffer to Arrow costs a few
numpy operations per column instead.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_DIGIT = np.uint8(ord("0"))
_US_PER_MS = 1_000
_MS_PER_DAY = 86_400_000
_UUID_GROUPS = ((0, 0, 8), (8, 9, 4), (12, 14, 4), (16, 19, 4), (20, 24, 12))
"""(first hex digit, position in the UUID, digits) of each dash-separated group."""


def fixed_width_strings(chars: np.ndarray) -> pa.StringArray:
    """An Arrow string array whose i-th value is the ASCII bytes of row i of `chars`."""
    rows, width = chars.shape
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(chars, dtype=np.uint8)
    return pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data))


def hex_chars(raw: np.ndarray) -> np.ndarray:
    """Lower-case hex digits of a (rows, n) uint8 matrix, as a (rows, 2n) char matrix."""
    out = np.empty((raw.shape[0], raw.shape[1] * 2), dtype=np.uint8)
    out[:, 0::2] = _HEX[raw >> 4]
    out[:, 1::2] = _HEX[raw & 0x0F]
    return out


def uuid4_strings(rng: np.random.Generator, count: int) -> pa.StringArray:
    """`count` random version-4 UUIDs in canonical 8-4-4-4-12 form."""
    raw = np.frombuffer(rng.bytes(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    digits = hex_chars(raw)
    out = np.full((count, 36), ord("-"), dtype=np.uint8)
    for src, dst, length in _UUID_GROUPS:
        out[:, dst : dst + length] = digits[:, src : src + length]
    return fixed_width_strings(out)


def prefixed_hex(prefix: str, values: np.ndarray) -> pa.StringArray:
    """`prefix` followed by the 16 hex digits of each uint64 (e.g. session ids)."""
    raw = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    return fixed_width_strings(np.hstack([np.broadcast_to(head, (len(raw), len(head))),
                                          hex_chars(raw)]))


def prefixed_numbers(prefix: str, numbers: np.ndarray, width: int) -> pa.StringArray:
    """`prefix` + zero-padded decimal numbers ("P00017"); wider numbers are not cut."""
    digits = pc.utf8_lpad(pa.array(np.asarray(numbers, dtype=np.int64)).cast(pa.string()),
                          width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def rfc3339_millis(micros: np.ndarray) -> pa.StringArray:
    """UTC timestamps (microseconds since the epoch) as "2026-11-28T20:41:26.512Z".

    Sub-millisecond digits are truncated, as RFC 3339 producers commonly do.
    """
    millis = np.floor_divide(micros, _US_PER_MS)
    days = np.floor_divide(millis, _MS_PER_DAY)
    of_day = millis - days * _MS_PER_DAY
    day = days.astype("datetime64[D]")
    month_start = day.astype("datetime64[M]")
    year = day.astype("datetime64[Y]").astype(np.int64) + 1970
    month = month_start.astype(np.int64) % 12 + 1
    dom = (day - month_start).astype(np.int64) + 1
    out = np.empty((len(micros), 24), dtype=np.uint8)
    _put_digits(out, 0, year, 4)
    _put_digits(out, 5, month, 2)
    _put_digits(out, 8, dom, 2)
    _put_digits(out, 11, of_day // 3_600_000, 2)
    _put_digits(out, 14, of_day // 60_000 % 60, 2)
    _put_digits(out, 17, of_day // 1_000 % 60, 2)
    _put_digits(out, 20, of_day % 1_000, 3)
    for position, char in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, "."),
                           (23, "Z")):
        out[:, position] = ord(char)
    return fixed_width_strings(out)


def rfc3339_column(timestamps: pa.Array) -> pa.StringArray:
    """An Arrow timestamp array (any unit) as RFC 3339 UTC millisecond strings; nulls stay."""
    micros = timestamps.cast(pa.timestamp("us", tz=timestamps.type.tz)).cast(pa.int64())
    text = rfc3339_millis(micros.fill_null(0).to_numpy(zero_copy_only=False))
    return pc.if_else(timestamps.is_valid(), text, None) if timestamps.null_count else text


def _put_digits(out: np.ndarray, start: int, values: np.ndarray, width: int) -> None:
    for i in range(width - 1, -1, -1):
        out[:, start + i] = _DIGIT + (values % 10).astype(np.uint8)
        values = values // 10
