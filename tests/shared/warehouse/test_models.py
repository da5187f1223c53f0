"""The transforms as declared: one SQL file per model, Spark-translatable, keys that hold."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from shared.lake import Lake
from shared.warehouse.models import MODELS, SQL_FOLDER
from shared.warehouse.refresh import refresh
from tests.shared.warehouse.conftest import FedShop


def test_every_sql_file_is_a_model_and_every_model_has_one() -> None:
    assert sorted(p.stem for p in SQL_FOLDER.glob("*.sql")) == sorted(m.name for m in MODELS)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_the_sql_translates_to_spark_sql(model) -> None:
    """The Synapse job runs the same files: nothing DuckDB-only may be in them."""
    (spark_sql,) = sqlglot.transpile(model.sql, read="duckdb", write="spark",
                                     unsupported_level=ErrorLevel.RAISE)
    assert isinstance(sqlglot.parse_one(spark_sql, read="spark"), sqlglot.exp.Query)


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory: pytest.TempPathFactory, small_shop) -> duckdb.DuckDBPyConnection:
    from shared.feed import ShopFeed
    from shared.services import Services
    from shared.settings import Settings

    shop, days = small_shop
    lake = Lake.open(str(tmp_path_factory.mktemp("models") / "lake"))
    feed = ShopFeed(Services(Settings(lake_url=lake.url), lake=lake),
                    tmp_path_factory.mktemp("exports"))
    feed.upload(shop.products, "shop_products", "products.csv")
    fed = FedShop(lake, shop, days, feed)
    fed.deliver(1, 4)
    fed.deliver(5, 8)  # a later customer list: segments and countries have moved on
    refresh(lake)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for model in MODELS:
        con.register(model.name, lake.table(model.zone, model.table).to_pyarrow_dataset())
    return con


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_declared_keys_are_unique_and_present(refreshed: duckdb.DuckDBPyConnection,
                                              model) -> None:
    key = ", ".join(model.key)
    rows, distinct, missing = refreshed.execute(
        f"SELECT COUNT(*), COUNT(DISTINCT ({key})), COUNT(*) FILTER (WHERE "
        + " OR ".join(f"{column} IS NULL" for column in model.key if column != "product_id"
                      or model.name != "fact_events")
        + f") FROM {model.name}").fetchone()
    assert rows > 0
    assert (distinct, missing) == (rows, 0)


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

