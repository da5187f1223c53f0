"""function_app.py as the Functions host sees it: indexing, bindings, and invocations."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import azure.functions as func
import pytest

from durable.activities import ACTIVITY_NAMES
from shared.events.raw import ingest_totals, quarantined_events, raw_events
from shared.lake import Lake, Zone
from shared.landed import Dataset
from shared.simulator.faults import inject_faults
from tests.support.azurite import Azurite
from tests.support.functions_host import (
    InvocationContext,
    app_function,
    blob_trigger_input,
    eventhub_events,
    index_in_fresh_process,
)

EXPECTED_FUNCTIONS = {
    "http_api": [
        {"direction": "IN", "type": "httpTrigger", "name": "req", "authLevel": "FUNCTION",
         "route": "{*route}",
         "methods": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]},
        {"direction": "OUT", "type": "http", "name": "$return"},
    ],
    "get_recommendations": [
        {"direction": "IN", "type": "httpTrigger", "name": "req", "authLevel": "FUNCTION",
         "route": "recommendations/{customer_id}", "methods": ["GET"]},
        {"direction": "OUT", "type": "http", "name": "$return"},
    ],
    "ingest_events": [
        {"direction": "IN", "type": "eventHubTrigger", "name": "events", "dataType": "BINARY",
         "cardinality": "MANY", "connection": "EVENTHUB_CONNECTION",
         "eventHubName": "%EVENTHUB_NAME%", "consumerGroup": "%EVENTHUB_CONSUMER_GROUP%"},
    ],
    "on_batch_file": [
        {"direction": "IN", "type": "blobTrigger", "name": "upload",
         "path": "%BATCH_UPLOAD_PATH%/{dataset}/{name}", "connection": "LAKE_STORAGE",
         "source": "EventGrid"},
    ],
    "nightly_refresh": [{"direction": "IN", "type": "orchestrationTrigger", "name": "context"}],
    "nightly_timer": [
        {"direction": "IN", "type": "durableClient", "name": "client"},
        {"direction": "IN", "type": "timerTrigger", "name": "timer",
         "schedule": "%NIGHTLY_SCHEDULE%"},
    ],
    "start_nightly": [
        {"direction": "IN", "type": "durableClient", "name": "client"},
        {"direction": "IN", "type": "httpTrigger", "name": "req", "methods": ["POST"],
         "authLevel": "FUNCTION", "route": "orchestrations/nightly"},
        {"direction": "OUT", "type": "http", "name": "$return"},
    ],
    **{name: [{"direction": "IN", "type": "activityTrigger", "name": "payload"}]
       for name in ACTIVITY_NAMES},
}


@pytest.fixture(scope="module")
def indexed() -> dict[str, dict]:
    env = {k: v for k, v in os.environ.items() if k not in ("LAKE_URL", "HTTP_AUTH_LEVEL")}
    return {f["name"]: f for f in index_in_fresh_process(env)}


def test_indexing_finds_exactly_our_functions_and_bindings(indexed: dict[str, dict]) -> None:
    assert set(indexed) == set(EXPECTED_FUNCTIONS)
    for name, bindings in EXPECTED_FUNCTIONS.items():
        assert indexed[name]["function_json"]["scriptFile"] == "function_app.py"
        assert indexed[name]["function_json"]["bindings"] == bindings


def test_worker_accepts_every_parameter_and_binding(indexed: dict[str, dict]) -> None:
    assert {name: f["problems"] for name, f in indexed.items()} == {
        name: [] for name in EXPECTED_FUNCTIONS}


def test_ingest_retries_forever_so_storage_outages_lose_nothing(indexed: dict[str, dict]
                                                                ) -> None:
    assert indexed["ingest_events"]["retry"] == {
        "setting_name": "retry_policy", "strategy": "exponential_backoff",
        "max_retry_count": "-1", "minimum_interval": "00:00:05", "maximum_interval": "00:05:00"}


def test_auth_level_comes_from_the_settings() -> None:
    env = {**os.environ, "HTTP_AUTH_LEVEL": "anonymous"}
    functions = {f["name"]: f for f in index_in_fresh_process(env)}
    assert functions["http_api"]["function_json"]["bindings"][0]["authLevel"] == "ANONYMOUS"


def test_ingest_events_lands_a_converted_batch_on_the_local_lake(
        environment, shop_bodies: list[bytes]) -> None:
    bodies, expected = inject_faults(shop_bodies[:500], 0.02, seed=9)
    events = eventhub_events(bodies, partition="2", first_sequence=1000,
                             enqueued_at=datetime(2026, 11, 10, tzinfo=UTC))

    app_function("ingest_events")(events)

    lake = Lake.open(str(environment))
    totals = ingest_totals(lake)
    assert (totals.received, totals.landed, totals.quarantined) == (500, 490, 10)
    positions = raw_events(lake).to_table(columns=["source_partition", "sequence_number"])
    assert set(positions["source_partition"].to_pylist()) == {"2"}
    assert min(positions["sequence_number"].to_pylist()) >= 1000
    rejected = quarantined_events(lake).to_table(columns=["sequence_number", "reason"])
    assert sorted(zip(rejected["sequence_number"].to_pylist(), rejected["reason"].to_pylist(),
                      strict=True)) == [(1000 + i, r) for i, r in enumerate(expected) if r]


def test_ingest_events_lands_on_azurite(environment, monkeypatch: pytest.MonkeyPatch,
                                        azurite: Azurite, shop_bodies: list[bytes]) -> None:
    from shared.settings import current_settings
    from shoplake.services import current_services

    monkeypatch.setenv("LAKE_URL", "az://functions/shoplake")
    monkeypatch.setenv("LAKE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    current_settings.cache_clear()
    current_services.cache_clear()
    events = eventhub_events(shop_bodies[:200], partition="0", first_sequence=0,
                             enqueued_at=datetime(2026, 11, 10, tzinfo=UTC))

    for _ in range(3):  # at-least-once: the same batch again changes nothing
        app_function("ingest_events")(events)

    lake = Lake.open("az://functions/shoplake", connection_string=azurite.connection_string)
    assert raw_events(lake).count_rows() == 200
    assert ingest_totals(lake).landed == 200


def test_http_api_serves_the_fastapi_app_through_the_asgi_middleware(
        environment, shop_bodies: list[bytes]) -> None:
    request = func.HttpRequest(
        method="POST", url="http://localhost:7071/api/events",
        headers={"content-type": "application/x-ndjson"},
        body=b"\n".join(shop_bodies[:5]), route_params={"route": "events"})

    response = asyncio.run(app_function("http_api")(request, InvocationContext("http_api")))

    assert response.status_code == 202
    assert b'"landed":5' in response.get_body()
    assert raw_events(Lake.open(str(environment))).count_rows() == 5


@pytest.mark.parametrize(("route", "params", "content_type"), [
    ("kpis/headline", {"from": "2026-10-01", "to": "2026-10-07", "code": "a-key"},
     "application/json"),
    ("dashboard", {"code": "a-key"}, "text/html; charset=utf-8"),
])
def test_http_api_serves_the_kpis_and_the_dashboard(environment, route: str,
                                                    params: dict[str, str],
                                                    content_type: str) -> None:
    request = func.HttpRequest(
        method="GET", url=f"http://localhost:7071/api/{route}", headers={}, params=params,
        body=b"", route_params={"route": route})

    response = asyncio.run(app_function("http_api")(request, InvocationContext("http_api")))

    assert response.status_code == 200, response.get_body()[:300]
    assert response.headers["content-type"] == content_type
    assert response.get_body()


def test_http_api_serves_the_revenue_forecast_once_there_is_one(environment: Path,
                                                                kpi_lake_dir: Path) -> None:
    from shoplake.services import current_services

    def get() -> func.HttpResponse:
        request = func.HttpRequest(
            method="GET", url="http://localhost:7071/api/forecasts/revenue", headers={},
            params={"code": "a-key"}, body=b"", route_params={"route": "forecasts/revenue"})
        return asyncio.run(app_function("http_api")(request, InvocationContext("http_api")))

    before = get()
    assert before.status_code == 404
    assert "shoplake forecast" in json.loads(before.get_body())["message"]

    shutil.copytree(kpi_lake_dir, environment, dirs_exist_ok=True)
    current_services().forecast(datetime(2026, 10, 9, 2, tzinfo=UTC))
    after = get()

    assert after.status_code == 200, after.get_body()[:300]
    assert after.headers["content-type"] == "application/json"
    answer = json.loads(after.get_body())
    assert answer["category"] is None and answer["as_of"] == "2026-10-08"
    assert len(answer["days"]) == 28


def test_a_batch_without_partition_context_fails_loudly(environment,
                                                        shop_bodies: list[bytes]) -> None:
    events = eventhub_events(shop_bodies[:2], partition="1", first_sequence=0,
                             enqueued_at=datetime(2026, 11, 10, tzinfo=UTC))
    bare = [func.EventHubEvent(body=e.get_body(), sequence_number=e.sequence_number,
                               enqueued_time=e.enqueued_time) for e in events]

    with pytest.raises(RuntimeError, match="PartitionContext"):
        app_function("ingest_events")(bare)
    assert not (environment / "raw").exists()


def test_on_batch_file_lands_an_upload_once_on_azurite(
        environment, monkeypatch: pytest.MonkeyPatch, azurite: Azurite) -> None:
    from shared.batch.ingest import quarantined_rows
    from shared.landed import landed_rows
    from shared.settings import current_settings
    from shoplake.services import current_services

    monkeypatch.setenv("LAKE_URL", "az://uploads/shoplake")
    monkeypatch.setenv("LAKE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    current_settings.cache_clear()
    current_services.cache_clear()
    lake = Lake.open("az://uploads/shoplake", connection_string=azurite.connection_string)
    export = (b"product_id,name,category,price,currency\r\n"
              b'P1,"Mug, large",Kitchen,4.50,GBP\r\nP2,Vase,Home Decor,oops,GBP\r\n')
    blob = lake.path(Zone.RAW, "batch", "shop_products", "products.csv")
    lake.write_bytes(blob, export)

    for _ in range(2):  # a duplicated blob-created event changes nothing
        app_function("on_batch_file")(blob_trigger_input(blob, export))

    landed = landed_rows(lake, Dataset.PRODUCTS).to_table()
    assert landed["name"].to_pylist() == ["Mug, large"]
    assert quarantined_rows(lake).to_table()["reason"].to_pylist() == ["bad_decimal"]
    ledgers = lake.list_files(lake.path(Zone.STATE, "ingest", "batch"), ".json")
    assert len(ledgers) == 1


def test_on_batch_file_refuses_a_file_outside_the_upload_folders(environment) -> None:
    from shared.batch.runner import UploadError

    with pytest.raises(UploadError, match="raw/batch/<mapping>/<file>"):
        app_function("on_batch_file")(blob_trigger_input("lake/shoplake/raw/x.csv", b"a\n"))


@pytest.mark.parametrize(("customer", "k", "status", "error"), [
    ("C00042", "10", 503, "unavailable"),  # nothing trained in this lake yet
    ("C00042", "0", 400, "bad_request"),
    ("C\x01", None, 400, "bad_request"),
])
def test_get_recommendations_answers_a_real_http_request(
        environment, customer: str, k: str | None, status: int, error: str) -> None:
    request = func.HttpRequest(
        method="GET", url=f"http://localhost:7071/api/recommendations/{customer}",
        headers={}, params={} if k is None else {"k": k}, body=b"",
        route_params={"customer_id": customer})

    response = app_function("get_recommendations")(request)

    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert json.loads(response.get_body())["error"] == error
