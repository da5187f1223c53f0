"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, on the real API.

A small demo lake (`shoplake demo`'s run: events with poison, CSV uploads, the nightly
refresh and training) is served by uvicorn on a loopback port. Each test opens the page as a
person would and checks what it draws against what the API answers for the same filters:
every chart's series (ECharts' `getOption()`), the headline cards as formatted, the ingest
summary, the top customers' recommendations, the revenue forecast with its interval bands
and the customers at risk; then the same after moving the filters, in the file
`write_dashboard` writes, and at a phone's width. Screenshots go to
`$SHOPLAKE_TEST_OUTPUT/dashboard/` (default `<repo>/test-output/dashboard/`).

Chromium is Debian's (`make test` installs it); Playwright never downloads a browser here.
"""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2 as httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
from rich.console import Console

from model.predictions import Predictions
from shared.analytics import KPIS
from shared.lake import Lake
from shared.settings import Settings
from shoplake.api import create_app
from shoplake.dashboard import build_snapshot, render_page, write_dashboard
from shoplake.demo import run_demo
from shoplake.services import Services

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path(os.environ.get("SHOPLAKE_TEST_OUTPUT") or ROOT / "test-output") / "dashboard"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
LOCALE = "en-US"
"""The page formats numbers in the browser's locale: en-US is what `shown` writes."""
CHARTS = ("chart-revenue", "chart-forecast", "chart-funnel", "chart-customers",
          "chart-products", "chart-clv", "chart-ingest")
FUNNEL_LABELS = {"sessions": "Sessions", "product_view": "Viewed a product",
                 "add_to_cart": "Added to cart", "purchase": "Purchased"}
MONEY = {"net_revenue", "average_order_value"}
PERCENT = {"conversion_rate"}
AT_RISK_BELOW = 0.99999
"""Five weeks of 150 sessions a day are too little for BG/NBD to see anyone lapse (every
probability of being active is above 0.9999): a threshold this strict puts the least likely
customers at risk, so that the panel has rows to show."""


# -- fixtures: a demo lake, the API on it, one browser ----------------------------------

@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Five weeks of a small shop, as `shoplake demo` runs it: ingested, refreshed, trained."""
    root = tmp_path_factory.mktemp("dashboard-demo")
    settings = Settings(lake_url=str(root / "lake"), customer_at_risk_below=AT_RISK_BELOW)
    run_demo(settings, days=35, sessions_per_day=150, poison_rate=0.005, out=root / "out",
             seed=7, console=Console(file=io.StringIO(), width=120))
    return settings.lake_url


@pytest.fixture(scope="module")
def services(demo_lake: str) -> Services:
    return Services(Settings(lake_url=demo_lake))


@pytest.fixture(scope="module")
def server(services: Services) -> Iterator[str]:
    """The API (`shoplake serve`'s app) under uvicorn on a free loopback port."""
    # IPPROTO_TCP said outright: asyncio sets TCP_NODELAY only on sockets that say it.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    uvicorn_server = uvicorn.Server(uvicorn.Config(create_app(services), log_level="warning"))
    thread = threading.Thread(target=uvicorn_server.run, kwargs={"sockets": [listener]},
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not uvicorn_server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    uvicorn_server.should_exit = True
    thread.join(timeout=30)
    listener.close()


@pytest.fixture(scope="module")
def api(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: Debian's chromium package is not installed and "
                    "could not be (`make test` runs apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def output() -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT


class Opened:
    """A page in its own browser context, with the errors it reported."""

    def __init__(self, browser: Browser, url: str, **context: Any) -> None:
        self.context = browser.new_context(locale=LOCALE, **context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.goto(url)
        settled(self.page)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text} ({message.location})")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def opened(browser: Browser) -> Iterator[Callable[..., Opened]]:
    pages: list[Opened] = []

    def open_page(url: str, **context: Any) -> Opened:
        pages.append(Opened(browser, url, **context))
        return pages[-1]

    yield open_page
    for page in pages:
        page.close()


@pytest.fixture
def dashboard(opened: Callable[..., Opened], server: str) -> Opened:
    """The served dashboard at a desktop's size, drawn."""
    return opened(f"{server}/api/dashboard", viewport={"width": 1280, "height": 900})


# -- the page's state and the API's answers ---------------------------------------------

def settled(page: Page) -> None:
    """Wait until the page is done loading; it must then say every panel is drawn."""
    page.wait_for_function("document.body.dataset.state !== 'loading'", timeout=60_000)
    state = page.evaluate("document.body.dataset.state")
    assert state == "ready", page.inner_text("#banner")


def redrawn(page: Page, change: Callable[[], None]) -> None:
    """Make `change` (a filter moved) and wait until the panels show its answers."""
    before = int(page.evaluate("document.body.dataset.renders"))
    change()
    page.wait_for_function(
        """before => {
          const body = document.body, $ = (id) => document.getElementById(id);
          const shown = window.shoplake.answers.headline.filters;
          return Number(body.dataset.renders) > before && body.dataset.state !== "loading"
            && shown.from === $("from").value && shown.to === $("to").value
            && (shown.category || "") === $("category").value;
        }""", arg=before, timeout=60_000)
    settled(page)


def page_filters(page: Page) -> dict[str, str]:
    return page.evaluate("""() => {
      const $ = (id) => document.getElementById(id);
      return {from: $("from").value, to: $("to").value, category: $("category").value};
    }""")


def api_answers(api: httpx.Client, filters: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each KPI as the API answers it for the page's filters (the category where the KPI
    takes one)."""
    answers = {}
    for name, spec in KPIS.items():
        query = {"from": filters["from"], "to": filters["to"]}
        if filters["category"] and "category" in spec.filters:
            query["category"] = filters["category"]
        response = api.get(f"/api/kpis/{name}?{urlencode(query)}")
        assert response.status_code == 200, response.text
        answers[name] = response.json()
    return answers


def options(page: Page) -> dict[str, dict[str, Any]]:
    """Each chart's ECharts option: its series and category axes."""
    return page.evaluate("""ids => Object.fromEntries(ids.map(id => {
      const chart = window.shoplake.charts[id];
      if (!chart) return [id, null];
      const option = chart.getOption();
      return [id, {
        series: option.series.map(s => ({name: s.name, type: s.type, data: s.data})),
        x: option.xAxis.map(axis => axis.data || null),
        y: option.yAxis.map(axis => axis.data || null),
        width: chart.getWidth(),
      }];
    }))""", list(CHARTS))


def series(option: dict[str, Any]) -> dict[str, list[float]]:
    return {s["name"]: s["data"] for s in option["series"]}


def shown(metric: str, value: float | None) -> str:
    """A headline value as the page writes it in en-US (Intl rounds half away from zero)."""
    if value is None:
        return "—"
    if metric in PERCENT:
        text = f"{(Decimal(value) * 100).quantize(Decimal('0.1'), ROUND_HALF_UP):,.1f}"
        return text.removesuffix(".0") + "%"
    places = Decimal("0.01") if metric in MONEY else Decimal("1")
    return f"{Decimal(value).quantize(places, ROUND_HALF_UP):,}"


def assert_shows(page: Page, api: httpx.Client) -> dict[str, dict[str, Any]]:
    """Every panel shows what the API answers for the page's filters: the answers the page
    holds, each chart's series, the headline cards, the tables and the ingest summary.
    Returns the charts' options."""
    filters = page_filters(page)
    expected = api_answers(api, filters)
    held = page.evaluate("window.shoplake.answers")
    for name, answer in expected.items():
        assert held[name] == answer, f"{name} for {filters}"
    charts = options(page)
    assert all(charts[chart] for chart in CHARTS), f"undrawn charts for {filters}"

    revenue = expected["revenue_by_category"]["rows"]
    days = period_days(expected["revenue_by_category"])  # a day without sales is a gap
    by_category: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(days))
    for row in revenue:
        by_category[row["category"]][days.index(row["order_date"])] = row["net_revenue"]
    assert charts["chart-revenue"]["x"][0] == days
    assert series(charts["chart-revenue"]) == by_category
    for category, values in series(charts["chart-revenue"]).items():
        assert sum(values) == pytest.approx(sum(row["net_revenue"] for row in revenue
                                                if row["category"] == category))

    funnel = expected["conversion_funnel"]["rows"]
    assert charts["chart-funnel"]["y"][0] == [FUNNEL_LABELS[r["stage"]] for r in funnel][::-1]
    assert series(charts["chart-funnel"]) == {"Sessions": [r["sessions"] for r in funnel][::-1]}

    customers = {row["order_date"]: row for row in expected["new_vs_returning"]["rows"]}
    days = period_days(expected["new_vs_returning"])
    assert charts["chart-customers"]["x"][0] == days
    assert series(charts["chart-customers"]) == {
        "New": [customers[d]["new_customers"] if d in customers else 0 for d in days],
        "Returning": [customers[d]["returning_customers"] if d in customers else 0
                      for d in days]}

    products = expected["top_products"]["rows"][::-1]
    assert charts["chart-products"]["y"][0] == [r["name"] or r["product_id"] for r in products]
    assert series(charts["chart-products"]) == {"Net revenue": [r["net_revenue"]
                                                                for r in products]}

    bins = expected["customer_value_distribution"]["rows"]
    assert series(charts["chart-clv"]) == {"Customers": [row["customers"] for row in bins]}

    ingest = expected["ingest_health"]["rows"]
    received_days = period_days(expected["ingest_health"])
    records: dict[str, list[int]] = defaultdict(lambda: [0] * len(received_days))
    for row in ingest:
        records[row["outcome"]][received_days.index(row["received_date"])] += row["records"]
    assert charts["chart-ingest"]["x"][0] == received_days
    assert series(charts["chart-ingest"]) == records
    summary = page.evaluate("({...document.getElementById('ingest-summary').dataset})")
    received = sum(row["records"] for row in ingest)
    landed = sum(row["records"] for row in ingest if row["outcome"] == "landed")
    assert summary == {"received": str(received), "landed": str(landed),
                       "quarantined": str(received - landed)}

    assert headline_values(page) == {row["metric"]: shown(row["metric"], row["value"])
                                     for row in expected["headline"]["rows"]}
    top = expected["customer_lifetime_value"]["rows"]
    assert page.eval_on_selector_all("#top-customers tbody tr[data-customer]",
                                     "rows => rows.map(r => r.dataset.customer)"
                                     ) == [row["customer_id"] for row in top]
    return charts


def assert_predictions_show(page: Page, api: httpx.Client) -> None:
    """The forecast panel draws the API's revenue forecast for the category picked (the
    whole shop for all), its 80% and 95% intervals as bands, and says what made it; the
    at-risk table lists the API's customers at risk."""
    category = page_filters(page)["category"]
    response = api.get("/api/forecasts/revenue", params={"category": category} if category
                       else {})
    assert response.status_code == 200, response.text
    forecast = response.json()
    option = options(page)["chart-forecast"]
    assert option, f"no forecast chart for {category!r}"
    days = [day["date"] for day in forecast["days"]]
    axis = option["x"][0]
    assert axis[-len(days):] == days and len(axis) > len(days)  # recent actuals first
    drawn = {name: values[-len(days):] for name, values in series(option).items()}
    assert drawn["Forecast"] == pytest.approx([day["revenue"] for day in forecast["days"]])
    for level in ("80", "95"):
        # A band: the interval's width stacked on its lower bound.
        assert drawn[f"{level}% lower bound"] == pytest.approx(
            [day[f"lo_{level}"] for day in forecast["days"]])
        assert drawn[f"{level}% interval"] == pytest.approx(
            [day[f"hi_{level}"] - day[f"lo_{level}"] for day in forecast["days"]])
    stacks = page.evaluate("""() => window.shoplake.charts["chart-forecast"].getOption()
      .series.map(s => [s.name, s.stack || null])""")
    assert [stack for _, stack in stacks] == ["band 95"] * 2 + ["band 80"] * 2 + [None, None]
    actual = series(option)["Actual"]
    assert any(actual[:-len(days)]) and not any(actual[-len(days):])
    summary = page.inner_text("#forecast-summary")
    backtest = forecast["backtest"]
    assert forecast["as_of"] in summary and forecast["method"] in summary
    assert (f"MASE {backtest['mase']:.2f} against seasonal naive's "
            f"{backtest['baseline_mase']:.2f}") in summary

    at_risk = api.get("/api/customers/at-risk?limit=10").json()
    assert at_risk["customers"], "the demo's lake has no customer at risk"
    shown_rows = page.eval_on_selector_all("#at-risk tbody tr[data-customer]", """rows =>
      rows.map(r => [...r.cells].map(c => c.textContent))""")
    assert shown_rows == [[row["customer_id"], shown("net_revenue", row["revenue"]),
                           f"{row['orders']:,}", row["last_purchase"],
                           shown("conversion_rate", row["probability_alive"]),
                           shown("net_revenue", row["predicted_value_12m"])]
                          for row in at_risk["customers"]]
    assert f"{at_risk['customers_at_risk']:,} of the {at_risk['customers_valued']:,}" in (
        page.inner_text("#at-risk-summary"))


def period_days(answer: dict[str, Any]) -> list[str]:
    """Every day of the answer's period, as the daily charts' axes list them."""
    first, last = (date.fromisoformat(answer["filters"][end]) for end in ("from", "to"))
    return [str(first + timedelta(days=n)) for n in range((last - first).days + 1)]


def headline_values(page: Page) -> dict[str, str]:
    return page.eval_on_selector_all("#headline .card[data-metric]", """cards =>
      Object.fromEntries(cards.map(c => [c.dataset.metric, c.querySelector('.value').textContent]))
    """)


def assert_drawn(page: Page, charts: dict[str, dict[str, Any]]) -> None:
    """Every chart has data and its marks are in the SVG: a path per bar of a bar series
    with a value, and at least one per line series."""
    for chart, option in charts.items():
        assert option["series"] and all(s["data"] for s in option["series"]), chart
        marks = sum(1 if s["type"] == "line" else sum(1 for v in s["data"] if v)
                    for s in option["series"])
        paths = page.locator(f"#{chart} svg path").count()
        assert marks > 0 and paths >= marks, f"{chart}: {paths} SVG paths for {marks} marks"
    assert page.locator("#headline .card[data-metric]").count() == 6
    assert all(value and value != "—" for value in headline_values(page).values())


# -- the tests --------------------------------------------------------------------------

def test_the_served_dashboard_draws_every_panel_with_the_apis_numbers(
        dashboard: Opened, api: httpx.Client, output: Path) -> None:
    page = dashboard.page
    overview = api.get("/api/kpis").json()
    # It opens on the last 28 days of data, all categories.
    assert page_filters(page) == {"from": overview["periods"][1]["from"],
                                  "to": overview["periods"][1]["to"], "category": ""}
    assert page.eval_on_selector_all("#period option", "options => options.map(o => o.text)"
                                     ) == [p["label"] for p in overview["periods"]] + ["Custom"]

    charts = assert_shows(page, api)

    assert_drawn(page, charts)
    assert_predictions_show(page, api)
    assert dashboard.errors == []
    page.screenshot(path=output / "desktop.png", full_page=True)


def test_moving_the_filters_redraws_the_panels_with_the_apis_answers(
        dashboard: Opened, api: httpx.Client, output: Path) -> None:
    page = dashboard.page
    periods = api.get("/api/kpis").json()["periods"]
    first = assert_shows(page, api)

    redrawn(page, lambda: page.select_option("#period", label=periods[0]["label"]))
    week = assert_shows(page, api)
    assert page_filters(page) == {"from": periods[0]["from"], "to": periods[0]["to"],
                                  "category": ""}
    assert len(week["chart-revenue"]["x"][0]) == 7
    assert week["chart-revenue"]["series"] != first["chart-revenue"]["series"]
    assert week["chart-customers"]["series"] != first["chart-customers"]["series"]

    # A custom range, typed into the date inputs: the period says so.
    start, end = periods[-1]["from"], periods[0]["from"]  # the first day to a week back
    redrawn(page, lambda: (page.fill("#from", start), page.fill("#to", end)))
    custom = assert_shows(page, api)
    assert page.evaluate("document.getElementById('period').value") == "Custom"
    shown_days = custom["chart-revenue"]["x"][0]
    assert start <= shown_days[0] and shown_days[-1] <= end and len(shown_days) > 7
    assert custom["chart-funnel"]["series"] != week["chart-funnel"]["series"]

    category = api.get("/api/kpis").json()["categories"][0]
    redrawn(page, lambda: page.select_option("#category", label=category))
    limited = assert_shows(page, api)
    assert list(series(limited["chart-revenue"])) == [category]
    assert {row["category"] for row in
            page.evaluate("window.shoplake.answers.top_products.rows")} == {category}
    assert limited["chart-products"]["series"] != custom["chart-products"]["series"]
    assert_drawn(page, limited)
    assert_predictions_show(page, api)  # the category's forecast
    assert dashboard.errors == []
    page.screenshot(path=output / "filtered.png", full_page=True)


def test_picking_a_top_customer_shows_the_apis_recommendations(
        dashboard: Opened, api: httpx.Client) -> None:
    page = dashboard.page
    row = page.locator("#top-customers tbody tr[data-customer]").first
    customer = row.get_attribute("data-customer")

    row.click()
    page.wait_for_function("""() => {
      const target = document.getElementById("recommendations");
      return target.querySelector(".recs") || !/Loading|Enter a customer/.test(target.textContent);
    }""")

    response = api.get(f"/api/recommendations/{customer}?k=5")
    assert response.status_code == 200, response.text
    answer = response.json()
    lists = page.eval_on_selector_all("#recommendations .recs > div", """lists => lists.map(l => [
      l.querySelector("h3").textContent,
      [...l.querySelectorAll("li")].map(li => li.firstChild.textContent.trim())])""")
    names = {key: [p["name"] or p["product_id"] for p in answer[key]]
             for key in ("new_for_you", "buy_again")}
    assert lists == [["New for you", names["new_for_you"]], ["Buy again", names["buy_again"]]], (
        page.inner_text("#recommendations"))
    assert names["new_for_you"]
    assert answer["model_version"] in page.inner_text("#recommendations")
    assert page.input_value("#customer") == customer
    assert dashboard.errors == []


def test_the_written_file_shows_the_snapshot_offline(
        opened: Callable[..., Opened], services: Services, api: httpx.Client,
        output: Path) -> None:
    path = write_dashboard(output / "dashboard.html", services.kpis, services.recommender)

    offline = opened(path.resolve().as_uri(), viewport={"width": 1280, "height": 900})

    page = offline.page
    default = api.get("/api/kpis").json()["periods"][1]
    assert page_filters(page) == {"from": default["from"], "to": default["to"], "category": ""}
    headline = api.get(f"/api/kpis/headline?from={default['from']}&to={default['to']}").json()
    assert headline_values(page) == {row["metric"]: shown(row["metric"], row["value"])
                                     for row in headline["rows"]}
    assert_drawn(page, options(page))
    assert_predictions_show(page, api)
    redrawn(page, lambda: page.select_option("#category", index=2))
    assert_predictions_show(page, api)
    assert offline.errors == []
    page.screenshot(path=output / "offline.png", full_page=True)


def test_before_any_prediction_the_panels_say_so_and_the_page_is_ready(
        browser: Browser, opened: Callable[..., Opened], server: str, services: Services,
        tmp_path: Path) -> None:
    """The prediction routes answer 404 until the nightly run has made them (here the
    browser is answered so, as on a lake without them): the two panels say it, the rest of
    the page is drawn, and it still redraws when the filters move. A file written then
    says it too."""
    context = browser.new_context(locale=LOCALE, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    no_run = {"error": "not_found", "message": "curated/forecast_revenue does not exist yet"}
    page.route("**/api/forecasts/revenue*", lambda route: route.fulfill(
        status=404, json={**no_run, "categories": ["Garden"]} if "category=" in route.request.url
        else no_run))
    page.route("**/api/customers/at-risk*", lambda route: route.fulfill(status=404,
                                                                       json=no_run))
    try:
        page.goto(f"{server}/api/dashboard")
        settled(page)
        assert page.inner_text("#chart-forecast") == (
            "No forecast yet: the nightly run (or shoplake forecast) makes them.")
        assert page.inner_text("#at-risk tbody") == (
            "No customer values yet: the nightly run (or shoplake forecast) makes them.")
        assert page.is_hidden("#banner")
        assert page.evaluate("Object.keys(window.shoplake.charts)").count("chart-forecast") == 0

        category = page.eval_on_selector_all("#category option", "o => o[1].value")
        redrawn(page, lambda: page.select_option("#category", category))
        assert page.inner_text("#chart-forecast").startswith(f"No forecast for {category}:")
        assert page.inner_text("#forecast-summary") == ""
        assert errors == []
    finally:
        context.close()

    nothing = Predictions(Lake.open(str(tmp_path / "no-predictions")))
    path = tmp_path / "dashboard.html"
    path.write_text(render_page(api="", snapshot=build_snapshot(services.kpis, None, nothing)))
    offline = opened(path.as_uri(), viewport={"width": 1280, "height": 900})
    assert offline.page.inner_text("#chart-forecast").startswith(
        "No forecast when this file was written")
    assert offline.page.inner_text("#at-risk tbody").startswith(
        "No customer values when this file was written")
    assert offline.errors == []


def test_at_a_phone_width_the_page_fits_and_the_charts_are_drawn(
        opened: Callable[..., Opened], server: str, output: Path) -> None:
    phone = opened(f"{server}/api/dashboard", viewport={"width": 390, "height": 844},
                   is_mobile=True, has_touch=True)

    page = phone.page
    width = page.evaluate("window.innerWidth")
    assert width == 390
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width + 1
    for chart, option in options(page).items():
        box = page.locator(f"#{chart}").bounding_box()
        assert box and 0 < box["width"] <= width, chart
        assert 0 < option["width"] <= width, chart
    assert phone.errors == []
    page.screenshot(path=output / "phone.png", full_page=True)
