"""The real UCI Online Retail export, through the batch path and the refresh, reconciles
with the published figures from the lake's own tables."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from shared.batch.ingest import quarantined_rows, upload_file
from shared.batch.mapping import load_mapping
from shared.lake import Lake, Zone
from shared.warehouse.refresh import refresh

CENT = Decimal("0.01")
ONLINE_RETAIL = (Path(__file__).resolve().parents[4] / "shared" / "data" / "online_retail"
                 / "online_retail_raw_first240k.csv.gz")


@pytest.fixture(scope="module")
def retail_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    if not ONLINE_RETAIL.exists():
        pytest.skip(f"{ONLINE_RETAIL} is not here")
    lake = Lake.open(str(tmp_path_factory.mktemp("retail") / "lake"))
    result = upload_file(lake, ONLINE_RETAIL, load_mapping("online_retail"))
    assert result.received == 240_007
    refresh(lake)
    return lake


@pytest.fixture(scope="module")
def sql(retail_lake: Lake) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("order_lines", retail_lake.table(Zone.PROCESSED, "order_lines")
                 .to_pyarrow_dataset())
    con.register("fact_sales", retail_lake.table(Zone.CURATED, "fact_sales").to_pyarrow_dataset())
    con.register("quarantined", quarantined_rows(retail_lake))
    return con


@pytest.mark.slow
def test_every_line_is_landed_or_quarantined(sql: duckdb.DuckDBPyConnection) -> None:
    landed = sql.execute("SELECT COUNT(*) FROM order_lines").fetchone()[0]
    quarantined = sql.execute("SELECT COUNT(*) FROM quarantined").fetchone()[0]
    assert landed + quarantined == 240_007


@pytest.mark.slow
def test_money_is_conserved(sql: duckdb.DuckDBPyConnection) -> None:
    landed = sql.execute("SELECT SUM(quantity * unit_price) FROM order_lines").fetchone()[0]
    quarantined = sql.execute(
        "SELECT COALESCE(SUM(CAST(original['Quantity'] AS BIGINT)"
        " * CAST(original['UnitPrice'] AS DECIMAL(18, 4))), 0) FROM quarantined").fetchone()[0]
    # Exact, then to the cent as published (one price has a tenth of a penny).
    assert landed + quarantined == Decimal("4275143.931")
    assert (landed + quarantined).quantize(CENT) == Decimal("4275143.93")


@pytest.mark.slow
def test_fact_sales_matches_the_published_figures(sql: duckdb.DuckDBPyConnection) -> None:
    lines, orders, customers, products, revenue = sql.execute(
        "SELECT COUNT(*), COUNT(DISTINCT order_id), COUNT(DISTINCT customer_id),"
        " COUNT(DISTINCT product_id), SUM(revenue) FROM fact_sales"
        " WHERE customer_id IS NOT NULL AND quantity > 0 AND NOT is_return").fetchone()
    assert (lines, orders, customers, products) == (168_675, 8_590, 2_931, 3_264)
    assert revenue.quantize(CENT) == Decimal("3888971.74")


@pytest.mark.slow
def test_identical_lines_within_an_order_are_kept(sql: duckdb.DuckDBPyConnection) -> None:
    duplicates = sql.execute(
        "SELECT COUNT(*) - COUNT(DISTINCT (order_id, product_id, quantity, unit_price,"
        " ordered_at, customer_id)) FROM fact_sales").fetchone()[0]
    assert duplicates >= 1_970  # the file's exact duplicate lines
    keys = sql.execute("SELECT COUNT(*) - COUNT(DISTINCT (order_id, line_number)) FROM fact_sales"
                   ).fetchone()[0]
    assert keys == 0
