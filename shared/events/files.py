"""Event files (NDJSON) as batches for the ingest path, streamed with bounded memory."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np

from shared.events.ingest import EventBatch, to_datetime64

_CHUNK = 1 << 20


def _source_partition(path: Path) -> str:
    """A file's partition name: the start of its content's SHA-256 (one file, one name)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def ndjson_batches(path: Path, batch_size: int, received_at: datetime) -> Iterator[EventBatch]:
    """Batches of up to `batch_size` non-blank lines; sequence numbers are line numbers."""
    partition = _source_partition(path)
    received = to_datetime64(received_at)
    bodies: list[bytes] = []
    lines: list[int] = []

    def batch() -> EventBatch:
        return EventBatch("file", partition, bodies, np.asarray(lines, dtype=np.int64),
                          np.full(len(bodies), received))

    with path.open("rb") as stream:
        for number, line in enumerate(stream, start=1):
            body = line.rstrip(b"\r\n")
            if not body.strip():
                continue
            bodies.append(body)
            lines.append(number)
            if len(bodies) == batch_size:
                yield batch()
                bodies, lines = [], []
    if bodies:
        yield batch()
