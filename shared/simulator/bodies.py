"""Events as the JSON bodies a producer sends, and the keys they are partitioned by.

Bodies are assembled column by column with Arrow string kernels: each column becomes a
`"name":value` fragment (null where the value is absent) and the fragments of a row are
joined skipping nulls. That avoids a Python dict and a serialiser call per event, and
also sidesteps an allocator pathology: keeping hundreds of thousands of separately
serialised objects alive makes per-object serialisation an order of magnitude slower.
Values that need JSON escaping, and all floats, are still encoded by orjson.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from .strings import rfc3339_column

if TYPE_CHECKING:
    from .shop import SimulatedDay

_NEEDS_ESCAPING = r'["\\\x00-\x1f]'
_CHUNK_ROWS = 32_768
"""Rows serialised per pass: Arrow's string kernels slow down badly once out of cache."""


def event_bodies(events: pa.Table) -> list[bytes]:
    """One compact JSON object per row with only its non-null fields.

    `occurred_at` (an Arrow timestamp) becomes RFC 3339 UTC with milliseconds and "Z";
    integer columns stay JSON integers; strings are escaped as JSON requires.
    """
    bodies: list[bytes] = []
    for start in range(0, events.num_rows, _CHUNK_ROWS):
        chunk = events.slice(start, _CHUNK_ROWS)
        fragments = [_fragments(name, chunk.column(name)) for name in chunk.column_names]
        members = pc.binary_join_element_wise(*fragments, ",", null_handling="skip")
        objects = pc.binary_join_element_wise("{", members, "}", "")
        bodies.extend(objects.cast(pa.binary()).to_pylist())
    return bodies


def event_partition_keys(events: pa.Table) -> list[str]:
    """The Event Hubs partition key of each event: its customer_id, else its session_id.

    Keeping a customer on one partition keeps their events in order for consumers.
    """
    keys = pc.coalesce(events.column("customer_id"), events.column("session_id"))
    if keys.null_count:
        first = pc.index(pc.is_null(keys), True).as_py()
        raise ValueError(f"event at row {first} has neither customer_id nor session_id")
    return keys.to_pylist()


def _fragments(name: str, column: pa.ChunkedArray) -> pa.Array:
    """`"name":<json value>` for each row, null where the value is null."""
    array = column.combine_chunks()
    key = orjson.dumps(name).decode() + ":"
    kind = array.type
    if pa.types.is_timestamp(kind):
        value = pc.binary_join_element_wise('"', rfc3339_column(array), '"', "")
    elif pa.types.is_integer(kind):
        value = array.cast(pa.string())
    elif pa.types.is_floating(kind):
        value = _encoded_by_orjson(array)
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        array = array.cast(pa.string())
        plain = pc.binary_join_element_wise('"', array, '"', "")
        escape = pc.fill_null(pc.match_substring_regex(array, _NEEDS_ESCAPING), False)
        value = pc.if_else(escape, _encoded_by_orjson(array), plain) if pc.any(escape).as_py() \
            else plain
    else:
        raise TypeError(f"column {name!r} has type {kind}, which has no JSON mapping here")
    return pc.binary_join_element_wise(key, value, "")


def _encoded_by_orjson(array: pa.Array) -> pa.Array:
    """Each value as orjson writes it (null stays null).

    One `dumps` of the whole list and a split is much faster than a call per value; the
    separator is safe to split on because orjson never emits it inside a value: inside
    an encoded string every quote is escaped, and numbers contain no commas.
    """
    valid = array.drop_null()
    if len(valid) == 0:
        return pa.nulls(len(array), pa.string())
    if pa.types.is_floating(array.type):
        pieces = orjson.dumps(valid.to_pylist())[1:-1].split(b",")
    else:
        pieces = [b'"' + p + b'"' for p in orjson.dumps(valid.to_pylist())[2:-2].split(b'","')]
    encoded = pa.array(pieces, pa.binary()).cast(pa.string())
    position = pc.subtract(pc.cumulative_sum(array.is_valid().cast(pa.int64())), 1)
    return encoded.take(pc.if_else(array.is_valid(), position, None))


@dataclass(frozen=True)
class EventStream:
    """A shop's events as producers send them: bodies, partition keys, arrival times."""

    bodies: list[bytes]
    keys: list[str]
    enqueued_at: np.ndarray  # datetime64[us], when Event Hubs received each event


def event_stream(days: Iterable[SimulatedDay], *, arrival_lag_us: int = 2_000_000,
                 limit: int | None = None) -> EventStream:
    """The events of `days` (at most `limit`), each arriving `arrival_lag_us` after it
    happened; streamed day by day so only the bodies are held."""
    bodies: list[bytes] = []
    keys: list[str] = []
    arrivals: list[np.ndarray] = []
    for day in days:
        bodies.extend(event_bodies(day.events))
        keys.extend(event_partition_keys(day.events))
        occurred = pc.cast(day.events["occurred_at"], pa.int64()).to_numpy()
        arrivals.append((occurred + arrival_lag_us).astype("datetime64[us]"))
        if limit is not None and len(bodies) >= limit:
            break
    enqueued_at = np.concatenate(arrivals) if arrivals else np.array([], "datetime64[us]")
    return EventStream(bodies[:limit], keys[:limit], enqueued_at[:limit])
