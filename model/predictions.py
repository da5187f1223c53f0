"""Serving the nightly predictions: revenue and units forecasts, and customer value.

Each table is read whole once per Delta version (they are small: a few thousand forecast
rows, one row per customer) and indexed in memory; a worker checks for a new version at
most every `reload_seconds`, so a request is a dictionary lookup.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deltalake.exceptions import DeltaError

from model.customer_value import TABLE as CUSTOMER_VALUE_TABLE
from model.forecast.tables import REGISTRY_KIND, REVENUE_TABLE, UNITS_TABLE, series_id
from model.run_registry import RunRegistry, UnknownRunError
from shared.lake import Lake, Zone

logger = logging.getLogger(__name__)

_NO_RUN = ("run `shoplake forecast` (or wait for the nightly run) after the refresh")


class NoPredictionsError(LookupError):
    """The table has not been written yet (no forecast or customer-value run)."""


class UnknownKeyError(LookupError):
    """The table has no rows for that category, product or customer."""


class UnreadablePredictionsError(RuntimeError):
    """The table cannot be read (a damaged commit, a missing file, storage failing) and no
    earlier version of it was read."""


@dataclass(frozen=True)
class Indexed:
    """A table's rows as dictionaries, grouped by key (NULL keys under None)."""

    version: int
    rows: dict[str | None, list[dict[str, Any]]]
    keys: list[str]


class _Table:
    """One curated table, reloaded when its Delta version moved."""

    def __init__(self, lake: Lake, name: str, key: str, order: str | None,
                 reload_seconds: float, clock: Callable[[], float]) -> None:
        self.lake, self.name, self.key, self.order = lake, name, key, order
        self.reload_seconds, self.clock = reload_seconds, clock
        self._indexed: Indexed | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def get(self) -> Indexed:
        with self._lock:
            if self._indexed is None or self.clock() - self._checked >= self.reload_seconds:
                try:
                    self._indexed = self._load(self._indexed)
                except (DeltaError, OSError) as error:
                    logger.warning("cannot read curated/%s (%s): %s", self.name, error,
                                   "nothing to serve" if self._indexed is None else
                                   f"serving version {self._indexed.version}, read before")
                    if self._indexed is None:
                        raise UnreadablePredictionsError(
                            f"curated/{self.name} cannot be read; the error is logged") from None
                self._checked = self.clock()
            if self._indexed is None:
                raise NoPredictionsError(f"curated/{self.name} does not exist yet: {_NO_RUN}")
            return self._indexed

    def _load(self, current: Indexed | None) -> Indexed | None:
        if not self.lake.table_exists(Zone.CURATED, self.name):
            return None
        delta = self.lake.table(Zone.CURATED, self.name)
        if current is not None and current.version == delta.version():
            return current
        table = delta.to_pyarrow_table()
        if self.order:
            table = table.sort_by([(self.key, "ascending"), (self.order, "ascending")])
        rows: dict[str | None, list[dict[str, Any]]] = {}
        for row in table.to_pylist():
            rows.setdefault(row[self.key], []).append(row)
        keys = sorted(key for key in rows if key is not None)
        return Indexed(delta.version(), rows, keys)


class Predictions:
    """What the API answers about the future, from the nightly run's tables."""

    def __init__(self, lake: Lake, reload_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lake = lake
        self.revenue = _Table(lake, REVENUE_TABLE, "category", "forecast_date",
                              reload_seconds, clock)
        self.units = _Table(lake, UNITS_TABLE, "product_id", "week_start",
                            reload_seconds, clock)
        self.customers = _Table(lake, CUSTOMER_VALUE_TABLE, "customer_id", None,
                                reload_seconds, clock)
        self._runs: dict[str, dict[str, Any]] = {}
        self._runs_lock = threading.Lock()

    def forecast_run(self) -> dict[str, Any]:
        """The record of the forecast run whose rows are served (method per series and
        backtest metrics)."""
        rows = self.revenue.get().rows
        if not rows:
            raise NoPredictionsError(f"curated/{REVENUE_TABLE} has no rows: {_NO_RUN}")
        return self._run(next(iter(rows.values()))[0]["model_version"])

    def _run(self, version: str) -> dict[str, Any]:
        """A forecast run's record, read once (records are written once, never changed)."""
        with self._runs_lock:
            if version not in self._runs:
                record = RunRegistry(self.lake, REGISTRY_KIND).read(version)
                # The served run, and the one before while both tables move to the next.
                self._runs = {**dict(list(self._runs.items())[-1:]), version: record}
            return self._runs[version]

    def _served_run(self, version: str) -> dict[str, Any]:
        """The record of the run that wrote rows of `version`; empty when it cannot be read
        (the rows are still worth serving without their backtest)."""
        try:
            return self._run(version)
        except (UnknownRunError, ValueError) as error:  # missing, or not JSON
            logger.warning("forecast run %s: no readable record (%s)", version, error)
            return {}

    def revenue_backtest(self, category: str | None) -> dict[str, float | None]:
        """How the served method of `category`'s revenue series (None: the whole shop) did in
        the backtest, beside the baseline: `mase`, `baseline_mase`, `coverage_80`,
        `coverage_95` (None where not measured). Raises as `revenue_forecast` does."""
        version = self.revenue_forecast(category)[0]["model_version"]
        revenue = self._served_run(version).get("revenue") or {}
        series = (revenue.get("series") or {}).get(series_id(category))
        return _backtest(series, revenue.get("baseline"))

    def units_backtest(self, product_id: str) -> dict[str, float | None]:
        """As `revenue_backtest`, for a product's units series (from its demand set)."""
        version = self.units_forecast(product_id)[0]["model_version"]
        for units in self._served_run(version).get("units") or []:
            series = (units.get("series") or {}).get(product_id)
            if series is not None:
                return _backtest(series, units.get("baseline"))
        return _backtest(None, None)

    def revenue_forecast(self, category: str | None) -> list[dict[str, Any]]:
        """The days ahead for `category` (None: the whole shop)."""
        indexed = self.revenue.get()
        if category not in indexed.rows:
            raise UnknownKeyError(f"no revenue forecast for category {category!r}; "
                                  f"forecast categories: {', '.join(indexed.keys)}")
        return indexed.rows[category]

    def revenue_categories(self) -> list[str]:
        return self.revenue.get().keys

    def units_forecast(self, product_id: str) -> list[dict[str, Any]]:
        indexed = self.units.get()
        if product_id not in indexed.rows:
            raise UnknownKeyError(f"no units forecast for product {product_id!r}: only the "
                                  "best sellers that make up most units are forecast")
        return indexed.rows[product_id]

    def customer_value(self, customer_id: str) -> dict[str, Any]:
        indexed = self.customers.get()
        if customer_id not in indexed.rows:
            raise UnknownKeyError(f"no predicted value for customer {customer_id!r}: "
                                  "customers are valued once they have bought")
        return indexed.rows[customer_id][0]

    def at_risk(self, limit: int) -> list[dict[str, Any]]:
        """The most valuable customers at risk: past revenue, highest first."""
        rows = [row for key, (row, *_) in self.customers.get().rows.items()
                if key is not None and row["at_risk"]]
        return sorted(rows, key=lambda row: (-row["revenue"], row["customer_id"]))[:limit]


def _backtest(series: dict[str, Any] | None, baseline: str | None) -> dict[str, float | None]:
    """A series' evidence in a run record, as the scores of its chosen method and the
    baseline's MASE (None for what was not measured: no backtest, or no intervals)."""
    scores = (series or {}).get("scores") or {}
    chosen = scores.get((series or {}).get("method")) or {}
    return {"mase": chosen.get("mase"),
            "baseline_mase": (scores.get(baseline) or {}).get("mase"),
            "coverage_80": chosen.get("coverage_80"),
            "coverage_95": chosen.get("coverage_95")}
