"""Adversarial tests of GET /api/forecasts/revenue, GET /api/forecasts/units and
GET /api/customers/{id}/value: generated requests from the OpenAPI document, any text as a
category, product or customer id, hostile catalogue text and customer ids landed through
the batch path and predicted, and a damaged lake. Never a server error; every error is the
API's error shape."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from model.customer_value import TABLE as CUSTOMER_VALUE_TABLE
from model.forecast.tables import REVENUE_TABLE, UNITS_TABLE
from shared.batch.ingest import upload_file
from shared.batch.mapping import load_mapping
from shared.lake import Lake, Zone
from shared.warehouse import refresh
from shoplake.api import create_app
from shoplake.api.forecasts import CATEGORY_PATTERN, CustomerValue
from shoplake.api.recommendations import ID_PATTERN
from shoplake.services import Services
from tests.model.conftest import TRAINED_AT, copy_lake
from tests.shoplake.api.lakes import lake_settings

MARKUP_CATEGORY = '<svg onload="window.pwned=2">\'"</script> & Co'
"""Replaces "Kitchen"."""
LINE_BREAK_CATEGORY = "Garden\r\nOutdoor"
"""Replaces "Garden": a quoted CSV field with a line break (Alt+Enter in Excel)."""
HOSTILE_CUSTOMERS = ["C/../value?x=1#😀 '\"<b>", "C9/value", "%2F%00", "C 42"]
"""Customers whose ids the contract takes (no control characters, at most 64), with one
order each on the shop's last day."""
ORDER_HEADER = ('"order_id","line_number","ordered_at","customer_id","product_id","quantity",'
                '"unit_price","currency","status"\n')
ERROR_STATUSES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
FUZZ = settings(max_examples=60, derandomize=True, database=None)

APP = create_app()
"""Made at import (that reads no storage), for schemathesis; `hostile` gives it services."""
schema = schemathesis.openapi.from_asgi("/api/openapi.json", APP).include(
    path_regex="^/api/(forecasts|customers)/")


def segment(text: str) -> str:
    """`text` as one path segment for the test client: "/" as %2F, dots too (so that ".."
    is never resolved), and encoded twice, because starlette's TestClient decodes the path
    httpx already decoded (a server decodes it once: "%2F%00" would arrive as "/\x00")."""
    once = quote(text, safe="").replace(".", "%2E")
    return quote(once, safe="")


@pytest.fixture(scope="module")
def hostile(api_shop_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The API tests' shop after a catalogue export with two hostile categories and orders
    by customers with hostile ids, refreshed and predicted."""
    root = tmp_path_factory.mktemp("forecasts-hostile")
    lake = copy_lake(api_shop_dir, root / "lake")
    with (api_shop_dir.parent / "exports" / "products.csv").open(newline="") as source:
        rows = list(csv.reader(source))
    renamed = {"Kitchen": MARKUP_CATEGORY, "Garden": LINE_BREAK_CATEGORY}
    for row in rows[1:]:
        row[2] = renamed.get(row[2], row[2])
    products = root / "products-hostile.csv"
    with products.open("w", newline="") as out:
        csv.writer(out, quoting=csv.QUOTE_NONNUMERIC).writerows(rows)
    orders = root / "orders-hostile.csv"
    with orders.open("w", newline="") as out:
        out.write(ORDER_HEADER)
        csv.writer(out, quoting=csv.QUOTE_NONNUMERIC).writerows(
            [f"O-HOSTILE-{n}", 1, "2026-10-05T10:00:00.000Z", customer, rows[1][0], 2, 9.99,
             "GBP", "sale"] for n, customer in enumerate(HOSTILE_CUSTOMERS))
    for export, mapping in ((products, "shop_products"), (orders, "shop_orders")):
        assert upload_file(lake, export, load_mapping(mapping)).status == "landed"
    refresh(lake)
    forecasts, values = Services(lake_settings(lake), lake=lake).forecast(TRAINED_AT)
    assert forecasts.version is not None and values.version is not None
    return lake


@pytest.fixture(scope="module", autouse=True)
def served(hostile: Lake) -> Iterator[Services]:
    services = Services(lake_settings(hostile), lake=hostile)
    APP.state.services = services
    yield services
    APP.state.services = None


@pytest.fixture(scope="module")
def client(served: Services) -> TestClient:
    return TestClient(APP, raise_server_exceptions=False)


def table_keys(lake: Lake, table: str, key: str) -> list[str]:
    values = lake.table(Zone.CURATED, table).to_pyarrow_table()[key].to_pylist()
    return sorted({value for value in values if value is not None})


def assert_error_shape(response: Any) -> None:
    """A JSON error of the API's shape, named by its status; 400s say where and what."""
    assert response.status_code in ERROR_STATUSES, (response.status_code, response.text)
    content_type = response.headers["content-type"]  # schemathesis: a list of values
    assert content_type in ("application/json", ["application/json"])
    body = response.json()
    assert body["error"] == ERROR_STATUSES[response.status_code]
    assert isinstance(body["message"], str) and "Traceback" not in body["message"]
    if response.status_code == 400:
        assert body["problems"] and all(set(p) == {"where", "message"}
                                        for p in body["problems"])


# -- requests generated from the OpenAPI document ------------------------------------------

@FUZZ
@schema.parametrize()
def test_no_request_breaks_the_prediction_routes(case: schemathesis.Case) -> None:
    response = case.call()
    case.validate_response(response, checks=CHECKS)
    if response.status_code != 200:
        assert_error_shape(response)


# -- any text as a category, a product or a customer ----------------------------------------

any_text = st.text(st.characters(codec="utf-8"), max_size=300)


@FUZZ
@given(data=st.data())
def test_any_category_is_served_refused_or_not_found(client: TestClient, hostile: Lake,
                                                     data: st.DataObject) -> None:
    categories = table_keys(hostile, REVENUE_TABLE, "category")
    category = data.draw(st.sampled_from(categories) | any_text)

    response = client.get("/api/forecasts/revenue", params={"category": category})

    if category in categories:
        assert response.status_code == 200
        answer = response.json()
        assert answer["category"] == category and answer["days"]
    else:
        assert_error_shape(response)
        valid = re.fullmatch(CATEGORY_PATTERN, category) is not None
        assert response.status_code == (404 if valid else 400)
        if valid:
            assert response.json()["categories"] == categories


@FUZZ
@given(data=st.data())
def test_any_product_is_served_refused_or_not_found(client: TestClient, hostile: Lake,
                                                    data: st.DataObject) -> None:
    products = table_keys(hostile, UNITS_TABLE, "product_id")
    product = data.draw(st.sampled_from(products) | any_text)

    response = client.get("/api/forecasts/units", params={"product_id": product})

    if product in products:
        assert response.status_code == 200 and response.json()["product_id"] == product
    else:
        assert_error_shape(response)
        valid = re.fullmatch(ID_PATTERN, product) is not None
        assert response.status_code == (404 if valid else 400)


@FUZZ
@given(data=st.data())
def test_any_customer_is_served_refused_or_not_found(client: TestClient, hostile: Lake,
                                                     data: st.DataObject) -> None:
    customers = table_keys(hostile, CUSTOMER_VALUE_TABLE, "customer_id")
    customer = data.draw(st.sampled_from(customers) | st.sampled_from(HOSTILE_CUSTOMERS)
                         | any_text)

    response = client.get(f"/api/customers/{segment(customer)}/value")

    if customer in customers:
        assert response.status_code == 200 and response.json()["customer_id"] == customer
    else:
        assert_error_shape(response)
        valid = re.fullmatch(ID_PATTERN, customer) is not None
        assert response.status_code == (404 if valid else 400)


# -- hostile text landed through the batch path ---------------------------------------------

@pytest.mark.parametrize("category", [MARKUP_CATEGORY, LINE_BREAK_CATEGORY])
def test_hostile_categories_come_back_exactly(client: TestClient, category: str) -> None:
    response = client.get("/api/forecasts/revenue", params={"category": category})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["category"] == category
    listed = client.get("/api/forecasts/revenue", params={"category": "none"}).json()
    assert category in listed["categories"]


@pytest.mark.parametrize("customer", HOSTILE_CUSTOMERS)
def test_hostile_customer_ids_are_valued_and_come_back_exactly(client: TestClient,
                                                               hostile: Lake,
                                                               customer: str) -> None:
    assert customer in table_keys(hostile, CUSTOMER_VALUE_TABLE, "customer_id")
    response = client.get(f"/api/customers/{segment(customer)}/value")
    assert response.status_code == 200, response.text
    answer = response.json()
    CustomerValue.model_validate(answer)
    assert answer["customer_id"] == customer and answer["orders"] == 1


def test_the_id_is_the_path_up_to_its_last_value(client: TestClient) -> None:
    """Customer "C9/value" is served with its slash encoded or not; /api/customers/C9/value
    asks about customer "C9", whom nobody knows."""
    assert client.get("/api/customers/C9%2Fvalue/value").json()["customer_id"] == "C9/value"
    assert client.get("/api/customers/C9/value/value").json()["customer_id"] == "C9/value"
    response = client.get("/api/customers/C9/value")
    assert response.status_code == 404 and "'C9'" in response.json()["message"]


@pytest.mark.parametrize("url", [
    "/api/forecasts/revenue?category=%ED%A0%80",
    "/api/forecasts/revenue?category=%FF%FE",
    "/api/forecasts/revenue?category=%25",
    "/api/forecasts/revenue?category=_",
    "/api/forecasts/revenue?category=__shop__",
    "/api/forecasts/revenue?category=null",
    "/api/forecasts/revenue?category=%27%20OR%201%3D1--",
    "/api/forecasts/revenue?category=" + "x" * 20_000,
    "/api/forecasts/revenue?CATEGORY=Toys",
    "/api/forecasts/revenue?category",
    "/api/forecasts/revenue?&&&",
    "/api/forecasts/revenue?" + "&".join(f"p{n}=1" for n in range(500)),
    "/api/forecasts/revenue?code=a&code=b",
    "/api/forecasts/revenue?%00=1",
    "/api/forecasts/units?product_id=%ED%A0%80",
    "/api/forecasts/units?product_id=P00001%00",
    "/api/forecasts/units?product_id[]=P00001",
    "/api/forecasts/units?product_id=" + "%F0%9F%98%80" * 64,
    "/api/forecasts/units?product_id=" + "%F0%9F%98%80" * 65,
    "/api/customers/%ED%A0%80/value",
    "/api/customers/%2e%2e/value",
    "/api/customers/..%2F..%2Fetc%2Fpasswd/value",
    "/api/customers/%2F%2F%2F/value",
    "/api/customers/C1%0D/value",
    "/api/customers/C1%7F/value",
    "/api/customers/C1%C2%85/value",  # NEL: not a C0 control character, a valid id
    "/api/customers/" + "C" * 5_000 + "/value",
    "/api/customers/C1/value?code=a",
    "/api/customers/C1/value?customer_id=C2",
])
def test_hostile_requests_never_fail_the_server(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code < 500, response.text[:300]
    if response.status_code != 200:
        assert_error_shape(response)


# -- a damaged lake --------------------------------------------------------------------------

def _corrupt_latest_commit(lake: Lake, table: str) -> Path:
    log = Path(lake.path(Zone.CURATED, table)) / "_delta_log"
    latest = max(int(p.stem) for p in log.glob("*.json"))
    damaged = log / f"{latest + 1:020d}.json"
    damaged.write_text("{not json")
    return damaged


ROUTES = {REVENUE_TABLE: "/api/forecasts/revenue",
          CUSTOMER_VALUE_TABLE: "/api/customers/{customer}/value"}


@pytest.mark.parametrize("table", list(ROUTES))
def test_a_damaged_table_read_before_is_still_served(hostile: Lake, tmp_path: Path,
                                                     table: str) -> None:
    lake = copy_lake(Path(hostile.url), tmp_path / "lake")
    client = TestClient(create_app(Services(lake_settings(lake, model_reload_seconds=0),
                                            lake=lake)), raise_server_exceptions=False)
    url = ROUTES[table].format(customer=segment(HOSTILE_CUSTOMERS[0]))
    before = client.get(url)
    assert before.status_code == 200

    _corrupt_latest_commit(lake, table)

    after = client.get(url)
    assert (after.status_code, after.json()) == (200, before.json())


@pytest.mark.parametrize("table", list(ROUTES))
def test_a_damaged_table_never_read_is_a_503_until_repaired(hostile: Lake, tmp_path: Path,
                                                            table: str) -> None:
    lake = copy_lake(Path(hostile.url), tmp_path / "lake")
    client = TestClient(create_app(Services(lake_settings(lake), lake=lake)),
                        raise_server_exceptions=False)
    url = ROUTES[table].format(customer=segment(HOSTILE_CUSTOMERS[0]))
    damaged = _corrupt_latest_commit(lake, table)

    response = client.get(url)
    assert response.status_code == 503
    assert response.json() == {"error": "unavailable", "message":
                               f"curated/{table} cannot be read; the error is logged"}

    damaged.unlink()
    assert client.get(url).status_code == 200


def test_a_missing_data_file_of_a_table_read_before_is_not_noticed(hostile: Lake,
                                                                   tmp_path: Path) -> None:
    lake = copy_lake(Path(hostile.url), tmp_path / "lake")
    client = TestClient(create_app(Services(lake_settings(lake, model_reload_seconds=0),
                                            lake=lake)), raise_server_exceptions=False)
    url = f"/api/customers/{segment(HOSTILE_CUSTOMERS[1])}/value"
    assert client.get(url).status_code == 200
    for data in Path(lake.path(Zone.CURATED, CUSTOMER_VALUE_TABLE)).rglob("*.parquet"):
        data.unlink()
    assert client.get(url).status_code == 200  # served from memory: the version is the same
    fresh = TestClient(create_app(Services(lake_settings(lake), lake=lake)),
                       raise_server_exceptions=False)
    assert fresh.get(url).status_code == 503
