"""The Lake on a local folder and on Azurite; identity and configuration for ADLS."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow.fs import FileSelector

from shared.lake import (
    AZURITE_ACCOUNT,
    Lake,
    LakeConfigError,
    StaleWriteError,
    StorageAccount,
    Versioned,
    Zone,
)
from shared.settings import Settings


def test_zones_live_under_the_root(local_lake: Lake) -> None:
    root = local_lake.url
    assert local_lake.path(Zone.RAW, "events", "a.parquet") == f"{root}/raw/events/a.parquet"
    assert local_lake.table_uri(Zone.CURATED, "fact_sales") == f"{root}/curated/fact_sales"
    assert [z.value for z in Zone] == ["raw", "quarantine", "processed", "curated", "models",
                                       "_state"]


def test_files_round_trip_and_list_recursively(any_lake: Lake) -> None:
    any_lake.write_bytes(any_lake.path(Zone.STATE, "a", "one.json"), b"1")
    any_lake.write_bytes(any_lake.path(Zone.STATE, "a", "b", "two.json"), b"2")
    any_lake.write_bytes(any_lake.path(Zone.STATE, "a", "one.json"), b"one")

    files = any_lake.list_files(any_lake.path(Zone.STATE, "a"))

    assert [any_lake.relative(f) for f in files] == ["_state/a/b/two.json", "_state/a/one.json"]
    assert any_lake.read_bytes(files[1]) == b"one"
    assert any_lake.list_files(any_lake.path(Zone.STATE, "missing")) == []
    assert any_lake.exists(files[0]) and not any_lake.exists(any_lake.path(Zone.STATE, "nope"))


def test_delta_tables_round_trip(any_lake: Lake) -> None:
    data = pa.table({"day": ["2026-11-01", "2026-11-02"], "revenue": [10.5, 20.0]})

    any_lake.write_table(data, Zone.CURATED, "kpi_test", partition_by=["day"])
    any_lake.write_table(pa.table({"day": ["2026-11-02"], "revenue": [25.0]}), Zone.CURATED,
                         "kpi_test", mode="overwrite", predicate="day = '2026-11-02'")

    assert any_lake.table_exists(Zone.CURATED, "kpi_test")
    table = any_lake.table(Zone.CURATED, "kpi_test").to_pyarrow_table().sort_by("day")
    assert table.column("revenue").to_pylist() == [10.5, 25.0]


def test_local_writes_leave_no_temporary_files(local_lake: Lake) -> None:
    path = local_lake.path(Zone.RAW, "x.bin")
    local_lake.write_bytes(path, b"data")

    listing = local_lake.fs.get_file_info(FileSelector(local_lake.path(Zone.RAW)))
    assert [info.base_name for info in listing] == ["x.bin"]


def test_connection_strings() -> None:
    dev = StorageAccount.from_connection_string("UseDevelopmentStorage=true")
    assert (dev.name, dev.blob_endpoint) == (AZURITE_ACCOUNT,
                                             "http://127.0.0.1:10000/devstoreaccount1")
    real = StorageAccount.from_connection_string(
        "DefaultEndpointsProtocol=https;AccountName=shop;AccountKey=a2V5;"
        "BlobEndpoint=https://shop.blob.core.windows.net/;EndpointSuffix=core.windows.net")
    assert (real.name, real.key, real.blob_endpoint) == ("shop", "a2V5", None)
    with pytest.raises(LakeConfigError, match="AccountKey"):
        StorageAccount.from_connection_string("AccountName=shop")


@pytest.mark.parametrize(("url", "message"), [
    ("az://container/path", "LAKE_STORAGE_CONNECTION_STRING"),
    ("abfss://lake@account.blob.core.windows.net/x", "dfs.core.windows.net"),
    ("s3://bucket/x", "unsupported lake URL"),
])
def test_unusable_lake_urls_say_what_to_set(url: str, message: str) -> None:
    with pytest.raises(LakeConfigError, match=message):
        Lake.open(url)


@dataclass
class AccessToken:  # the shape of azure.core.credentials.AccessToken
    token: str
    expires_on: int


class CountingCredential:
    """Stands in for the managed identity, which cannot be reached from here."""

    def __init__(self, lifetime_s: int) -> None:
        self.lifetime_s = lifetime_s
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(f"token-{len(self.scopes)}", int(time.time()) + self.lifetime_s)


def test_abfss_lake_uses_identity_tokens_and_renews_them() -> None:
    fresh = CountingCredential(lifetime_s=3600)
    lake = Lake.open("abfss://lake@shopdata.dfs.core.windows.net/shoplake", credential=fresh)

    assert lake.table_uri(Zone.CURATED, "dim_date") == (
        "abfss://lake@shopdata.dfs.core.windows.net/shoplake/curated/dim_date")
    assert lake.path(Zone.RAW, "events") == "lake/shoplake/raw/events"
    assert fresh.scopes == []  # nothing is fetched until a table is touched
    assert lake.storage_options == {"account_name": "shopdata", "bearer_token": "token-1"}
    assert lake.storage_options["bearer_token"] == "token-1"
    assert fresh.scopes == [("https://storage.azure.com/.default",)]

    expiring = CountingCredential(lifetime_s=60)
    lake = Lake.open("abfss://lake@shopdata.dfs.core.windows.net/shoplake", credential=expiring)
    assert [lake.storage_options["bearer_token"] for _ in range(2)] == ["token-1", "token-2"]


def test_lake_from_settings_uses_the_connection_string(azurite) -> None:
    settings = Settings(lake_url="az://fromsettings/root",
                        lake_storage_connection_string=azurite.connection_string)

    lake = Lake.from_settings(settings)
    lake.write_bytes(lake.path(Zone.STATE, "x"), b"ok")

    assert lake.read_bytes(lake.path(Zone.STATE, "x")) == b"ok"
    assert lake.storage_options["endpoint"].startswith(f"http://127.0.0.1:{azurite.blob_port}")


@pytest.mark.parametrize("name", ["export.csv.gz", "export.csv.bz2", "export.csv.zst"])
def test_files_are_stored_and_read_byte_for_byte_whatever_their_name(any_lake: Lake,
                                                                     name: str) -> None:
    # pyarrow guesses a codec from the extension unless told not to: a plain CSV named
    # .gz failed to read, and an upload named .gz was compressed a second time on Azure.
    written, streamed = (any_lake.path(Zone.RAW, "batch", "orders", f"{n}-{name}")
                         for n in ("written", "streamed"))
    any_lake.write_bytes(written, b"order_id,qty\n1,2\n")
    with any_lake.open_output(streamed) as out:
        out.write(b"order_id,qty\n3,4\n")

    for path, content in ((written, b"order_id,qty\n1,2\n"), (streamed, b"order_id,qty\n3,4\n")):
        with any_lake.fs.open_input_file(path) as stored:  # never decompresses
            assert stored.read() == content
        assert any_lake.read_bytes(path) == content
        with any_lake.open_input(path) as stream:
            assert stream.read() == content


def test_compare_and_swap_writes_refuse_a_stale_version(any_lake: Lake) -> None:
    path = any_lake.path(Zone.STATE, "refresh", "watermark.json")
    assert any_lake.read_versioned(path) == Versioned(None, None)

    first = any_lake.write_bytes_if(path, b"one", None)
    with pytest.raises(StaleWriteError):
        any_lake.write_bytes_if(path, b"created twice", None)
    second = any_lake.write_bytes_if(path, b"two", first)
    with pytest.raises(StaleWriteError):
        any_lake.write_bytes_if(path, b"from a stale writer", first)

    assert any_lake.read_versioned(path) == Versioned(b"two", second)
    assert second != first


def test_a_replaced_file_keeps_its_content_until_the_new_one_is_complete(any_lake: Lake
                                                                         ) -> None:
    # pyarrow's Azure stream emptied the blob when it opened: a reader (or a crash) in the
    # middle of a rewrite found 0 bytes.
    path = any_lake.path(Zone.RAW, "events", "event_date=2026-11-01", "batch.parquet")
    any_lake.write_bytes(path, b"old content")

    with pytest.raises(OSError, match="storage went away"), any_lake.open_output(path) as out:
        out.write(b"new content, first half")
        assert any_lake.read_bytes(path) == b"old content"
        raise OSError("storage went away")

    assert any_lake.read_bytes(path) == b"old content"
    assert any_lake.list_files(any_lake.path(Zone.RAW)) == [path]


def test_large_streamed_files_are_committed_whole(any_lake: Lake,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shared.lake.BLOCK_BYTES", 1000)  # many staged blocks on Azure
    path = any_lake.path(Zone.RAW, "landed", "orders", "big.parquet")
    data = bytes(range(256)) * 40

    with any_lake.open_output(path) as out:
        for start in range(0, len(data), 333):
            out.write(data[start:start + 333])
        assert not any_lake.exists(path)  # nothing visible before the end

    assert any_lake.read_bytes(path) == data


def test_orphaned_temporary_files_are_removed_after_a_grace_period(local_lake: Lake) -> None:
    folder = Path(local_lake.path(Zone.RAW, "events", "event_date=2026-11-01"))
    folder.mkdir(parents=True)
    old, fresh = folder / ".tmp-dead", folder / ".tmp-writing"
    old.write_bytes(b"half")
    fresh.write_bytes(b"half")
    long_ago = time.time() - 2 * 3600
    os.utime(old, (long_ago, long_ago))

    assert local_lake.list_files(str(folder)) == []  # never listed as data
    assert local_lake.remove_orphans() == 1
    assert not old.exists() and fresh.exists()


def test_a_new_writer_cleans_up_orphans(local_lake: Lake) -> None:
    orphan = Path(local_lake.path(Zone.STATE, ".tmp-left-by-a-crash"))
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"")
    os.utime(orphan, (0, 0))

    with local_lake.writer():
        assert not orphan.exists()


def test_a_new_writer_removes_what_a_killed_spark_write_staged(any_lake: Lake) -> None:
    """Staged files belong to the run that wrote them; a run starting has the lake to itself,
    so any it finds were left by a run that died."""
    staged = _stage(any_lake, [("a", "2026-11-01", "1.50")])

    with any_lake.writer():
        assert any_lake.file_infos(staged) == []


# -- files another engine wrote, adopted into a Delta table -------------------------------

ROWS_SCHEMA = pa.schema([("order_id", pa.string()), ("order_date", pa.date32()),
                         ("amount", pa.decimal128(18, 2))])


def _stage(lake: Lake, rows: list[tuple[str, str, str]]) -> str:
    """Hive-partitioned Parquet files under a staging folder, as Spark writes them."""
    staged = lake.path(Zone.STATE, "spark", f"stage-{time.monotonic_ns()}")
    rows_table = pa.table({"order_id": [r[0] for r in rows],
                      "order_date": pa.array([date.fromisoformat(r[1]) for r in rows]),
                      "amount": pa.array([Decimal(r[2]) for r in rows], pa.decimal128(18, 2))},
                          schema=ROWS_SCHEMA)
    pq.write_to_dataset(rows_table, staged, partition_cols=["order_date"], filesystem=lake.fs)
    return staged


def _rows(lake: Lake) -> list[tuple[str, str, str]]:
    table = lake.table(Zone.CURATED, "orders").to_pyarrow_table().sort_by("order_id")
    return [(row["order_id"], row["order_date"].isoformat(), str(row["amount"]))
            for row in table.to_pylist()]


def test_adopted_files_replace_only_their_partitions(any_lake: Lake) -> None:
    first = _stage(any_lake, [("a", "2026-11-01", "1.50"), ("b", "2026-11-02", "2.00")])
    any_lake.adopt_files(first, Zone.CURATED, "orders", schema=ROWS_SCHEMA,
                         partition_by="order_date", partitions=None)
    again = _stage(any_lake, [("c", "2026-11-02", "3.25")])
    any_lake.adopt_files(again, Zone.CURATED, "orders", schema=ROWS_SCHEMA,
                         partition_by="order_date", partitions=["2026-11-02", "2026-11-03"])

    assert _rows(any_lake) == [("a", "2026-11-01", "1.50"), ("c", "2026-11-02", "3.25")]
    table = any_lake.table(Zone.CURATED, "orders")
    assert pa.schema(table.schema().to_arrow()) == ROWS_SCHEMA  # the engine's own types
    assert table.metadata().partition_columns == ["order_date"]
    assert sum(table.get_add_actions().column("num_records").to_pylist()) == 2
    assert (table.protocol().min_reader_version, table.protocol().min_writer_version) == (1, 2)


def test_adopting_without_partitions_replaces_the_whole_table(local_lake: Lake) -> None:
    local_lake.adopt_files(_stage(local_lake, [("a", "2026-11-01", "1.50")]), Zone.CURATED,
                           "orders", schema=ROWS_SCHEMA, partition_by="order_date",
                           partitions=None)
    local_lake.adopt_files(_stage(local_lake, [("b", "2026-11-05", "9.99")]), Zone.CURATED,
                           "orders", schema=ROWS_SCHEMA, partition_by="order_date",
                           partitions=None)
    assert _rows(local_lake) == [("b", "2026-11-05", "9.99")]

