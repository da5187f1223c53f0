"""POST /api/events under hostile bodies: a bad event costs itself, never the request."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient

from shared.events.raw import ingest_totals, raw_events
from shoplake.api import create_app
from shoplake.services import Services
from tests.support.hostile import GOOD_EVENTS

NDJSON = {"content-type": "application/x-ndjson"}
JSON = {"content-type": "application/json"}


@pytest.fixture
def client(services: Services) -> TestClient:
    return TestClient(create_app(services))


def hundred_bodies(name: str, text: bytes) -> list[bytes]:
    """99 valid events (occurred in the past) and, 51st, one with `name` written as `text`."""
    event = {**(GOOD_EVENTS[2] if name == "rating" else GOOD_EVENTS[1]),
             "occurred_at": "2026-11-10T11:00:00Z"}
    bodies = [orjson.dumps({**event, "event_id": f"e-{i}"}) for i in range(100)]
    bodies[50] = orjson.dumps({**event, "event_id": "e-50", name: 0}).replace(
        b'"%s":0' % name.encode(), b'"%s":%s' % (name.encode(), text))
    return bodies


@pytest.mark.parametrize("name", ["quantity", "rating", "unit_price"])
@pytest.mark.parametrize("as_array", [False, True], ids=["ndjson", "json-array"])
def test_nan_is_one_rejected_event_and_the_other_99_land(
        client: TestClient, services: Services, name: str, as_array: bool) -> None:
    bodies = hundred_bodies(name, b"NaN")
    body = b"[" + b",".join(bodies) + b"]" if as_array else b"\n".join(bodies)

    response = client.post("/api/events", content=body, headers=JSON if as_array else NDJSON)

    assert response.status_code == 400
    report = response.json()
    assert (report["received"], report["landed"], report["quarantined"]) == (100, 99, 1)
    assert report["rejects"] == [{
        "index": 50, "reason": "bad_json", "field": name,
        "detail": f"{name} is NaN, which is not a JSON number"}]
    assert raw_events(services.lake).count_rows() == 99


def test_a_json_array_of_100000_nulls_is_100000_rejects(client: TestClient,
                                                          services: Services) -> None:
    response = client.post("/api/events", content=b"[" + b",".join([b"null"] * 100_000) + b"]",
                           headers=JSON)

    assert response.status_code == 400
    report = response.json()
    assert (report["received"], report["landed"], report["reasons"]) == (
        100_000, 0, {"not_an_object": 100_000})
    assert ingest_totals(services.lake).quarantined == 100_000


def test_25000_unparseable_lines_are_25000_rejects(client: TestClient) -> None:
    response = client.post("/api/events", content=b"{\n" * 25_000, headers=NDJSON)

    assert response.status_code == 400
    assert response.json()["reasons"] == {"bad_json": 25_000}


def test_duplicate_keys_are_bad_json_in_an_array_as_over_ndjson(client: TestClient) -> None:
    bodies = hundred_bodies("quantity", b"2")
    bodies[7] = bodies[7][:-1] + b',"quantity":3}'

    for body, headers in ((b"[" + b",".join(bodies) + b"]", JSON),
                          (b"\n".join(bodies), NDJSON)):
        report = client.post("/api/events", content=body, headers=headers).json()
        assert (report["landed"], report["rejects"]) == (99, [{
            "index": 7, "reason": "bad_json", "field": "quantity",
            "detail": "quantity was specified twice"}])
