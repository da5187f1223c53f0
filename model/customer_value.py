"""Predicted customer value and churn risk: BG/NBD for purchases, Gamma-Gamma for spend.

Nightly, from `curated/fact_sales` as of its latest order date, for every signed-in customer
with a purchase: the purchases to expect in 90 and 365 days, the probability that they are
still a customer ("alive"), the expected value of their purchases and the discounted value
of their next 12 months. One row per customer replaces `curated/customer_value`; the fitted
parameters are the run's record in `models/customer_value/<version>.json`.

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way") models repeat
purchases and drop-out; Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV") the value of a
purchase. Both are fitted and evaluated by `lifetimes` (BG/NBD's expected purchases by
`model.bgnbd`, defined where lifetimes' are NaN); time is counted in days, and a purchase is a
day with purchases (`sql/customer_purchases.sql`). `holdout_check` measures BG/NBD against
the purchases that followed a calibration period, beside a naive baseline.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from model.run_registry import RunRegistry
from shared.lake import Lake, Zone
from shared.types import UTC_TIMESTAMP

if TYPE_CHECKING:
    from lifetimes import BetaGeoFitter, GammaGammaFitter

TABLE = "customer_value"
KIND = "customer_value"
CUSTOMER_VALUE_SCHEMA = pa.schema([
    ("customer_id", pa.string()),
    ("orders", pa.int32()),
    ("revenue", pa.float64()),
    ("first_purchase", pa.date32()),
    ("last_purchase", pa.date32()),
    ("frequency", pa.int32()),
    ("recency_days", pa.int32()),
    ("age_days", pa.int32()),
    ("expected_purchases_90d", pa.float64()),
    ("expected_purchases_365d", pa.float64()),
    ("probability_alive", pa.float64()),
    ("expected_order_value", pa.float64()),
    ("predicted_value_12m", pa.float64()),
    ("at_risk", pa.bool_()),
    ("model_version", pa.string()),
    ("as_of", pa.date32()),
    ("predicted_at", UTC_TIMESTAMP),
])

LOG_BOUND = 15.0
"""Bounds on the log of every parameter for a fit retried after the plain one did not
converge: the likelihood is flat towards infinity when nobody seems to drop out (a and b
grow together), and a bounded search stops on that ridge instead of wandering it."""
MIN_REPEAT_CUSTOMERS = 10
"""Gamma-Gamma's three parameters describe how spend varies between repeat buyers: fewer
than this cannot pin them down, and BG/NBD would learn repeat behaviour from almost none."""

HOLDOUT_SQL = """
SELECT customer_id, COUNT(DISTINCT order_date) AS purchases
FROM fact_sales
WHERE customer_id IS NOT NULL AND quantity > 0 AND NOT is_return
    AND order_date > CAST($start AS DATE) AND order_date <= CAST($end AS DATE)
GROUP BY customer_id
"""
"""Purchase days per customer in a holdout period (as `sql/customer_purchases.sql` counts)."""

Fitter = TypeVar("Fitter", "BetaGeoFitter", "GammaGammaFitter")


@dataclass(frozen=True)
class CustomerValueResult:
    """What a run did: `skipped` says why nothing was written (then `version` is None)."""

    version: str | None
    customers: int
    at_risk: int
    as_of: str | None
    skipped: str | None = None


@dataclass(frozen=True)
class HoldoutScore:
    """One model's predictions of the purchases in a holdout period."""

    predicted_total: float
    aggregate_error: float
    """Predicted total / actual total - 1."""
    mae: float
    """Mean absolute error per customer, in purchases."""


@dataclass(frozen=True)
class HoldoutReport:
    calibration_end: str
    holdout_days: int
    customers: int
    actual_total: int
    bgnbd: HoldoutScore
    naive: HoldoutScore
    """Each customer's repeat-purchase rate in the calibration period, continued."""


@dataclass(frozen=True)
class CustomerModels:
    """BG/NBD (purchases) and Gamma-Gamma (spend) as lifetimes fitted them."""

    purchases: BetaGeoFitter
    spend: GammaGammaFitter

    def parameters(self) -> dict[str, Any]:
        """The fitted parameters and their standard errors (None where the optimum is on
        the edge of the parameter space, e.g. a -> 0: nobody seems to drop out), the
        penalty each fit needed, the rows fitted (BG/NBD's distinct histories, Gamma-Gamma's
        repeat buyers) and lifetimes' objective: the mean log-likelihood per customer
        (BG/NBD's on lifetimes' time axis, rescaled so the oldest customer's age is 1:
        comparable between fits of the same data only)."""
        return {
            name: {
                **{key: float(value) for key, value in fitter.params_.items()},
                "standard_errors": {key: float(value) if np.isfinite(value) else None
                                    for key, value in fitter.standard_errors_.items()},
                "bounded": fitter.bounded_,
                "mean_log_likelihood": -float(fitter._negative_log_likelihood_),
                "rows_fitted": len(fitter.data),
            }
            for name, fitter in (("bgnbd", self.purchases), ("gamma_gamma", self.spend))
        }


def fit_purchase_model(frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
                       ) -> BetaGeoFitter:
    """BG/NBD on customers' (repeat purchases, recency, age)."""
    from model.bgnbd import BgNbdFitter

    # Customers with one history are one row weighted by their number: the same likelihood,
    # and whole days make histories few (100k customers, some thousands of rows).
    patterns, weights = np.unique(np.column_stack([frequency, recency, T]).astype(float),
                                  axis=0, return_counts=True)
    return _fit(BgNbdFitter, 4, lambda model: model.fit(
        patterns[:, 0], patterns[:, 1], patterns[:, 2], weights=weights))


def fit_spend_model(frequency: np.ndarray, monetary_value: np.ndarray) -> GammaGammaFitter:
    """Gamma-Gamma on the repeat buyers' mean purchase value (the others carry none)."""
    from lifetimes import GammaGammaFitter

    repeat = (frequency > 0) & (monetary_value > 0)
    return _fit(GammaGammaFitter, 3, lambda model: model.fit(
        frequency[repeat], monetary_value[repeat]))


def fit_customer_models(frequency: np.ndarray, recency: np.ndarray, T: np.ndarray,
                        monetary_value: np.ndarray) -> CustomerModels:
    return CustomerModels(fit_purchase_model(frequency, recency, T),
                          fit_spend_model(frequency, monetary_value))


def _fit(model: Callable[..., Fitter], parameters: int,
         fit: Callable[[Fitter], Fitter]) -> Fitter:
    """A plain maximum-likelihood fit, or a bounded one when that does not converge (the
    fitter's `bounded_` says which)."""
    from lifetimes.utils import ConvergenceError

    # lifetimes' likelihood sets a process-wide warnings filter: keep it inside the fit;
    # and it prints the optimizer's state when a fit fails: keep that out of the output.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        # Standard errors follow every fit; at an edge optimum they are NaN (and recorded).
        warnings.filterwarnings("ignore", "invalid value encountered in sqrt", RuntimeWarning)
        try:
            fitted, bounded = fit(model(penalizer_coef=0.0)), False
        except ConvergenceError:
            fitted, bounded = fit(_bounded(model(penalizer_coef=0.0), parameters)), True
    fitted.bounded_ = bounded  # beside lifetimes' own fitted attributes (params_, …)
    return fitted


def _bounded(fitter: Fitter, parameters: int) -> Fitter:
    """`fitter` with its search bounded to ±LOG_BOUND on every log-parameter. The bounds go
    where lifetimes hands them to scipy: GammaGammaFitter.fit passes its own (None) there,
    so they cannot be given to `fit`."""
    minimize = fitter._fit
    bounds = [(-LOG_BOUND, LOG_BOUND)] * parameters
    fitter._fit = lambda *args, **options: minimize(*args, **{**options, "bounds": bounds})
    return fitter


def predict(models: CustomerModels, summary: pa.Table) -> dict[str, np.ndarray]:
    """Per customer of `summary` (`sql/customer_purchases.sql`'s columns), in its order."""
    import pandas as pd

    # lifetimes' customer_lifetime_value aligns Series by index: all four share the default.
    f, r, t, m = (pd.Series(summary[name].to_numpy(), dtype=float)
                  for name in ("frequency", "recency", "T", "monetary_value"))
    bgf, ggf = models.purchases, models.spend
    # Gamma-Gamma models positive spend (and was fitted on it): a repeat buyer whose repeat
    # days were worth nothing or less (free items, adjustments) shows none of theirs, and is
    # expected to spend the population's mean, as a one-time buyer is.
    p, q, v = ggf.params_[["p", "q", "v"]]
    m = m.where(m > 0, v * p / (q - 1))
    predictions = {
        "expected_purchases_90d": np.asarray(
            bgf.conditional_expected_number_of_purchases_up_to_time(90, f, r, t)),
        "expected_purchases_365d": np.asarray(
            bgf.conditional_expected_number_of_purchases_up_to_time(365, f, r, t)),
        "probability_alive": np.asarray(bgf.conditional_probability_alive(f, r, t)),
        "expected_order_value": np.asarray(ggf.conditional_expected_average_profit(f, m)),
        "predicted_value_12m": np.asarray(ggf.customer_lifetime_value(
            bgf, f, r, t, m, time=12, freq="D", discount_rate=0.01)),
    }
    _require_finite(predictions, models.parameters())
    return predictions


def predict_customer_value(lake: Lake, now: datetime, *, at_risk_below: float = 0.5
                           ) -> CustomerValueResult:
    """Fit on every purchase up to the data's latest order date (the data's clock, not the
    wall's) and replace `curated/customer_value`; skipped (nothing written) without enough
    history to fit, when the fits do not converge, when spend has no finite mean, or when
    the fit's predictions are not finite."""
    if not lake.table_exists(Zone.CURATED, "fact_sales"):
        return CustomerValueResult(None, 0, 0, None, skipped="curated/fact_sales does not "
                                   "exist yet: land order exports and refresh first")
    with _sales(lake) as sales:
        as_of = _latest_day(sales)
        if as_of is None:
            return CustomerValueResult(None, 0, 0, None, skipped="curated/fact_sales is empty")
        summary = _summary(sales, as_of)
    if (reason := _unfit_reason(summary)) is not None:
        return CustomerValueResult(None, 0, 0, as_of.isoformat(), skipped=reason)

    fitted = _fit_and_predict(summary)
    if isinstance(fitted, str):
        return CustomerValueResult(None, 0, 0, as_of.isoformat(), skipped=fitted)
    models, predictions = fitted
    # BG/NBD lets a customer drop out only just after a repeat purchase, so a one-time
    # buyer is never at risk: their low expected purchases say it instead.
    at_risk = predictions["probability_alive"] < at_risk_below
    registry = RunRegistry(lake, KIND)
    version = registry.new_version(now)
    with lake.writer():
        lake.write_table(_output(summary, predictions, at_risk, version, as_of, now),
                         Zone.CURATED, TABLE, mode="overwrite")
        registry.record(version, {
            **models.parameters(),
            "as_of": as_of.isoformat(),
            "at_risk": int(at_risk.sum()),
            "at_risk_below": at_risk_below,
            "customers": summary.num_rows,
            "predicted_at": now.isoformat(),
            "time_unit": "day",
        })
    return CustomerValueResult(version, summary.num_rows, int(at_risk.sum()), as_of.isoformat())


def _fit_and_predict(summary: pa.Table) -> tuple[CustomerModels, dict[str, np.ndarray]] | str:
    """The models fitted on `summary` and their predictions, or why there are none."""
    from lifetimes.utils import ConvergenceError

    try:
        models = fit_customer_models(*_arrays(summary))
    except ConvergenceError:  # the bounded retry too: its search ended on a flat ridge
        return ("the models did not converge, even with their parameters bounded: the "
                "purchase histories are too alike to fit")
    if (q := float(models.spend.params_["q"])) <= 1:
        # Gamma-Gamma's mean spend, v p / (q - 1), is infinite, and so are expected values.
        return (f"spend varies too widely between customers for Gamma-Gamma (q = {q:.3f}, "
                "at most 1: no finite mean spend)")
    try:
        return models, predict(models, summary)
    except FloatingPointError as error:  # a degenerate fit: no values rather than NaN
        return str(error)


def holdout_check(lake: Lake, calibration_end: date, holdout_days: int) -> HoldoutReport:
    """BG/NBD fitted on purchases up to `calibration_end`, against the purchase days of those
    customers in the following `holdout_days`, beside a naive baseline."""
    end = calibration_end + timedelta(days=holdout_days)
    if not lake.table_exists(Zone.CURATED, "fact_sales"):
        raise ValueError("curated/fact_sales does not exist yet")
    with _sales(lake) as sales:
        latest = _latest_day(sales)
        if latest is None or latest < end:
            raise ValueError(f"the holdout ends on {end}, after the data's last day {latest}")
        summary = _summary(sales, calibration_end)
        actual_rows = sales.sql(HOLDOUT_SQL, params={"start": calibration_end, "end": end}
                                ).to_arrow_table()
    if (reason := _unfit_reason(summary)) is not None:
        raise ValueError(reason)

    frequency, recency, T, _ = _arrays(summary)
    positions = pc.index_in(summary["customer_id"], actual_rows["customer_id"])
    actual = pc.take(actual_rows["purchases"], positions).fill_null(0).to_numpy().astype(float)
    model = fit_purchase_model(frequency, recency, T)
    predicted = np.asarray(model.conditional_expected_number_of_purchases_up_to_time(
        holdout_days, frequency, recency, T))
    _require_finite({"predicted purchases": predicted}, model.params_.to_dict())
    # The baseline continues each customer's repeat-purchase rate, which is what BG/NBD
    # predicts too: counting the first purchase as well would give a customer seen once
    # yesterday a rate of one purchase a day. (T is 0 only when frequency is.)
    naive = frequency / np.maximum(T, 1) * holdout_days
    return HoldoutReport(calibration_end.isoformat(), holdout_days, len(actual),
                         int(actual.sum()), _score(predicted, actual), _score(naive, actual))


def purchase_summary(lake: Lake, as_of: date) -> pa.Table:
    """Each customer's purchase history up to `as_of` (`sql/customer_purchases.sql`)."""
    with _sales(lake) as sales:
        return _summary(sales, as_of)


@contextmanager
def _sales(lake: Lake) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection where `fact_sales` is the curated table (scanned lazily)."""
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("fact_sales",
                            lake.table(Zone.CURATED, "fact_sales").to_pyarrow_dataset())
        yield connection


def _summary(sales: duckdb.DuckDBPyConnection, as_of: date) -> pa.Table:
    sql = resources.files("model").joinpath("sql/customer_purchases.sql").read_text("utf-8")
    return sales.sql(sql, params={"as_of": as_of}).to_arrow_table()


def _latest_day(sales: duckdb.DuckDBPyConnection) -> date | None:
    """The data's clock: its latest order date."""
    ((latest,),) = sales.execute("SELECT MAX(order_date) FROM fact_sales").fetchall()
    return latest


def _unfit_reason(summary: pa.Table) -> str | None:
    """Why the models cannot be fitted on `summary`, if they cannot."""
    if summary.num_rows == 0:
        return "no purchases by signed-in customers in curated/fact_sales"
    frequency, _, T, monetary_value = _arrays(summary)
    if T.max() == 0:
        return "every customer's first purchase is on the last day: no history to fit"
    repeat = int(((frequency > 0) & (monetary_value > 0)).sum())
    if repeat < MIN_REPEAT_CUSTOMERS:
        return (f"{repeat} customers bought again; fitting needs at least "
                f"{MIN_REPEAT_CUSTOMERS}")
    return None


def _arrays(summary: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """frequency, recency, T and monetary_value as float arrays."""
    f, r, t, m = (summary[name].to_numpy().astype(float)
                  for name in ("frequency", "recency", "T", "monetary_value"))
    return f, r, t, m


def _require_finite(predictions: dict[str, np.ndarray], parameters: dict[str, Any]) -> None:
    """A fit on the edge of its space (parameters at their bounds: histories too alike to
    show any heterogeneity) can overflow BG/NBD's hypergeometric term: fail rather than
    write NaN."""
    broken = [name for name, values in predictions.items() if not np.isfinite(values).all()]
    if broken:
        raise FloatingPointError(f"{', '.join(broken)} not finite with the fitted parameters "
                                 f"{parameters}")


def _score(predicted: np.ndarray, actual: np.ndarray) -> HoldoutScore:
    total = float(predicted.sum())
    return HoldoutScore(total, total / float(actual.sum()) - 1,
                        float(np.abs(predicted - actual).mean()))


def _output(summary: pa.Table, predictions: dict[str, np.ndarray], at_risk: np.ndarray,
            version: str, as_of: date, now: datetime) -> pa.Table:
    rows = summary.num_rows
    return pa.table({
        "customer_id": summary["customer_id"],
        "orders": summary["orders"],
        "revenue": summary["revenue"],
        "first_purchase": summary["first_purchase"],
        "last_purchase": summary["last_purchase"],
        "frequency": summary["frequency"],
        "recency_days": summary["recency"],
        "age_days": summary["T"],
        **predictions,
        "at_risk": at_risk,
        "model_version": pa.array([version] * rows, pa.string()),
        "as_of": pa.array([as_of] * rows, pa.date32()),
        "predicted_at": pa.array([now] * rows, UTC_TIMESTAMP),
    }).cast(CUSTOMER_VALUE_SCHEMA)
