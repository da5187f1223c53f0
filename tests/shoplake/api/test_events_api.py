"""POST /api/events through the FastAPI test client, landing on a real local lake."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import orjson
import pytest
from fastapi.testclient import TestClient

from shared.events.ingest import EventBatch, IngestResult, Reject
from shared.events.raw import ingest_totals, raw_events
from shared.settings import Settings
from shared.simulator.faults import inject_faults
from shoplake.api import create_app
from shoplake.services import Services

NDJSON = {"content-type": "application/x-ndjson"}


@pytest.fixture
def client(services: Services) -> TestClient:
    return TestClient(create_app(services))


def test_valid_events_are_accepted(client: TestClient, services: Services,
                                   shop_bodies: list[bytes]) -> None:
    response = client.post("/api/events", content=b"\n".join(shop_bodies[:20]), headers=NDJSON)

    assert response.status_code == 202
    assert response.json() | {"batch": None} == {
        "batch": None, "received": 20, "landed": 20, "quarantined": 0, "reasons": {},
        "rejects": []}
    assert raw_events(services.lake).count_rows() == 20


def test_json_array_and_single_object(client: TestClient, shop_bodies: list[bytes]) -> None:
    array = b"[" + b",".join(shop_bodies[:3]) + b"]"

    assert client.post("/api/events", content=array,
                       headers={"content-type": "application/json"}).json()["landed"] == 3
    assert client.post("/api/events", content=shop_bodies[5],
                       headers={"content-type": "application/json"}).json()["landed"] == 1


def test_partial_rejects_answer_400_with_reasons_and_land_the_rest(
        client: TestClient, services: Services, shop_bodies: list[bytes]) -> None:
    bodies, expected = inject_faults(shop_bodies[:30], 0.2, seed=1)

    response = client.post("/api/events", content=b"\n".join(bodies), headers=NDJSON)

    assert response.status_code == 400
    report = response.json()
    assert (report["received"], report["landed"], report["quarantined"]) == (30, 24, 6)
    assert {(r["index"], r["reason"]) for r in report["rejects"]} == {
        (i, reason) for i, reason in enumerate(expected) if reason}
    assert all(r["detail"] for r in report["rejects"])
    assert ingest_totals(services.lake).landed == 24


def test_resending_the_same_request_does_not_duplicate(client: TestClient, services: Services,
                                                        shop_bodies: list[bytes]) -> None:
    body = b"\n".join(shop_bodies[:10])
    for _ in range(3):
        assert client.post("/api/events", content=body, headers=NDJSON).status_code == 202

    assert raw_events(services.lake).count_rows() == 10


def test_unparseable_json_body_is_quarantined_whole(client: TestClient,
                                                    services: Services) -> None:
    response = client.post("/api/events", content=b'[{"event_id": ',
                           headers={"content-type": "application/json"})

    assert response.status_code == 400
    assert response.json()["rejects"][0]["reason"] == "bad_json"
    assert ingest_totals(services.lake).quarantined == 1


def test_oversize_request_gets_413(local_lake) -> None:
    small = Services(Settings(lake_url=local_lake.url, max_request_bytes=1000), lake=local_lake)
    client = TestClient(create_app(small))

    response = client.post("/api/events", content=b"{}\n" * 400, headers=NDJSON)

    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_oversize_request_without_content_length_gets_413(local_lake) -> None:
    small = Services(Settings(lake_url=local_lake.url, max_request_bytes=1000), lake=local_lake)
    client = TestClient(create_app(small))

    chunks = (b"{}\n" * 100 for _ in range(5))
    response = client.post("/api/events", content=chunks, headers=NDJSON)

    assert response.status_code == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml"])
def test_wrong_content_type_gets_415(client: TestClient, content_type: str) -> None:
    response = client.post("/api/events", content=b"{}", headers={"content-type": content_type})

    assert response.status_code == 415
    assert "application/x-ndjson" in response.json()["message"]


def test_empty_request_gets_400(client: TestClient) -> None:
    response = client.post("/api/events", content=b"\n\n", headers=NDJSON)

    assert response.status_code == 400
    assert response.json() == {"error": "bad_request", "message": "the request holds no events"}


def test_openapi_publishes_the_event_contract(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()

    assert "ShopperEvent" in document["components"]["schemas"]
    body = document["paths"]["/api/events"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/x-ndjson"}


def test_unknown_route_is_a_json_404(client: TestClient) -> None:
    response = client.get("/api/nothing")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_health(client: TestClient) -> None:
    assert client.get("/api/health").json()["status"] == "ok"


def test_storage_failure_is_a_json_500_without_a_trace(tmp_path) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("a file where the lake should be")
    services = Services(Settings(lake_url=str(blocked)))
    client = TestClient(create_app(services), raise_server_exceptions=False)

    response = client.post("/api/events", content=orjson.dumps({"event_id": "x"}),
                           headers=NDJSON)

    assert response.status_code == 500
    assert response.json() == {"error": "internal_error",
                               "message": "the server failed; the error is logged"}


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_a_large_reject_report_is_built_off_the_event_loop(services: Services) -> None:
    """Building the report of a request full of bad events takes seconds at the request
    limit: on the event loop, it would stall every other request (even /api/health)."""
    report_read_on_loop: list[bool] = []

    class Watched(list):
        """The rejects, noting whether the report reads them on the event loop."""

        def __iter__(self) -> Iterator[Reject]:
            report_read_on_loop.append(_on_event_loop())
            return super().__iter__()

    ingest = services.ingest

    def ingest_watched(batch: EventBatch) -> IngestResult:
        result = ingest(batch)
        return replace(result, rejects=Watched(result.rejects))

    services.ingest = ingest_watched  # type: ignore[method-assign]
    client = TestClient(create_app(services))

    response = client.post("/api/events", content=b"{}\n" * 5000, headers=NDJSON)

    assert response.status_code == 400
    report = response.json()
    assert (report["received"], report["quarantined"], len(report["rejects"])) == (5000,) * 3
    assert report["rejects"][0] == {"index": 0, "reason": "missing_field",
                                    "field": report["rejects"][0]["field"],
                                    "detail": report["rejects"][0]["detail"]}
    assert report_read_on_loop and not any(report_read_on_loop)


@pytest.mark.parametrize(("body", "headers"), [
    (b"x\n" * 101, NDJSON),  # tiny bad lines: the cheapest events to send, costly to report
    (b"[" + b",".join([b"1"] * 101) + b"]", {"content-type": "application/json"}),
])
def test_more_events_than_the_request_limit_get_413_and_land_nothing(
        local_lake, body: bytes, headers: dict[str, str]) -> None:
    """4 MiB of one-byte lines is two million events: 2.8 GB and 48 s to quarantine and a
    326 MB report, for one request. A request may hold MAX_REQUEST_EVENTS."""
    capped = Services(Settings(lake_url=local_lake.url, max_request_events=100), lake=local_lake)
    client = TestClient(create_app(capped))

    response = client.post("/api/events", content=body, headers=headers)

    assert response.status_code == 413
    assert response.json() == {
        "error": "payload_too_large",
        "message": "the request holds 101 events; at most 100 are taken at once "
                   "(MAX_REQUEST_EVENTS): send them in smaller requests"}
    assert ingest_totals(local_lake).received == 0
    at_the_limit = client.post("/api/events", content=b"x\n" * 100, headers=NDJSON)
    assert at_the_limit.status_code == 400 and at_the_limit.json()["received"] == 100
