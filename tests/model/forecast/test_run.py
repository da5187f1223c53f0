"""The nightly forecast on a refreshed shop lake: its tables, its record, its reruns."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from model.forecast.backtest import BOUNDS
from model.forecast.run import (
    REGISTRY_KIND,
    REVENUE_SCHEMA,
    REVENUE_TABLE,
    UNITS_SCHEMA,
    UNITS_TABLE,
    ForecastConfig,
    run_forecasts,
)
from model.queries import curated_query
from model.run_registry import RunRegistry
from shared.lake import Lake, Zone
from tests.model.conftest import copy_lake

NOW = datetime(2026, 10, 6, 3, 0, tzinfo=UTC)


def curated(lake: Lake, name: str) -> pa.Table:
    return lake.table(Zone.CURATED, name).to_pyarrow_table()


@pytest.fixture(scope="module")
def forecast_lake(shop_lake_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = copy_lake(shop_lake_dir, tmp_path_factory.mktemp("forecast") / "lake")
    run_forecasts(lake, NOW)
    return lake


def test_revenue_is_forecast_per_category_and_for_the_shop(forecast_lake: Lake) -> None:
    rows = curated(forecast_lake, REVENUE_TABLE)
    history = curated(forecast_lake, "kpi_revenue_by_category_day")
    last_day = max(history["order_date"].to_pylist())

    assert rows.schema == REVENUE_SCHEMA
    categories = set(history["category"].to_pylist())
    assert set(rows["category"].to_pylist()) == categories | {None}
    per_series = duckdb.sql("SELECT category, COUNT(*) AS n, MIN(forecast_date) AS first,"
                            " MAX(forecast_date) AS last FROM rows GROUP BY ALL").fetchall()
    assert {(n, first, last) for _, n, first, last in per_series} == {
        (28, last_day + timedelta(days=1), last_day + timedelta(days=28))}
    assert set(rows["as_of"].to_pylist()) == {last_day}
    for row in rows.to_pylist():
        if row["lo_80"] is not None:
            assert row["lo_95"] <= row["lo_80"] <= row["revenue"] <= row["hi_80"] <= row["hi_95"]
        assert row["revenue"] >= 0


def test_units_cover_the_best_sellers_that_make_up_most_units(forecast_lake: Lake) -> None:
    rows = curated(forecast_lake, UNITS_TABLE)
    sales = curated(forecast_lake, "kpi_product_sales_day")

    assert rows.schema == UNITS_SCHEMA
    weeks = sorted(set(rows["week_start"].to_pylist()))
    assert len(weeks) == 8 and all(week.weekday() == 0 for week in weeks)
    assert weeks[0] > max(sales["order_date"].to_pylist()) - timedelta(days=7)
    forecast = set(rows["product_id"].to_pylist())
    units = duckdb.sql("SELECT product_id, SUM(units_sold) AS units FROM sales GROUP BY ALL"
                       " ORDER BY units DESC, product_id").fetchall()
    total = sum(u for _, u in units)
    # The products forecast are the best sellers (whole weeks only, so about) up to 80%.
    share = sum(u for p, u in units if p in forecast) / total
    assert 0.7 <= share <= 0.95
    assert len(forecast) < len(units)
    assert set(rows["demand"].to_pylist()) <= {"smooth", "intermittent"}


def test_the_run_is_recorded_with_each_series_method(forecast_lake: Lake) -> None:
    registry = RunRegistry(forecast_lake, REGISTRY_KIND)
    record = registry.latest()
    rows = curated(forecast_lake, REVENUE_TABLE)

    assert record is not None and set(rows["model_version"].to_pylist()) == {record["version"]}
    methods = {(row["category"] or "__shop__", row["method"]) for row in rows.to_pylist()}
    assert methods == {(uid, series["method"])
                       for uid, series in record["revenue"]["series"].items()}
    assert record["config"] == {"horizon_days": 28, "units_weeks": 8, "units_share": 0.8,
                                "windows": 3, "history_days": 730}
    assert record["revenue"]["windows"]["windows"] == 3
    metrics = record["revenue"]["metrics"]
    assert metrics["series"] == len({row["category"] for row in rows.to_pylist()})
    assert metrics["mase"] <= min(metrics["methods_mase"].values()) + 1e-12


def test_a_second_run_replaces_the_forecast(forecast_lake: Lake) -> None:
    before = curated(forecast_lake, REVENUE_TABLE).num_rows

    second = run_forecasts(forecast_lake, NOW + timedelta(days=1))

    rows = curated(forecast_lake, REVENUE_TABLE)
    assert rows.num_rows == before
    assert set(rows["model_version"].to_pylist()) == {second.version}
    assert set(curated(forecast_lake, UNITS_TABLE)["model_version"].to_pylist()) == {
        second.version}


def test_a_shorter_horizon_is_honoured(shop_lake: Lake) -> None:
    result = run_forecasts(shop_lake, NOW, ForecastConfig(horizon_days=7, units_weeks=2))

    assert curated(shop_lake, REVENUE_TABLE).num_rows == 7 * result.revenue_series
    assert curated(shop_lake, UNITS_TABLE).num_rows == 2 * result.units_series


def test_a_lake_without_sales_is_skipped(local_lake: Lake) -> None:
    result = run_forecasts(local_lake, NOW)

    assert result.skipped is not None and "no sales" in result.skipped
    assert result.version is None
    assert not local_lake.table_exists(Zone.CURATED, REVENUE_TABLE)
    assert RunRegistry(local_lake, REGISTRY_KIND).versions() == []


def test_bounds_are_null_only_where_the_method_has_none(forecast_lake: Lake) -> None:
    for row in curated(forecast_lake, UNITS_TABLE).to_pylist():
        missing = [row[bound] is None for bound in BOUNDS]
        assert all(missing) or not any(missing)
        if all(missing):
            assert row["method"] in {"croston", "adida", "imapa"}
        assert row["units"] >= 0


def test_a_day_with_no_sales_is_a_zero_in_the_series(shop_lake: Lake) -> None:
    """A category that sold nothing on a day is a zero in its history, not a gap."""
    rows = curated_query(shop_lake, "forecast_revenue_series", ["kpi_revenue_by_category_day"],
                         {"history_days": 730})
    assert rows is not None
    per_series = duckdb.sql("SELECT category, COUNT(*) AS n, COUNT(DISTINCT ds) AS d"
                            " FROM rows GROUP BY ALL").fetchall()
    days = {n for _, n, _ in per_series}
    assert len(days) == 1 and all(n == d for _, n, d in per_series)
    first, last = rows["ds"][0].as_py(), max(rows["ds"].to_pylist())
    assert days == {(last - first).days + 1}
    assert isinstance(first, date)
