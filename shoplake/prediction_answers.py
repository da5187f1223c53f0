"""The API's answers about the nightly predictions, as plain values: built once, here, for
the routes and for the dashboard's snapshot (the page reads the same JSON either way).

Each raises what `model.predictions` raises: `NoPredictionsError` before the first run,
`UnknownKeyError` for a key the run did not predict, `UnreadablePredictionsError` for a
table that cannot be read. Values are as the tables hold them (dates, NaN for a missing
bound); `orjson` writes them as the API does (YYYY-MM-DD, null).
"""

from __future__ import annotations

from typing import Any

from model.forecast.tables import BOUNDS
from model.predictions import Predictions

AT_RISK_COLUMNS = ("customer_id", "revenue", "orders", "first_purchase", "last_purchase",
                   "probability_alive", "expected_purchases_90d", "predicted_value_12m")
"""What the at-risk list gives of each customer (GET /api/customers/{id}/value has all)."""


def revenue_forecast_answer(predictions: Predictions, category: str | None) -> dict[str, Any]:
    """GET /api/forecasts/revenue: the days ahead for `category` (None: the whole shop),
    with their intervals, the series' method and its backtest."""
    rows = predictions.revenue_forecast(category)
    first = rows[0]
    return {"category": category, "as_of": first["as_of"],
            "model_version": first["model_version"], "method": first["method"],
            "backtest": predictions.revenue_backtest(category),
            "days": [{"date": row["forecast_date"], "revenue": row["revenue"],
                      **{bound: row[bound] for bound in BOUNDS}} for row in rows]}


def at_risk_answer(predictions: Predictions, limit: int) -> dict[str, Any]:
    """GET /api/customers/at-risk: the `limit` customers at risk with the most revenue so
    far (highest first), and how many were valued and are at risk in all."""
    valued = predictions.customers.get()
    at_risk = predictions.at_risk(len(valued.keys))
    some = next((rows[0] for rows in valued.rows.values()), None)
    return {"as_of": some["as_of"] if some else None,
            "model_version": some["model_version"] if some else None,
            "customers_valued": len(valued.keys), "customers_at_risk": len(at_risk),
            "customers": [{name: row[name] for name in AT_RISK_COLUMNS}
                          for row in at_risk[:limit]]}
