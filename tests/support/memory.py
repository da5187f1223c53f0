"""What an operation costs in memory."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import TypeVar

Result = TypeVar("Result")


def with_peak_memory(operation: Callable[[], Result]) -> tuple[Result, int]:
    """`operation()`'s result and the most memory Python allocated while it ran (bytes)."""
    tracemalloc.start()
    try:
        result = operation()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
