"""`shoplake demo`: a small shop, end to end, on the embedded lake (no cloud, no emulator).

The events go through exactly what the Event Hubs trigger runs (`Services.ingest` on
Event Hubs-shaped batches), a few poison events ride along as buggy producers send them,
and some batches are delivered twice, as Event Hubs does after a failover. The shop's CSV
exports (catalogue, a weekly customer list, daily orders) go through the batch upload
path; then the star schema is refreshed and the headline KPIs printed.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from durable.embedded import run_nightly
from durable.nightly import Summary
from durable.starter import nightly_input
from model.predictions import Predictions
from model.registry import Manifest, Registry
from model.retrain import RetrainResult
from model.serving import Recommendations
from shared.events.delivery import eventhub_batches
from shared.events.ingest import EventBatch
from shared.events.raw import ingest_totals, raw_events
from shared.lake import Lake, Zone
from shared.settings import Settings
from shared.simulator import ShopConfig, SimulatedShop, event_stream, simulate_shop
from shared.simulator.faults import inject_faults
from shared.warehouse.kpis import Headline, headline
from shoplake.dashboard import write_dashboard
from shoplake.feed import ShopFeed
from shoplake.services import Services

DEMO_START = date(2026, 10, 1)
REDELIVERED_BATCHES = 3
DEMO_RECOMMENDED_CUSTOMERS = 3
DEMO_CUSTOMERS = 800
DEMO_LAPSE_SHARE = 0.3
"""Customers who stop buying during the demo's weeks: what churn risk should find (with
fewer customers each buys more often, so that a silence can be told from a pause)."""


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
                        sessions_per_day=sessions_per_day, customers=DEMO_CUSTOMERS,
                        lapse_share=DEMO_LAPSE_SHARE)
    with console.status("simulating the shop…"):
        shop = simulate_shop(config)
        events = _demo_events(shop, poison_rate, seed)
    console.print(f"simulated {days} days: {len(events.bodies):,} events, "
                  f"{shop.products.num_rows:,} products, {shop.customers.num_rows:,} customers")

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
    _print_summary(console, lake, events, len(batches), ingest_seconds, replay_identical)
    _upload_exports(console, ShopFeed(services, out), shop)
    with console.status("the nightly run: refresh, train, promote, score…") as status:
        summary = run_nightly(services, nightly_input(settings, datetime.now(UTC)),
                              progress=status.update)
    print_nightly(console, summary)
    kpis = headline(lake)
    _print_kpis(console, kpis)
    if summary.model_version is not None:
        print_candidates(console, Registry(lake).manifest(summary.model_version))
    if summary.forecast_version is not None:
        print_forecasts(console, services.predictions)
    if summary.valued_customers:
        print_at_risk(console, services.predictions)
    for customer in (kpis.top_customers[:DEMO_RECOMMENDED_CUSTOMERS]
                     if summary.champion is not None else []):
        answer = services.recommender.for_customer(customer["customer_id"], 5)
        print_recommendations(console, customer["customer_id"], answer)
    with console.status("writing the dashboard…"):
        page = write_dashboard(out / "dashboard.html", services.kpis, services.recommender)
    console.print(f"demo finished in {time.perf_counter() - started:.1f} s")
    console.print(Text.assemble("dashboard: ", (str(page.resolve()), "bold"),
                                " (open it in a browser; `shoplake serve` serves it live at "
                                "/api/dashboard)"))


def _upload_exports(console: Console, feed: ShopFeed, shop: SimulatedShop) -> None:
    """The shop's exports through the batch path: catalogue, weekly customers, daily orders;
    the last orders file twice, as a duplicated blob-created event would deliver it."""
    days = list(shop.days())
    results = [feed.upload(shop.products, "shop_products", "products.csv")]
    with _progress(console) as progress:
        task = progress.add_task("uploading CSV exports", total=len(days))
        for number, day in enumerate(days, start=1):
            results.append(feed.orders(day))
            if number % 7 == 0 or number == len(days):
                results.append(feed.upload(shop.customers_as_of(day.date), "shop_customers",
                                           f"customers-{day.date}.csv"))
            progress.advance(task)
    again = feed.orders(days[-1])
    landed = [r for r in results if r.status == "landed"]
    table = Table(title="batch uploads", show_header=False)
    table.add_row("files uploaded", f"{len(results):,} to {feed.exports}/ and raw/batch/ "
                  f"({len(results) - len(landed):,} already landed before: no-ops)")
    table.add_row("rows received", f"{sum(r.received for r in landed):,}")
    table.add_row("rows landed", f"{sum(r.landed for r in landed):,}")
    table.add_row("rows quarantined", f"{sum(r.quarantined for r in landed):,}")
    table.add_row("same file uploaded again", again.status)
    console.print(table)


def _print_kpis(console: Console, kpis: Headline) -> None:
    console.print(_table(
        f"revenue by category: {kpis.net_revenue:,.2f} net, {kpis.orders:,} orders",
        ["category", "orders", "units", "net revenue"],
        [[r["category"], f"{r['orders']:,}", f"{r['units']:,}", f"{r['net_revenue']:,.2f}"]
         for r in kpis.revenue_by_category]))
    console.print(_table(
        "top products", ["#", "product", "category", "units", "net revenue"],
        [[str(r["rank"]), f"{r['product_id']} {r['name']}", r["category"],
          f"{r['units_sold']:,}", f"{r['net_revenue']:,.2f}"] for r in kpis.top_products]))
    console.print(_table(
        "customer lifetime value (top)",
        ["customer", "segment", "country", "orders", "lifetime value"],
        [[r["customer_id"], r["segment"] or "", r["country"] or "", f"{r['orders']:,}",
          f"{r['lifetime_value']:,.2f}"] for r in kpis.top_customers]))
    funnel = kpis.funnel
    sessions = funnel["sessions"] or 1
    console.print("conversion funnel: " + " → ".join(
        f"{stage.replace('_', ' ')} {funnel[stage]:,} ({funnel[stage] / sessions:.1%})"
        for stage in ("sessions", "product_view", "add_to_cart", "purchase")))


def print_training(console: Console, result: RetrainResult) -> None:
    print_candidates(console, result.trained.manifest)
    decision = result.decision
    console.print(f"{decision.challenger}: " + ("[green]promoted[/green]" if decision.promoted
                                               else "[yellow]not promoted[/yellow]")
                  + f" ({decision.reason})")
    if result.scored is not None:
        console.print(f"scored {result.scored.customers:,} customers active since "
                      f"{result.scored.active_since[:10]} into curated/customer_recommendations")


def print_candidates(console: Console, manifest: Manifest) -> None:
    console.print(_table(
        f"models on the time split (testing from {manifest.data['test_from'][:16]})",
        ["model", "NDCG@10", "Recall@10", "customers", "fit s"],
        [[c["kind"] + (" *" if c["kind"] == manifest.kind else ""), f"{c['ndcg_at_10']:.4f}",
          f"{c['recall_at_10']:.4f}", f"{c['customers']:,}", f"{c['fit_seconds']:.2f}"]
         for c in manifest.candidates]))
    buy_again = manifest.metrics["buy_again"]
    console.print(f"buy again: Recall@10 {buy_again['recall_at_10']:.4f} on "
                  f"{buy_again['customers']:,} customers")


def print_nightly(console: Console, summary: Summary) -> None:
    """What the nightly run did (the same steps the Durable orchestration runs)."""
    table = Table(title="nightly run", show_header=False)
    table.add_row("steps", " → ".join(dict.fromkeys(summary.steps)))
    table.add_row("partitions refreshed", f"{len(summary.partitions):,}")
    if summary.model_version is not None:
        table.add_row("model trained", f"{summary.model_version} (NDCG@10 "
                      f"{summary.ndcg_at_10:.4f})")
        table.add_row("promoted", "yes" if summary.promoted else f"no (champion "
                      f"{summary.champion})")
    if summary.scored_customers is not None:
        table.add_row("customers scored", f"{summary.scored_customers:,}")
    if summary.forecast_series is not None:
        table.add_row("series forecast",
                      f"{summary.forecast_series:,} ({summary.forecast_version})")
    if summary.valued_customers is not None:
        table.add_row("customers valued", f"{summary.valued_customers:,} "
                      f"({summary.at_risk_customers:,} at risk)")
    for step, error in summary.prediction_errors.items():
        table.add_row(f"[yellow]{step} failed[/yellow]", f"{error} (the run went on)")
    if not summary.ok:
        table.add_row("[red]failed at[/red]", f"{summary.failed_step}: {summary.error}")
    console.print(table)


def print_forecasts(console: Console, predictions: Predictions, weeks: int = 4) -> None:
    """The revenue forecast summed per week for each category and the shop, with the
    backtest that chose its methods."""
    shop = predictions.revenue_forecast(None)
    first = shop[0]["forecast_date"]
    shown = min(weeks, len(shop) // 7) or 1
    header = [f"{first + timedelta(days=7 * week):%d %b}" for week in range(shown)]

    def weekly(rows: list[dict[str, Any]]) -> list[str]:
        sums = [sum(row["revenue"] for row in rows
                    if (row["forecast_date"] - first).days // 7 == week)
                for week in range(shown)]
        return [f"{value:,.0f}" for value in sums]

    rows = [[category, *weekly(predictions.revenue_forecast(category)),
             predictions.revenue_forecast(category)[0]["method"]]
            for category in predictions.revenue_categories()]
    rows.append(["[bold]whole shop[/bold]", *weekly(shop), shop[0]["method"]])
    console.print(_table(f"revenue forecast for the weeks starting… (as of {shop[0]['as_of']})",
                         ["category", *header, "method"], rows, numeric=set(header)))
    metrics = predictions.forecast_run()["revenue"]["metrics"]
    if metrics and metrics["mase"] is not None and metrics["baseline_mase"]:
        change = metrics["mase"] / metrics["baseline_mase"] - 1
        console.print(
            f"backtest: MASE {metrics['mase']:.3f} against seasonal naive's "
            f"{metrics['baseline_mase']:.3f} ({change:+.0%})"
            + ("" if metrics["coverage_80"] is None else
               f"; the 80% intervals held {metrics['coverage_80']:.0%} of the days"))


def print_at_risk(console: Console, predictions: Predictions, limit: int = 5) -> None:
    """The most valuable customers whose probability of still being active is low."""
    rows = predictions.at_risk(limit)
    if not rows:
        console.print("customers at risk: none (every customer is likely still active)")
        return
    columns = ["customer", "revenue so far", "orders", "last purchase", "P(active)",
               "next 12 months"]
    console.print(_table(
        f"most valuable customers at risk (as of {rows[0]['as_of']})", columns,
        [[row["customer_id"], f"{row['revenue']:,.2f}", f"{row['orders']:,}",
          f"{row['last_purchase']}", f"{row['probability_alive']:.0%}",
          f"{row['predicted_value_12m']:,.2f}"] for row in rows],
        numeric=set(columns[1:])))


def print_recommendations(console: Console, customer_id: str,
                          answer: Recommendations) -> None:
    title = f"{customer_id}: {answer.source} recommendations from {answer.model_version}"
    for name, products in (("new for you", answer.new_for_you),
                           ("buy again", answer.buy_again)):
        if products:
            console.print(_table(f"{title}, {name}",
                                 ["product", "category", "price", "score"],
                                 [[f"{p.product_id} {p.name or ''}", p.category or "",
                                   "" if p.unit_price is None else
                                   f"{p.unit_price:,.2f} {p.currency or ''}", f"{p.score:.4g}"]
                                  for p in products]))


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


def _table(title: str, columns: list[str], rows: list[list[str]],
           numeric: set[str] = frozenset({"#", "orders", "units", "net revenue",
                                          "lifetime value"})) -> Table:
    """A table whose figures (the `numeric` columns) align right."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column in numeric else "left")
    for row in rows:
        table.add_row(*row)
    return table


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


def _print_summary(console: Console, lake: Lake, events: DemoEvents, batches: int,
                   ingest_seconds: float, replay_identical: bool) -> None:
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
    console.print(table)
