"""Event Hubs-shaped batches: partition by key, number per partition, cap the batch size."""

from __future__ import annotations

import numpy as np

from shared.events.delivery import eventhub_batches, partition_of


def test_batches_cover_every_body_once_in_per_partition_order() -> None:
    bodies = [f"body-{i}".encode() for i in range(2500)]
    keys = [f"customer-{i % 37}" for i in range(2500)]
    enqueued = np.arange(2500).astype("datetime64[s]")

    batches = list(eventhub_batches(bodies, keys, enqueued, partitions=3, batch_size=400))

    assert sorted(b for batch in batches for b in batch.bodies) == sorted(bodies)
    assert all(len(batch.bodies) <= 400 for batch in batches)
    for partition in ("0", "1", "2"):
        mine = [batch for batch in batches if batch.partition == partition]
        sequence = np.concatenate([batch.sequence_numbers for batch in mine])
        assert sequence.tolist() == list(range(len(sequence)))
        positions = [int(b.split(b"-")[1]) for batch in mine for b in batch.bodies]
        assert positions == sorted(positions)
        assert {partition_of(keys[p], 3) for p in positions} == {int(partition)}


def test_partition_of_is_stable_across_processes() -> None:
    # CRC-32 values, not Python's per-process salted hash: a key keeps its partition.
    assert [partition_of(k, 4) for k in ("C00001", "s-9f2c7d", "")] == [3, 0, 0]
