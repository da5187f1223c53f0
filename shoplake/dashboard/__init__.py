"""The KPI dashboard: one HTML page, its script, style and chart library inlined, so it
works with no internet (a Function in a private network, an offline laptop).

Served (`GET /api/dashboard`), the page asks the KPI API for each panel. Written to a file
(`shoplake dashboard --out`), it carries a snapshot instead: the API's answers for every
period the page lists and every category, and the recommendations of the customers it
shows; what is outside the snapshot (a custom range) needs the served page.

Charts are Apache ECharts (`package.json` pins it; `make assets` copies its build here):
about 700 KB for the line, bar and common components, drawn as SVG, with ARIA descriptions
generated for screen readers, tooltips on hover and resizing to a phone's width.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from model.serving import NoModelError, Recommender
from shared.analytics import KPIS, KpiFilters, KpiReader

STATIC = Path(__file__).with_name("static")
ECHARTS = Path(__file__).with_name("assets") / "echarts.common.min.js"
_SLOT = re.compile(r"/\*(STYLE|CONFIG|ECHARTS|SCRIPT)\*/")
RECOMMENDED = 5
"""Products per list in the page's recommendations."""


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


def build_snapshot(reader: KpiReader, recommender: Recommender | None) -> dict[str, Any]:
    """The API's answers for each period and category the page lists, keyed as the page
    asks (`name|from|to|category`), and the top customers' recommendations."""
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
    customers = sorted({row["customer_id"] for key, answer in answers.items()
                        if key.startswith("customer_lifetime_value|") for row in answer["rows"]})
    return {"written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "overview": overview, "answers": answers,
            "recommendations": _recommendations(recommender, customers)}


def write_dashboard(path: Path, reader: KpiReader, recommender: Recommender | None) -> Path:
    """Write the self-contained page for the lake behind `reader` to `path`."""
    page = render_page(api="", snapshot=build_snapshot(reader, recommender))
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
