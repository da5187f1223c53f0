"""The nightly forecast on hostile KPI tables: odd category names (one named as the shop's
series id), a day or two of history, negative and huge days, weekend-only sales, and the
settings' extremes. Every run must keep the tables' invariants."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from model.forecast.run import (
    REGISTRY_KIND,
    REVENUE_TABLE,
    SHOP,
    UNITS_TABLE,
    ForecastConfig,
    run_forecasts,
)
from model.forecast.tables import BOUNDS
from model.predictions import Predictions
from model.run_registry import RunRegistry
from shared.lake import Lake, Zone

NOW = datetime(2026, 10, 6, 3, 0, tzinfo=UTC)
START = date(2026, 6, 1)
MONEY = pa.decimal128(18, 2)


def write_kpis(lake: Lake, revenue: list[tuple[date, str, float]],
               units: list[tuple[date, str, int]]) -> None:
    """The KPI tables the forecast reads, as the refresh writes them (only the columns it
    reads carry the test's values)."""
    cents = [Decimal(f"{value:.2f}") for _, _, value in revenue]
    revenue_table = pa.table({
        "order_date": pa.array([day for day, _, _ in revenue], pa.date32()),
        "category": pa.array([category for _, category, _ in revenue], pa.string()),
        "orders": pa.array([1] * len(revenue), pa.int64()),
        "units_sold": pa.array([1] * len(revenue), pa.int64()),
        "units_returned": pa.array([0] * len(revenue), pa.int64()),
        "gross_revenue": pa.array([max(value, Decimal(0)) for value in cents], MONEY),
        "returned_revenue": pa.array([max(-value, Decimal(0)) for value in cents], MONEY),
        "net_revenue": pa.array(cents, MONEY),
        "customers": pa.array([1] * len(revenue), pa.int64()),
    })
    units_table = pa.table({
        "order_date": pa.array([day for day, _, _ in units], pa.date32()),
        "product_id": pa.array([product for _, product, _ in units], pa.string()),
        "category": pa.array(["A"] * len(units), pa.string()),
        "units_sold": pa.array([sold for _, _, sold in units], pa.int64()),
        "units_returned": pa.array([0] * len(units), pa.int64()),
        "gross_revenue": pa.array([Decimal("1.00")] * len(units), MONEY),
        "net_revenue": pa.array([Decimal("1.00")] * len(units), MONEY),
        "orders": pa.array([1] * len(units), pa.int64()),
    })
    with lake.writer():
        for table, name in ((revenue_table, "kpi_revenue_by_category_day"),
                            (units_table, "kpi_product_sales_day")):
            lake.write_table(table, Zone.CURATED, name, mode="overwrite",
                             partition_by=["order_date"])


def sales(days: int, categories: tuple[str, ...] = ("A", "B"), seed: int = 1
          ) -> tuple[list[tuple[date, str, float]], list[tuple[date, str, int]]]:
    """Busier weekends, noise, three products."""
    rng = np.random.default_rng(seed)
    dates = [START + timedelta(days=n) for n in range(days)]
    revenue = [(day, category, float(rng.uniform(50, 150)) * (1.5 if day.weekday() >= 5 else 1))
               for day in dates for category in categories]
    units = [(day, product, int(rng.integers(0, 6))) for day in dates
             for product in ("P1", "P2", "P3")]
    return revenue, units


def assert_sound(lake: Lake, config: ForecastConfig) -> tuple[pa.Table, pa.Table]:
    """Finite, non-negative values; ordered bounds; `horizon` contiguous days (weeks) per
    series, starting after the data; every row of the run recorded."""
    revenue = lake.table(Zone.CURATED, REVENUE_TABLE).to_pyarrow_table()
    units = lake.table(Zone.CURATED, UNITS_TABLE).to_pyarrow_table()
    for table, value, key, when, step, horizon in (
            (revenue, "revenue", "category", "forecast_date", 1, config.horizon_days),
            (units, "units", "product_id", "week_start", 7, config.units_weeks)):
        for row in table.to_pylist():
            bounds = [row[bound] for bound in BOUNDS]
            assert np.isfinite(row[value]) and row[value] >= 0
            if any(b is not None for b in bounds):
                assert (row["lo_95"] <= row["lo_80"] <= row[value] <= row["hi_80"]
                        <= row["hi_95"]), row
        per_series: dict[str | None, list[date]] = {}
        for row in table.to_pylist():
            per_series.setdefault(row[key], []).append(row[when])
        (as_of,) = set(table["as_of"].to_pylist()) or {None}
        for days in per_series.values():
            days.sort()
            assert len(days) == horizon
            assert all((b - a).days == step for a, b in pairwise(days))
            if step == 1:
                assert days[0] == as_of + timedelta(days=1)
            else:  # from the week the data's last day falls in (it is not complete)
                assert days[0].weekday() == 0
                assert as_of - timedelta(days=6) <= days[0] <= as_of + timedelta(days=1)
    versions = set(revenue["model_version"].to_pylist()) | set(units["model_version"]
                                                                .to_pylist())
    assert len(versions) == 1
    RunRegistry(lake, REGISTRY_KIND).read(versions.pop())
    return revenue, units


def test_a_category_named_as_the_shop_series_is_its_own_series(tmp_path: Path) -> None:
    """A category called `__shop__` was merged into the whole shop's series (twice its
    days, one forecast) and lost."""
    lake = Lake.open(str(tmp_path))
    revenue, units = sales(60, categories=("A", SHOP, SHOP + "x"))
    write_kpis(lake, revenue, units)

    result = run_forecasts(lake, NOW)

    assert result.revenue_series == 4
    rows, _ = assert_sound(lake, ForecastConfig())
    assert set(rows["category"].to_pylist()) == {None, "A", SHOP, SHOP + "x"}
    predictions = Predictions(lake)
    shop = [row["revenue"] for row in predictions.revenue_forecast(None)]
    category = [row["revenue"] for row in predictions.revenue_forecast(SHOP)]
    assert shop != category
    # Each served series finds its own evidence in the run record.
    record = RunRegistry(lake, REGISTRY_KIND).read(result.version or "")
    assert len(record["revenue"]["series"]) == 4
    assert predictions.revenue_backtest(None) != predictions.revenue_backtest(SHOP)


@pytest.mark.parametrize("categories", [
    ("it's \"quoted\"", "🛒 emoji", "new\nline", "x" * 5000, "Uncategorised"),
])
def test_odd_category_names_are_forecast(tmp_path: Path, categories: tuple[str, ...]) -> None:
    lake = Lake.open(str(tmp_path))
    write_kpis(lake, *sales(30, categories))

    run_forecasts(lake, NOW)

    rows, _ = assert_sound(lake, ForecastConfig())
    assert set(rows["category"].to_pylist()) == {None, *categories}


@pytest.mark.parametrize("days", [1, 2, 8])
def test_a_short_history_is_forecast_naively(tmp_path: Path, days: int) -> None:
    lake = Lake.open(str(tmp_path))
    write_kpis(lake, *sales(days))

    result = run_forecasts(lake, NOW)

    assert result.skipped is None and result.revenue_series == 3
    assert_sound(lake, ForecastConfig())


def test_negative_huge_and_weekend_only_days(tmp_path: Path) -> None:
    """Returns beyond sales (negative net revenue), a day of 1e12, a category selling only
    at weekends and one only in the last week."""
    revenue, units = sales(60)
    revenue = [(day, category, -value if day.day % 5 == 0 else value)
               for day, category, value in revenue]
    last = START + timedelta(days=59)
    revenue += [(START + timedelta(days=30), "C", 1e12)]
    revenue += [(day, "W", 80.0) for day, *_ in revenue if day.weekday() >= 5]
    revenue += [(last - timedelta(days=n), "New", 40.0) for n in range(7)]
    lake = Lake.open(str(tmp_path))
    write_kpis(lake, revenue, units)

    result = run_forecasts(lake, NOW)

    assert result.revenue_series == 6
    assert_sound(lake, ForecastConfig())


@pytest.mark.parametrize("config", [
    ForecastConfig(horizon_days=1, units_weeks=1, windows=1),
    ForecastConfig(horizon_days=366, units_weeks=52, windows=12),
    ForecastConfig(units_share=1.0),
    ForecastConfig(units_share=1e-9),
], ids=["shortest", "longest", "every-product", "one-product"])
def test_the_settings_extremes(tmp_path: Path, config: ForecastConfig) -> None:
    lake = Lake.open(str(tmp_path))
    write_kpis(lake, *sales(45))

    result = run_forecasts(lake, NOW, config)

    assert result.units_series == (1 if config.units_share < 0.1 else 3)
    assert_sound(lake, config)
