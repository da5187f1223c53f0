"""Event Hubs batching and client set-up, offline: real batches, recorded sends."""

from __future__ import annotations

import zlib
from typing import Any

import pytest
from azure.eventhub import EventData, EventDataBatch, EventHubProducerClient

from shared.settings import Settings
from shared.simulator import eventhub
from shared.simulator.eventhub import (
    EventTooLargeError,
    SendSummary,
    open_producer,
    send_events,
    send_to_eventhub,
)

MAX_BATCH_BYTES = 4096
PARTITIONS = ["0", "1", "2", "3"]


class RecordingBatch(EventDataBatch):
    """A real batch that also remembers the bodies it accepted, for the assertions."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bodies: list[bytes] = []

    def add(self, event_data: EventData) -> None:  # type: ignore[override]
        super().add(event_data)
        self.bodies.append(event_data.body_as_str().encode())


def _make_events(count: int) -> tuple[list[bytes], list[str]]:
    keys = [f"C{i % 37:05d}" if i % 3 else f"s-{i:08x}" for i in range(count)]
    bodies = [b'{"n":%d,"key":"%s","pad":"%s"}' % (i, k.encode(), b"x" * (i % 200))
              for i, k in enumerate(keys)]
    return bodies, keys


def _send(bodies: list[bytes], keys: list[str]) -> tuple[SendSummary, list[RecordingBatch]]:
    sent: list[RecordingBatch] = []
    summary = send_events(
        bodies, keys, partition_ids=PARTITIONS,
        create_batch=lambda pid: RecordingBatch(max_size_in_bytes=MAX_BATCH_BYTES,
                                                partition_id=pid),
        send_batch=sent.append,
    )
    return summary, sent


def test_every_event_is_sent_once_in_order_on_its_keys_partition() -> None:
    bodies, keys = _make_events(600)
    summary, sent = _send(bodies, keys)
    index = {body: i for i, body in enumerate(bodies)}
    seen: list[int] = []
    per_partition: dict[str, list[int]] = {pid: [] for pid in PARTITIONS}
    for batch in sent:
        assert 0 < len(batch) == len(batch.bodies)
        assert batch.size_in_bytes <= MAX_BATCH_BYTES
        for body in batch.bodies:
            i = index[body]
            assert batch._partition_id == PARTITIONS[zlib.crc32(keys[i].encode()) % 4]
            per_partition[batch._partition_id].append(i)
            seen.append(i)
    assert sorted(seen) == list(range(len(bodies)))
    assert all(order == sorted(order) for order in per_partition.values())
    assert summary == SendSummary(
        events=600, batches=len(sent),
        per_partition={pid: len(order) for pid, order in per_partition.items()},
    )
    assert len(sent) > 2 * len(PARTITIONS)  # batches filled up and were split


def test_partitioning_is_stable_and_uses_every_partition() -> None:
    bodies, keys = _make_events(400)
    first, _ = _send(bodies, keys)
    second, _ = _send(bodies, keys)
    assert first == second
    assert all(n > 0 for n in first.per_partition.values())
    assert eventhub.partition_for("C00042", PARTITIONS) == PARTITIONS[
        zlib.crc32(b"C00042") % 4]


def test_an_event_larger_than_an_empty_batch_is_named() -> None:
    bodies, keys = _make_events(10)
    bodies[7] = b"{" + b"y" * (MAX_BATCH_BYTES + 10) + b"}"
    with pytest.raises(EventTooLargeError, match=r"event 7 \(key 'C00007'"):
        _send(bodies, keys)


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="2 bodies but 1 keys"):
        send_events([b"{}", b"{}"], ["k"], partition_ids=PARTITIONS,
                    create_batch=lambda pid: EventDataBatch(partition_id=pid),
                    send_batch=lambda batch: None)


def test_send_to_eventhub_uses_the_producers_partitions_and_batches() -> None:
    class FakeProducer:
        def __init__(self) -> None:
            self.created: list[str] = []
            self.sent: list[EventDataBatch] = []

        def get_partition_ids(self) -> list[str]:
            return ["a", "b"]

        def create_batch(self, *, partition_id: str) -> EventDataBatch:
            self.created.append(partition_id)
            return EventDataBatch(max_size_in_bytes=1024, partition_id=partition_id)

        def send_batch(self, batch: EventDataBatch) -> None:
            self.sent.append(batch)

    producer = FakeProducer()
    bodies, keys = _make_events(50)
    summary = send_to_eventhub(bodies, keys, producer)  # type: ignore[arg-type]
    assert summary.events == 50 and sum(len(b) for b in producer.sent) == 50
    assert set(producer.created) == {"a", "b"} and summary.batches == len(producer.sent)


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name in ("EVENTHUB_CONNECTION", "EVENTHUB_CONNECTION__fullyQualifiedNamespace",
                 "AZURE_CLIENT_ID", "EVENTHUB_NAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_producer_from_a_connection_string(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(
        monkeypatch, EVENTHUB_NAME="clicks",
        EVENTHUB_CONNECTION="Endpoint=sb://shop.servicebus.windows.net/;"
        "SharedAccessKeyName=send;SharedAccessKey=c2VjcmV0",
    )
    producer = open_producer(settings)
    try:
        assert isinstance(producer, EventHubProducerClient)
        assert producer.eventhub_name == "clicks"
        assert producer._address.hostname == "shop.servicebus.windows.net"  # no public getter
    finally:
        producer.close()


def test_producer_from_managed_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.core.credentials import AccessToken

    made: list[str | None] = []

    class FakeCredential:
        def __init__(self, *, managed_identity_client_id: str | None = None) -> None:
            made.append(managed_identity_client_id)

        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            raise AssertionError("no token should be requested offline")

    monkeypatch.setattr(eventhub, "DefaultAzureCredential", FakeCredential)
    settings = _settings(monkeypatch, AZURE_CLIENT_ID="client-1",
                         EVENTHUB_CONNECTION__fullyQualifiedNamespace="shop.servicebus.windows.net")
    producer = open_producer(settings)
    try:
        assert producer._address.hostname == "shop.servicebus.windows.net"
        assert producer.eventhub_name == "shop-events"
        assert made == ["client-1"]
        assert isinstance(producer._credential, FakeCredential)
    finally:
        producer.close()


def test_unconfigured_event_hubs_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="EVENTHUB_CONNECTION"):
        open_producer(_settings(monkeypatch))
