"""Headline figures read back from the curated KPI tables (for the demo, CLI and API)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shared.lake import Lake
from shared.warehouse.engine import DuckDBEngine
from shared.warehouse.specs import CATALOG


@dataclass(frozen=True)
class Headline:
    revenue_by_category: list[dict]
    """Per category over the whole history, largest net revenue first (an order with
    products of several categories counts in each)."""
    top_products: list[dict]
    top_customers: list[dict]
    funnel: dict
    """Sessions at each stage, summed over all days."""
    net_revenue: Decimal
    orders: int


def headline(lake: Lake, top: int = 5) -> Headline:
    with DuckDBEngine() as engine:
        for table in ("kpi_revenue_by_category_day", "kpi_top_products",
                      "kpi_customer_lifetime_value", "kpi_conversion_funnel", "fact_sales"):
            spec = CATALOG[table]
            engine.bind(table, lake.table(spec.zone, spec.table).to_pyarrow_dataset())
        by_category = engine.table(
            "SELECT category, SUM(orders) AS orders, SUM(units_sold) AS units,"
            " SUM(net_revenue) AS net_revenue FROM kpi_revenue_by_category_day"
            " GROUP BY category ORDER BY net_revenue DESC, category").to_pylist()
        products = engine.table(
            "SELECT overall_rank AS rank, product_id, name, category, units_sold, net_revenue"
            f" FROM kpi_top_products WHERE overall_rank <= {int(top)}"
            " ORDER BY overall_rank").to_pylist()
        customers = engine.table(
            "SELECT customer_id, segment, country, orders, lifetime_value"
            " FROM kpi_customer_lifetime_value"
            f" ORDER BY lifetime_value DESC, customer_id LIMIT {int(top)}").to_pylist()
        funnel = engine.table(
            "SELECT COALESCE(SUM(sessions), 0) AS sessions,"
            " COALESCE(SUM(product_view_sessions), 0) AS product_view,"
            " COALESCE(SUM(cart_sessions), 0) AS add_to_cart,"
            " COALESCE(SUM(purchase_sessions), 0) AS purchase"
            " FROM kpi_conversion_funnel").to_pylist()[0]
        orders = engine.table("SELECT COUNT(DISTINCT order_id) AS n FROM fact_sales"
                              " WHERE NOT is_return AND quantity > 0")["n"][0].as_py()
    return Headline(
        revenue_by_category=by_category,
        top_products=products,
        top_customers=customers,
        funnel=funnel,
        net_revenue=sum((row["net_revenue"] for row in by_category), Decimal(0)),
        orders=orders,
    )
