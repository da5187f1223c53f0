"""The operations the fault tests break, their inputs, and what a lake holds after them.

Inputs are small and deterministic (a simulated shop of a few days), so every operation
can be run clean once, broken at each of its writes, and rerun, in a few seconds.
Everything here is plain functions: the conftest uses them both when collecting (to count
an operation's writes in a clean dry run) and in fixtures.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from durable import nightly as steps
from durable.activities import activity_input, run_activity
from shared.batch.ingest import BatchFileResult, upload_file
from shared.batch.mapping import load_mapping
from shared.events.ingest import EventBatch, IngestResult
from shared.lake import Lake, Zone
from shared.lease import LeaseRecord, lease_path, new_run_id
from shared.settings import Settings
from shared.simulator import (
    ShopConfig,
    SimulatedDay,
    SimulatedShop,
    event_bodies,
    simulate_shop,
    write_csv,
)
from shared.warehouse.refresh import refresh
from shoplake.feed import ShopFeed
from shoplake.services import Services
from tests.faults.inject import Injector, Write

TINY_SHOP = ShopConfig(seed=23, start=date(2026, 10, 1), days=3, products=30, customers=80,
                       sessions_per_day=80, return_rate=0.3, segment_change_share=0.3,
                       country_change_share=0.2)
"""Three days of a very small shop: every table gets rows, a refresh takes a second."""

ENQUEUED_AT = np.datetime64("2026-10-04T00:00:00", "us")
POISON = [
    b"not json at all",
    b'{"event_id": "no-other-fields"}',
    b'{"event_type": "page_view"',
]


def services(lake: Lake) -> Services:
    return Services(Settings(lake_url=lake.url), lake=lake)


@cache
def tiny_shop() -> tuple[SimulatedShop, tuple[SimulatedDay, ...]]:
    shop = simulate_shop(TINY_SHOP)
    return shop, tuple(shop.days())


# -- event ingest -------------------------------------------------------------------------


@cache
def event_batch() -> EventBatch:
    """One Event Hubs batch: the shop's three days of events (three raw date files), with
    poison bodies and a body sent twice (one quarantine file)."""
    _, days = tiny_shop()
    bodies = [body for day in days for body in event_bodies(day.events)[:40]]
    bodies = [*bodies[:50], *POISON, bodies[7], *bodies[50:]]
    return EventBatch("eventhub", "3", bodies, np.arange(1000, 1000 + len(bodies)),
                      np.full(len(bodies), ENQUEUED_AT))


def ndjson_file(path: Path) -> Path:
    """The shop's events as an NDJSON file, with poison lines (for `shoplake
    ingest-events`)."""
    _, days = tiny_shop()
    bodies = [body for day in days for body in event_bodies(day.events)]
    for number, poison in enumerate(POISON):
        bodies.insert(100 + 250 * number, poison)
    path.write_bytes(b"\n".join(bodies) + b"\n")
    return path


def ingest_events(lake: Lake) -> IngestResult:
    """What the Event Hubs trigger runs for the batch."""
    return services(lake).ingest(event_batch())


# -- batch CSV landing -------------------------------------------------------------------


@cache
def export_files(folder: str) -> dict[str, Path]:
    """Two uploads: an orders export with bad rows, and a file that is not the export its
    folder names (rejected whole)."""
    _, days = tiny_shop()
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    orders = write_csv(pa.concat_tables(day.orders for day in days), target / "orders.csv")
    lines = orders.read_text(encoding="utf-8").splitlines(keepends=True)
    header = [name.strip('"') for name in lines[0].rstrip("\n").split(",")]

    def with_value(line: str, column: str, value: str) -> str:
        fields = line.rstrip("\n").split(",")
        fields[header.index(column)] = value
        return ",".join(fields) + "\n"

    lines[3] = lines[3].rstrip("\n") + ",an extra field\n"  # wrong_column_count
    lines[6] = with_value(lines[6], "quantity", "three")  # bad_number
    lines[9] = with_value(lines[9], "order_id", "")  # missing_value
    orders.write_text("".join(lines), encoding="utf-8")
    rejected = target / "customers-by-mistake.csv"
    rejected.write_text("customer_id,name,email\nc1,Ann,ann@example.com\n"
                        "c2,Bob,bob@example.com\n", encoding="utf-8")
    return {"rows": orders, "whole": rejected}


def upload(lake: Lake, file: Path) -> BatchFileResult:
    """What `shoplake ingest-batch` and the blob trigger run for an orders export."""
    return upload_file(lake, file, load_mapping("shop_orders"))


# -- refresh ------------------------------------------------------------------------------


def deliver_base(lake: Lake, exports: Path) -> None:
    """The shop's first two days, refreshed; then its third day and a changed catalogue
    and customer list, not yet refreshed (the next refresh merges dimensions)."""
    shop, days = tiny_shop()
    feed = ShopFeed(services(lake), exports, partitions=2, batch_size=200)
    feed.upload(shop.products, "shop_products", "products.csv")
    for day in days[:2]:
        feed.events(day)
        feed.orders(day)
    feed.upload(shop.customers_as_of(days[1].date), "shop_customers", "customers-1.csv")
    refresh(lake)
    feed.events(days[2])
    feed.orders(days[2])
    feed.upload(shop.customers_as_of(days[2].date), "shop_customers", "customers-2.csv")
    products = shop.products
    categories = products["category"].to_pylist()
    moved = [("Garden" if i % 7 == 0 else category) for i, category in enumerate(categories)]
    feed.upload(products.set_column(products.schema.get_field_index("category"), "category",
                                    pa.array(moved)), "shop_products", "products-2.csv")


def deliver_unrefreshed(lake: Lake, exports: Path, *, days: int = 3) -> ShopFeed:
    """The shop's catalogue, its first `days` days (events and orders) and, when that is
    all three, its customer list; never refreshed. Returns the feed, to deliver the rest
    (`deliver_rest`) with sequence numbers that continue."""
    shop, all_days = tiny_shop()
    feed = ShopFeed(services(lake), exports, partitions=2, batch_size=200)
    feed.upload(shop.products, "shop_products", "products.csv")
    for day in all_days[:days]:
        feed.events(day)
        feed.orders(day)
    if days == len(all_days):
        deliver_customers(feed)
    return feed


def deliver_rest(feed: ShopFeed, days: int) -> None:
    """The days after the first `days`, then the customer list."""
    _, all_days = tiny_shop()
    for day in all_days[days:]:
        feed.events(day)
        feed.orders(day)
    deliver_customers(feed)


def deliver_customers(feed: ShopFeed) -> None:
    shop, all_days = tiny_shop()
    feed.upload(shop.customers_as_of(all_days[-1].date), "shop_customers", "customers.csv")


def run_refresh(lake: Lake) -> Any:
    return refresh(lake)


def run_refresh_steps(lake: Lake, failures: list[BaseException] | None = None,
                      between: Callable[[], None] | None = None) -> None:
    """The nightly run's refresh activities, in order, each retried once when it fails
    (as the orchestration's retry policy does): its failure goes to `failures`, and
    `between()` looks at the lake before the retry."""
    services_ = services(lake)
    writer = f"nightly-{new_run_id()}"

    def call(name: str, payload: Any = None) -> Any:
        try:
            return run_activity(services_, name, activity_input(writer, payload))
        except Exception as error:
            if failures is not None:
                failures.append(error)
            if between is not None:
                between()
            return run_activity(services_, name, activity_input(writer, payload))

    plan = call(steps.PLAN)
    for day in plan["partitions"]:
        call(steps.REFRESH_PARTITION, day)
    call(steps.REFRESH_DIMENSIONS)
    call(steps.REFRESH_FACTS)
    call(steps.REFRESH_KPIS, plan["run_id"])
    call(steps.RELEASE)


# -- what a lake holds ------------------------------------------------------------------


def copy_lake(source: Path, target: Path) -> Lake:
    shutil.copytree(source, target)
    return Lake.open(str(target))


def files(lake: Lake, *folders: str) -> dict[str, bytes]:
    """Every file under the folders (`raw/events`, ...) by path under the lake root, with
    its bytes; not temporary files, which readers never see (`temporary_files`)."""
    found: dict[str, bytes] = {}
    for folder in folders:
        zone, *parts = folder.split("/")
        selector = pafs.FileSelector(lake.path(Zone(zone), *parts), recursive=True,
                                     allow_not_found=True)
        for info in lake.fs.get_file_info(selector):
            if info.type == pafs.FileType.File and not info.base_name.startswith(".tmp-"):
                found[lake.relative(info.path)] = lake.read_bytes(info.path)
    return dict(sorted(found.items()))


def at(lake: Lake, relative: str) -> str:
    """The lake path of a file named by its path under the root."""
    zone, *parts = relative.split("/")
    return lake.path(Zone(zone), *parts)


VOLATILE = ("landed_at",)
"""What differs between two clean runs: the landing time that batch rows and ledger
entries record."""


def contents(lake: Lake, *folders: str, volatile: tuple[str, ...] = VOLATILE
             ) -> dict[str, object]:
    """Every file under the folders, as what it holds: a Parquet file's rows (sorted), a
    JSON file's content, other files' bytes; without the `volatile` columns and keys."""
    found: dict[str, object] = {}
    for path, data in files(lake, *folders).items():
        if path.endswith(".parquet"):
            found[path] = parquet_rows(data, volatile).to_pylist()
        elif path.endswith(".json"):
            found[path] = {key: value for key, value in orjson.loads(data).items()
                           if key not in volatile}
        else:
            found[path] = data
    return found


def parquet_rows(data: bytes, drop: tuple[str, ...] = ()) -> pa.Table:
    table = pq.read_table(pa.BufferReader(data))
    table = table.drop_columns([c for c in drop if c in table.column_names])
    return sort_rows(table)


def sort_rows(table: pa.Table) -> pa.Table:
    table = table.select(sorted(table.column_names))
    keys = [(name, "ascending") for name in table.column_names
            if not pa.types.is_nested(table.schema.field(name).type)
            and not pa.types.is_binary(table.schema.field(name).type)]
    return table.sort_by(keys) if keys else table


def watermark(lake: Lake) -> dict[str, Any]:
    """The watermark's content without its time and run id."""
    data = lake.read_bytes(lake.path(Zone.STATE, "refresh", "watermark.json"))
    content = orjson.loads(data)
    return {key: value for key, value in content.items() if key not in ("refreshed_at", "run_id")}


def lease(lake: Lake) -> LeaseRecord:
    return LeaseRecord.parse(lake.read_versioned(lease_path(lake)).data)


def assert_refresh_finished(lake: Lake) -> None:
    """No pending plan, no partition markers, no temporary files, the lake handed back."""
    state = lake.path(Zone.STATE, "refresh")
    assert not lake.exists(f"{state}/pending_plan.json")
    assert lake.list_files(f"{state}/partitions") == []
    assert temporary_files(lake) == []
    assert lease(lake).run is None


def temporary_files(lake: Lake) -> list[str]:
    if not lake.local:
        return []
    return sorted(str(p) for p in Path(lake.url).rglob(".tmp-*"))


def no_duplicate_events(lake: Lake) -> bool:
    ids = lake.table(Zone.PROCESSED, "events").to_pyarrow_table(columns=["event_id"])["event_id"]
    return pc.count_distinct(ids).as_py() == len(ids)


# -- dry runs -----------------------------------------------------------------------------


def dry_run(operation: Callable[[], Any]) -> list[Write]:
    """The writes an operation makes, counted in a clean run (the Lake methods are
    wrapped for the call only)."""
    injector = Injector()
    originals = {name: Lake.__dict__[name] for name in ("write_bytes", "open_output",
                                                        "write_bytes_if", "write_table",
                                                        "merge_table")}
    injector.install()
    try:
        operation()
    finally:
        for name, method in originals.items():
            setattr(Lake, name, method)
    return injector.writes


@dataclass(frozen=True)
class Reference:
    """A lake before an operation, the same lake after a clean run of it, and the writes
    that run made."""

    before: Path
    after: Path
    writes: list[Write]
