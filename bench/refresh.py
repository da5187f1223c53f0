"""Refresh benchmark: the star schema over ~10 million simulated events in 90 days.

The shop's history is delivered as production delivers it (events through the Event Hubs
ingest path, orders as daily CSV uploads, catalogue and customers as exports), all days
but the last. Then, in the same process:
  (a) our full refresh (`shoplake refresh --full`);
  (b) the floor: the same SQL files run by plain DuckDB over the same Parquet, each
      result written as Parquet (partitioned like ours) and read back by the next step;
  (c) the last day is delivered and an incremental refresh runs.
Last line, one JSON object: {"bench": "refresh", "events", "full_s", "floor_s",
"ratio_vs_floor", "incremental_s", "incremental_ratio", "peak_rss_mb", ...}.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from itertools import islice
from multiprocessing import get_context
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.lake import Lake, Zone  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.simulator import (  # noqa: E402
    ShopConfig,
    SimulatedDay,
    SimulatedShop,
    simulate_shop,
)
from shared.warehouse.refresh import refresh  # noqa: E402
from shared.warehouse.specs import CALENDAR, CATALOG, Step  # noqa: E402
from shoplake.feed import ShopFeed  # noqa: E402
from shoplake.services import Services  # noqa: E402

EVENTS_PER_SESSION = 4.3  # measured on the simulator's default funnel


def deliver(feed: ShopFeed, days: Iterator[SimulatedDay]) -> int:
    """Each day's events and orders, generated and delivered one day at a time."""
    events = 0
    for day in days:
        events += feed.events(day).received
        feed.orders(day)
    return events


@dataclass
class History:
    """A lake with the shop's history delivered, all days but the last."""

    lake: Lake
    feed: ShopFeed
    shop: SimulatedShop
    days_left: Iterator[SimulatedDay]
    events: int


def deliver_history(lake_dir: Path, exports: Path, events: int, days: int) -> History:
    """About `events` events over `days` days, delivered as production does, but the last
    day (also what bench/spark.py builds)."""
    services = Services(Settings(lake_url=str(lake_dir)))
    sessions = max(10, round(events / days / EVENTS_PER_SESSION))
    shop = simulate_shop(ShopConfig(start=date(2026, 6, 1), days=days,
                                    sessions_per_day=sessions, products=5000,
                                    customers=100_000))
    feed = ShopFeed(services, exports, batch_size=5000)
    started = time.perf_counter()
    all_days = shop.days()
    delivered = deliver(feed, islice(all_days, days - 1))
    feed.upload(shop.products, "shop_products", "products.csv")
    feed.upload(shop.customers_as_of(shop.dates[-2]), "shop_customers", "customers.csv")
    print(f"delivered {delivered:,} events in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)
    return History(services.lake, feed, shop, all_days, delivered)


def floor(lake_dir: Path, work: Path) -> tuple[float, float]:
    """The floor's seconds and peak memory, measured in a child process so that its memory
    (one query over all events at once) does not count as ours."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as child:
        return child.submit(_floor, lake_dir, work).result()


def _floor(lake_dir: Path, work: Path) -> tuple[float, float]:
    """Every model's SQL, in order, by DuckDB alone over the same Parquet files."""
    out = work / "floor"
    out.mkdir()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    started = time.perf_counter()
    con.execute(f"CREATE VIEW raw_events AS SELECT * FROM read_parquet("
                f"'{lake_dir}/raw/events/*/*.parquet', hive_partitioning = true)")
    for dataset in ("order_lines", "customers", "products"):
        con.execute(f"CREATE VIEW landed_{dataset} AS SELECT * FROM read_parquet("
                    f"'{lake_dir}/raw/landed/{dataset}/*.parquet')")
    days_with_data = " UNION ALL ".join(f"SELECT {spec.partition_by} AS d FROM {spec.name}"
                                        for spec in CATALOG.step(Step.PARTITION))
    for spec in CATALOG:
        if CALENDAR in spec.reads:
            con.execute("CREATE OR REPLACE TABLE calendar AS SELECT CAST(d AS DATE) AS date_day"
                        " FROM (SELECT UNNEST(RANGE(MIN(d), MAX(d) + INTERVAL 1 DAY,"
                        f" INTERVAL 1 DAY)) AS d FROM ({days_with_data}))")
        target = out / spec.name
        partition = (f", PARTITION_BY ({spec.partition_by})" if spec.partition_by else "")
        if spec.partition_by:
            con.execute(f"COPY ({spec.sql}) TO '{target}' (FORMAT parquet{partition})")
            source = f"'{target}/*/*.parquet', hive_partitioning = true"
        else:
            target.mkdir(parents=True)
            con.execute(f"COPY ({spec.sql}) TO '{target}/data.parquet' (FORMAT parquet)")
            source = f"'{target}/data.parquet'"
        con.execute(f"CREATE VIEW {spec.name} AS SELECT * FROM read_parquet({source})")
    seconds = time.perf_counter() - started
    con.close()
    # getrusage's peak survives fork and exec (it would report the parent's); the kernel's
    # high-water mark of this process's own memory does not.
    status = Path("/proc/self/status").read_text()
    high_water_kb = next(int(line.split()[1]) for line in status.splitlines()
                         if line.startswith("VmHWM:"))
    return seconds, round(high_water_kb / 1024, 1)


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--keep", action="store_true", help="keep the lake for inspection")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="shoplake-bench-refresh-"))
    lake_dir = work / "lake"
    history = deliver_history(lake_dir, work / "exports", args.events, args.days)
    lake, feed, shop, all_days, events = (history.lake, history.feed, history.shop,
                                          history.days_left, history.events)

    full = refresh(lake, full=True)
    print(f"full refresh {full.seconds:.1f} s", file=sys.stderr)
    floor_s, floor_peak_rss_mb = floor(lake_dir, work)
    print(f"floor {floor_s:.1f} s", file=sys.stderr)

    last_day = next(all_days)
    events += feed.events(last_day).received
    feed.orders(last_day)
    incremental = refresh(lake)
    rebuilt = {t.table: t.partitions for t in incremental.tables if t.action == "partitions"}
    print(f"incremental {incremental.seconds:.2f} s, rebuilt {rebuilt}", file=sys.stderr)
    print(json.dumps(full.to_json()), json.dumps(incremental.to_json()), file=sys.stderr)
    assert lake.exists(lake.path(Zone.STATE, "refresh", "watermark.json"))
    assert last_day.date == shop.dates[-1]

    if not args.keep:
        shutil.rmtree(work)
    print(json.dumps({
        "bench": "refresh",
        "events": events,
        "full_s": round(full.seconds, 2),
        "floor_s": round(floor_s, 2),
        "ratio_vs_floor": round(full.seconds / floor_s, 3),
        "incremental_s": round(incremental.seconds, 3),
        "incremental_ratio": round(incremental.seconds / full.seconds, 4),
        "incremental_partitions": rebuilt,
        "peak_rss_mb": _peak_rss_mb(),
        "floor_peak_rss_mb": floor_peak_rss_mb,
    }))


if __name__ == "__main__":
    main()
