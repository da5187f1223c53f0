"""Types every layer shares: one definition each."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

__all__ = ["MONEY", "UTC_TIMESTAMP", "Progress"]

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")
"""Every timestamp in the lake: microseconds, UTC (Synapse's Delta reader needs the zone)."""

MONEY = pa.decimal128(18, 4)
"""Prices are exact decimals: revenue must reconcile to the cent with the source file."""

Progress = Callable[[str], None]
"""Told what a long task is doing now, one line at a time."""
