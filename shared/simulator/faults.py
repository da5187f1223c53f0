"""Poison events as buggy producers really send them, each with the reason it must get.

The demo mixes a few into the stream to show quarantine at work; tests and the benchmark
use them to check that every poison event is caught, with the right reason, and counted.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import orjson

Fault = Callable[[dict], bytes]


def _bad_json(event: dict) -> bytes:
    body = orjson.dumps(event)
    return body[: len(body) // 2]  # a producer cut off mid-write


def _wrong_type(event: dict) -> bytes:
    return orjson.dumps({**event, "schema_version": str(event.get("schema_version", 1))})


def _unknown_event_type(event: dict) -> bytes:
    return orjson.dumps({**event, "event_type": "wishlist_add"})


def _future_timestamp(event: dict) -> bytes:
    return orjson.dumps({**event, "occurred_at": "2099-01-01T00:00:00Z"})


def _oversize(event: dict) -> bytes:
    return orjson.dumps({**event, "debug_dump": "x" * 40_000})


def _missing_field(event: dict) -> bytes:
    return orjson.dumps({k: v for k, v in event.items() if k != "event_id"})


def _bad_timestamp(event: dict) -> bytes:
    return orjson.dumps({**event, "occurred_at": "28/11/2026 10:00"})


FAULTS: dict[str, Fault] = {
    "bad_json": _bad_json,
    "wrong_type": _wrong_type,
    "unknown_event_type": _unknown_event_type,
    "future_timestamp": _future_timestamp,
    "oversize": _oversize,
    "missing_field": _missing_field,
    "bad_timestamp": _bad_timestamp,
}
"""Fault name = the quarantine reason it must produce (with the default 32 KiB size limit)."""


def inject_faults(bodies: list[bytes], rate: float, seed: int = 0
                  ) -> tuple[list[bytes], list[str | None]]:
    """Replace about `rate` of `bodies` with poison, cycling through every kind of fault.

    Returns the new bodies and, per body, the reason it must be quarantined with (None for
    untouched ones). Same inputs, same output.
    """
    if not 0 <= rate <= 1:
        raise ValueError("rate must be between 0 and 1")
    chosen = sorted(random.Random(seed).sample(range(len(bodies)), round(len(bodies) * rate)))
    poisoned = list(bodies)
    expected: list[str | None] = [None] * len(bodies)
    kinds = list(FAULTS.items())
    for n, index in enumerate(chosen):
        reason, fault = kinds[n % len(kinds)]
        poisoned[index] = fault(orjson.loads(bodies[index]))
        expected[index] = reason
    return poisoned, expected
