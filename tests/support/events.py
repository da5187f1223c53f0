"""Event batches as the Event Hubs trigger hands them over."""

from __future__ import annotations

import numpy as np

from shared.events.ingest import EventBatch


def make_batch(bodies: list[bytes], *, partition: str = "0", first_sequence: int = 0,
               enqueued_at: str = "2026-11-10T00:00:00") -> EventBatch:
    """A batch as the Event Hubs trigger would hand it over."""
    return EventBatch("eventhub", partition, list(bodies),
                      np.arange(first_sequence, first_sequence + len(bodies), dtype=np.int64),
                      np.full(len(bodies), np.datetime64(enqueued_at, "us")))
