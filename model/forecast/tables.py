"""The forecast's tables and records: names, schemas and series ids, light to import (the
API reads them without loading statsforecast)."""

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


def series_id(key: str | None, null_id: str = SHOP) -> str:
    """A series' id in statsforecast and the run record: its key, `null_id` for the NULL
    key. A key starting with `null_id` gets it once more, so no key takes the NULL key's id
    (a category named `__shop__` is not the whole shop)."""
    if key is None:
        return null_id
    return null_id + key if key.startswith(null_id) else key


def series_key(uid: str, null_id: str = SHOP) -> str | None:
    """The key of the series `series_id` named `uid`."""
    if uid == null_id:
        return None
    return uid.removeprefix(null_id) if uid.startswith(null_id) else uid
