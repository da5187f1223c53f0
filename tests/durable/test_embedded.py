"""The embedded nightly run on a real local lake, against the Durable path and a plain refresh.

The lake holds a small simulated shop delivered through the production paths (events
through the Event Hubs ingest, orders, catalogue and customers as CSV uploads) and not yet
refreshed. The Durable side runs the real orchestrator through the SDK's replay engine,
each scheduled activity executed by the app's activity Functions (`tests.durable.history
.drive` plays the extension).
"""

from __future__ import annotations

import shutil
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from durable.activities import ACTIVITIES
from durable.embedded import run_nightly
from durable.nightly import (
    FORECAST,
    ORCHESTRATION,
    PLAN,
    PROMOTE,
    REFRESH_DIMENSIONS,
    REFRESH_FACTS,
    REFRESH_KPIS,
    REFRESH_PARTITION,
    RETRIES,
    SCORE,
    TRAIN,
    VALUE_CUSTOMERS,
    WARM,
    NightlyInput,
    Summary,
)
from model.batch_scoring import TABLE as RECOMMENDATIONS
from model.customer_value import TABLE as CUSTOMER_VALUE
from model.forecast.tables import REVENUE_TABLE as REVENUE_FORECAST
from model.forecast.tables import UNITS_TABLE as UNITS_FORECAST
from model.registry import Registry
from shared.lake import Lake, Zone
from shared.settings import Settings, current_settings
from shared.simulator import ShopConfig, SimulatedDay, simulate_shop
from shared.warehouse.refresh import refresh
from shoplake.feed import ShopFeed
from shoplake.services import Services, current_services
from tests.durable.functions import nightly_functions
from tests.durable.history import History, drive
from tests.support.shops import assert_same_tables, snapshot

SHOP = ShopConfig(seed=5, start=date(2026, 11, 1), days=21, products=60, customers=300,
                  sessions_per_day=100)
DELIVERED_DAYS = 20  # the 21st is delivered by the test that needs new data
NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
CONFIG = NightlyInput(started_at=NOW.isoformat(), max_parallel=4)
ALL_STEPS = [PLAN, REFRESH_PARTITION, REFRESH_DIMENSIONS, REFRESH_FACTS, REFRESH_KPIS,
             FORECAST, VALUE_CUSTOMERS, TRAIN, PROMOTE, SCORE, WARM]


def _deliver(feed: ShopFeed, days: list[SimulatedDay], shop: Any) -> None:
    for day in days:
        feed.events(day)
        feed.orders(day)
    feed.upload(shop.customers_as_of(days[-1].date), "shop_customers",
                f"customers-{days[-1].date}.csv")


@pytest.fixture(scope="session")
def delivered_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop's first 20 days delivered to a lake, nothing refreshed."""
    root = tmp_path_factory.mktemp("nightly-shop")
    lake = Lake.open(str(root / "lake"))
    feed = ShopFeed(Services(Settings(lake_url=lake.url), lake=lake), root / "exports")
    shop = simulate_shop(SHOP)
    feed.upload(shop.products, "shop_products", "products.csv")
    _deliver(feed, list(shop.days())[:DELIVERED_DAYS], shop)
    return root / "lake"


def lake_copy(source: Path, target: Path) -> Lake:
    shutil.copytree(source, target)
    return Lake.open(str(target))


def services_for(lake: Lake) -> Services:
    return Services(Settings(lake_url=lake.url), lake=lake)


@pytest.fixture
def lake(delivered_dir: Path, tmp_path: Path) -> Lake:
    return lake_copy(delivered_dir, tmp_path / "lake")


class Recorder:
    """The embedded runner's progress and sleeps, kept."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.sleeps: list[float] = []

    def progress(self, line: str) -> None:
        self.lines.append(line)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    @property
    def activities(self) -> list[str]:
        return [line for line in self.lines if " failed (" not in line]


def run_embedded(lake: Lake, config: NightlyInput = CONFIG) -> tuple[Summary, Recorder]:
    recorder = Recorder()
    summary = run_nightly(services_for(lake), config, recorder.progress, recorder.sleep)
    return summary, recorder


def label(name: str, payload: Any) -> str:
    """An activity call as the embedded runner announces it (a fanned-out partition with
    its date)."""
    return f"{name} {payload}" if name == REFRESH_PARTITION else name


def without_suffix(version: str | None) -> str | None:
    """A model version without its random suffix (`<trained at>-<kind>-<6 hex>`)."""
    return None if version is None else version.rsplit("-", 1)[0]


def summary_for_comparison(summary: dict[str, Any]) -> dict[str, Any]:
    return {**summary, "model_version": without_suffix(summary["model_version"]),
            "champion": without_suffix(summary["champion"]),
            "forecast_version": without_suffix(summary["forecast_version"])}


def predictions(lake: Lake, table: str) -> pa.Table:
    """A prediction table without its run's stamps."""
    rows = lake.table(Zone.CURATED, table).to_pyarrow_table()
    rows = rows.drop_columns([name for name in ("model_version", "forecast_at", "predicted_at")
                              if name in rows.column_names])
    return rows.sort_by([(name, "ascending") for name in rows.column_names])


def recommendations(lake: Lake) -> pa.Table:
    rows = lake.table(Zone.CURATED, RECOMMENDATIONS).to_pyarrow_table().drop_columns(
        ["model_version"])
    return rows.sort_by([("customer_id", "ascending"), ("rank", "ascending")])


# Durable, executed by the app's activity Functions ------------------------------------------

def run_durable(lake: Lake, monkeypatch: pytest.MonkeyPatch, config: NightlyInput = CONFIG,
                *, concurrent: bool = False) -> tuple[dict[str, Any], list[str]]:
    """The orchestration run to its end, its activities executed by the Functions in a
    process whose settings point at `lake` (a fan-out's at once when `concurrent`).
    Returns its output and the calls made."""
    monkeypatch.setenv("LAKE_URL", lake.url)
    current_settings.cache_clear()
    current_services.cache_clear()
    functions = nightly_functions()
    calls: list[str] = []

    def execute(name: str, input_json: str) -> str:
        payload = ActivityTriggerConverter.decode(meta.Datum(input_json, "json"),
                                                  trigger_metadata={})
        assert payload["writer"] == history.instance_id  # the instance holds the lake
        calls.append(label(name, payload["input"]))
        output = functions[name].get_user_function()(payload=payload)
        return ActivityTriggerConverter.encode(output, expected_type=None).value

    orchestrator = functions[ORCHESTRATION].get_user_function()
    history = History(ORCHESTRATION, "nightly-2026-11-21", asdict(config), NOW)
    try:
        run = drive(orchestrator, history, execute, concurrent=concurrent)
    finally:
        current_settings.cache_clear()
        current_services.cache_clear()
    assert run.done and run.error is None, run.error
    return run.output, calls


# The tests ------------------------------------------------------------------------------------

def test_embedded_runs_the_same_steps_in_the_same_order_as_durable(
        lake: Lake, delivered_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> None:
    durable_lake = lake_copy(delivered_dir, tmp_path / "durable-lake")

    summary, recorder = run_embedded(lake)
    output, durable_calls = run_durable(durable_lake, monkeypatch)

    assert summary.ok, summary.error
    assert summary.steps == ALL_STEPS
    assert len(summary.partitions) >= DELIVERED_DAYS
    assert recorder.activities == durable_calls
    assert recorder.sleeps == []
    assert summary_for_comparison(asdict(summary)) == summary_for_comparison(output)
    assert_same_tables(snapshot(lake), snapshot(durable_lake))
    assert recommendations(lake).equals(recommendations(durable_lake))
    for table in (REVENUE_FORECAST, UNITS_FORECAST, CUSTOMER_VALUE):
        assert predictions(lake, table).equals(predictions(durable_lake, table)), table


def test_partitions_refreshed_at_once_give_the_same_tables(
        lake: Lake, delivered_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> None:
    """Durable runs a fan-out's activities at the same time: the dates' refreshes write
    to the same tables concurrently (any commit conflict is retried, as in Azure)."""
    durable_lake = lake_copy(delivered_dir, tmp_path / "durable-lake")

    summary, _ = run_embedded(lake)
    output, _ = run_durable(durable_lake, monkeypatch, concurrent=True)

    assert output["steps"] == summary.steps == ALL_STEPS
    assert_same_tables(snapshot(lake), snapshot(durable_lake))


def test_embedded_tables_equal_a_plain_refresh_and_retraining(
        lake: Lake, delivered_dir: Path, tmp_path: Path) -> None:
    plain_lake = lake_copy(delivered_dir, tmp_path / "plain-lake")
    refresh(plain_lake)
    retrained = services_for(plain_lake).retrain(NOW)

    summary, _ = run_embedded(lake)

    assert summary.ok, summary.error
    assert_same_tables(snapshot(lake), snapshot(plain_lake))
    champion = Registry(lake).manifest(Registry(lake).champion())
    assert champion.version == summary.model_version == summary.champion
    plain = retrained.trained.manifest
    # The same model, trained on the same tables (only the wall-clock stamps differ).
    assert (champion.kind, champion.params, champion.metrics) == (
        plain.kind, plain.params, plain.metrics)
    assert {**champion.data, "refreshed_at": None} == {**plain.data, "refreshed_at": None}
    assert summary.promoted == retrained.decision.promoted
    assert summary.scored_customers == retrained.scored.customers
    assert recommendations(lake).equals(recommendations(plain_lake))


def test_a_second_run_with_nothing_new_refreshes_no_partitions(lake: Lake) -> None:
    first, _ = run_embedded(lake)
    tables = snapshot(lake)

    second, recorder = run_embedded(lake)

    assert first.ok and second.ok, (first.error, second.error)
    assert second.partitions == []
    assert REFRESH_PARTITION not in second.steps
    assert not any(line.startswith(REFRESH_PARTITION) for line in recorder.lines)
    assert second.steps[:4] == [PLAN, REFRESH_DIMENSIONS, REFRESH_FACTS, REFRESH_KPIS]
    assert_same_tables(snapshot(lake), tables)


def test_a_new_day_refreshes_its_partition(lake: Lake, tmp_path: Path) -> None:
    run_embedded(lake)
    shop = simulate_shop(SHOP)
    feed = ShopFeed(services_for(lake), tmp_path / "exports")
    _deliver(feed, list(shop.days())[DELIVERED_DAYS:], shop)

    summary, recorder = run_embedded(lake)

    assert summary.ok, summary.error
    assert date(2026, 11, 21).isoformat() in summary.partitions
    assert f"{REFRESH_PARTITION} 2026-11-21" in recorder.activities


def test_an_activity_that_fails_then_succeeds_is_retried_with_backoff(
        lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    real = ACTIVITIES[REFRESH_DIMENSIONS]
    failures = iter([OSError("storage hiccup"), OSError("storage hiccup again")])

    def flaky(services: Services, payload: Any) -> Any:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return real(services, payload)

    monkeypatch.setitem(ACTIVITIES, REFRESH_DIMENSIONS, flaky)

    summary, recorder = run_embedded(lake)

    assert summary.ok, summary.error
    assert summary.steps == ALL_STEPS
    wait = RETRIES[REFRESH_DIMENSIONS].interval_s
    assert recorder.sleeps == [wait, wait]
    assert recorder.activities.count(REFRESH_DIMENSIONS) == 3
    assert f"{REFRESH_DIMENSIONS} failed (storage hiccup); retrying in {wait:g} s" in \
        recorder.lines


def guest_checkouts_only(lake: Lake, exports: Path) -> None:
    """A shop whose orders were all guest checkouts: the refresh has data, training has
    no signed-in customers' purchases to learn from."""
    shop = simulate_shop(SHOP)
    feed = ShopFeed(services_for(lake), exports)
    feed.upload(shop.products, "shop_products", "products.csv")
    for day in list(shop.days())[:3]:
        feed.events(day)
        orders = day.orders.set_column(
            day.orders.schema.get_field_index("customer_id"), "customer_id",
            pa.nulls(day.orders.num_rows, pa.string()))
        feed.upload(orders, "shop_orders", f"orders-{day.date}.csv")


def test_a_failed_training_keeps_the_champion(lake: Lake, tmp_path: Path) -> None:
    """Last night's champion stands when tonight's training fails on every attempt."""
    first, _ = run_embedded(lake)
    assert first.ok and first.promoted, first.error
    guests = Lake.open(str(tmp_path / "guests"))
    guest_checkouts_only(guests, tmp_path / "exports")
    models = Zone.MODELS.value  # last night's registry, champion included
    shutil.copytree(Path(lake.url) / models, Path(guests.url) / models)
    champion = Registry(guests).champion_pointer()

    summary, recorder = run_embedded(guests)

    assert summary.failed_step == TRAIN, summary.error
    assert summary.error is not None and "NoPurchasesError" in summary.error
    assert summary.steps == ALL_STEPS[:7]
    assert not {PROMOTE, SCORE, WARM} & set(recorder.activities)
    assert recorder.activities.count(TRAIN) == RETRIES[TRAIN].attempts
    assert recorder.sleeps == [RETRIES[TRAIN].interval_s]
    assert Registry(guests).champion_pointer() == champion
    assert Registry(guests).champion() == first.model_version
    assert not summary.ok and summary.promoted is False


def test_a_first_night_with_only_the_catalogue_refreshes_like_refresh(tmp_path: Path) -> None:
    catalogue = Lake.open(str(tmp_path / "catalogue"))
    ShopFeed(services_for(catalogue), tmp_path / "exports").upload(
        simulate_shop(SHOP).products, "shop_products", "products.csv")

    summary, _ = run_embedded(catalogue)

    assert summary.steps == [PLAN, REFRESH_DIMENSIONS, REFRESH_FACTS, REFRESH_KPIS,
                             FORECAST, VALUE_CUSTOMERS]  # nothing sold: both skipped
    assert summary.forecast_version is None and summary.valued_customers == 0
    assert summary.failed_step == TRAIN  # nothing to train on yet
