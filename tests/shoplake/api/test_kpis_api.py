"""GET /api/kpis, GET /api/kpis/{name} and GET /api/dashboard over a real lake."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shared.analytics import KPIS
from shared.lake import Lake
from shoplake import dashboard
from shoplake.api import create_app
from shoplake.services import Services
from tests.shoplake.api.lakes import lake_settings


@pytest.fixture(scope="module")
def client(kpi_lake_dir: Path) -> TestClient:
    lake = Lake.open(str(kpi_lake_dir))
    return TestClient(create_app(Services(lake_settings(lake), lake=lake)))


def test_the_list_names_every_kpi_with_its_filters(client: TestClient) -> None:
    answer = client.get("/api/kpis").json()
    assert [kpi["name"] for kpi in answer["kpis"]] == list(KPIS)
    top = next(kpi for kpi in answer["kpis"] if kpi["name"] == "top_products")
    assert top["filters"] == ["from", "to", "category", "limit"]
    assert top["limit"] == {"default": 10, "max": 100}
    assert answer["categories"] and answer["periods"][-1]["label"] == "All time"


def test_a_kpi_answers_with_its_filters_filled_in(client: TestClient) -> None:
    category = client.get("/api/kpis").json()["categories"][0]
    answer = client.get("/api/kpis/top_products",
                        params={"category": category, "limit": "3", "code": "a-key"}).json()
    assert answer["filters"]["category"] == category and answer["filters"]["limit"] == 3
    assert len(answer["rows"]) == 3
    assert {row["category"] for row in answer["rows"]} == {category}
    assert set(answer["as_of"]) >= {"kpi_product_sales_day", "dim_product"}


@pytest.mark.parametrize(("url", "where", "valid"), [
    ("/api/kpis/revenue", "path.name", "kpis"),
    ("/api/kpis/headline?limit=3", "query.limit", "filters"),
    ("/api/kpis/headline?catgory=Garden", "query.catgory", "filters"),
    ("/api/kpis/headline?from=yesterday", "query.from", "from"),
    ("/api/kpis/headline?from=2026-10-06&to=2026-10-01", "query.from", "dates"),
    ("/api/kpis/top_products?limit=ten", "query.limit", "filters"),
    ("/api/kpis/top_products?limit=0", "query.limit", "limit"),
    ("/api/kpis/top_products?category=Nothing", "query.category", "categories"),
    ("/api/kpis/conversion_funnel?category=Garden", "query.category", "filters"),
])
def test_bad_requests_are_400_and_say_what_is_valid(client: TestClient, url: str, where: str,
                                                    valid: str) -> None:
    response = client.get(url)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad_request"
    assert [p["where"] for p in body["problems"]] == [where]
    assert valid in body["valid"]


def test_the_openapi_document_has_an_example_per_kpi(client: TestClient) -> None:
    operation = client.get("/api/openapi.json").json()["paths"]["/api/kpis/{name}"]["get"]
    examples = operation["responses"]["200"]["content"]["application/json"]["examples"]
    assert sorted(examples) == sorted(KPIS)
    assert examples["top_products"]["value"]["rows"][0]["rank"] == 1
    assert "400" in operation["responses"]


def test_the_dashboard_is_one_page_with_its_chart_library(client: TestClient) -> None:
    response = client.get("/api/dashboard", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-encoding"] == "gzip"
    page = response.text  # the client unzips it
    assert "<script src=" not in page and "https://" not in page.split("/*! ")[0]
    assert dashboard.ECHARTS.read_text() in page
    assert '{"api":"/api","snapshot":null}' in page


def test_without_its_chart_library_the_dashboard_says_how_to_install_it(
        client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(dashboard, "ECHARTS", tmp_path / "missing.js")
    dashboard.served_page.cache_clear()
    try:
        response = client.get("/api/dashboard")
    finally:
        dashboard.served_page.cache_clear()
    assert response.status_code == 503
    assert "make assets" in response.json()["message"]


def test_the_gzip_is_the_page(client: TestClient) -> None:
    page, compressed = dashboard.served_page()
    assert gzip.decompress(compressed) == page
