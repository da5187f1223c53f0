"""The same specs and SQL on Spark build the same tables as on DuckDB, row for row.

Each scenario feeds one lake through the production paths, copies its raw zone to a
second lake, refreshes one on DuckDB and the other on local PySpark (the Synapse job's
engine), and compares every table; then new data arrives in both and each refreshes
incrementally. `make test` runs this module once per Spark version it installs (the pool's
line and the newest): which one is running is in the test ids' `spark_version`.
"""

from __future__ import annotations

import csv
import gzip
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyspark
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from shared.batch.ingest import upload_file
from shared.batch.mapping import load_mapping
from shared.lake import Lake, Zone
from shared.simulator import simulate_shop
from shared.warehouse import CATALOG, refresh
from shared.warehouse.spark import SparkEngine
from tests.support.shops import SMALL_SHOP, assert_same_rows, changed_catalogue, fed_shop

pytestmark = [pytest.mark.slow, pytest.mark.spark]

ONLINE_RETAIL = (Path(__file__).resolve().parents[4] / "shared" / "data" / "online_retail"
                 / "online_retail_raw_first240k.csv.gz")


def test_the_spark_line_asked_for_is_the_one_running() -> None:
    """make test puts each Spark line first on PYTHONPATH and names it here."""
    wanted = os.environ.get("SHOPLAKE_SPARK_LINE")
    assert wanted in (None, pyspark.__version__)


class Twins:
    """A DuckDB lake and a Spark lake fed the same raw files."""

    def __init__(self, root: Path, spark: SparkSession) -> None:
        self.duck = Lake.open(str(root / "duckdb"))
        self.spark_lake = Lake.open(str(root / "spark"))
        self.spark = spark

    def refresh_both(self) -> None:
        """Copy what landed in the DuckDB lake to the other, then refresh each."""
        shutil.copytree(self.duck.path(Zone.RAW), self.spark_lake.path(Zone.RAW),
                        dirs_exist_ok=True)
        refresh(self.duck)
        result = refresh(self.spark_lake, engine=lambda: SparkEngine(self.spark))
        assert result.tables

    def assert_same(self) -> None:
        for spec in CATALOG:
            left = self.duck.table(spec.zone, spec.table)
            right = self.spark_lake.table(spec.zone, spec.table)
            assert_same_rows(left.to_pyarrow_table(), right.to_pyarrow_table(), spec.name)


def test_a_simulated_shop_builds_the_same_tables(tmp_path: Path, spark: SparkSession) -> None:
    shop = simulate_shop(SMALL_SHOP)
    twins = Twins(tmp_path, spark)
    fed = fed_shop(twins.duck, shop, list(shop.days()), tmp_path / "exports")
    fed.deliver(1, 4)
    twins.refresh_both()
    twins.assert_same()
    # A lake Spark built, refreshed from now on by the embedded engine (Synapse turned off).
    shutil.copytree(twins.spark_lake.path(Zone.RAW).rsplit("/", 1)[0], tmp_path / "mixed")
    mixed = Lake.open(str(tmp_path / "mixed"))

    # An incremental day, with a product moved to another category (a watched column:
    # its past sales are rebuilt) and customers whose records changed.
    fed.deliver(5, 5)
    fed.feed.upload(changed_catalogue(fed), "shop_products", "products-v2.csv")
    twins.refresh_both()
    twins.assert_same()
    _assert_readable_by_delta_readers(twins.spark_lake)

    shutil.copytree(twins.duck.path(Zone.RAW), mixed.path(Zone.RAW), dirs_exist_ok=True)
    refresh(mixed)
    for spec in CATALOG:
        assert_same_rows(twins.duck.table(spec.zone, spec.table).to_pyarrow_table(),
                         mixed.table(spec.zone, spec.table).to_pyarrow_table(), spec.name)


def test_the_online_retail_export_builds_the_same_tables(tmp_path: Path,
                                                         spark: SparkSession) -> None:
    """Its first weeks (every kind of mess the export has: cancellations, guests, zero
    prices, duplicates, quoted commas), then the next day."""
    if not ONLINE_RETAIL.exists():
        pytest.fail(f"{ONLINE_RETAIL} is missing: ../shared/data is part of the checkout")
    first, next_day = _first_days_then_one(ONLINE_RETAIL, tmp_path, days=12)
    twins = Twins(tmp_path, spark)
    mapping = load_mapping("online_retail")
    assert upload_file(twins.duck, first, mapping).landed > 30_000
    twins.refresh_both()
    twins.assert_same()
    upload_file(twins.duck, next_day, mapping)
    twins.refresh_both()
    twins.assert_same()


def _assert_readable_by_delta_readers(lake: Lake) -> None:
    """Reader v1 (Synapse serverless SQL, Delta 2.4), UTC timestamps, and row counts in
    the log that match the rows (what readers plan with)."""
    for spec in CATALOG:
        table = DeltaTable(lake.table_uri(spec.zone, spec.table))
        protocol = table.protocol()
        assert (protocol.min_reader_version, protocol.min_writer_version) == (1, 2), spec.name
        for field in pa.schema(table.schema().to_arrow()):
            if pa.types.is_timestamp(field.type):
                assert field.type.tz == "UTC", f"{spec.name}.{field.name}"
        counted = sum(table.get_add_actions().column("num_records").to_pylist())
        assert table.to_pyarrow_table().num_rows == counted, spec.name


def _first_days_then_one(export: Path, folder: Path, days: int) -> tuple[Path, Path]:
    """The export's first `days` days as one upload and the day after as another (the file
    is in time order; InvoiceDate is US-style, `12/1/10 8:26`)."""
    with gzip.open(export, "rt", encoding="utf-8", newline="") as text:
        header = text.readline()
        first: list[str] = []
        after: list[str] = []
        seen: list[str] = []
        for row in text:
            day = next(csv.reader([row]))[4].split(" ")[0]
            if not seen or seen[-1] != day:
                seen.append(day)
            if len(seen) > days + 1:
                break
            (first if len(seen) <= days else after).append(row)
    paths = folder / "online_retail_first.csv", folder / "online_retail_next_day.csv"
    for path, rows in zip(paths, (first, after), strict=True):
        path.write_text(header + "".join(rows), encoding="utf-8", newline="")
    return paths
