"""Sending event bodies to Event Hubs in full batches, ordered per partition.

Events are assigned to partitions here, by a stable hash of their key, rather than by
the service: the same customer always lands on the same partition across runs and
processes (Python's `hash` is salted per process), and batches can be bound to a
partition id, which is how `EventDataBatch` keeps per-partition order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from azure.eventhub import EventData, EventDataBatch, EventHubProducerClient
from azure.identity import DefaultAzureCredential

from shared.events.delivery import partition_of
from shared.settings import ConfigurationError, Settings


class EventTooLargeError(ValueError):
    """An event does not fit even in an empty batch."""


@dataclass(frozen=True)
class SendSummary:
    """What `send_events` sent: events, batches and events per partition id."""

    events: int
    batches: int
    per_partition: dict[str, int] = field(default_factory=dict)


def partition_for(key: str, partition_ids: Sequence[str]) -> str:
    """The partition an event key maps to (CRC-32 of its UTF-8 bytes, modulo the count)."""
    return partition_ids[partition_of(key, len(partition_ids))]


def send_events(
    bodies: Sequence[bytes],
    keys: Sequence[str],
    *,
    partition_ids: Sequence[str],
    create_batch: Callable[[str], EventDataBatch],
    send_batch: Callable[[EventDataBatch], None],
) -> SendSummary:
    """Send every body once, to its key's partition, in the given order per partition.

    A batch is filled until `add` refuses the next event, then sent, and a fresh one
    started. Raises EventTooLargeError (after sending what came before it on its
    partition) for an event that does not fit in an empty batch.
    """
    if len(bodies) != len(keys):
        raise ValueError(f"{len(bodies)} bodies but {len(keys)} keys")
    if not partition_ids:
        raise ValueError("no partition ids to send to")
    queues: dict[str, list[int]] = {pid: [] for pid in partition_ids}
    for index, key in enumerate(keys):
        queues[partition_for(key, partition_ids)].append(index)

    batches = 0
    for pid, indices in queues.items():
        batch = create_batch(pid)
        for index in indices:
            event = EventData(bodies[index])
            if _added(batch, event):
                continue
            if len(batch):
                send_batch(batch)
                batches += 1
                batch = create_batch(pid)
                if _added(batch, event):
                    continue
            raise EventTooLargeError(
                f"event {index} (key {keys[index]!r}, {len(bodies[index])} bytes) does not fit "
                f"in an empty batch of {batch.max_size_in_bytes} bytes for partition {pid}"
            )
        if len(batch):
            send_batch(batch)
            batches += 1
    return SendSummary(
        events=len(bodies),
        batches=batches,
        per_partition={pid: len(indices) for pid, indices in queues.items()},
    )


def _added(batch: EventDataBatch, event: EventData) -> bool:
    """Add the event if it fits; `add` signals a full batch with ValueError."""
    try:
        batch.add(event)
    except ValueError:
        return False
    return True


def open_producer(settings: Settings) -> EventHubProducerClient:
    """A producer for the configured Event Hub: connection string, else managed identity.

    Creating the client does not connect; the first call on it does.
    """
    if settings.eventhub_connection_string:
        return EventHubProducerClient.from_connection_string(
            settings.eventhub_connection_string, eventhub_name=settings.eventhub_name
        )
    if settings.eventhub_namespace:
        return EventHubProducerClient(
            fully_qualified_namespace=settings.eventhub_namespace,
            eventhub_name=settings.eventhub_name,
            credential=DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id),
        )
    raise ConfigurationError(
        "Event Hubs is not configured: set EVENTHUB_CONNECTION (a connection string) or "
        "EVENTHUB_CONNECTION__fullyQualifiedNamespace (for managed identity)"
    )


def send_to_eventhub(
    bodies: Sequence[bytes], keys: Sequence[str], producer: EventHubProducerClient
) -> SendSummary:
    """`send_events` against a live producer, over the hub's own partition ids."""
    return send_events(
        bodies,
        keys,
        partition_ids=producer.get_partition_ids(),
        create_batch=lambda pid: producer.create_batch(partition_id=pid),
        send_batch=producer.send_batch,
    )
