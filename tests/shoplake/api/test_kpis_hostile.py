"""Adversarial tests of GET /api/kpis, GET /api/kpis/{name}, GET /api/dashboard and
`shoplake dashboard`: hostile query strings, hostile catalogue text landed through the real
batch path (API, written page, the page in Chromium), a damaged lake, data at the ends of the
calendar, and output paths that cannot be written."""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shared.analytics import KPIS, KpiReader
from shared.batch.ingest import upload_file
from shared.batch.mapping import load_mapping
from shared.lake import Lake, Zone
from shared.warehouse import refresh
from shoplake.api import create_app
from shoplake.cli import app as cli
from shoplake.dashboard import build_snapshot, render_page, write_dashboard
from shoplake.services import Services
from tests.shoplake.api.lakes import lake_settings

CONFIG = re.compile(r'<script id="shoplake-config" type="application/json">(.*?)</script>', re.S)
NAME = '</script><img src=x onerror="window.pwned=1">\'"<!-- 😀\nline 2 \u2028 %_ '
"""Every product's name starts with this (its id follows)."""
MARKUP_CATEGORY = '<svg onload="window.pwned=2">\'"</script> & Co'
"""Replaces "Kitchen"."""
LINE_BREAK_CATEGORY = "Garden\r\nOutdoor"
"""Replaces "Garden": a quoted CSV field with a line break (Alt+Enter in Excel)."""
ORDER_HEADER = ('"order_id","line_number","ordered_at","customer_id","product_id","quantity",'
                '"unit_price","currency","status"\n')


def _client(lake: Lake) -> TestClient:
    return TestClient(create_app(Services(lake_settings(lake), lake=lake)),
                      raise_server_exceptions=False)


def _copy(kpi_lake_dir: Path, target: Path) -> Lake:
    shutil.copytree(kpi_lake_dir, target)
    return Lake.open(str(target))


@pytest.fixture(scope="module")
def client(kpi_lake_dir: Path) -> TestClient:
    return _client(Lake.open(str(kpi_lake_dir)))


# -- hostile query strings --------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "/api/kpis/headline?from=",
    "/api/kpis/headline?from=2026-10-03&to=2026-10-03",
    "/api/kpis/headline?from=0001-01-01&to=0001-01-01",
    "/api/kpis/headline?from=0001-01-02&to=0001-01-02",
    "/api/kpis/headline?from=9999-12-31&to=9999-12-31",
    "/api/kpis/headline?from=2026-10-03&to=9999-12-31",
    "/api/kpis/headline?from=9999-12-31",
    "/api/kpis/headline?to=0001-01-01",
    "/api/kpis/headline?from=+002026-01-01",
    "/api/kpis/headline?from=2026-10-03%00",
    "/api/kpis/headline?from=%ED%A0%80",
    "/api/kpis/headline?FROM=2026-10-03",
    "/api/kpis/customer_value_distribution?from=9999-12-31&to=9999-12-31",
    "/api/kpis/ingest_health?from=0001-01-02&to=0001-01-02",
    "/api/kpis/top_products?limit=99999999999999999999",
    "/api/kpis/top_products?limit=-1",
    "/api/kpis/top_products?limit=%D9%A1",  # ARABIC-INDIC DIGIT ONE
    "/api/kpis/top_products?limit=00000",
    "/api/kpis/top_products?limit=",
    "/api/kpis/top_products?category=%00",
    "/api/kpis/top_products?category=%27%20OR%201%3D1--",
    "/api/kpis/top_products?category=%25",
    "/api/kpis/top_products?category=_",
    "/api/kpis/top_products?category=" + "x" * 20_000,
    "/api/kpis/top_products?category=%ED%A0%80",
    "/api/kpis/%2e%2e",
    "/api/kpis/..%2F..%2Fetc%2Fpasswd",
    "/api/kpis/__proto__?from=bad",
    "/api/kpis/headline?code=a&code=b",
])
def test_hostile_query_strings_never_fail_the_server(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code < 500, response.text[:300]
    body = response.json()
    assert "Traceback" not in response.text
    if response.status_code == 400:
        assert body["problems"] and body["valid"]


def test_a_filter_given_twice_is_refused(client: TestClient) -> None:
    """A repeated filter is refused: a proxy or cache keyed on one value
    would see another request than the reader answers."""
    response = client.get("/api/kpis/headline?from=2026-10-01&from=2026-10-05")
    assert response.status_code == 400
    assert [p["where"] for p in response.json()["problems"]] == ["query.from"]


@pytest.mark.parametrize("day", ["20261005", "2026-W41", "2026W411", "2026-W41-1"])
def test_dates_are_only_taken_as_yyyy_mm_dd(client: TestClient, day: str) -> None:
    """Only YYYY-MM-DD, as documented: Python's `date.fromisoformat` would
    also take basic and week dates (`2026-W41` as that week's Monday)."""
    assert client.get(f"/api/kpis/headline?to={day}").status_code == 400


def test_a_kpi_name_with_an_encoded_slash_is_an_unknown_kpi(client: TestClient) -> None:
    """A name with an encoded slash is an unknown KPI (400 naming the
    KPIs), not a 404 from routing."""
    response = client.get("/api/kpis/..%2Fheadline")
    assert response.status_code == 400
    assert response.json()["valid"]["kpis"] == sorted(KPIS)


@pytest.mark.parametrize("url", ["/api/kpis", "/api/kpis/headline", "/api/dashboard"])
def test_head_is_answered_as_get_is(client: TestClient, url: str) -> None:
    """HEAD is answered as GET, without the body (RFC 9110): uptime probes
    and link checkers send HEAD."""
    response = client.head(url)
    assert response.status_code == 200 and response.content == b""


@pytest.mark.parametrize("accept", ["gzip;q=0", "identity, gzip;q=0", "x-gzip;q=0"])
def test_the_dashboard_is_not_gzipped_for_a_client_that_refuses_gzip(client: TestClient,
                                                                     accept: str) -> None:
    """`gzip;q=0` refuses gzip (RFC 9110 12.5.3): the page goes
    uncompressed."""
    response = client.get("/api/dashboard", headers={"Accept-Encoding": accept})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers


def test_the_dashboard_is_gzipped_when_gzip_is_accepted(client: TestClient) -> None:
    response = client.get("/api/dashboard", headers={"Accept-Encoding": "br, gzip;q=0.5"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"


# -- hostile catalogue text, landed through the batch path ----------------------------------

@pytest.fixture(scope="module")
def hostile(kpi_lake_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The KPI lake after a catalogue export whose names and two categories are hostile."""
    root = tmp_path_factory.mktemp("hostile")
    lake = _copy(kpi_lake_dir, root / "lake")
    with (kpi_lake_dir.parent / "exports" / "products.csv").open(newline="") as source:
        rows = list(csv.reader(source))
    renamed = {"Kitchen": MARKUP_CATEGORY, "Garden": LINE_BREAK_CATEGORY}
    for row in rows[1:]:
        row[1] = NAME + row[0]
        row[2] = renamed.get(row[2], row[2])
    export = root / "products-hostile.csv"
    with export.open("w", newline="") as out:
        csv.writer(out, quoting=csv.QUOTE_NONNUMERIC).writerows(rows)
    assert upload_file(lake, export, load_mapping("shop_products")).status == "landed"
    refresh(lake)
    return lake


@pytest.fixture(scope="module")
def hostile_page(hostile: Lake, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dashboard(tmp_path_factory.mktemp("page") / "dashboard.html",
                           KpiReader(hostile), None)


def test_hostile_catalogue_text_comes_back_exactly_from_the_api(hostile: Lake) -> None:
    client = _client(hostile)
    categories = client.get("/api/kpis").json()["categories"]
    assert {MARKUP_CATEGORY, LINE_BREAK_CATEGORY} <= set(categories)
    for category in (MARKUP_CATEGORY, LINE_BREAK_CATEGORY):
        answer = client.get("/api/kpis/top_products",
                            params={"category": category, "limit": "100"}).json()
        assert answer["filters"]["category"] == category and answer["rows"]
        for row in answer["rows"]:
            assert row["category"] == category
            assert row["name"] == NAME + row["product_id"]


def test_the_written_page_keeps_hostile_text_as_data(hostile: Lake, hostile_page: Path) -> None:
    page = hostile_page.read_text(encoding="utf-8")
    (config,) = CONFIG.findall(page)
    (empty,) = CONFIG.findall(blank := render_page(api="", snapshot={}))
    assert page.split(config) == blank.split(empty)  # nothing outside the config changed
    snapshot = json.loads(config)["snapshot"]
    client = _client(hostile)
    assert snapshot["overview"]["categories"] == client.get("/api/kpis").json()["categories"]
    last = snapshot["overview"]["periods"][-1]
    for category in (MARKUP_CATEGORY, LINE_BREAK_CATEGORY):
        key = "|".join(["top_products", last["from"], last["to"], category])
        served = client.get("/api/kpis/top_products", params={
            "from": last["from"], "to": last["to"], "category": category}).json()
        assert snapshot["answers"][key] == served


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        yield browser
        browser.close()


def _open(chromium: object, page_file: Path) -> object:
    page = chromium.new_page()  # type: ignore[attr-defined]
    page.goto(page_file.as_uri())
    page.wait_for_function("document.body.dataset.state !== 'loading'")
    return page


def _pick_category(page: object, category: str, categories: list[str]) -> None:
    renders = page.evaluate("Number(document.body.dataset.renders)")  # type: ignore[attr-defined]
    page.select_option("#category", index=categories.index(category) + 1)  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        f"Number(document.body.dataset.renders) > {renders}")


SHOW_EVERY_TOOLTIP = """() => {
  for (const chart of Object.values(window.shoplake.charts)) {
    (chart.getOption().series || []).forEach((series, seriesIndex) => {
      for (let dataIndex = 0; dataIndex < 5; dataIndex++)
        chart.dispatchAction({ type: "showTip", seriesIndex, dataIndex });
    });
  }
}"""


@pytest.mark.browser
def test_hostile_text_stays_text_in_the_browser(chromium: object, hostile_page: Path) -> None:
    page = _open(chromium, hostile_page)
    categories = json.loads(CONFIG.findall(hostile_page.read_text())[0])["snapshot"][
        "overview"]["categories"]
    for step in ("all", MARKUP_CATEGORY):
        if step != "all":
            _pick_category(page, step, categories)
        assert page.evaluate("document.body.dataset.state") == "ready", step
        page.evaluate(SHOW_EVERY_TOOLTIP)
        assert page.evaluate("window.pwned") is None, step
        assert page.evaluate("document.querySelectorAll('[onerror], [onload]').length") == 0
    assert NAME.split("\n")[0] in page.evaluate("document.body.innerText")  # shown as text
    page.close()


@pytest.mark.browser
def test_a_category_with_a_line_break_can_be_picked(chromium: object,
                                                     hostile_page: Path) -> None:
    """A category holding CR LF (Alt+Enter in Excel) can be picked: options
    built as HTML would turn it into LF, and the API would not know the category."""
    page = _open(chromium, hostile_page)
    categories = json.loads(CONFIG.findall(hostile_page.read_text())[0])["snapshot"][
        "overview"]["categories"]
    _pick_category(page, LINE_BREAK_CATEGORY, categories)
    assert page.evaluate("document.getElementById('category').value") == LINE_BREAK_CATEGORY
    assert page.evaluate("document.body.dataset.state") == "ready", page.evaluate(
        "document.getElementById('banner').textContent")
    page.close()


# -- a damaged lake ---------------------------------------------------------------------

def _bool_count_record(lake: Lake) -> None:
    lake.write_bytes(lake.path(Zone.STATE, "ingest", "events", "zz-damaged.json"),
                     b'{"received_date": "2026-10-03", "landed": true, "reasons": {}}')


def _corrupt_commit(lake: Lake) -> None:
    log = Path(lake.path(Zone.CURATED, "kpi_revenue_by_category_day")) / "_delta_log"
    latest = max(int(p.stem) for p in log.glob("*.json"))
    (log / f"{latest + 1:020d}.json").write_text("{not json")


def _missing_data_file(lake: Lake) -> None:
    next(Path(lake.path(Zone.CURATED, "kpi_revenue_by_category_day")).rglob("*.parquet")
         ).unlink()


@pytest.mark.parametrize(("damage", "url"), [
    (_bool_count_record, "/api/kpis/ingest_health"),
    (_corrupt_commit, "/api/kpis/headline"),
    (_missing_data_file, "/api/kpis/revenue_by_category"),
], ids=["ingest-record-with-a-boolean-count", "corrupt-latest-commit", "missing-data-file"])
def test_a_damaged_lake_is_never_a_server_error(kpi_lake_dir: Path, tmp_path: Path,
                                                damage: object, url: str) -> None:
    """A damaged record or table is never a 500."""
    lake = _copy(kpi_lake_dir, tmp_path / "lake")
    damage(lake)  # type: ignore[operator]
    response = _client(lake).get(url)
    assert response.status_code < 500, response.text


# -- data at the ends of the calendar, landed through the batch path ---------------------

@pytest.mark.parametrize("ordered_at", ["0001-01-01T00:00:00.000Z", "9999-12-31T10:00:00.000Z"],
                         ids=["DateTime.MinValue", "year-9999"])
def test_one_far_dated_order_line_leaves_every_kpi_answerable(kpi_lake_dir: Path,
                                                              tmp_path: Path,
                                                              ordered_at: str) -> None:
    """An order line dated 0001-01-01 (.NET's DateTime.MinValue) or
    9999-12-31 is quarantined as implausible, so the calendar stays the data's and every
    KPI, the overview and the written page answer."""
    lake = _copy(kpi_lake_dir, tmp_path / "lake")
    export = tmp_path / "orders-far.csv"
    export.write_text(ORDER_HEADER + f'"O-FAR-1",1,"{ordered_at}","C00087","P00056",1,21.49,'
                                     '"GBP","sale"\n')
    assert upload_file(lake, export, load_mapping("shop_orders")).status == "landed"
    refresh(lake)
    client = _client(lake)
    assert client.get("/api/kpis").status_code == 200
    for name in KPIS:
        response = client.get(f"/api/kpis/{name}")
        assert response.status_code == 200, (name, response.text[:300])
    build_snapshot(KpiReader(lake), None)


# -- `shoplake dashboard --out` where it cannot write ------------------------------------

@pytest.mark.parametrize("where", ["a-folder", "under-a-file"])
def test_an_unwritable_out_path_is_a_one_line_error(tmp_path: Path, where: str) -> None:
    """An output path that cannot be written (a folder, a path under a
    file) is one line on stderr and exit status 1, not a traceback."""
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-file").write_text("x")
    out = tmp_path / ("a-folder" if where == "a-folder" else "a-file/dashboard.html")
    result = CliRunner().invoke(cli, ["--lake", str(tmp_path / "lake"), "dashboard",
                                      "--out", str(out)])
    assert result.exit_code == 1
    assert not isinstance(result.exception, OSError), repr(result.exception)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
