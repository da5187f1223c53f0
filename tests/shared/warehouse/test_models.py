"""The tables as declared: one SQL file and one spec each, Spark-translatable, data tests
that hold."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from shared.lake import Lake
from shared.warehouse.checks import run_data_tests
from shared.warehouse.refresh import refresh
from shared.warehouse.specs import CATALOG, TABLES_FOLDER
from tests.support.shops import fed_shop


def test_every_sql_file_is_a_table_with_a_spec() -> None:
    assert sorted(p.stem for p in TABLES_FOLDER.glob("*.sql")) == sorted(
        p.stem for p in TABLES_FOLDER.glob("*.toml")) == sorted(m.name for m in CATALOG)


@pytest.mark.parametrize("model", CATALOG.specs, ids=lambda m: m.name)
def test_the_sql_translates_to_spark_sql(model) -> None:
    """The Synapse job runs the same files: nothing DuckDB-only may be in them."""
    (spark_sql,) = sqlglot.transpile(model.sql, read="duckdb", write="spark",
                                     unsupported_level=ErrorLevel.RAISE)
    assert isinstance(sqlglot.parse_one(spark_sql, read="spark"), sqlglot.exp.Query)


@pytest.fixture(scope="module")
def refreshed_lake(tmp_path_factory: pytest.TempPathFactory, small_shop) -> Lake:
    shop, days = small_shop
    lake = Lake.open(str(tmp_path_factory.mktemp("models") / "lake"))
    fed = fed_shop(lake, shop, days, tmp_path_factory.mktemp("exports"))
    fed.deliver(1, 4)
    fed.deliver(5, 8)  # a later customer list: segments and countries have moved on
    refresh(lake)
    return lake


@pytest.fixture(scope="module")
def refreshed(refreshed_lake: Lake) -> duckdb.DuckDBPyConnection:
    lake = refreshed_lake
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for model in CATALOG:
        con.register(model.name, lake.table(model.zone, model.table).to_pyarrow_dataset())
    return con


def test_declared_data_tests_hold_on_every_nonempty_table(
        refreshed_lake: Lake, refreshed: duckdb.DuckDBPyConnection) -> None:
    results = run_data_tests(refreshed_lake)
    assert {r.table for r in results} == {m.name for m in CATALOG}
    assert [r for r in results if not r.passed] == []
    for model in CATALOG:
        assert refreshed.execute(f"SELECT COUNT(*) FROM {model.name}").fetchone()[0] > 0


def test_a_broken_data_test_is_reported(refreshed_lake: Lake, tmp_path) -> None:
    lake = Lake.open(str(tmp_path / "lake"))
    spec = CATALOG["dim_product"]
    rows = refreshed_lake.table(spec.zone, spec.table).to_pyarrow_table()
    lake.write_table(pa.concat_tables([rows, rows.slice(0, 2)]), spec.zone, spec.table,
                     mode="overwrite")
    failing = {(r.test, r.failing_rows) for r in run_data_tests(lake) if r.table == spec.name}
    assert failing == {("unique(product_id)", 2), ("not_null(product_id)", 0),
                       ("not_null(category)", 0)}
    assert {r.test for r in run_data_tests(lake) if r.table == "fact_sales"} == {"built"}


def test_customer_versions_are_contiguous_with_one_current(
        refreshed: duckdb.DuckDBPyConnection) -> None:
    versions, customers, changed = refreshed.execute(
        "SELECT COUNT(*), COUNT(DISTINCT customer_id),"
        " COUNT(DISTINCT customer_id) FILTER (WHERE version > 1) FROM dim_customer").fetchone()
    assert changed > 0 and versions > customers  # the data has segment and country moves
    assert refreshed.execute(
        "SELECT COUNT(*) FROM (SELECT customer_id FROM dim_customer GROUP BY customer_id"
        " HAVING COUNT(*) FILTER (WHERE is_current) <> 1)").fetchone()[0] == 0
    gaps = refreshed.execute(
        "SELECT COUNT(*) FROM dim_customer a JOIN dim_customer b"
        " ON a.customer_id = b.customer_id AND b.version = a.version + 1"
        " WHERE a.valid_to IS DISTINCT FROM b.valid_from").fetchone()[0]
    assert gaps == 0


def test_each_sale_points_at_the_customer_version_of_its_moment(
        refreshed: duckdb.DuckDBPyConnection) -> None:
    unmatched = refreshed.execute(
        "SELECT COUNT(*) FROM fact_sales f LEFT JOIN dim_customer c"
        " ON c.customer_key = f.customer_key"
        " WHERE f.customer_id IS NOT NULL AND (c.customer_key IS NULL"
        " OR f.ordered_at < c.valid_from OR f.ordered_at >= COALESCE(c.valid_to, f.ordered_at"
        " + INTERVAL 1 DAY))").fetchone()[0]
    guests = refreshed.execute(
        "SELECT COUNT(*) FROM fact_sales WHERE customer_id IS NULL AND customer_key IS NOT NULL"
    ).fetchone()[0]
    assert (unmatched, guests) == (0, 0)


def test_revenue_is_quantity_times_price_and_returns_stay_negative(
        refreshed: duckdb.DuckDBPyConnection) -> None:
    wrong, returns, positive_returns = refreshed.execute(
        "SELECT COUNT(*) FILTER (WHERE revenue <> quantity * unit_price),"
        " COUNT(*) FILTER (WHERE is_return),"
        " COUNT(*) FILTER (WHERE is_return AND (quantity > 0 OR revenue > 0)) FROM fact_sales"
    ).fetchone()
    assert wrong == 0 and returns > 0 and positive_returns == 0


def test_kpis_add_up_to_the_facts(refreshed: duckdb.DuckDBPyConnection) -> None:
    by_day = refreshed.execute("SELECT SUM(net_revenue) FROM kpi_revenue_by_category_day"
                               ).fetchone()[0]
    facts = refreshed.execute("SELECT SUM(revenue) FROM fact_sales").fetchone()[0]
    lifetime = refreshed.execute("SELECT SUM(lifetime_value) FROM kpi_customer_lifetime_value"
                                 ).fetchone()[0]
    known = refreshed.execute("SELECT SUM(revenue) FROM fact_sales WHERE customer_id IS NOT NULL"
                              ).fetchone()[0]
    assert abs(by_day - facts) < 0.01 * refreshed.execute(
        "SELECT COUNT(*) FROM kpi_revenue_by_category_day").fetchone()[0]
    assert abs(lifetime - known) < 0.01 * refreshed.execute(
        "SELECT COUNT(*) FROM kpi_customer_lifetime_value").fetchone()[0]

