"""Cut a stream of event bodies into Event Hubs-shaped batches.

Events with the same key (customer, else session) go to the same partition, as Event Hubs
does with a partition key; each partition numbers its events and is cut into batches of at
most `batch_size`. The demo, the benchmark and `shoplake ingest-events` feed the ingest path
this way, so they exercise exactly what the Event Hubs trigger runs.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence

import numpy as np

from shared.events.ingest import EventBatch


def partition_of(key: str, partitions: int) -> int:
    """Stable across processes and machines (Python's `hash` is salted per process)."""
    return zlib.crc32(key.encode("utf-8")) % partitions


def eventhub_batches(
    bodies: Sequence[bytes],
    keys: Sequence[str],
    enqueued_at: np.ndarray,
    *,
    partitions: int = 4,
    batch_size: int = 1000,
    next_sequence: list[int] | None = None,
) -> Iterator[EventBatch]:
    """Batches in delivery order: partition by partition, sequence numbers from 0.

    To continue a stream (a later day), pass `next_sequence`, one number per partition; it
    is advanced past every batch yielded, as an Event Hub numbers a partition's events.
    """
    if next_sequence is None:
        next_sequence = [0] * partitions
    if not (len(bodies) == len(keys) == len(enqueued_at)):
        raise ValueError("bodies, keys and enqueue times must align")
    assigned = np.fromiter((partition_of(k, partitions) for k in keys), dtype=np.int32,
                           count=len(keys))
    enqueued_at = enqueued_at.astype("datetime64[us]")
    for partition in range(partitions):
        rows = np.flatnonzero(assigned == partition)
        for start in range(0, rows.size, batch_size):
            chunk = rows[start : start + batch_size]
            first = next_sequence[partition]
            next_sequence[partition] += chunk.size
            yield EventBatch(
                "eventhub",
                str(partition),
                [bodies[i] for i in chunk],
                np.arange(first, first + chunk.size, dtype=np.int64),
                enqueued_at[chunk],
            )
