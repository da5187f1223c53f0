"""The nightly forecast: revenue per category per day, units per best seller per week.

Reads the curated KPI tables (the refresh's output), backtests and forecasts with
`model.forecast.backtest`, replaces `curated/forecast_revenue` and `curated/forecast_units`,
and records the run (method per series, backtest metrics) in `models/forecasts/`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from model.forecast.backtest import ID, TARGET, TIME, Forecasts, Method, forecast_series
from model.forecast.methods import BASELINE, DAILY, INTERMITTENT, INTERMITTENT_ADI, WEEKLY
from model.forecast.tables import (
    BOUNDS,
    REGISTRY_KIND,
    REVENUE_SCHEMA,
    REVENUE_TABLE,
    SHOP,
    UNITS_SCHEMA,
    UNITS_TABLE,
    series_id,
    series_key,
)
from model.queries import curated_query
from model.run_registry import RunRegistry
from shared.lake import Lake, Zone
from shared.settings import Settings


@dataclass(frozen=True)
class ForecastConfig:
    horizon_days: int = 28
    units_weeks: int = 8
    units_share: float = 0.8
    windows: int = 3
    history_days: int = 730
    """Series start at most this long before the latest day (older sales are not read)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ForecastConfig:
        return cls(horizon_days=settings.forecast_horizon_days,
                   units_weeks=settings.forecast_units_weeks,
                   units_share=settings.forecast_units_share,
                   windows=settings.forecast_backtest_windows)


@dataclass(frozen=True)
class SetMetrics:
    """A set of series' backtest, averaged over its series: the chosen methods', the
    baseline's and every single method's mean MASE, and the chosen intervals' coverage."""

    series: int
    mase: float | None
    baseline_mase: float | None
    methods_mase: dict[str, float]
    coverage_80: float | None
    coverage_95: float | None
    smape: float | None

    @property
    def relative_mase(self) -> float | None:
        if self.mase is None or not self.baseline_mase:
            return None
        return self.mase / self.baseline_mase


@dataclass(frozen=True)
class ForecastResult:
    version: str | None
    as_of: str | None
    revenue_series: int
    units_series: int
    revenue: SetMetrics | None
    units: SetMetrics | None
    skipped: str | None = None


def run_forecasts(lake: Lake, now: datetime, config: ForecastConfig = ForecastConfig()
                  ) -> ForecastResult:
    """Forecast from the lake's curated sales and replace both forecast tables."""
    revenue_rows = curated_query(lake, "forecast_revenue_series",
                                 ["kpi_revenue_by_category_day"],
                                 {"history_days": config.history_days})
    if revenue_rows is None or revenue_rows.num_rows == 0:
        return ForecastResult(None, None, 0, 0, None, None,
                              skipped="no sales yet: land order exports and refresh first")
    revenue_frame = series_frame(revenue_rows, "category", SHOP)
    as_of = revenue_frame[TIME].max().date()
    revenue = forecast_series(revenue_frame, freq="D", season=7, horizon=config.horizon_days,
                              windows=config.windows, methods=DAILY, baseline=BASELINE,
                              nonnegative=True)
    units_rows = curated_query(lake, "forecast_units_series", ["kpi_product_sales_day"],
                               {"history_days": config.history_days,
                                "units_share": config.units_share})
    units = _units(units_rows, config)

    registry = RunRegistry(lake, REGISTRY_KIND)
    version = registry.new_version(now)
    revenue_metrics = forecast_metrics([revenue])
    units_metrics = forecast_metrics([f for f, _ in units]) if units else None
    with lake.writer():
        lake.write_table(_revenue_table(revenue, version, as_of, now), Zone.CURATED,
                         REVENUE_TABLE, mode="overwrite")
        lake.write_table(_units_table(units, version, as_of, now), Zone.CURATED, UNITS_TABLE,
                         mode="overwrite")
        registry.record(version, {
            "forecast_at": now.isoformat(), "as_of": as_of.isoformat(),
            "config": asdict(config),
            "revenue": _evidence(revenue, revenue_metrics, freq="D", season=7,
                                 methods=DAILY),
            "units": [_evidence(f, forecast_metrics([f]), freq="W-MON", season=1,
                                methods=methods, demand=demand)
                      for (f, demand), methods in zip(units, _units_methods(units),
                                                      strict=True)],
            "units_metrics": None if units_metrics is None else asdict(units_metrics),
        })
    return ForecastResult(version, as_of.isoformat(), revenue_frame[ID].nunique(),
                          sum(f.frame[ID].nunique() for f, _ in units), revenue_metrics,
                          units_metrics)


def series_frame(rows: pa.Table, key: str, null_id: str | None = None) -> pd.DataFrame:
    """A series query's rows as statsforecast reads them (unique_id, ds, y); with `null_id`,
    ids as `series_id` gives them."""
    frame = rows.to_pandas()
    frame[ID] = frame.pop(key)
    if null_id is not None:
        frame[ID] = [series_id(value, null_id) for value in frame[ID]]
    frame[TIME] = pd.to_datetime(frame[TIME])
    return frame[[ID, TIME, TARGET]]


def _units(rows: pa.Table | None, config: ForecastConfig) -> list[tuple[Forecasts, str]]:
    """The best sellers' weeks, split by demand pattern, each set with its own methods."""
    if rows is None or rows.num_rows == 0:
        return []
    frame = series_frame(rows, "product_id")
    selling = frame[TARGET] > 0
    # Average interval between weeks with sales: weeks over selling weeks, per product.
    adi = frame.groupby(ID)[TARGET].size() / selling.groupby(frame[ID]).sum().clip(lower=1)
    intermittent = set(adi.index[adi > INTERMITTENT_ADI])
    sets = []
    for demand, methods in (("smooth", WEEKLY), ("intermittent", INTERMITTENT)):
        part = frame[frame[ID].isin(intermittent) == (demand == "intermittent")]
        if len(part):
            sets.append((forecast_series(part, freq="W-MON", season=1,
                                         horizon=config.units_weeks, windows=config.windows,
                                         methods=methods, baseline=BASELINE,
                                         nonnegative=True), demand))
    return sets


def _units_methods(units: list[tuple[Forecasts, str]]) -> list[tuple[Method, ...]]:
    return [WEEKLY if demand == "smooth" else INTERMITTENT for _, demand in units]


def forecast_metrics(sets: list[Forecasts]) -> SetMetrics | None:
    """Means over every series of `sets` that was backtested."""
    rows = [(forecasts.chosen[uid], scores) for forecasts in sets
            for uid, scores in forecasts.scores.items()]
    if not rows:
        return None
    methods = sorted({name for _, scores in rows for name in scores})

    def mean(values: list[float | None]) -> float | None:
        kept = [v for v in values if v is not None]
        return float(np.mean(kept)) if kept else None

    return SetMetrics(
        series=len(rows),
        mase=mean([scores[chosen].mase for chosen, scores in rows]),
        baseline_mase=mean([scores[BASELINE].mase for _, scores in rows]),
        methods_mase={name: value for name in methods if (value := mean(
            [scores[name].mase for _, scores in rows if name in scores])) is not None},
        coverage_80=mean([scores[chosen].coverage_80 for chosen, scores in rows]),
        coverage_95=mean([scores[chosen].coverage_95 for chosen, scores in rows]),
        smape=mean([scores[chosen].smape for chosen, scores in rows]))


def _evidence(forecasts: Forecasts, metrics: SetMetrics | None, *, freq: str, season: int,
              methods: tuple[Method, ...], demand: str | None = None) -> dict[str, Any]:
    """What the registry keeps of a set: how it was backtested, what each series chose
    and why (every candidate's scores)."""
    return {
        "freq": freq, "season": season, "demand": demand,
        "candidates": [method.name for method in methods], "baseline": BASELINE,
        "windows": None if forecasts.windows is None else asdict(forecasts.windows),
        "metrics": None if metrics is None else asdict(metrics),
        "series": {uid: {"method": method,
                         "scores": {name: asdict(score)
                                    for name, score in forecasts.scores.get(uid, {}).items()}}
                   for uid, method in forecasts.chosen.items()},
    }


def _stamped(frame: pd.DataFrame, version: str, as_of: date, now: datetime) -> dict[str, Any]:
    return {"method": frame["method"], "model_version": [version] * len(frame),
            "as_of": [as_of] * len(frame), "forecast_at": [now] * len(frame)}


def _revenue_table(forecasts: Forecasts, version: str, as_of: date, now: datetime
                   ) -> pa.Table:
    frame = forecasts.frame
    return pa.table({
        "category": [series_key(uid) for uid in frame[ID]],
        "forecast_date": frame[TIME].dt.date,
        "revenue": frame["forecast"],
        **{bound: frame[bound] for bound in BOUNDS},
        **_stamped(frame, version, as_of, now),
    }, schema=REVENUE_SCHEMA)


def _units_table(units: list[tuple[Forecasts, str]], version: str, as_of: date,
                 now: datetime) -> pa.Table:
    if not units:
        return UNITS_SCHEMA.empty_table()
    frame = pd.concat([f.frame.assign(demand=demand) for f, demand in units],
                      ignore_index=True)
    return pa.table({
        "product_id": frame[ID],
        "week_start": frame[TIME].dt.date,
        "units": frame["forecast"],
        **{bound: frame[bound] for bound in BOUNDS},
        "method": frame["method"],
        "demand": frame["demand"],
        **{k: v for k, v in _stamped(frame, version, as_of, now).items() if k != "method"},
    }, schema=UNITS_SCHEMA)
