"""GET /api/forecasts/revenue, GET /api/forecasts/units and GET /api/customers/{id}/value
through the FastAPI app, on the API tests' shop after the nightly run's prediction steps:
every answer is the curated table's rows and the run record's backtest."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from fastapi.testclient import TestClient

from model.customer_value import TABLE as CUSTOMER_VALUE_TABLE
from model.forecast.tables import BOUNDS, REGISTRY_KIND, REVENUE_TABLE, SHOP, UNITS_TABLE
from model.predictions import Predictions
from model.run_registry import RunRegistry
from shared.lake import Lake, Zone
from shoplake.api import create_app
from shoplake.api.forecasts import (
    MAX_CATEGORY,
    CustomerValue,
    RevenueForecast,
    UnitsForecast,
)
from shoplake.services import Services
from tests.model.conftest import TRAINED_AT, copy_lake
from tests.shoplake.api.lakes import lake_settings


@pytest.fixture(scope="session")
def predicted_lake_dir(api_shop_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The API tests' shop after `Services.forecast`: forecasts and customer values."""
    lake = copy_lake(api_shop_dir, tmp_path_factory.mktemp("api-predicted") / "lake")
    forecasts, values = Services(lake_settings(lake), lake=lake).forecast(TRAINED_AT)
    assert forecasts.version is not None and values.version is not None
    return Path(lake.url)


@pytest.fixture(scope="module")
def lake(predicted_lake_dir: Path) -> Lake:
    return Lake.open(str(predicted_lake_dir))


@pytest.fixture(scope="module")
def client(lake: Lake) -> TestClient:
    return TestClient(create_app(Services(lake_settings(lake), lake=lake)))


def rows(lake: Lake, table: str) -> list[dict[str, Any]]:
    return lake.table(Zone.CURATED, table).to_pyarrow_table().to_pylist()


def as_json(value: Any) -> Any:
    """A table value as the API writes it (dates as YYYY-MM-DD, NaN as null)."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def record_backtest(series: dict[str, Any], baseline: str) -> dict[str, Any]:
    scores = series["scores"]
    chosen = scores[series["method"]]
    return {"mase": chosen["mase"], "baseline_mase": scores[baseline]["mase"],
            "coverage_80": chosen["coverage_80"], "coverage_95": chosen["coverage_95"]}


def assert_within_bounds(points: list[dict[str, Any]], value: str) -> None:
    """lo_95 <= lo_80 <= value <= hi_80 <= hi_95, for the bounds there are."""
    for point in points:
        chain = [point[name] for name in ("lo_95", "lo_80", value, "hi_80", "hi_95")
                 if point[name] is not None]
        assert chain == sorted(chain), point


# -- revenue -------------------------------------------------------------------------------

def test_the_shop_forecast_is_its_table_rows_and_its_backtest(client: TestClient,
                                                              lake: Lake) -> None:
    answer = client.get("/api/forecasts/revenue").json()
    RevenueForecast.model_validate(answer)

    table = [row for row in rows(lake, REVENUE_TABLE) if row["category"] is None]
    table.sort(key=lambda row: row["forecast_date"])
    assert answer["days"] == [{"date": as_json(row["forecast_date"]),
                               "revenue": row["revenue"],
                               **{bound: as_json(row[bound]) for bound in BOUNDS}}
                              for row in table]
    first = table[0]
    assert answer["category"] is None
    assert (answer["as_of"], answer["model_version"], answer["method"]) == (
        first["as_of"].isoformat(), first["model_version"], first["method"])
    record = RunRegistry(lake, REGISTRY_KIND).read(answer["model_version"])
    shop = record["revenue"]["series"][SHOP]
    assert shop["method"] == answer["method"]
    assert answer["backtest"] == record_backtest(shop, record["revenue"]["baseline"])
    assert None not in answer["backtest"].values()  # five weeks of days: backtested
    days = [date.fromisoformat(day["date"]) for day in answer["days"]]
    assert len(days) == lake_settings(lake).forecast_horizon_days
    assert days == [first["as_of"] + timedelta(days=n + 1) for n in range(len(days))]
    assert_within_bounds(answer["days"], "revenue")


def test_every_category_forecast_is_its_table_rows(client: TestClient, lake: Lake) -> None:
    table = rows(lake, REVENUE_TABLE)
    record = RunRegistry(lake, REGISTRY_KIND).read(table[0]["model_version"])
    categories = sorted({row["category"] for row in table} - {None})
    assert len(categories) >= 5
    for category in categories:
        answer = client.get("/api/forecasts/revenue", params={"category": category}).json()
        RevenueForecast.model_validate(answer)
        expected = sorted((row for row in table if row["category"] == category),
                          key=lambda row: row["forecast_date"])
        assert answer["category"] == category
        assert [day["date"] for day in answer["days"]] == [
            as_json(row["forecast_date"]) for row in expected]
        assert [[day["revenue"], *(day[b] for b in BOUNDS)] for day in answer["days"]] == [
            [row["revenue"], *(as_json(row[b]) for b in BOUNDS)] for row in expected]
        assert answer["method"] == expected[0]["method"]
        assert answer["backtest"] == record_backtest(record["revenue"]["series"][category],
                                                     record["revenue"]["baseline"])
        assert_within_bounds(answer["days"], "revenue")


def test_a_day_without_a_forecast_is_null(predicted_lake_dir: Path, tmp_path: Path) -> None:
    """Seasonal naive on less than a season of history (a shop's first days) forecasts
    some days as null: they are served as null, not refused."""
    lake = copy_lake(predicted_lake_dir, tmp_path / "lake")
    table = lake.table(Zone.CURATED, REVENUE_TABLE).to_pyarrow_table()
    first_day = pc.min(table["forecast_date"])
    blank = pc.and_(pc.is_null(table["category"]), pc.equal(table["forecast_date"], first_day))
    for name in ("revenue", *BOUNDS):
        table = table.set_column(table.schema.get_field_index(name), name, pc.if_else(
            blank, pa.scalar(None, pa.float64()), table[name]))
    with lake.writer():
        lake.write_table(table, Zone.CURATED, REVENUE_TABLE, mode="overwrite")

    answer = TestClient(create_app(Services(lake_settings(lake), lake=lake))).get(
        "/api/forecasts/revenue").json()

    RevenueForecast.model_validate(answer)
    assert answer["days"][0] == {"date": first_day.as_py().isoformat(), "revenue": None,
                                 **dict.fromkeys(BOUNDS)}
    assert None not in [day["revenue"] for day in answer["days"][1:]]


def test_an_unknown_category_is_a_404_listing_the_forecast_ones(client: TestClient,
                                                                lake: Lake) -> None:
    response = client.get("/api/forecasts/revenue", params={"category": "Kitchenware"})
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "not_found" and "Kitchenware" in body["message"]
    assert body["categories"] == sorted(
        {row["category"] for row in rows(lake, REVENUE_TABLE)} - {None})


def test_the_function_key_is_not_an_unknown_parameter(client: TestClient) -> None:
    response = client.get("/api/forecasts/revenue", params={"code": "a-key"})
    assert response.status_code == 200


# -- units ---------------------------------------------------------------------------------

def test_every_forecast_product_is_its_table_rows(client: TestClient, lake: Lake) -> None:
    table = rows(lake, UNITS_TABLE)
    products = sorted({row["product_id"] for row in table})
    assert len(products) >= 10
    for product in products:
        answer = client.get("/api/forecasts/units", params={"product_id": product}).json()
        UnitsForecast.model_validate(answer)
        expected = sorted((row for row in table if row["product_id"] == product),
                          key=lambda row: row["week_start"])
        assert answer["weeks"] == [{"week_start": as_json(row["week_start"]),
                                    "units": row["units"],
                                    **{bound: as_json(row[bound]) for bound in BOUNDS}}
                                   for row in expected]
        first = expected[0]
        assert (answer["product_id"], answer["as_of"], answer["model_version"],
                answer["method"], answer["demand"]) == (
            product, first["as_of"].isoformat(), first["model_version"], first["method"],
            first["demand"])
        assert len(answer["weeks"]) == lake_settings(lake).forecast_units_weeks
        assert_within_bounds(answer["weeks"], "units")
        # Five weeks are too short to backtest weekly series: the baseline, not measured.
        assert answer["backtest"] == dict.fromkeys(
            ["mase", "baseline_mase", "coverage_80", "coverage_95"])


def test_both_demand_patterns_are_served(client: TestClient, lake: Lake) -> None:
    demands = {row["demand"]: row["product_id"] for row in rows(lake, UNITS_TABLE)}
    assert sorted(demands) == ["intermittent", "smooth"]
    for demand, product in demands.items():
        answer = client.get("/api/forecasts/units", params={"product_id": product}).json()
        assert answer["demand"] == demand


@pytest.fixture
def croston_lake(predicted_lake_dir: Path, tmp_path: Path) -> tuple[Lake, str]:
    """A copy whose first intermittent product was forecast by Croston (no intervals), as
    a longer history would choose, with that choice's backtest in the run record."""
    lake = copy_lake(predicted_lake_dir, tmp_path / "lake")
    units = lake.table(Zone.CURATED, UNITS_TABLE).to_pyarrow_table()
    product = min(row["product_id"] for row in units.to_pylist()
                  if row["demand"] == "intermittent")
    mine = pc.equal(units["product_id"], product)
    columns = {name: units[name] for name in units.column_names}
    columns["method"] = pc.if_else(mine, "croston", units["method"])
    for bound in BOUNDS:
        columns[bound] = pc.if_else(mine, pa.scalar(None, pa.float64()), units[bound])
    with lake.writer():
        lake.write_table(pa.table(columns, schema=units.schema), Zone.CURATED, UNITS_TABLE,
                         mode="overwrite")
    registry = RunRegistry(lake, REGISTRY_KIND)
    record = registry.read(units["model_version"][0].as_py())
    (intermittent,) = [s for s in record["units"] if s["demand"] == "intermittent"]
    intermittent["series"][product] = {"method": "croston", "scores": {
        "croston": {"mase": 0.81, "smape": 0.4, "mae": 1.5, "coverage_80": None,
                    "coverage_95": None},
        "seasonal_naive": {"mase": 1.12, "smape": 0.6, "mae": 2.1, "coverage_80": 0.7,
                           "coverage_95": 0.9}}}
    registry.record(record.pop("version"), record)
    return lake, product


def test_a_croston_forecast_has_no_bounds(croston_lake: tuple[Lake, str]) -> None:
    lake, product = croston_lake
    client = TestClient(create_app(Services(lake_settings(lake), lake=lake)))
    answer = client.get("/api/forecasts/units", params={"product_id": product}).json()
    UnitsForecast.model_validate(answer)
    assert answer["method"] == "croston" and answer["demand"] == "intermittent"
    assert {week[bound] for week in answer["weeks"] for bound in BOUNDS} == {None}
    assert all(week["units"] >= 0 for week in answer["weeks"])
    assert answer["backtest"] == {"mase": 0.81, "baseline_mase": 1.12, "coverage_80": None,
                                  "coverage_95": None}


def test_a_product_without_a_forecast_is_a_404(client: TestClient) -> None:
    response = client.get("/api/forecasts/units", params={"product_id": "P99999"})
    assert response.status_code == 404
    assert "best sellers" in response.json()["message"]


# -- customer value ----------------------------------------------------------------------------

def test_every_customer_value_is_its_table_row(client: TestClient, lake: Lake) -> None:
    table = rows(lake, CUSTOMER_VALUE_TABLE)
    assert len(table) > 100
    for row in table:
        response = client.get(f"/api/customers/{quote(row['customer_id'], safe='')}/value")
        answer = response.json()
        CustomerValue.model_validate(answer)
        assert answer == {name: as_json(row[name]) for name in CustomerValue.model_fields}


@pytest.mark.parametrize("customer", ["C99999", "C00001/value", "C/1", "x" * 64, "😀", " "])
def test_a_customer_without_a_value_is_a_404(client: TestClient, customer: str) -> None:
    """Any id of the contract that nobody has bought with, "/" included (sent as %2F, it
    is part of the id: the id takes the rest of the path but the final /value)."""
    response = client.get(f"/api/customers/{quote(customer, safe='')}/value")
    assert response.status_code == 404, response.text
    assert repr(customer) in response.json()["message"]


def test_an_unencoded_slash_is_part_of_the_id(client: TestClient, lake: Lake) -> None:
    customer = rows(lake, CUSTOMER_VALUE_TABLE)[0]["customer_id"]
    assert client.get(f"/api/customers/{customer}/value").status_code == 200
    response = client.get(f"/api/customers/{customer}/value/value")
    assert response.status_code == 404
    assert repr(f"{customer}/value") in response.json()["message"]


@pytest.mark.parametrize("path", ["/api/customers/C00001/value%0A", "/api/customers/C00001",
                                  "/api/customers/value"])
def test_a_path_beside_the_route_is_not_found(client: TestClient, lake: Lake,
                                              path: str) -> None:
    """Starlette's route regex ends in `$`, which matches before a final newline:
    ".../value%0A" would otherwise be served as ".../value"."""
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "Not Found"}


# -- bad requests, and nothing predicted yet --------------------------------------------------

@pytest.mark.parametrize(("url", "where"), [
    ("/api/forecasts/revenue?category=", "query.category"),
    ("/api/forecasts/revenue?category=Kitchen%00", "query.category"),
    ("/api/forecasts/revenue?category=Kitchen%1B", "query.category"),
    ("/api/forecasts/revenue?category=" + "x" * (MAX_CATEGORY + 1), "query.category"),
    ("/api/forecasts/revenue?category=Kitchen&category=Garden", "query.category"),
    ("/api/forecasts/revenue?categroy=Kitchen", "query.categroy"),
    ("/api/forecasts/revenue?days=7", "query.days"),
    ("/api/forecasts/units", "query.product_id"),
    ("/api/forecasts/units?product_id=", "query.product_id"),
    ("/api/forecasts/units?product_id=P1%0A", "query.product_id"),
    ("/api/forecasts/units?product_id=" + "P" * 65, "query.product_id"),
    ("/api/forecasts/units?product_id=P1&product_id=P2", "query.product_id"),
    ("/api/forecasts/units?product=P1", "query.product_id"),
    ("/api/customers/C1%0A/value", "path.customer_id"),
    ("/api/customers/C1%00/value", "path.customer_id"),
    ("/api/customers//value", "path.customer_id"),
    ("/api/customers/" + "C" * 65 + "/value", "path.customer_id"),
    ("/api/customers/C00001/value?k=3", "query.k"),
])
def test_bad_requests_are_400_saying_where(client: TestClient, url: str, where: str) -> None:
    response = client.get(url)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "bad_request" and body["message"] == "the request is invalid"
    assert where in [problem["where"] for problem in body["problems"]]


def test_a_category_may_hold_a_line_break(client: TestClient) -> None:
    """Catalogue text may (a quoted CSV field): such a category is looked up, not refused."""
    response = client.get("/api/forecasts/revenue", params={"category": "Garden\r\nOutdoor"})
    assert response.status_code == 404 and "categories" in response.json()


@pytest.mark.parametrize("url", ["/api/forecasts/revenue",
                                 "/api/forecasts/revenue?category=Kitchen",
                                 "/api/forecasts/units?product_id=P00001",
                                 "/api/customers/C00001/value"])
def test_before_the_first_run_every_route_says_how_to_predict(api_shop_dir: Path,
                                                              url: str) -> None:
    lake = Lake.open(str(api_shop_dir))  # refreshed, nothing predicted: only read here
    response = TestClient(create_app(Services(lake_settings(lake), lake=lake))).get(url)
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "not_found" and "shoplake forecast" in body["message"]


# -- serving: versions, records, HEAD, the document ----------------------------------------

def test_a_new_table_version_is_served_after_the_reload_interval(predicted_lake_dir: Path,
                                                                  tmp_path: Path) -> None:
    lake = copy_lake(predicted_lake_dir, tmp_path / "lake")
    live = TestClient(create_app(Services(lake_settings(lake, model_reload_seconds=0),
                                          lake=lake)))
    cached = TestClient(create_app(Services(lake_settings(lake), lake=lake)))
    before = live.get("/api/forecasts/revenue").json()
    assert cached.get("/api/forecasts/revenue").json() == before
    table = lake.table(Zone.CURATED, REVENUE_TABLE).to_pyarrow_table()
    with lake.writer():
        lake.write_table(table.set_column(table.schema.get_field_index("revenue"), "revenue",
                                          pc.multiply(table["revenue"], 2.0)),
                         Zone.CURATED, REVENUE_TABLE, mode="overwrite")

    after = live.get("/api/forecasts/revenue").json()
    assert [day["revenue"] for day in after["days"]] == [
        day["revenue"] * 2 for day in before["days"]]
    assert cached.get("/api/forecasts/revenue").json() == before  # MODEL_RELOAD_SECONDS: 30


@pytest.mark.parametrize("damage", ["missing", "not-json"])
def test_a_forecast_without_a_readable_record_is_served_without_its_backtest(
        predicted_lake_dir: Path, tmp_path: Path, damage: str) -> None:
    lake = copy_lake(predicted_lake_dir, tmp_path / "lake")
    version = rows(lake, REVENUE_TABLE)[0]["model_version"]
    record = Path(lake.path(Zone.MODELS, REGISTRY_KIND, f"{version}.json"))
    if damage == "missing":
        record.unlink()
    else:
        record.write_text("{not json")
    client = TestClient(create_app(Services(lake_settings(lake), lake=lake)))
    for url in ["/api/forecasts/revenue", "/api/forecasts/units?product_id="
                + rows(lake, UNITS_TABLE)[0]["product_id"]]:
        response = client.get(url)
        assert response.status_code == 200
        assert set(response.json()["backtest"].values()) == {None}


def test_the_run_record_is_read_once_per_version(lake: Lake,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    predictions = Predictions(lake)
    reads: list[str] = []
    read = RunRegistry.read
    monkeypatch.setattr(RunRegistry, "read",
                        lambda self, version: reads.append(version) or read(self, version))
    shop = predictions.revenue_backtest(None)
    assert predictions.forecast_run()["revenue"]["series"][SHOP]["method"] == (
        predictions.revenue_forecast(None)[0]["method"])
    for category in predictions.revenue_categories():
        predictions.revenue_backtest(category)
    assert predictions.revenue_backtest(None) == shop
    assert reads == [predictions.revenue_forecast(None)[0]["model_version"]]


@pytest.mark.parametrize("url", ["/api/forecasts/revenue",
                                 "/api/forecasts/units?product_id=P00001",
                                 "/api/customers/C00001/value"])
def test_head_is_answered_as_get_is(client: TestClient, url: str) -> None:
    assert client.get(url).status_code == 200
    response = client.head(url)
    assert response.status_code == 200 and response.content == b""


def test_the_openapi_document_describes_the_answers_and_errors(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()
    paths = {"/api/forecasts/revenue": "RevenueForecast",
             "/api/forecasts/units": "UnitsForecast",
             "/api/customers/{customer_id}/value": "CustomerValue"}
    for path, model in paths.items():
        operation = document["paths"][path]["get"]
        assert operation["tags"] == ["predictions"]
        assert sorted(operation["responses"]) == ["200", "400", "404", "503"], path
        assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{model}"}
    schemas = document["components"]["schemas"]
    assert "categories" in schemas["UnknownCategoryReport"]["properties"]
    assert set(schemas["RevenueDay"]["properties"]) == {"date", "revenue", *BOUNDS}
    units = document["paths"]["/api/forecasts/units"]["get"]["parameters"]
    assert [(p["name"], p["required"]) for p in units] == [("product_id", True)]


def test_answers_are_plain_json(client: TestClient) -> None:
    response = client.get("/api/forecasts/revenue")
    assert response.headers["content-type"] == "application/json"
    assert orjson.loads(response.content) == response.json()
