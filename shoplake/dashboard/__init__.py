"""The KPI dashboard: one HTML page, its script, style and chart library inlined, so it
works with no internet (a Function in a private network, an offline laptop).

Served (`GET /api/dashboard`), the page asks the KPI API for each panel. Written to a file
(`shoplake dashboard --out`), it carries a snapshot instead: the API's answers for every
period the page lists and every category, the revenue forecasts (whole shop and each
category) and the customers at risk, and the recommendations of the customers it shows;
what is outside the snapshot (a custom range) needs the served page.

Charts are Apache ECharts (`package.json` pins it; `make assets` copies its build here):
about 700 KB for the line, bar and common components, drawn as SVG, with ARIA descriptions
generated for screen readers, tooltips on hover and resizing to a phone's width.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from model.predictions import (
    NoPredictionsError,
    Predictions,
    UnknownKeyError,
    UnreadablePredictionsError,
)
from model.serving import NoModelError, Recommender
from shared.analytics import KPIS, KpiFilters, KpiReader
from shoplake.prediction_answers import at_risk_answer, revenue_forecast_answer

logger = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
ECHARTS = Path(__file__).with_name("assets") / "echarts.common.min.js"
_SLOT = re.compile(r"/\*(STYLE|CONFIG|ECHARTS|SCRIPT)\*/")
RECOMMENDED = 5
"""Products per list in the page's recommendations."""
AT_RISK = 10
"""Customers in the page's list of customers at risk."""


class DashboardAssetsMissing(RuntimeError):
    """The chart library is not installed beside the page (`make assets`)."""


def render_page(*, api: str = "/api", snapshot: dict[str, Any] | None = None) -> str:
    """The page: it asks the API under `api`, or reads `snapshot` (see `build_snapshot`)."""
    # In a <script> element "</script" or "<!--" would change how the page parses: JSON
    # never has "<" outside a string, and inside one it may be spelled "\u003c".
    config = json.dumps({"api": api, "snapshot": snapshot}, separators=(",", ":")).replace(
        "<", "\\u003c")
    template, style, script = _static()
    parts = {"STYLE": style, "CONFIG": config, "ECHARTS": echarts_js(), "SCRIPT": script}
    # One pass: what is put in (data, scripts) is never searched for a slot itself.
    return _SLOT.sub(lambda slot: parts[slot.group(1)], template)


@cache
def served_page() -> tuple[bytes, bytes]:
    """The served page (it asks `/api`), and its gzip."""
    page = render_page().encode()
    return page, gzip.compress(page, mtime=0)


def build_snapshot(reader: KpiReader, recommender: Recommender | None,
                   predictions: Predictions | None = None) -> dict[str, Any]:
    """The API's answers for each period and category the page lists, keyed as the page
    asks (`name|from|to|category`); the revenue forecasts by category ("": the whole shop)
    and the customers at risk, from `predictions` (default: those of `reader`'s lake), left
    out when there are none yet; and the recommendations of the customers it lists."""
    overview = orjson.loads(reader.overview())
    answers: dict[str, Any] = {}
    for period in overview["periods"]:
        for category in (None, *overview["categories"]):
            for spec in KPIS.values():
                if category is not None and "category" not in spec.filters:
                    continue
                filters = KpiFilters(date.fromisoformat(period["from"]),
                                     date.fromisoformat(period["to"]), category)
                key = "|".join([spec.name, period["from"], period["to"], category or ""])
                answers[key] = orjson.loads(reader.answer(spec.name, filters))
    if predictions is None:
        predictions = Predictions(reader.lake)
    forecasts, at_risk = _forecasts(predictions), _at_risk(predictions)
    customers = sorted({row["customer_id"] for key, answer in answers.items()
                        if key.startswith("customer_lifetime_value|") for row in answer["rows"]}
                       | {row["customer_id"] for row in (at_risk or {}).get("customers", [])})
    return {"written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "overview": overview, "answers": answers, "forecasts": forecasts,
            "at_risk": at_risk, "recommendations": _recommendations(recommender, customers)}


def write_dashboard(path: Path, reader: KpiReader, recommender: Recommender | None,
                    predictions: Predictions | None = None) -> Path:
    """Write the self-contained page for the lake behind `reader` to `path`."""
    page = render_page(api="", snapshot=build_snapshot(reader, recommender, predictions))
    path.parent.mkdir(parents=True, exist_ok=True)
    # Whole or not at all: a browser with the old page open never reads half a new one.
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(page, encoding="utf-8")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def echarts_js() -> str:
    try:
        return _read(ECHARTS)
    except FileNotFoundError:
        raise DashboardAssetsMissing(
            f"the dashboard's chart library is not installed ({ECHARTS} is missing): "
            "run `make assets` (npm copies Apache ECharts there)") from None


def _forecasts(predictions: Predictions) -> dict[str, Any]:
    """GET /api/forecasts/revenue's answer for the whole shop ("") and each category; none
    before the first forecast run, when the table cannot be read, or when a new run replaced
    the categories while they were read."""
    try:
        categories = [None, *predictions.revenue_categories()]
        return {category or "": _as_json(revenue_forecast_answer(predictions, category))
                for category in categories}
    except (NoPredictionsError, UnknownKeyError, UnreadablePredictionsError) as error:
        logger.info("the dashboard's snapshot has no revenue forecast: %s", error)
        return {}


def _at_risk(predictions: Predictions) -> dict[str, Any] | None:
    """GET /api/customers/at-risk's answer (the page's limit); None before the first
    customer-value run, or when the table cannot be read."""
    try:
        return _as_json(at_risk_answer(predictions, AT_RISK))
    except (NoPredictionsError, UnreadablePredictionsError) as error:
        logger.info("the dashboard's snapshot has no customers at risk: %s", error)
        return None


def _as_json(answer: dict[str, Any]) -> Any:
    """As the API writes it: dates as YYYY-MM-DD, NaN as null."""
    return orjson.loads(orjson.dumps(answer))


def _recommendations(recommender: Recommender | None, customers: list[str]
                     ) -> dict[str, Any]:
    if recommender is None:
        return {}
    try:
        return {customer: orjson.loads(orjson.dumps(recommender.for_customer(customer,
                                                                              RECOMMENDED)))
                for customer in customers}
    except NoModelError:
        return {}


def _static() -> tuple[str, str, str]:
    return (_read(STATIC / "page.html"), _read(STATIC / "dashboard.css"),
            _read(STATIC / "dashboard.js"))


@cache
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


__all__ = ["DashboardAssetsMissing", "build_snapshot", "render_page", "served_page",
           "write_dashboard"]
