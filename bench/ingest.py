"""Benchmark: validate and land 200k simulated events through the production path.

Compared in the same run, on the same Event Hubs-shaped batches of 1,000 bodies:
- floor: each batch parsed in bulk by `pyarrow.json` and written to Parquet, no validation;
- naive: per-event `json.loads`, per-field Python checks, a Parquet file per batch;
- ours on clean batches, on batches with 1% poison events (every kind of fault), and on
  batches where 10% and 100% of the bodies are unparseable (cut off mid-write).
Each variant runs `--repeat` times, interleaved, and the best time counts (machines are
noisy). The last line is one JSON object; every rate in it comes with its ratio to a
baseline measured in the same run (the floor, or ours on clean batches).
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from shared.events.contract import (
    EVENT_TYPES,
    FIELDS_BY_NAME,
    IDENTITY_FIELDS,
    REQUIRED_BY_TYPE,
    SCHEMA_VERSIONS,
)
from shared.events.delivery import eventhub_batches
from shared.events.ingest import EventBatch
from shared.settings import Settings
from shared.simulator import EventStream, ShopConfig, event_stream, simulate_shop
from shared.simulator.faults import inject_faults
from shoplake.services import Services


def simulated_events(count: int) -> EventStream:
    shop = simulate_shop(ShopConfig(seed=42, start=date(2026, 9, 1), days=60, products=2000,
                                    customers=20_000, sessions_per_day=3000))
    return event_stream(shop.days(), limit=count)


def cut_off(bodies: list[bytes], rate: float, seed: int) -> list[bytes]:
    """`bodies` with about `rate` of them cut off halfway: bad JSON, nothing else wrong."""
    chosen = np.random.default_rng(seed).random(len(bodies)) < rate
    return [body[: len(body) // 2] if cut else body
            for body, cut in zip(bodies, chosen, strict=True)]


def run_ours(batches: list[EventBatch], workdir: Path) -> float:
    services = Services(Settings(lake_url=str(workdir / "lake")))
    started = time.perf_counter()
    for batch in batches:
        services.ingest(batch)
    return time.perf_counter() - started


def run_floor(batches: list[EventBatch], workdir: Path) -> float:
    folder = workdir / "floor"
    folder.mkdir()
    started = time.perf_counter()
    for batch in batches:
        table = pajson.read_json(io.BytesIO(b"\n".join(batch.bodies)))
        pq.write_table(table, folder / f"{batch.name}.parquet")
    return time.perf_counter() - started


def naive_problem(body: bytes, received_at: datetime) -> str | None:
    """The straightforward way: parse one event, then check its fields one by one."""
    try:
        event = json.loads(body)
    except ValueError:
        return "bad_json"
    if not isinstance(event, dict):
        return "not_an_object"
    for name, field in FIELDS_BY_NAME.items():
        value = event.get(name)
        if value is None:
            continue
        expected = {"string": str, "integer": int, "number": (int, float)}[field.json_type]
        if not isinstance(value, expected) or isinstance(value, bool):
            return "wrong_type"
        if field.minimum is not None and not field.minimum <= value <= field.maximum:
            return "out_of_range"
        if field.max_length is not None and len(value) > field.max_length:
            return "out_of_range"
    if event.get("schema_version") not in SCHEMA_VERSIONS:
        return "unsupported_schema_version"
    if event.get("event_type") not in EVENT_TYPES:
        return "unknown_event_type"
    if not any(event.get(name) for name in IDENTITY_FIELDS):
        return "missing_field"
    if any(event.get(name) in (None, "") for name in REQUIRED_BY_TYPE[event["event_type"]]):
        return "missing_field"
    try:
        occurred = datetime.fromisoformat(event["occurred_at"])
    except (KeyError, TypeError, ValueError):
        return "bad_timestamp"
    if occurred.tzinfo is None:
        return "bad_timestamp"
    if occurred > received_at + timedelta(minutes=5):
        return "future_timestamp"
    return None


def run_naive(batches: list[EventBatch], workdir: Path) -> float:
    folder = workdir / "naive"
    folder.mkdir()
    started = time.perf_counter()
    for batch in batches:
        received = datetime.fromtimestamp(int(batch.enqueued_at.max().astype(np.int64)) / 1e6,
                                          UTC)
        good = [json.loads(b) for b in batch.bodies if naive_problem(b, received) is None]
        pq.write_table(pa.Table.from_pylist(good), folder / f"{batch.name}.parquet")
    return time.perf_counter() - started


def best_of(repeat: int, runs: dict[str, Callable[[Path], float]]) -> dict[str, float]:
    best = {name: float("inf") for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
            try:
                best[name] = min(best[name], run(workdir))
            finally:
                shutil.rmtree(workdir)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    stream = simulated_events(args.events)
    bodies, keys, enqueued = stream.bodies, stream.keys, stream.enqueued_at
    poisoned, _ = inject_faults(bodies, 0.01, seed=1)

    def batches(of: list[bytes]) -> list[EventBatch]:
        return list(eventhub_batches(of, keys, enqueued, batch_size=args.batch_size))

    clean, dirty = batches(bodies), batches(poisoned)
    cut_10, cut_100 = batches(cut_off(bodies, 0.10, seed=2)), batches(cut_off(bodies, 1.0, seed=3))
    seconds = best_of(args.repeat, {
        "ours": lambda d: run_ours(clean, d),
        "floor": lambda d: run_floor(clean, d),
        "naive": lambda d: run_naive(clean, d),
        "ours_1pct_poison": lambda d: run_ours(dirty, d),
        "ours_10pct_unparseable": lambda d: run_ours(cut_10, d),
        "ours_100pct_unparseable": lambda d: run_ours(cut_100, d),
    })
    n = len(bodies)
    rate = {name: n / s for name, s in seconds.items()}
    for name, value in rate.items():
        print(f"{name:>23}: {value:>10,.0f} events/s  ({seconds[name]:.3f} s)")
    print(json.dumps({
        "bench": "ingest",
        "events": n,
        "batches": len(clean),
        "events_per_s": round(rate["ours"]),
        "floor_events_per_s": round(rate["floor"]),
        "ratio_vs_floor": round(rate["ours"] / rate["floor"], 3),
        "naive_events_per_s": round(rate["naive"]),
        "naive_ratio_vs_floor": round(rate["naive"] / rate["floor"], 3),
        "poison_1pct_events_per_s": round(rate["ours_1pct_poison"]),
        "poison_1pct_ratio_vs_floor": round(rate["ours_1pct_poison"] / rate["floor"], 3),
        "poison_1pct_ratio_vs_clean": round(rate["ours_1pct_poison"] / rate["ours"], 3),
        "unparseable_10pct_events_per_s": round(rate["ours_10pct_unparseable"]),
        "unparseable_10pct_ratio_vs_clean": round(rate["ours_10pct_unparseable"] / rate["ours"], 3),
        "unparseable_100pct_events_per_s": round(rate["ours_100pct_unparseable"]),
        "unparseable_100pct_ratio_vs_clean": round(
            rate["ours_100pct_unparseable"] / rate["ours"], 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
