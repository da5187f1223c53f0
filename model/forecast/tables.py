"""The forecast's tables and records: names and schemas, light to import (the API reads
them without loading statsforecast)."""

from __future__ import annotations

import pyarrow as pa

from shared.types import UTC_TIMESTAMP

LEVELS = (80, 95)
"""The prediction intervals' levels, in percent."""
BOUNDS = tuple(f"{side}_{level}" for level in LEVELS for side in ("lo", "hi"))

REVENUE_TABLE = "forecast_revenue"
UNITS_TABLE = "forecast_units"
REGISTRY_KIND = "forecasts"
SHOP = "__shop__"
"""The whole shop's series id (its rows have a NULL category)."""

_INTERVALS = [(name, pa.float64()) for name in BOUNDS]
REVENUE_SCHEMA = pa.schema([
    ("category", pa.string()),
    ("forecast_date", pa.date32()),
    ("revenue", pa.float64()),
    *_INTERVALS,
    ("method", pa.string()),
    ("model_version", pa.string()),
    ("as_of", pa.date32()),
    ("forecast_at", UTC_TIMESTAMP),
])
UNITS_SCHEMA = pa.schema([
    ("product_id", pa.string()),
    ("week_start", pa.date32()),
    ("units", pa.float64()),
    *_INTERVALS,
    ("method", pa.string()),
    ("demand", pa.string()),
    ("model_version", pa.string()),
    ("as_of", pa.date32()),
    ("forecast_at", UTC_TIMESTAMP),
])
