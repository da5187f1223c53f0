"""Property-based fuzzing of the API, in-process, on a trained lake.

Schemathesis generates valid and invalid requests for every operation from the API's own
OpenAPI document (/api/openapi.json): none may make the server fail, and every answer must
match what the document says of its status code. Hypothesis then drives the recommendation
endpoints with the ids the model knows, where the answers have properties to check. Every
run is derandomized, so CI sends the same requests each time.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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

from model.retrain import RetrainResult
from model.serving import LoadedModel
from shoplake.api import create_app
from shoplake.api.recommendations import MAX_K
from shoplake.services import Services
from tests.model.conftest import copy_lake
from tests.shoplake.api.lakes import lake_settings
from tests.support.azurite import Azurite

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
FUZZ = settings(max_examples=60, derandomize=True, database=None)

# POST /api/events documents NDJSON as a string: send the generated text as it is.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")

# The apps and their document are made at import (that reads no storage); the fixtures
# below give them their services. (schemathesis.pytest.from_fixture would defer it all, but
# schemathesis 4.32.5's lazy loader sets `request.node._nodeid`, which pytest 9 lacks.)
APP = create_app()
LIVE_APP = create_app()
schema = schemathesis.openapi.from_asgi("/api/openapi.json", APP)
live_schema = schemathesis.openapi.from_asgi("/api/openapi.json", LIVE_APP).include(
    path_regex="^/api/(events|recommendations/)")


@pytest.fixture(scope="module", autouse=True)
def trained_services(api_trained: tuple[Path, RetrainResult],
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """APP on a private copy of the trained lake (the events the fuzzer posts land in it);
    without services of its own, the app would use the process's."""
    lake = copy_lake(api_trained[0], tmp_path_factory.mktemp("fuzz") / "lake")
    services = Services(lake_settings(lake), lake=lake)
    APP.state.services = services
    yield services
    APP.state.services = None


class Recorded(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


PROFILE_ERRORS = Recorded()
"""Failures to update live profiles: logged, never raised (the events still land)."""


@pytest.fixture(scope="module")
def live_services(api_trained: tuple[Path, RetrainResult], azurite: Azurite,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """LIVE_APP on its own lake copy, recording live profiles in a table of its own."""
    lake = copy_lake(api_trained[0], tmp_path_factory.mktemp("fuzz-live") / "lake")
    services = Services(lake_settings(lake, profiles_connection_string=azurite.connection_string,
                                      profiles_table=f"p{uuid.uuid4().hex}"), lake=lake)
    LIVE_APP.state.services = services
    profiles_logger = logging.getLogger("shoplake.profiles")
    profiles_logger.addHandler(PROFILE_ERRORS)
    yield services
    profiles_logger.removeHandler(PROFILE_ERRORS)
    LIVE_APP.state.services = None


@pytest.fixture(scope="module")
def live_client(live_services: Services) -> TestClient:
    return TestClient(LIVE_APP)


def validate(case: schemathesis.Case) -> None:
    case.validate_response(case.call(), checks=CHECKS)


@FUZZ
@schema.parametrize()
def test_no_request_breaks_the_api_or_its_documentation(case: schemathesis.Case) -> None:
    validate(case)


@pytest.mark.azurite
@FUZZ
@live_schema.parametrize()
def test_no_request_breaks_live_profiles(case: schemathesis.Case,
                                         live_services: Services) -> None:
    """With Table Storage behind them, odd ids reach profile keys and queries too."""
    validate(case)
    assert not PROFILE_ERRORS.records, PROFILE_ERRORS.records[0].getMessage()


# -- properties of the answers, over ids the model knows -----------------------------------

CONTROL = "".join(map(chr, [*range(0x20), 0x7F]))
strange_ids = st.text(st.characters(codec="utf-8", exclude_characters=CONTROL),
                      min_size=1, max_size=64)
top_k = st.integers(1, MAX_K)


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(APP)


@pytest.fixture(scope="module")
def model(trained_services: Services) -> LoadedModel:
    return trained_services.recommender.model()


def listed(products: list[dict[str, Any]]) -> list[str]:
    ids = [p["product_id"] for p in products]
    assert len(set(ids)) == len(ids)
    return ids


def assert_ranked(products: list[dict[str, Any]]) -> None:
    scores = [p["score"] for p in products]
    assert scores == sorted(scores, reverse=True)


@FUZZ
@given(data=st.data())
def test_any_customer_gets_a_consistent_answer(client: TestClient, model: LoadedModel,
                                               data: st.DataObject) -> None:
    customer = data.draw(st.sampled_from(sorted(model.customer_rows)) | strange_ids)
    k = data.draw(top_k)

    response = client.get(f"/api/recommendations/{quote(customer, safe='')}",
                          params={"k": k})

    assert response.status_code == 200
    report = response.json()
    new, again = listed(report["new_for_you"]), listed(report["buy_again"])
    assert_ranked(report["new_for_you"])
    assert_ranked(report["buy_again"])
    row = model.customer_rows.get(customer)
    if row is None:
        assert report["source"] == "popular" and again == []
        assert new == [model.product_ids[i] for i in model.popular[:k]]
        return
    history = model.purchases[row]
    bought = {model.product_ids[i]: count for i, count in zip(history.indices, history.data,
                                                                strict=True)}
    assert report["source"] == "personal"
    assert not set(new) & bought.keys()
    assert len(new) == min(k, len(model.product_ids) - len(bought))
    assert len(again) == min(k, len(bought)) and set(again) <= bought.keys()
    assert [p["score"] for p in report["buy_again"]] == sorted(bought.values(),
                                                              reverse=True)[:k]


@FUZZ
@given(data=st.data())
def test_any_session_gets_a_consistent_answer(client: TestClient, model: LoadedModel,
                                              data: st.DataObject) -> None:
    items = data.draw(st.lists(st.sampled_from(model.product_ids) | strange_ids,
                               max_size=120))
    k = data.draw(top_k)

    response = client.post("/api/recommendations", json={"items": items, "k": k})

    assert response.status_code == 200
    report = response.json()
    new = listed(report["new_for_you"])
    assert_ranked(report["new_for_you"])
    known = set(items) & set(model.product_ids)
    assert report["unknown_items"] == [i for i in dict.fromkeys(items) if i not in known]
    assert report["buy_again"] == []
    assert report["source"] == ("personal" if known else "popular")
    assert not set(new) & known
    assert len(new) == min(k, len(model.product_ids) - len(known))


@pytest.mark.azurite
@settings(max_examples=30, derandomize=True, database=None)
@given(prefix=st.text(st.characters(codec="utf-8", exclude_characters=CONTROL),
                      min_size=1, max_size=56),
       kind=st.sampled_from(["product_view", "add_to_cart", "purchase"]), data=st.data())
def test_any_customers_live_interaction_is_in_their_next_answer(
        live_client: TestClient, model: LoadedModel, prefix: str, kind: str,
        data: st.DataObject) -> None:
    """Whatever the ids hold, the profile an event writes is the one the next GET reads."""
    customer = f"{prefix}/{uuid.uuid4().hex[:7]}"  # a customer nobody has seen
    product = data.draw(st.sampled_from(model.product_ids) | strange_ids)
    event = {"event_id": uuid.uuid4().hex, "event_type": kind, "schema_version": 1,
             "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
             "customer_id": customer, "product_id": product, "quantity": 1,
             "unit_price": 4.5, "currency": "GBP", "order_id": "O-fuzz"}

    landed = live_client.post("/api/events", json=event)
    answer = live_client.get(f"/api/recommendations/{quote(customer, safe='')}").json()

    assert landed.status_code == 202, landed.text
    assert not PROFILE_ERRORS.records, PROFILE_ERRORS.records[0].getMessage()
    if product not in model.index:
        assert answer["source"] == "popular"  # too new for the model: nothing to score
        return
    assert answer["source"] == "personal"
    bought = [p["product_id"] for p in answer["buy_again"]]
    assert bought == ([product] if kind == "purchase" else [])
