"""`shoplake demo`: a small shop, end to end, on the embedded lake (no cloud, no emulator).

The events go through exactly what the Event Hubs trigger runs (`Services.ingest` on
Event Hubs-shaped batches), a few poison events ride along as buggy producers send them,
and some batches are delivered twice, as Event Hubs does after a failover.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shared.events.delivery import eventhub_batches
from shared.events.ingest import EventBatch
from shared.events.raw import ingest_totals, raw_events
from shared.lake import Lake, Zone
from shared.services import Services
from shared.settings import Settings
from shared.simulator import ShopConfig, SimulatedShop, event_stream, simulate_shop, write_exports
from shared.simulator.faults import inject_faults

DEMO_START = date(2026, 10, 1)
REDELIVERED_BATCHES = 3


@dataclass
class DemoEvents:
    bodies: list[bytes]
    keys: list[str]
    enqueued_at: np.ndarray
    expected_rejects: int


def run_demo(settings: Settings, *, days: int, sessions_per_day: int, poison_rate: float,
             out: Path, seed: int, console: Console) -> None:
    started = time.perf_counter()
    services = Services(settings)
    lake = services.lake
    console.rule("[bold]shoplake demo")
    console.print(f"lake: {lake.url}   exports: {out.resolve()}")

    config = ShopConfig(seed=seed, start=DEMO_START, days=days,
                        sessions_per_day=sessions_per_day)
    with console.status("simulating the shop…"):
        shop = simulate_shop(config)
        exports = write_exports(shop, out)
        events = _demo_events(shop, poison_rate, seed)
    console.print(f"simulated {days} days: {len(events.bodies):,} events, "
                  f"{exports.products_rows:,} products, {exports.customers_rows:,} customers, "
                  f"{exports.orders_rows:,} order lines (CSV exports in {out}/)")

    batches = list(eventhub_batches(events.bodies, events.keys, events.enqueued_at))
    ingest_started = time.perf_counter()
    with _progress(console) as progress:
        task = progress.add_task("ingesting events", total=len(events.bodies))
        for batch in batches:
            services.ingest(batch)
            progress.advance(task, len(batch.bodies))
    ingest_seconds = time.perf_counter() - ingest_started

    replay_identical = _redeliver(services, batches[:: max(1, len(batches) //
                                                           REDELIVERED_BATCHES)][:3])
    _print_summary(console, lake, events, len(batches), ingest_seconds, replay_identical,
                   time.perf_counter() - started)


def _demo_events(shop: SimulatedShop, poison_rate: float, seed: int) -> DemoEvents:
    stream = event_stream(shop.days())
    poisoned, expected = inject_faults(stream.bodies, poison_rate, seed)
    return DemoEvents(poisoned, stream.keys, stream.enqueued_at,
                      sum(reason is not None for reason in expected))


def _redeliver(services: Services, batches: list[EventBatch]) -> bool:
    """Deliver some batches again; at-least-once delivery must leave the raw zone unchanged."""
    before = _raw_zone_digest(services.lake)
    for batch in batches:
        services.ingest(batch)
    return _raw_zone_digest(services.lake) == before


def _raw_zone_digest(lake: Lake) -> str:
    digest = hashlib.sha256()
    for path in lake.list_files(lake.path(Zone.RAW, "events")):
        digest.update(path.encode())
        digest.update(lake.read_bytes(path))
    return digest.hexdigest()


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


def _print_summary(console: Console, lake: Lake, events: DemoEvents, batches: int,
                   ingest_seconds: float, replay_identical: bool, total_seconds: float) -> None:
    totals = ingest_totals(lake)
    landed_ids = raw_events(lake).to_table(columns=["event_id"])["event_id"]
    distinct = pc.count_distinct(landed_ids).as_py()

    table = Table(title="landing summary", show_header=False)
    table.add_row("events sent", f"{len(events.bodies):,} in {batches:,} Event Hubs batches")
    table.add_row("received (batch records)", f"{totals.received:,} in {totals.batches:,} "
                  "batches (redeliveries overwrite their record)")
    table.add_row("landed in raw/events", f"{totals.landed:,} ({distinct:,} distinct event_id)")
    table.add_row("quarantined", f"{totals.quarantined:,} (poison sent: "
                  f"{events.expected_rejects:,})")
    for reason, count in totals.reasons.items():
        table.add_row(f"  {reason}", f"{count:,}")
    reconciled = totals.received == totals.landed + totals.quarantined == len(events.bodies)
    table.add_row("received = landed + quarantined", "yes" if reconciled else "[red]NO[/red]")
    table.add_row("duplicates in raw", f"{len(landed_ids) - distinct:,}")
    table.add_row("redelivered batches", "raw zone byte-identical" if replay_identical
                  else "[red]raw zone changed[/red]")
    table.add_row("ingest throughput", f"{len(events.bodies) / ingest_seconds:,.0f} events/s")
    table.add_row("total time", f"{total_seconds:.1f} s")
    console.print(table)
