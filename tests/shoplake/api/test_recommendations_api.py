"""GET and POST /api/recommendations through the FastAPI test client, on a trained lake.

The Azurite tests close the loop the API exists for: an event posted to /api/events lands,
updates the shopper's live profile, and the next recommendation request already reflects it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from fastapi.testclient import TestClient

from model.registry import Registry
from model.serving import LoadedModel
from shared.lake import Lake
from shoplake.api import create_app
from shoplake.api.recommendations import (
    MAX_K,
    MAX_SESSION_ITEMS,
    customer_recommendations_json,
)
from shoplake.services import Services
from tests.shoplake.api.lakes import lake_settings
from tests.support.azurite import Azurite, free_port

PRODUCT_FIELDS = {"product_id", "name", "category", "unit_price", "currency", "score"}
REPORT_FIELDS = {"model_version", "source", "new_for_you", "buy_again", "unknown_items"}
NDJSON = {"content-type": "application/x-ndjson"}


@pytest.fixture(scope="module")
def client(served_services: Services) -> TestClient:
    return TestClient(create_app(served_services))


@pytest.fixture(scope="module")
def model(served_services: Services) -> LoadedModel:
    return served_services.recommender.model()


def a_customer_with_history(model: LoadedModel) -> str:
    """The customer who bought the most different products (ties: the first id)."""
    return max(sorted(model.customer_rows),
               key=lambda c: model.purchases[model.customer_rows[c]].nnz)


def bought_by(model: LoadedModel, customer: str) -> set[str]:
    row = model.purchases[model.customer_rows[customer]]
    return {model.product_ids[i] for i in row.indices}


def ids(products: list[dict[str, Any]]) -> list[str]:
    return [p["product_id"] for p in products]


def _path(customer: str) -> str:
    return f"/api/recommendations/{quote(customer, safe='')}"


def assert_bad_request(response: Any) -> dict[str, Any]:
    """A 400 with the API's JSON error body, and nothing of the server's insides."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == "bad_request" and body["message"]
    assert "Traceback" not in response.text and "File \"" not in response.text
    return body


# -- a signed-in customer -----------------------------------------------------------------

def test_a_known_customer_gets_personal_lists_from_the_champion(
        client: TestClient, model: LoadedModel, served_services: Services) -> None:
    customer = a_customer_with_history(model)
    bought = bought_by(model, customer)

    response = client.get(f"/api/recommendations/{customer}", params={"k": 5})

    assert response.status_code == 200
    report = response.json()
    assert set(report) == REPORT_FIELDS
    assert report["source"] == "personal" and report["unknown_items"] == []
    assert report["model_version"] == Registry(served_services.lake).champion()
    assert len(report["new_for_you"]) == 5
    assert not set(ids(report["new_for_you"])) & bought
    assert 0 < len(report["buy_again"]) <= 5 and set(ids(report["buy_again"])) <= bought
    for product in report["new_for_you"] + report["buy_again"]:
        assert set(product) == PRODUCT_FIELDS
        assert isinstance(product["name"], str) and isinstance(product["category"], str)
        assert isinstance(product["unit_price"], float) and product["currency"] == "GBP"
        assert isinstance(product["score"], float)
    scores = [p["score"] for p in report["new_for_you"]]
    assert scores == sorted(scores, reverse=True)
    counts = [p["score"] for p in report["buy_again"]]
    assert counts == sorted(counts, reverse=True) and counts[0] >= 1


def test_k_caps_both_lists_and_defaults_to_10(client: TestClient, model: LoadedModel) -> None:
    customer = a_customer_with_history(model)
    assert len(bought_by(model, customer)) > 2

    two = client.get(f"/api/recommendations/{customer}?k=2").json()
    default = client.get(f"/api/recommendations/{customer}").json()
    most = client.get(f"/api/recommendations/{customer}?k={MAX_K}").json()

    assert (len(two["new_for_you"]), len(two["buy_again"])) == (2, 2)
    assert len(default["new_for_you"]) == 10
    assert ids(default["new_for_you"])[:2] == ids(two["new_for_you"])
    # More than the catalogue holds is every product the customer has not bought.
    assert len(most["new_for_you"]) == len(model.product_ids) - len(bought_by(model, customer))
    assert set(ids(most["buy_again"])) == bought_by(model, customer)


def test_an_unknown_customer_gets_popular_products_labelled_so(
        client: TestClient, model: LoadedModel) -> None:
    response = client.get("/api/recommendations/nobody-we-know", params={"k": 4})

    assert response.status_code == 200
    report = response.json()
    assert report["source"] == "popular" and report["buy_again"] == []
    assert ids(report["new_for_you"]) == [model.product_ids[i] for i in model.popular[:4]]
    assert report["new_for_you"][0]["score"] == 1.0  # the best seller


@pytest.mark.parametrize("customer", [
    "x" * 64,  # the longest id the contract allows
    "\u00e9" * 64,  # 64 characters, 128 bytes
    "Zoë Ångström",
    "O'Brien #1 ~50% off?",
    "客户-42",
])
def test_any_contract_customer_id_is_answered(client: TestClient, customer: str) -> None:
    response = client.get(_path(customer))

    assert response.status_code == 200
    assert response.json()["source"] == "popular"


@pytest.mark.parametrize("k", ["0", "101", "-1", "abc", "1.5", "", "1e3",
                               "99999999999999999999999"])
def test_a_bad_k_is_a_400(client: TestClient, model: LoadedModel, k: str) -> None:
    customer = a_customer_with_history(model)

    body = assert_bad_request(client.get(f"/api/recommendations/{customer}?k={k}"))

    assert [problem["where"] for problem in body["problems"]] == ["query.k"]


@pytest.mark.parametrize("encoded", ["%01", "C%0042", "C1%0A", "C%0A1", "%0A", "%7F",
                                     "%1F" * 3, "x" * 65, "%C3%A9" * 65])
def test_a_bad_customer_id_is_a_400(client: TestClient, encoded: str) -> None:
    body = assert_bad_request(client.get(f"/api/recommendations/{encoded}"))

    assert [problem["where"] for problem in body["problems"]] == ["path.customer_id"]


@pytest.mark.parametrize("path", ["/api/recommendations/a%2Fb", "/api/recommendations/a/b"])
def test_a_customer_id_with_a_slash_is_one_customer(client: TestClient, path: str) -> None:
    """The contract allows "/" in ids; sent as %2F it arrives decoded, and is still one id."""
    response = client.get(path)

    assert response.status_code == 200
    assert response.json()["source"] == "popular"


def test_an_empty_customer_id_is_a_400(client: TestClient) -> None:
    body = assert_bad_request(client.get("/api/recommendations/", follow_redirects=False))

    assert [problem["where"] for problem in body["problems"]] == ["path.customer_id"]


# -- an anonymous session -----------------------------------------------------------------

def test_a_session_is_scored_from_its_known_items(client: TestClient,
                                                  model: LoadedModel) -> None:
    session = [model.product_ids[3], "P-not-yet-trained", model.product_ids[7],
               model.product_ids[3], "gone"]

    response = client.post("/api/recommendations", json={"items": session, "k": 8})

    assert response.status_code == 200
    report = response.json()
    assert report["source"] == "personal" and report["buy_again"] == []
    assert report["unknown_items"] == ["P-not-yet-trained", "gone"]
    assert len(report["new_for_you"]) == 8
    assert not set(ids(report["new_for_you"])) & set(session)
    assert report["model_version"] == model.version


def test_an_empty_or_all_unknown_session_gets_popular_products(
        client: TestClient, model: LoadedModel) -> None:
    empty = client.post("/api/recommendations", json={"items": []}).json()
    unknown = client.post("/api/recommendations", json={"items": ["nope"], "k": 3}).json()

    assert empty["source"] == "popular" and len(empty["new_for_you"]) == 10
    assert ids(empty["new_for_you"]) == [model.product_ids[i] for i in model.popular[:10]]
    assert unknown["source"] == "popular" and unknown["unknown_items"] == ["nope"]
    assert ids(unknown["new_for_you"]) == ids(empty["new_for_you"])[:3]


def test_a_session_of_the_whole_catalogue_leaves_nothing_new(
        client: TestClient, model: LoadedModel) -> None:
    response = client.post("/api/recommendations",
                           json={"items": model.product_ids, "k": MAX_K})

    assert response.status_code == 200
    assert response.json()["new_for_you"] == []


def test_the_largest_session_is_accepted(client: TestClient, model: LoadedModel) -> None:
    items = [f"P-{i}" for i in range(MAX_SESSION_ITEMS - 1)] + [model.product_ids[0]]

    response = client.post("/api/recommendations", json={"items": items})

    assert response.status_code == 200
    assert len(response.json()["unknown_items"]) == MAX_SESSION_ITEMS - 1


@pytest.mark.parametrize(("body", "where"), [
    (b'{"items": [', "body"),
    (b"not json", "body"),
    (b"", "body"),
    (b"[]", "body"),
    (b'"P00001"', "body"),
    (b"{}", "body.items"),
    (b'{"k": 5}', "body.items"),
    (b'{"items": "P00001"}', "body.items"),
    (b'{"items": null}', "body.items"),
    (b'{"items": [1, 2]}', "body.items.0"),
    (b'{"items": [["P00001"]]}', "body.items.0"),
    (b'{"items": [""]}', "body.items.0"),
    (b'{"items": ["P\\u0000"]}', "body.items.0"),
    (orjson.dumps({"items": ["x" * 65]}), "body.items.0"),
    (orjson.dumps({"items": ["P1"] * (MAX_SESSION_ITEMS + 1)}), "body.items"),
    (b'{"items": [], "k": 0}', "body.k"),
    (b'{"items": [], "k": 101}', "body.k"),
    (b'{"items": [], "k": "ten"}', "body.k"),
    (b'{"items": [], "k": 2.5}', "body.k"),
    (b'{"items": [], "k": null}', "body.k"),
])
def test_a_bad_session_body_is_a_400(client: TestClient, body: bytes, where: str) -> None:
    response = client.post("/api/recommendations", content=body,
                           headers={"content-type": "application/json"})

    problems = assert_bad_request(response)["problems"]

    # A JSON syntax error is located by its position: body.<offset>.
    assert any(problem["where"].startswith(where) for problem in problems), problems


def test_a_session_body_that_is_not_json_is_a_400(client: TestClient) -> None:
    response = client.post("/api/recommendations", content=b"items=P00001",
                           headers={"content-type": "application/x-www-form-urlencoded"})

    assert_bad_request(response)


@pytest.fixture(scope="module")
def small_limit_client(served_services: Services) -> TestClient:
    lake = served_services.lake
    return TestClient(create_app(Services(lake_settings(lake, max_request_bytes=1000),
                                          lake=lake)))


def test_a_session_body_over_the_request_limit_is_a_413(small_limit_client: TestClient) -> None:
    body = orjson.dumps({"items": ["P00001"] * 200})  # valid, and over 1000 bytes

    by_length = small_limit_client.post("/api/recommendations", content=body,
                                        headers={"content-type": "application/json"})
    streamed = small_limit_client.post("/api/recommendations",
                                       content=(body[i:i + 100] for i in range(0, len(body), 100)),
                                       headers={"content-type": "application/json"})

    for response in (by_length, streamed):
        assert response.status_code == 413
        assert response.json() == {"error": "payload_too_large",
                                   "message": "request body is larger than 1000 bytes"}


def test_a_session_body_under_the_limit_is_still_validated_and_answered(
        small_limit_client: TestClient) -> None:
    answered = small_limit_client.post("/api/recommendations", json={"items": ["P00001"]})
    invalid = small_limit_client.post("/api/recommendations", json={"items": [], "k": 0})

    assert answered.status_code == 200 and set(answered.json()) == REPORT_FIELDS
    assert invalid.status_code == 400 and invalid.json()["error"] == "bad_request"


def test_the_session_body_is_documented_with_its_limit(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()
    operation = document["paths"]["/api/recommendations"]["post"]

    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/SessionRequest"}
    assert "413" in operation["responses"]


# -- before the first training ------------------------------------------------------------

def test_no_model_yet_is_a_503_with_a_json_error(services: Services) -> None:
    client = TestClient(create_app(services))

    answers = [client.get("/api/recommendations/C00001"),
               client.post("/api/recommendations", json={"items": ["P00001"]})]

    for response in answers:
        assert response.status_code == 503
        body = response.json()
        assert body["error"] == "unavailable" and "shoplake train" in body["message"]


def test_an_unreachable_profile_store_falls_back_to_the_trained_history(
        trained_copy: Lake, model: LoadedModel) -> None:
    closed = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
              f"TableEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1")
    services = Services(lake_settings(trained_copy, profiles_connection_string=closed),
                        lake=trained_copy)
    client = TestClient(create_app(services), raise_server_exceptions=False)

    response = client.get(f"/api/recommendations/{a_customer_with_history(model)}")

    assert response.status_code == 200
    assert response.json()["source"] == "personal"


# -- live profiles: an event changes the next answer ----------------------------------------

def event(event_type: str, customer: str, product: str, **fields: Any) -> dict[str, Any]:
    """A contract-valid event that happened a minute ago."""
    return {"event_id": uuid.uuid4().hex, "event_type": event_type, "schema_version": 1,
            "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
            "customer_id": customer, "product_id": product, **fields}


def purchase(customer: str, product: str) -> dict[str, Any]:
    return event("purchase", customer, product, quantity=1, unit_price=9.99, currency="GBP",
                 order_id=f"O-{uuid.uuid4().hex[:8]}")


def post_events(client: TestClient, *events: dict[str, Any]) -> None:
    response = client.post("/api/events", content=b"\n".join(map(orjson.dumps, events)),
                           headers=NDJSON)
    assert response.status_code == 202, response.text
    assert response.json()["landed"] == len(events)


@pytest.fixture
def live(trained_copy: Lake, azurite: Azurite) -> TestClient:
    """The API on a private trained lake, with live profiles in a table of its own."""
    settings = lake_settings(trained_copy, profiles_connection_string=azurite.connection_string,
                             profiles_table=f"p{uuid.uuid4().hex}")
    return TestClient(create_app(Services(settings, lake=trained_copy)))


def scores_of(products: list[dict[str, Any]]) -> dict[str, float]:
    return {p["product_id"]: p["score"] for p in products}


@pytest.mark.azurite
def test_a_purchase_a_minute_ago_changes_the_next_answer(live: TestClient,
                                                         model: LoadedModel) -> None:
    customer = a_customer_with_history(model)
    before = live.get(f"/api/recommendations/{customer}").json()
    chosen = before["new_for_you"][0]["product_id"]
    assert chosen not in ids(before["buy_again"])

    post_events(live, purchase(customer, chosen))
    after = live.get(f"/api/recommendations/{customer}").json()

    assert after["source"] == "personal"
    assert chosen not in ids(after["new_for_you"])
    assert scores_of(after["buy_again"])[chosen] == 1.0
    assert ids(after["new_for_you"]) != ids(before["new_for_you"])
    # EASE scores the whole profile: the purchase moved other products' scores too.
    common = scores_of(before["new_for_you"]).keys() & scores_of(after["new_for_you"]).keys()
    assert common
    assert any(scores_of(before["new_for_you"])[p] != scores_of(after["new_for_you"])[p]
               for p in common)


@pytest.mark.azurite
def test_a_live_view_makes_a_stranger_personal_and_reranks_a_known_customer(
        live: TestClient, model: LoadedModel) -> None:
    stranger = f"C-new-{uuid.uuid4().hex[:8]}"
    known = a_customer_with_history(model)
    viewed = next(p for p in reversed(model.product_ids) if p not in bought_by(model, known))
    popular = live.get(f"/api/recommendations/{stranger}").json()
    known_before = live.get(f"/api/recommendations/{known}").json()
    assert popular["source"] == "popular"

    post_events(live, event("product_view", stranger, viewed),
                event("product_view", known, viewed))
    personal = live.get(f"/api/recommendations/{stranger}").json()
    known_after = live.get(f"/api/recommendations/{known}").json()

    assert personal["source"] == "personal" and personal["buy_again"] == []
    assert ids(personal["new_for_you"]) != ids(popular["new_for_you"])
    assert known_after["source"] == "personal"
    assert scores_of(known_after["new_for_you"]) != scores_of(known_before["new_for_you"])
    # A view is not a purchase: nothing to buy again, and the product may still be suggested.
    assert known_after["buy_again"] == known_before["buy_again"]


@pytest.mark.azurite
def test_odd_customer_ids_round_trip_through_table_storage(
        live: TestClient, model: LoadedModel) -> None:
    customer = f"O'Brien #1/{uuid.uuid4().hex[:6]}?%~\u00e9"
    path = _path(customer)
    assert live.get(path).json()["source"] == "popular"

    post_events(live, purchase(customer, model.product_ids[0]))
    report = live.get(path).json()

    assert report["source"] == "personal"
    assert ids(report["buy_again"]) == [model.product_ids[0]]


# -- the Functions route that serves GET without FastAPI -------------------------------------

@pytest.mark.parametrize(("customer", "k"), [
    (None, None), (None, "3"), (None, " 7"), (None, "+2"), (None, "5_0"), (None, "2.0"),
    ("never-seen", "4"), ("O'Brien #1 ~50% off?", None), ("x" * 64, "1"),
    (None, "0"), (None, "101"), (None, "abc"), (None, ""), (None, "1e3"),
    ("C\x01", None), ("x" * 65, None), ("", None), ("C\n", "0"),
])
def test_the_functions_route_answers_exactly_as_the_fastapi_route(
        client: TestClient, served_services: Services, model: LoadedModel,
        customer: str | None, k: str | None) -> None:
    customer = a_customer_with_history(model) if customer is None else customer
    query = "" if k is None else f"?k={quote(k)}"

    status, body = customer_recommendations_json(served_services.recommender, customer, k)
    expected = client.get(f"{_path(customer)}{query}")

    assert status == expected.status_code
    answer, fastapi_answer = orjson.loads(body), expected.json()
    if status == 400:  # FastAPI's messages, one per bad parameter, in the same words
        assert answer["error"] == "bad_request"
        assert {(p["where"], p["message"]) for p in answer["problems"]} == {
            (p["where"], p["message"]) for p in fastapi_answer["problems"]}
    else:
        assert answer == fastapi_answer


def test_the_functions_route_says_when_no_model_is_trained(local_lake: Lake) -> None:
    services = Services(lake_settings(local_lake), lake=local_lake)

    status, body = customer_recommendations_json(services.recommender, "C1", None)

    assert status == 503 and orjson.loads(body)["error"] == "unavailable"
