"""A realistic, fast, deterministic shop simulator: the demo's and the benchmarks' data.

`simulate_shop(ShopConfig(...))` gives a catalogue, customers whose records change over
time, and days of contract-valid shopper events with the orders they produce (returns
included), with planted structure (funnel, seasonality, popularity skew, bundles bought
together) for the pipeline and the recommender to find. `write_exports` writes the batch
files; `event_bodies`, `event_partition_keys` and the `eventhub` module's senders feed
Event Hubs; `inject_faults` mixes in the poison events buggy producers send.
"""

from .bodies import EventStream, event_bodies, event_partition_keys, event_stream
from .columns import EVENTS_SCHEMA, ORDERS_SCHEMA
from .config import ShopConfig
from .eventhub import (
    EventTooLargeError,
    SendSummary,
    open_producer,
    send_events,
    send_to_eventhub,
)
from .export import ExportFiles, write_csv, write_exports
from .faults import inject_faults
from .shop import SimulatedDay, SimulatedShop, simulate_shop

__all__ = [
    "EVENTS_SCHEMA",
    "ORDERS_SCHEMA",
    "EventStream",
    "EventTooLargeError",
    "ExportFiles",
    "SendSummary",
    "ShopConfig",
    "SimulatedDay",
    "SimulatedShop",
    "event_bodies",
    "event_partition_keys",
    "event_stream",
    "inject_faults",
    "open_producer",
    "send_events",
    "send_to_eventhub",
    "simulate_shop",
    "write_csv",
    "write_exports",
]
