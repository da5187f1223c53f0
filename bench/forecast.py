"""Forecast benchmark: the nightly prediction steps on ~10 million simulated events in a year.

The lake is bench/dashboard.py's shop over 364 days (a year, so that weekly units have
history enough for three 8-week windows), delivered as production delivers it and refreshed
whole; it is built once in a child process (its memory is not counted here) and kept in a
cache folder that later runs reuse (`--lake`; `--rebuild` starts it again). Then, in this
process:
  (a) the forecast step (`run_forecasts`: daily revenue per category and for the shop,
      weekly units of the best sellers making up 80% of units, every series backtested on
      three rolling windows and its method chosen) and the customer-value step
      (`predict_customer_value`: BG/NBD and Gamma-Gamma for every customer), as the
      nightly run calls them; `seconds` is both together (target: <= 60 s);
  (b) the baseline, in the same run: the same series from the same queries, forecast by
      seasonal naive alone (no backtest, no choice), which is what `ratio` divides by.
Quality comes from the step's own backtest: the chosen methods' mean MASE against
seasonal naive's on the same windows, and the 80%/95% intervals' empirical coverage.

Last line, one JSON object: {"benchmark": "forecast", "events", "seconds", "series",
"revenue_relative_mase", "coverage_80", "ratio", "peak_rss_mb", ...}.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dashboard import cached_lake  # noqa: E402

from model.customer_value import predict_customer_value  # noqa: E402
from model.forecast.backtest import forecast_series  # noqa: E402
from model.forecast.methods import BASELINE, DAILY  # noqa: E402
from model.forecast.run import SHOP, ForecastConfig, run_forecasts, series_frame  # noqa: E402
from model.queries import curated_query  # noqa: E402
from shared.lake import Lake  # noqa: E402

NOW = datetime(2027, 6, 1, 2, 0, tzinfo=UTC)


def seasonal_naive_only(lake: Lake, config: ForecastConfig) -> float:
    """The same series, read by the same queries, forecast by seasonal naive alone."""
    started = time.perf_counter()
    baseline = [method for method in DAILY if method.name == BASELINE]
    revenue = curated_query(lake, "forecast_revenue_series", ["kpi_revenue_by_category_day"],
                            {"history_days": config.history_days})
    units = curated_query(lake, "forecast_units_series", ["kpi_product_sales_day"],
                          {"history_days": config.history_days,
                           "units_share": config.units_share})
    assert revenue is not None and units is not None
    for frame, freq, season, horizon in (
            (series_frame(revenue, "category", SHOP), "D", 7, config.horizon_days),
            (series_frame(units, "product_id"), "W-MON", 1, config.units_weeks)):
        forecast_series(frame, freq=freq, season=season, horizon=horizon, windows=1,
                        methods=baseline, baseline=BASELINE)
    return time.perf_counter() - started


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=364)
    parser.add_argument("--lake", type=Path, default=None,
                        help="cache folder of the built lake (default: in /tmp)")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    cache = args.lake or Path(f"/tmp/shoplake-bench-forecast-{args.events}")
    built = cached_lake(cache, args.events, args.days, args.rebuild)
    lake = Lake.open(built["lake"])
    config = ForecastConfig()

    started = time.perf_counter()
    forecasts = run_forecasts(lake, NOW, config)
    forecast_s = time.perf_counter() - started
    started = time.perf_counter()
    values = predict_customer_value(lake, NOW)
    value_s = time.perf_counter() - started
    baseline_s = seasonal_naive_only(lake, config)
    revenue, units = forecasts.revenue, forecasts.units
    assert revenue is not None and units is not None, forecasts.skipped
    seconds = forecast_s + value_s

    print(json.dumps({
        "benchmark": "forecast",
        "events": built["events"],
        "days": built["days"],
        "seconds": round(seconds, 2),
        "forecast_s": round(forecast_s, 2),
        "customer_value_s": round(value_s, 2),
        "series": forecasts.revenue_series + forecasts.units_series,
        "revenue_series": forecasts.revenue_series,
        "units_series": forecasts.units_series,
        "customers": values.customers,
        "at_risk": values.at_risk,
        "revenue_mase": round(revenue.mase, 4),
        "revenue_baseline_mase": round(revenue.baseline_mase, 4),
        "revenue_relative_mase": round(revenue.relative_mase, 4),
        "units_mase": round(units.mase, 4),
        "units_baseline_mase": round(units.baseline_mase, 4),
        "units_relative_mase": round(units.relative_mase, 4),
        "coverage_80": round(revenue.coverage_80, 4),
        "coverage_95": round(revenue.coverage_95, 4),
        "units_coverage_80": round(units.coverage_80, 4),
        "baseline_s": round(baseline_s, 2),
        "ratio": round(seconds / baseline_s, 2),
        "peak_rss_mb": peak_rss_mb(),
    }))


if __name__ == "__main__":
    main()
