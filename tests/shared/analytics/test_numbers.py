"""Every figure the KPIs answer, recomputed another way and compared.

The expected figures come from DuckDB over the curated tables at their finest grain
(`fact_sales`, one row per order line, rather than the daily KPI tables the answers read),
and ingest health from the raw and quarantine files themselves rather than ingestion's
records, for several periods and a category.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal

import duckdb
import numpy as np
import orjson
import pyarrow.dataset as ds
import pytest

from shared.analytics import KPIS, KpiFilters, KpiReader
from shared.batch.ledger import ledger_entries
from shared.lake import Lake, Zone

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def duck(kpi_lake: Lake) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table in ("fact_sales", "dim_product", "kpi_conversion_funnel", "dim_date"):
        con.register(table, kpi_lake.table(Zone.CURATED, table).to_pyarrow_dataset())
    con.execute("""CREATE VIEW sales AS SELECT *, NOT is_return AND quantity > 0 AS is_sale
                   FROM fact_sales""")
    return con


@pytest.fixture(scope="module")
def periods(duck: duckdb.DuckDBPyConnection) -> list[KpiFilters]:
    ((first, last),) = duck.sql("SELECT MIN(date), MAX(date) FROM dim_date").fetchall()
    category = duck.sql("SELECT MIN(category) FROM dim_product").fetchall()[0][0]
    middle = [first + timedelta(days=2), last - timedelta(days=2)]
    return [KpiFilters(), KpiFilters(*middle), KpiFilters(category=category),
            KpiFilters(*middle, category=category), KpiFilters(last, last, limit=3)]


def answer(reader: KpiReader, name: str, filters: KpiFilters) -> dict:
    spec = KPIS[name]
    applicable = KpiFilters(
        filters.date_from, filters.date_to,
        filters.category if "category" in spec.filters else None,
        filters.limit if "limit" in spec.filters else None)
    return orjson.loads(reader.answer(name, applicable))


def rows(duck: duckdb.DuckDBPyConnection, sql: str, **params: object) -> list[dict]:
    return duck.sql(sql, params=params).to_arrow_table().to_pylist()


def money(value: object) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def period_of(found: dict) -> tuple[date, date]:
    return (date.fromisoformat(found["filters"]["from"]),
            date.fromisoformat(found["filters"]["to"]))


def test_revenue_by_category_is_the_order_lines_summed(reader: KpiReader, duck, periods) -> None:
    for filters in periods:
        found = answer(reader, "revenue_by_category", filters)
        first, last = period_of(found)
        expected = rows(duck, """
            SELECT CAST(order_date AS VARCHAR) AS order_date, category,
                COUNT(DISTINCT order_id) FILTER (WHERE is_sale) AS orders,
                SUM(quantity) FILTER (WHERE is_sale) AS units_sold,
                -SUM(quantity) FILTER (WHERE is_return) AS units_returned,
                SUM(revenue) FILTER (WHERE is_sale) AS gross_revenue,
                -SUM(revenue) FILTER (WHERE is_return) AS returned_revenue,
                SUM(revenue) AS net_revenue, COUNT(DISTINCT customer_id) AS customers
            FROM sales WHERE order_date BETWEEN $first AND $last
                AND ($category IS NULL OR category = $category)
            GROUP BY ALL ORDER BY order_date, category""",
            first=first, last=last, category=filters.category)
        assert len(found["rows"]) == len(expected) > 0
        for got, want in zip(found["rows"], expected, strict=True):
            assert (got["order_date"], got["category"]) == (want["order_date"], want["category"])
            assert got["orders"] == want["orders"]
            assert got["units_sold"] == (want["units_sold"] or 0)
            assert got["units_returned"] == (want["units_returned"] or 0)
            assert got["customers"] == want["customers"]
            for column in ("gross_revenue", "returned_revenue", "net_revenue"):
                assert money(got[column]) == money(want[column] or 0), column


def test_headline_figures_and_their_previous_period(reader: KpiReader, duck, periods) -> None:
    for filters in periods:
        found = answer(reader, "headline", filters)
        first, last = period_of(found)
        length = (last - first).days + 1
        figures = {row["metric"]: row for row in found["rows"]}
        assert list(figures) == ["net_revenue", "orders", "units_sold", "average_order_value",
                                 "new_customers", "conversion_rate"]
        for start, end, key in ((first, last, "value"),
                                (first - timedelta(days=length), first - timedelta(days=1),
                                 "previous")):
            ((net, orders, units, gross),) = duck.sql("""
                SELECT COALESCE(SUM(revenue), 0),
                    COUNT(DISTINCT order_id) FILTER (WHERE is_sale),
                    COALESCE(SUM(quantity) FILTER (WHERE is_sale), 0),
                    COALESCE(SUM(revenue) FILTER (WHERE is_sale), 0)
                FROM sales WHERE order_date BETWEEN $start AND $end
                    AND ($category IS NULL OR category = $category)""",
                params={"start": start, "end": end, "category": filters.category}).fetchall()
            ((new,),) = duck.sql("""
                SELECT COUNT(*) FROM (SELECT customer_id, MIN(order_date) AS first_purchase
                    FROM sales WHERE is_sale AND customer_id IS NOT NULL GROUP BY customer_id)
                WHERE first_purchase BETWEEN $start AND $end""",
                params={"start": start, "end": end}).fetchall()
            ((sessions, purchases),) = duck.sql("""
                SELECT SUM(sessions), SUM(purchase_sessions) FROM kpi_conversion_funnel
                WHERE event_date BETWEEN $start AND $end""",
                params={"start": start, "end": end}).fetchall()
            assert money(figures["net_revenue"][key]) == money(net)
            assert figures["orders"][key] == orders
            assert figures["units_sold"][key] == units
            assert figures["new_customers"][key] == new
            expected_aov = money(gross / orders) if orders else None
            got_aov = figures["average_order_value"][key]
            assert (got_aov and money(got_aov)) == expected_aov
            expected_rate = purchases / sessions if sessions else None
            assert figures["conversion_rate"][key] == pytest.approx(expected_rate)
        for row in figures.values():
            expected_change = ((row["value"] - row["previous"]) / row["previous"]
                               if row["previous"] else None)
            assert row["change"] == pytest.approx(expected_change)


def test_top_products_rank_the_period_by_net_revenue(reader: KpiReader, duck, periods) -> None:
    for filters in periods:
        found = answer(reader, "top_products", filters)
        first, last = period_of(found)
        expected = rows(duck, """
            SELECT s.product_id, ANY_VALUE(p.name) AS name, s.category,
                SUM(quantity) FILTER (WHERE is_sale) AS units_sold, SUM(revenue) AS net_revenue,
                COUNT(DISTINCT order_id) FILTER (WHERE is_sale) AS orders
            FROM sales AS s LEFT JOIN dim_product AS p USING (product_id)
            WHERE order_date BETWEEN $first AND $last
                AND ($category IS NULL OR s.category = $category)
            GROUP BY s.product_id, s.category ORDER BY net_revenue DESC, s.product_id
            LIMIT $limit""", first=first, last=last, category=filters.category,
            limit=found["filters"]["limit"])
        assert [row["rank"] for row in found["rows"]] == list(range(1, len(expected) + 1))
        assert [(r["product_id"], r["name"], r["category"], r["units_sold"] or 0, r["orders"],
                 money(r["net_revenue"])) for r in found["rows"]] == [
            (r["product_id"], r["name"], r["category"], r["units_sold"] or 0, r["orders"],
             money(r["net_revenue"])) for r in expected]


def customers_first_seen(duck: duckdb.DuckDBPyConnection, first: date, last: date) -> list[dict]:
    return rows(duck, """
        SELECT customer_id, SUM(revenue) AS lifetime_value,
            COUNT(DISTINCT order_id) FILTER (WHERE is_sale) AS orders
        FROM sales WHERE customer_id IS NOT NULL GROUP BY customer_id
        HAVING MIN(order_date) BETWEEN $first AND $last
        ORDER BY lifetime_value DESC, customer_id""", first=first, last=last)


def test_top_customers_are_the_most_valuable_first_seen_in_the_period(
        reader: KpiReader, duck, periods) -> None:
    for filters in periods:
        found = answer(reader, "customer_lifetime_value", filters)
        expected = customers_first_seen(duck, *period_of(found))[:found["filters"]["limit"]]
        assert [(r["customer_id"], money(r["lifetime_value"]), r["orders"])
                for r in found["rows"]] == [
            (r["customer_id"], money(r["lifetime_value"]), r["orders"]) for r in expected]


def test_the_value_distribution_counts_every_customer_in_round_bins(
        reader: KpiReader, duck, periods) -> None:
    for filters in periods:
        found = answer(reader, "customer_value_distribution", filters)
        values = np.array([float(r["lifetime_value"]) for r in customers_first_seen(
            duck, *period_of(found))])
        raw = max(float(np.quantile(values, 0.95)) if len(values) else 0, 1) / 20
        magnitude = 10 ** math.floor(math.log10(raw))
        width = next(m * magnitude for m in (1, 2, 5, 10) if raw <= m * magnitude)
        bins = np.clip(np.floor(values / width), -1, 20).astype(int)
        expected = {b: int((bins == b).sum()) for b in range(-1, 21)
                    if 0 <= b < 20 or (bins == b).any()}
        got = {(-1 if r["value_from"] is None else round(r["value_from"] / width)): r["customers"]
               for r in found["rows"]}
        assert got == expected
        assert sum(got.values()) == len(values)
        assert all(r["value_to"] is None or r["value_to"] - (r["value_from"] or 0)
                   == pytest.approx(width) for r in found["rows"] if r["value_from"] is not None)


def test_the_funnel_sums_the_daily_stages(reader: KpiReader, duck, periods) -> None:
    for filters in periods:
        found = answer(reader, "conversion_funnel", filters)
        first, last = period_of(found)
        ((sessions, viewed, carted, bought),) = duck.sql("""
            SELECT SUM(sessions), SUM(product_view_sessions), SUM(cart_sessions),
                SUM(purchase_sessions) FROM kpi_conversion_funnel
            WHERE event_date BETWEEN $first AND $last""",
            params={"first": first, "last": last}).fetchall()
        assert [(r["stage"], r["sessions"]) for r in found["rows"]] == [
            ("sessions", sessions), ("product_view", viewed), ("add_to_cart", carted),
            ("purchase", bought)]
        assert found["rows"][3]["rate_from_previous"] == pytest.approx(bought / carted)
        assert found["rows"][3]["share_of_sessions"] == pytest.approx(bought / sessions)


def test_new_and_returning_customers_per_day(reader: KpiReader, duck, periods) -> None:
    for filters in periods:
        found = answer(reader, "new_vs_returning", filters)
        first, last = period_of(found)
        expected = rows(duck, """
            WITH firsts AS (SELECT customer_id, MIN(order_date) AS first_purchase FROM sales
                            WHERE is_sale AND customer_id IS NOT NULL GROUP BY customer_id)
            SELECT CAST(order_date AS VARCHAR) AS order_date,
                COUNT(DISTINCT customer_id) FILTER (WHERE is_sale AND order_date = first_purchase)
                    AS new_customers,
                COUNT(DISTINCT customer_id) FILTER (WHERE is_sale AND order_date > first_purchase)
                    AS returning_customers,
                COUNT(DISTINCT order_id) FILTER (WHERE is_sale AND customer_id IS NULL)
                    AS guest_orders,
                SUM(revenue) AS net_revenue
            FROM sales LEFT JOIN firsts USING (customer_id)
            WHERE order_date BETWEEN $first AND $last GROUP BY ALL ORDER BY order_date""",
            first=first, last=last)
        assert [(r["order_date"], r["new_customers"], r["returning_customers"], r["guest_orders"],
                 money(r["new_customer_revenue"] + r["returning_customer_revenue"]
                       + r["guest_revenue"])) for r in found["rows"]] == [
            (r["order_date"], r["new_customers"], r["returning_customers"], r["guest_orders"],
             money(r["net_revenue"])) for r in expected]


def test_ingest_health_counts_the_raw_and_quarantined_records(
        reader: KpiReader, kpi_lake: Lake, periods) -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    raw = kpi_lake.path(Zone.RAW, "events")
    quarantined = kpi_lake.path(Zone.QUARANTINE, "events")
    con.execute(f"""CREATE VIEW event_rows AS
        SELECT regexp_extract(filename, '([^/]+)[.]parquet$', 1) AS batch, enqueued_at,
            'landed' AS outcome FROM read_parquet('{raw}/*/*.parquet', filename = true)
        UNION ALL
        SELECT regexp_extract(filename, '([^/]+)[.]parquet$', 1), enqueued_at, reason
        FROM read_parquet('{quarantined}/*/*.parquet', filename = true)""")
    landed_at = {e["sha256"]: e["landed_at"][:10] for e in ledger_entries(kpi_lake)}
    con.register("landed_rows", ds.dataset(kpi_lake.path(Zone.RAW, "landed"), format="parquet",
                                           partitioning=["dataset"]).to_table(
        columns=["dataset", "landed_at"]))
    quarantine = ds.dataset(kpi_lake.path(Zone.QUARANTINE, "batch"), format="parquet",
                            partitioning=["dataset"], exclude_invalid_files=True)
    con.register("quarantined_rows", quarantine.to_table(columns=["dataset", "source_file",
                                                                  "reason"]))
    con.register("upload_days", duckdb.sql("SELECT * FROM (VALUES " + ", ".join(
        f"('{sha}', DATE '{day}')" for sha, day in landed_at.items()) + ") t(sha, day)"
    ).to_arrow_table())
    expected = {
        (str(day), source, outcome): count for day, source, outcome, count in con.sql("""
            WITH batches AS (SELECT batch, CAST(MIN(enqueued_at) AS DATE) AS day
                             FROM event_rows GROUP BY batch)
            SELECT day, 'events', outcome, COUNT(*) FROM event_rows JOIN batches USING (batch)
            GROUP BY ALL
            UNION ALL
            SELECT CAST(landed_at AS DATE), dataset, 'landed', COUNT(*) FROM landed_rows
            GROUP BY ALL
            UNION ALL
            SELECT u.day, q.dataset, q.reason, COUNT(*) FROM quarantined_rows AS q
            JOIN upload_days AS u ON u.sha = q.source_file GROUP BY ALL""").fetchall()}
    assert any(source == "events" and outcome != "landed" for _, source, outcome in expected)
    assert any(source == "order_lines" and outcome != "landed" for _, source, outcome in expected)
    ((first, last),) = con.sql("SELECT MIN(CAST(enqueued_at AS DATE)), MAX(CAST(landed_at AS DATE))"
                               " FROM event_rows, landed_rows").fetchall()
    found = orjson.loads(reader.answer("ingest_health", KpiFilters(first, last)))
    assert {(r["received_date"], r["source"], r["outcome"]): r["records"]
            for r in found["rows"]} == expected
