"""Live shopper profiles in Table Storage (Azurite): what is recorded, replays, keys, wiring."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from itertools import count

import orjson
import pyarrow as pa
import pytest
from azure.core.credentials import AccessToken
from azure.data.tables import TableClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.events.ingest import ingest_event_batch
from shared.events.raw import raw_events
from shared.lake import Lake
from shared.profiles import (
    KINDS,
    Interaction,
    TableProfileStore,
    decode_key,
    encode_key,
    open_profile_store,
)
from shared.settings import ConfigurationError, Settings
from shoplake.services import Services
from tests.support.azurite import Azurite, free_port
from tests.support.events import make_batch

MAX_EVENT_BYTES = 32 * 1024
_event_ids = count()


def body(event_type: str, customer: str | None, product: str | None, at: str) -> bytes:
    """A contract-valid event; every type's required fields are filled in."""
    return orjson.dumps({
        "event_id": f"e{next(_event_ids)}", "event_type": event_type, "schema_version": 1,
        "occurred_at": f"2026-11-09T{at}Z", "customer_id": customer, "session_id": "s-1",
        "product_id": product, "quantity": 1, "unit_price": 9.5, "currency": "GBP",
        "order_id": "O-1", "rating": 5, "query": "mug",
    })


def landed(lake: Lake, *bodies: bytes) -> pa.Table:
    """The bodies as the ingest path lands them (all of them must pass validation)."""
    result = ingest_event_batch(lake, make_batch(list(bodies)), max_event_bytes=MAX_EVENT_BYTES)
    assert result.quarantined == 0, result.reasons
    return result.landed_events


def at(clock: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-09T{clock}").replace(tzinfo=UTC)


def profile_settings(azurite: Azurite, **overrides: object) -> Settings:
    """Profiles on Azurite, in a table no other test uses."""
    return Settings(profiles_connection_string=azurite.connection_string,
                    profiles_table=f"p{uuid.uuid4().hex}", **overrides)


def raw_entities(store: TableProfileStore, azurite: Azurite) -> list[dict]:
    client = TableClient.from_connection_string(azurite.connection_string, store.table_name)
    return sorted((dict(e) for e in client.list_entities()),
                  key=lambda e: (e["PartitionKey"], e["RowKey"]))


@pytest.fixture
def store(azurite: Azurite) -> TableProfileStore:
    opened = open_profile_store(profile_settings(azurite))
    assert isinstance(opened, TableProfileStore)
    return opened


@pytest.mark.azurite
def test_recent_lists_the_latest_interaction_of_each_kind_newest_first(
        store: TableProfileStore, local_lake: Lake) -> None:
    events = landed(
        local_lake,
        body("product_view", "C1", "P1", "09:00:00"),  # superseded by the 10:00 view
        body("product_view", "C1", "P1", "10:00:00"),
        body("product_view", "C1", "P2", "10:03:00"),
        body("add_to_cart", "C1", "P1", "10:05:00"),
        body("purchase", "C1", "P1", "10:10:00.123456"),
        body("remove_from_cart", "C1", "P2", "10:11:00"),  # not an interaction kind
        body("review", "C1", "P3", "10:12:00"),
        body("product_view", "C2", "P1", "10:20:00"),
    )

    assert store.record(events) == 3  # (C1, P1), (C1, P2), (C2, P1)

    assert store.recent("C1") == [
        Interaction("P1", "purchased", at("10:10:00.123456")),
        Interaction("P1", "carted", at("10:05:00")),
        Interaction("P2", "viewed", at("10:03:00")),
        Interaction("P1", "viewed", at("10:00:00")),
    ]
    assert store.recent("C1", limit=2) == store.recent("C1")[:2]
    assert store.recent("C2") == [Interaction("P1", "viewed", at("10:20:00"))]
    assert store.recent("C404") == []


@pytest.mark.azurite
def test_guests_and_events_without_a_product_are_ignored(
        store: TableProfileStore, local_lake: Lake) -> None:
    events = landed(
        local_lake,
        body("product_view", None, "P1", "10:00:00"),  # a guest: session only
        body("purchase", None, "P1", "10:01:00"),
        body("page_view", "C1", None, "10:02:00"),
        body("search", "C1", None, "10:03:00"),
    )

    assert store.record(events) == 0
    assert store.recent("C1") == []  # the table was never even created


@pytest.mark.azurite
def test_replaying_a_batch_leaves_identical_entities(
        store: TableProfileStore, local_lake: Lake, azurite: Azurite,
        shop_bodies: list[bytes]) -> None:
    events = landed(local_lake, *shop_bodies[:400])

    written = store.record(events)
    first = raw_entities(store, azurite)
    assert store.record(events) == written

    assert len(first) == written > 0
    assert raw_entities(store, azurite) == first


@pytest.mark.azurite
def test_a_later_batch_merges_kinds_into_the_same_entity(
        store: TableProfileStore, local_lake: Lake, azurite: Azurite) -> None:
    store.record(landed(local_lake, body("product_view", "C1", "P1", "10:00:00")))
    store.record(landed(local_lake, body("purchase", "C1", "P1", "11:00:00")))

    assert store.recent("C1") == [Interaction("P1", "purchased", at("11:00:00")),
                                  Interaction("P1", "viewed", at("10:00:00"))]
    [entity] = raw_entities(store, azurite)
    assert (entity["viewed_at"], entity["purchased_at"], entity["last_at"]) == (
        at("10:00:00"), at("11:00:00"), at("11:00:00"))
    assert "carted_at" not in entity


@pytest.mark.azurite
def test_ids_with_any_characters_the_contract_allows_round_trip(
        store: TableProfileStore, local_lake: Lake) -> None:
    # customer_id and product_id have no charset in the contract, only 64 characters at most:
    # the characters Table keys forbid, the escape character, quotes and non-ASCII all pass.
    edge = "/\\#?%~'\"\x00\x01\x1f\x7f\x85\x9f é😀 ~2F"
    customer = (edge * 4)[:64]
    product = ("P" + edge[::-1] * 4)[:64]
    events = landed(
        local_lake,
        body("product_view", customer, product, "10:00:00"),
        body("add_to_cart", "a/b", "p?1", "10:01:00"),
        body("add_to_cart", "a~2Fb", "p?1", "10:02:00"),  # a/b's escaped spelling, taken
    )

    assert store.record(events) == 3

    assert store.recent(customer) == [Interaction(product, "viewed", at("10:00:00"))]
    assert store.recent("a/b") == [Interaction("p?1", "carted", at("10:01:00"))]
    assert store.recent("a~2Fb") == [Interaction("p?1", "carted", at("10:02:00"))]


@pytest.mark.azurite
def test_a_customer_with_many_products_spans_several_transactions(
        store: TableProfileStore, local_lake: Lake) -> None:
    events = landed(local_lake, *(body("product_view", "C1", f"P{n:03d}", f"10:{n // 60:02d}:"
                                       f"{n % 60:02d}") for n in range(250)))

    assert store.record(events) == 250

    recent = store.recent("C1", limit=1000)
    assert [i.product_id for i in recent] == [f"P{n:03d}" for n in reversed(range(250))]
    assert store.recent("C1") == recent[:100]


@given(st.text(max_size=64))
def test_key_encoding_is_reversible_and_yields_valid_keys(value: str) -> None:
    key = encode_key(value)

    assert decode_key(key) == value
    assert not any(c in "/\\#?" or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in key)
    assert len(key) <= 3 * len(value)


def reference_profiles(events: pa.Table) -> dict[str, set[Interaction]]:
    """What `recent` should say for each customer, computed row by row."""
    latest: dict[tuple[str, str, str], datetime] = {}
    for row in events.to_pylist():
        kind = KINDS.get(row["event_type"])
        if kind and row["customer_id"] and row["product_id"]:
            key = (row["customer_id"], row["product_id"], kind)
            latest[key] = max(latest.get(key, row["occurred_at"]), row["occurred_at"])
    profiles: dict[str, set[Interaction]] = {}
    for (customer, product, kind), moment in latest.items():
        profiles.setdefault(customer, set()).add(Interaction(product, kind, moment))
    return profiles


@pytest.mark.azurite
def test_services_ingest_records_the_landed_batch(
        azurite: Azurite, local_lake: Lake, shop_bodies: list[bytes]) -> None:
    services = Services(profile_settings(azurite, lake_url=local_lake.url), lake=local_lake)

    result = services.ingest(make_batch(shop_bodies[:500]))

    assert services.profiles is not None
    expected = reference_profiles(result.landed_events)
    assert len(expected) > 10
    for customer, interactions in expected.items():
        recent = services.profiles.recent(customer, limit=1000)
        assert set(recent) == interactions
        assert [i.at for i in recent] == sorted((i.at for i in recent), reverse=True)


def test_services_ingest_without_profiles_only_lands(services: Services,
                                                     shop_bodies: list[bytes]) -> None:
    result = services.ingest(make_batch(shop_bodies[:50]))

    assert services.profiles is None
    assert result.landed == 50


def test_an_unreachable_profile_store_is_logged_and_the_batch_still_lands(
        local_lake: Lake, shop_bodies: list[bytes], caplog: pytest.LogCaptureFixture) -> None:
    closed = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
              f"TableEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1")
    services = Services(Settings(lake_url=local_lake.url, profiles_connection_string=closed),
                        lake=local_lake)

    with caplog.at_level(logging.ERROR, logger="shoplake.profiles"):
        result = services.ingest(make_batch(shop_bodies[:50]))

    assert result.landed == 50
    assert raw_events(local_lake).count_rows() == 50
    [record] = [r for r in caplog.records if r.name == "shoplake.profiles"]
    assert result.batch in record.getMessage() and record.exc_info is not None


def test_profiles_are_off_unless_a_connection_is_set() -> None:
    assert open_profile_store(Settings()) is None


def test_development_storage_means_azurite_on_its_default_port() -> None:
    store = open_profile_store(Settings(profiles_connection_string="UseDevelopmentStorage=true;"))

    assert isinstance(store, TableProfileStore)
    assert store.table_name == "shopperprofiles"
    assert store._client.url.startswith("http://127.0.0.1:10002/")


def test_an_azurite_connection_without_a_table_endpoint_is_refused() -> None:
    blob_only = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
                 "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1")

    with pytest.raises(ConfigurationError, match="TableEndpoint"):
        open_profile_store(Settings(profiles_connection_string=blob_only))


class NoCredential:
    """A token credential for tests that must not authenticate (or touch the network)."""

    def get_token(self, *scopes: str, **options: object) -> AccessToken:
        raise AssertionError("no request expected")


def test_identity_connection_uses_the_table_service_uri() -> None:
    settings = Settings(profiles_table_service_uri="https://acct.table.core.windows.net")

    store = open_profile_store(settings, credential=NoCredential())

    assert isinstance(store, TableProfileStore)
    assert store._client.url.startswith("https://acct.table.core.windows.net")


@pytest.mark.parametrize("name", ["ab", "1profiles", "shopper-profiles", "shopper_profiles",
                                  "p" * 64, "tables", "Tables"])
def test_invalid_table_names_are_refused_by_name(monkeypatch: pytest.MonkeyPatch,
                                                 name: str) -> None:
    monkeypatch.setenv("PROFILES_TABLE", name)

    with pytest.raises(ValidationError, match=r"PROFILES_TABLE.*not a valid Azure table name"):
        Settings()


@pytest.mark.parametrize("name", ["abc", "Shopper2Profiles", "p" * 63])
def test_valid_table_names_are_accepted(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("PROFILES_TABLE", name)

    assert Settings().profiles_table == name


def test_identity_table_service_uri_must_be_https(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROFILES_CONNECTION__tableServiceUri", "http://acct.table.core.windows.net")

    with pytest.raises(ValidationError, match="must be an https:// URL"):
        Settings()
