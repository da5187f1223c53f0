"""The dashboard page and the self-contained file `shoplake dashboard` writes."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from model.customer_value import TABLE as CUSTOMER_VALUE_TABLE
from model.predictions import Predictions
from model.retrain import RetrainResult
from shared.analytics import KPIS, KpiReader
from shared.lake import Lake, Zone
from shoplake.api import create_app
from shoplake.api.customers import AtRiskCustomers
from shoplake.cli import app
from shoplake.dashboard import build_snapshot, render_page
from shoplake.services import Services
from tests.model.conftest import TRAINED_AT, copy_lake
from tests.shoplake.api.lakes import lake_settings

CONFIG = re.compile(r'<script id="shoplake-config" type="application/json">(.*?)</script>', re.S)


def config_of(page: str) -> dict:
    (found,) = CONFIG.findall(page)
    return json.loads(found)


AT_RISK_EVERY = 3
"""Every third customer of `valued_lake` is at risk."""


@pytest.fixture(scope="module")
def valued_lake(api_trained: tuple[Path, RetrainResult],
                tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The trained shop after the nightly run's prediction steps, with every third customer
    (by id) at risk: its five weeks are too short for anyone to look lapsed (BG/NBD gives
    everyone a probability of being active of 1), so they are marked as a run with a stricter
    threshold would mark them, their probability lowered below it."""
    lake = copy_lake(api_trained[0], tmp_path_factory.mktemp("dashboard-valued") / "lake")
    forecasts, values = Services(lake_settings(lake), lake=lake).forecast(TRAINED_AT)
    assert forecasts.version is not None and values.customers > 2 * AT_RISK_EVERY
    table = lake.table(Zone.CURATED, CUSTOMER_VALUE_TABLE).to_pyarrow_table()
    ids = sorted(table["customer_id"].to_pylist())
    marked = pa.array(ids[::AT_RISK_EVERY])
    at_risk = pc.is_in(table["customer_id"], value_set=marked)
    table = table.set_column(table.schema.get_field_index("at_risk"), "at_risk", at_risk)
    table = table.set_column(
        table.schema.get_field_index("probability_alive"), "probability_alive",
        pc.if_else(at_risk, pc.multiply(table["probability_alive"], 0.2),
                   table["probability_alive"]))
    with lake.writer():
        lake.write_table(table, Zone.CURATED, CUSTOMER_VALUE_TABLE, mode="overwrite")
    return lake


@pytest.fixture(scope="module")
def valued_client(valued_lake: Lake) -> TestClient:
    return TestClient(create_app(Services(lake_settings(valued_lake), lake=valued_lake)))


@pytest.fixture(scope="module")
def forecast_only_lake(kpi_lake_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The KPI lake after the prediction steps: revenue forecasts, but no customer values
    (its week has too few repeat buyers to fit them)."""
    lake = copy_lake(kpi_lake_dir, tmp_path_factory.mktemp("dashboard-forecast") / "lake")
    forecasts, values = Services(lake_settings(lake), lake=lake).forecast(
        datetime(2026, 10, 9, 2, tzinfo=UTC))
    assert forecasts.version is not None and values.version is None
    return lake


def table_rows(lake: Lake, table: str) -> list[dict[str, Any]]:
    return lake.table(Zone.CURATED, table).to_pyarrow_table().to_pylist()


def as_json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def test_data_cannot_end_the_script_it_travels_in() -> None:
    hostile = {"answers": {"x": "</script><script>alert(1)</script><!--"}}
    page = render_page(api="", snapshot=hostile)
    assert "<script>alert(1)" not in page
    assert config_of(page)["snapshot"] == hostile
    assert page.count("</script>") == 3  # the config, the chart library, the dashboard


def test_slots_are_filled_once_whatever_the_data_holds() -> None:
    page = render_page(api="", snapshot={"name": "/*SCRIPT*/ /*ECHARTS*/"})
    assert config_of(page)["snapshot"] == {"name": "/*SCRIPT*/ /*ECHARTS*/"}


def test_the_snapshot_holds_every_listed_period_and_category(kpi_lake_dir: Path) -> None:
    reader = KpiReader(Lake.open(str(kpi_lake_dir)))
    snapshot = build_snapshot(reader, None)
    overview = snapshot["overview"]
    for period in overview["periods"]:
        for name, spec in KPIS.items():
            categories = [None, *overview["categories"]] if "category" in spec.filters else [None]
            for category in categories:
                key = "|".join([name, period["from"], period["to"], category or ""])
                answer = snapshot["answers"][key]
                assert answer["filters"]["from"] == period["from"]
                assert answer["filters"]["category"] == category
    assert snapshot["recommendations"] == {}
    # No prediction run yet: the page says so in the two panels.
    assert snapshot["forecasts"] == {} and snapshot["at_risk"] is None


def test_the_snapshot_holds_the_apis_forecasts_and_customers_at_risk(
        valued_lake: Lake, valued_client: TestClient) -> None:
    services = Services(lake_settings(valued_lake), lake=valued_lake)
    snapshot = build_snapshot(services.kpis, services.recommender, services.predictions)

    categories = Predictions(valued_lake).revenue_categories()
    assert len(categories) >= 5
    assert sorted(snapshot["forecasts"]) == ["", *categories]
    for category in categories:
        assert snapshot["forecasts"][category] == valued_client.get(
            "/api/forecasts/revenue", params={"category": category}).json()
    assert snapshot["forecasts"][""] == valued_client.get("/api/forecasts/revenue").json()
    assert snapshot["at_risk"] == valued_client.get("/api/customers/at-risk").json()
    assert len(snapshot["at_risk"]["customers"]) == 10
    # Pick one at risk: the file has their recommendations too.
    assert {row["customer_id"] for row in snapshot["at_risk"]["customers"]} <= set(
        snapshot["recommendations"])


def test_the_snapshot_leaves_out_the_customers_at_risk_before_they_are_valued(
        forecast_only_lake: Lake) -> None:
    # Without `predictions`, those of the reader's lake, as `shoplake dashboard` writes it.
    snapshot = build_snapshot(KpiReader(forecast_only_lake), None)

    assert snapshot["at_risk"] is None
    shop = snapshot["forecasts"][""]
    assert shop["category"] is None and shop["as_of"] == "2026-10-08"
    assert len(shop["days"]) == lake_settings(forecast_only_lake).forecast_horizon_days
    assert set(snapshot["forecasts"]) - {""} == set(snapshot["overview"]["categories"])


# -- GET /api/customers/at-risk --------------------------------------------------------------

def test_the_customers_at_risk_are_the_most_valuable_first(valued_lake: Lake,
                                                           valued_client: TestClient) -> None:
    response = valued_client.get("/api/customers/at-risk")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    AtRiskCustomers.model_validate(answer)
    table = table_rows(valued_lake, CUSTOMER_VALUE_TABLE)
    at_risk = sorted((row for row in table if row["at_risk"]),
                     key=lambda row: (-row["revenue"], row["customer_id"]))
    assert answer["customers_valued"] == len(table)
    assert answer["customers_at_risk"] == len(at_risk) == len(table[::AT_RISK_EVERY])
    assert (answer["as_of"], answer["model_version"]) == (
        table[0]["as_of"].isoformat(), table[0]["model_version"])
    assert answer["customers"] == [
        {name: as_json(row[name]) for name in ("customer_id", "revenue", "orders",
                                               "first_purchase", "last_purchase",
                                               "probability_alive", "expected_purchases_90d",
                                               "predicted_value_12m")}
        for row in at_risk[:10]]
    revenue = [row["revenue"] for row in answer["customers"]]
    assert revenue == sorted(revenue, reverse=True) and revenue[0] > revenue[-1]
    # Only customers at risk: the most valuable customer who is not is left out.
    safe = max((row for row in table if not row["at_risk"]), key=lambda row: row["revenue"])
    assert safe["revenue"] > revenue[-1]
    assert safe["customer_id"] not in {row["customer_id"] for row in answer["customers"]}


@pytest.mark.parametrize("limit", [1, 3, 100])
def test_the_limit_is_how_many_are_listed(valued_client: TestClient, limit: int) -> None:
    everyone = valued_client.get("/api/customers/at-risk?limit=100").json()
    answer = valued_client.get(f"/api/customers/at-risk?limit={limit}").json()
    assert answer["customers"] == everyone["customers"][:limit]
    assert len(answer["customers"]) == min(limit, everyone["customers_at_risk"])


@pytest.mark.parametrize(("query", "where"), [
    ("limit=0", "query.limit"), ("limit=101", "query.limit"), ("limit=-1", "query.limit"),
    ("limit=ten", "query.limit"), ("limit=1.5", "query.limit"), ("limit=", "query.limit"),
    ("limit=5&limit=6", "query.limit"), ("limits=5", "query.limits"),
])
def test_a_bad_limit_is_a_400_saying_where(valued_client: TestClient, query: str,
                                           where: str) -> None:
    response = valued_client.get(f"/api/customers/at-risk?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad_request" and body["message"] == "the request is invalid"
    assert [problem["where"] for problem in body["problems"]] == [where]


def test_the_function_key_is_not_an_unknown_parameter(valued_client: TestClient) -> None:
    assert valued_client.get("/api/customers/at-risk?code=a-key").status_code == 200


def test_before_any_customer_value_run_the_list_is_a_404(forecast_only_lake: Lake) -> None:
    client = TestClient(create_app(Services(lake_settings(forecast_only_lake),
                                            lake=forecast_only_lake)))
    response = client.get("/api/customers/at-risk")
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"error", "message"} and body["error"] == "not_found"
    assert "shoplake forecast" in body["message"]


def test_the_list_is_not_taken_for_a_customers_value(valued_lake: Lake,
                                                     valued_client: TestClient) -> None:
    """`/api/customers/{customer_id}/value` takes any id, "/" included, but needs its
    suffix: the list's path is the list's, and ".../at-risk/value" asks for the value of a
    customer named "at-risk"."""
    assert "customers_at_risk" in valued_client.get("/api/customers/at-risk").json()
    response = valued_client.get("/api/customers/at-risk/value")
    assert response.status_code == 404
    assert "'at-risk'" in response.json()["message"]
    customer = table_rows(valued_lake, CUSTOMER_VALUE_TABLE)[0]["customer_id"]
    assert valued_client.get(f"/api/customers/{customer}/value").json()["customer_id"] == (
        customer)


def test_the_command_writes_a_page_with_the_top_customers_recommendations(
        api_trained: tuple[Path, RetrainResult], tmp_path: Path) -> None:
    out = tmp_path / "page" / "dashboard.html"
    result = CliRunner().invoke(app, ["--lake", str(api_trained[0]), "dashboard", "--out",
                                      str(out)])
    assert result.exit_code == 0, result.output
    assert str(out.resolve()) in "".join(result.stderr.split())
    snapshot = config_of(out.read_text())["snapshot"]
    shown = {row["customer_id"] for key, answer in snapshot["answers"].items()
             if key.startswith("customer_lifetime_value|") for row in answer["rows"]}
    assert shown and set(snapshot["recommendations"]) == shown
    some = snapshot["recommendations"][min(shown)]
    assert some["source"] == "personal" and len(some["new_for_you"]) == 5


def test_the_command_says_how_to_install_the_chart_library(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from shoplake import dashboard

    monkeypatch.setattr(dashboard, "ECHARTS", tmp_path / "missing.js")
    result = CliRunner().invoke(app, ["--lake", str(tmp_path / "lake"), "dashboard", "--out",
                                      str(tmp_path / "d.html")])
    assert result.exit_code == 1
    assert "make assets" in result.stderr
    assert not (tmp_path / "d.html").exists()
