"""Live shopper profiles: each signed-in customer's latest product interactions, in Table Storage.

The ingest path records every landed batch here, so recommendations can blend what a shopper
did a minute ago with the nightly-trained history. One entity per (customer, product) holds
the latest time of each kind of interaction; a batch is reduced to those times first and
written with MERGE upserts, so replaying a batch (at-least-once delivery) rewrites the same
values and never counts anything twice.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import pyarrow as pa
import pyarrow.compute as pc
from azure.core.credentials import TokenCredential
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.settings import ConfigurationError, Settings

Kind = Literal["viewed", "carted", "purchased"]

KINDS: dict[str, Kind] = {"product_view": "viewed", "add_to_cart": "carted",
                          "purchase": "purchased"}
"""Event types that count as an interaction with a product, and the kind each records."""

_EVENT_TYPES = pa.array(list(KINDS))
_AT_COLUMNS: dict[Kind, str] = {kind: f"{kind}_at" for kind in KINDS.values()}
_TRANSACTION_OPS = 100  # Table Storage's limit per entity group transaction
# Transactions of different customers run on this many threads: the SDK spends most of a
# transaction encoding it under the GIL, but overlapping that with the round trips took a
# 1,000-event batch from a median ~850 to ~560 ms on Azurite (8 threads did no better).
_WORKERS = 4
# A cache must not hold up ingestion for long: a few quick retries, then give up.
_CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 3, "retry_backoff_factor": 0.2,
                                   "connection_timeout": 5, "read_timeout": 20}
# The contract allows any characters in customer and product ids, but keys may not hold
# / \ # ? or control characters: those (and % and the escape ~ itself) become ~XX.
_KEY_UNSAFE = re.compile(r"[/\\#?%~\x00-\x1f\x7f-\x9f]")
_KEY_ESCAPE = re.compile(r"~([0-9A-F]{2})")


@dataclass(frozen=True)
class Interaction:
    """A customer's latest interaction of one kind with one product."""

    product_id: str
    kind: Kind
    at: datetime  # UTC


class ProfileStore(Protocol):
    """Where live profiles are kept (the recommendation endpoint reads them with `recent`)."""

    def record(self, events: pa.Table) -> int:
        """Record landed events (`RAW_SCHEMA` columns); returns the entities written."""
        ...

    def recent(self, customer_id: str, limit: int = 100) -> list[Interaction]:
        """The customer's interactions, newest first; [] for an unknown customer."""
        ...


def encode_key(value: str) -> str:
    """A contract id as a valid PartitionKey or RowKey (the usual ids stay as they are)."""
    return _KEY_UNSAFE.sub(lambda match: f"~{ord(match[0]):02X}", value)


def decode_key(key: str) -> str:
    return _KEY_ESCAPE.sub(lambda match: chr(int(match[1], 16)), key)


def latest_interactions(events: pa.Table) -> pa.Table:
    """One row per (customer_id, product_id) of the signed-in product interactions in `events`:
    the latest time of each kind (`viewed_at`, ... ; null when absent) and overall (`last_at`),
    sorted by customer and product."""
    code = pc.index_in(events["event_type"], value_set=_EVENT_TYPES)
    # Null ids (guests, page views) compare as null, and filter drops null like false.
    keep = pc.and_(pc.and_(pc.is_valid(code), pc.not_equal(events["customer_id"], "")),
                   pc.not_equal(events["product_id"], ""))
    code, rows = code.filter(keep), events.filter(keep)
    columns = {"customer_id": rows["customer_id"], "product_id": rows["product_id"],
               "last_at": rows["occurred_at"]}
    no_time = pa.scalar(None, rows.schema.field("occurred_at").type)
    for index, column in enumerate(_AT_COLUMNS.values()):
        columns[column] = pc.if_else(pc.equal(code, index), rows["occurred_at"], no_time)
    times = [*_AT_COLUMNS.values(), "last_at"]
    latest = (pa.table(columns)
              .group_by(["customer_id", "product_id"])
              .aggregate([(name, "max") for name in times]))
    return (latest.rename_columns([name.removesuffix("_max") for name in latest.column_names])
            .select(["customer_id", "product_id", *times])
            .sort_by([("customer_id", "ascending"), ("product_id", "ascending")]))


class TableProfileStore:
    """Profiles in one Azure table: PartitionKey customer, RowKey product, one time per kind."""

    def __init__(self, client: TableClient, *, workers: int = _WORKERS) -> None:
        self._client = client
        self._workers = workers
        self._table_ready = False
        self._lock = threading.Lock()

    @property
    def table_name(self) -> str:
        return self._client.table_name

    def record(self, events: pa.Table) -> int:
        latest = latest_interactions(events)
        if latest.num_rows == 0:
            return 0
        self._ensure_table()
        transactions = list(_transactions(latest.to_pylist()))
        if self._workers <= 1 or len(transactions) == 1:
            return sum(map(self._submit, transactions))
        with ThreadPoolExecutor(min(self._workers, len(transactions)),
                                thread_name_prefix="profiles") as pool:
            return sum(pool.map(self._submit, transactions))

    def recent(self, customer_id: str, limit: int = 100) -> list[Interaction]:
        try:
            entities = list(self._client.query_entities(
                "PartitionKey eq @customer", parameters={"customer": encode_key(customer_id)},
                select=["RowKey", *_AT_COLUMNS.values()],
            ))
        except ResourceNotFoundError:
            return []  # no table yet: nothing was ever recorded
        interactions = [
            Interaction(decode_key(entity["RowKey"]), kind, _plain_utc(entity[column]))
            for entity in entities
            for kind, column in _AT_COLUMNS.items()
            if entity.get(column) is not None
        ]
        interactions.sort(key=lambda interaction: interaction.at, reverse=True)
        return interactions[:max(limit, 0)]

    def _ensure_table(self) -> None:
        """Create the table on first write (once per store; concurrent workers may race)."""
        if self._table_ready:
            return
        with self._lock:
            if not self._table_ready:
                with contextlib.suppress(ResourceExistsError):
                    self._client.create_table()
                self._table_ready = True

    def _submit(self, operations: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> int:
        # One operation is one request either way, and a plain upsert skips the SDK's costly
        # multipart encoding.
        if len(operations) == 1:
            self._client.upsert_entity(operations[0][1], mode=UpdateMode.MERGE)
        else:
            self._client.submit_transaction(operations)
        return len(operations)


def _transactions(rows: list[dict[str, Any]]) -> Iterator[list[tuple[str, dict, dict]]]:
    """MERGE upserts grouped into transactions: one customer each, at most 100 operations.

    A kind absent from the batch is left out of the entity, so MERGE keeps its stored time.
    """
    merge = {"mode": UpdateMode.MERGE}
    for customer, group in itertools.groupby(rows, key=lambda row: row["customer_id"]):
        partition = encode_key(customer)
        operations = [
            ("upsert",
             {"PartitionKey": partition, "RowKey": encode_key(row["product_id"]),
              "last_at": row["last_at"],
              **{column: row[column] for column in _AT_COLUMNS.values()
                 if row[column] is not None}},
             merge)
            for row in group
        ]
        for start in range(0, len(operations), _TRANSACTION_OPS):
            yield operations[start:start + _TRANSACTION_OPS]


def _plain_utc(moment: datetime) -> datetime:
    """The SDK's datetime subclass as a plain UTC datetime."""
    return datetime.combine(moment.date(), moment.time(), tzinfo=UTC)


def open_profile_store(settings: Settings,
                       credential: TokenCredential | None = None) -> ProfileStore | None:
    """The configured profile store, or None when profiles are off (no connection set)."""
    table = settings.profiles_table
    if settings.profiles_connection_string:
        return TableProfileStore(_client_from_connection_string(
            settings.profiles_connection_string, table))
    if settings.profiles_table_service_uri:
        if credential is None:
            from azure.identity import DefaultAzureCredential  # heavy import, identity only

            credential = DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
        return TableProfileStore(TableClient(settings.profiles_table_service_uri, table,
                                             credential=credential, **_CLIENT_OPTIONS))
    return None


def _client_from_connection_string(connection_string: str, table: str) -> TableClient:
    parts = {
        key.strip().lower(): value.strip()
        for key, _, value in (item.partition("=") for item in connection_string.split(";"))
    }
    if parts.get("usedevelopmentstorage", "").lower() == "true":
        # The SDK maps exactly this spelling to Azurite's default table endpoint.
        connection_string = "UseDevelopmentStorage=true"
    elif parts.get("accountname") == "devstoreaccount1" and not parts.get("tableendpoint"):
        # Without TableEndpoint the SDK would address devstoreaccount1.table.core.windows.net.
        raise ConfigurationError(
            "PROFILES_CONNECTION names the Azurite account but no TableEndpoint; add "
            "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1 or use "
            "UseDevelopmentStorage=true"
        )
    try:
        return TableClient.from_connection_string(connection_string, table, **_CLIENT_OPTIONS)
    except ValueError as error:
        raise ConfigurationError(f"PROFILES_CONNECTION is unusable: {error}") from None
