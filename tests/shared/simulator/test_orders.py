"""Orders are the purchase events, plus returns a few days later."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shared.simulator import ORDERS_SCHEMA, SimulatedDay, SimulatedShop

from .checks import of_type
from .shop import CONFIG


def _sales(orders: pa.Table) -> pa.Table:
    return orders.filter(pc.equal(orders["status"], "sale"))


def _returns(orders: pa.Table) -> pa.Table:
    return orders.filter(pc.equal(orders["status"], "return"))


def test_sold_lines_are_exactly_the_purchase_events(events: pa.Table, orders: pa.Table) -> None:
    keys = ["order_id", "product_id", "quantity", "unit_price", "customer_id", "currency"]
    purchases = of_type(events, "purchase")
    from_events = purchases.select(keys).append_column(
        "at", purchases["occurred_at"]).sort_by([(k, "ascending") for k in keys[:2]])
    sales = _sales(orders)
    from_orders = sales.select(keys).append_column(
        "at", sales["ordered_at"]).sort_by([(k, "ascending") for k in keys[:2]])
    assert from_orders.equals(from_events)


def test_orders_have_numbered_lines_and_list_prices(
    shop: SimulatedShop, days: list[SimulatedDay], orders: pa.Table
) -> None:
    assert all(d.orders.schema == ORDERS_SCHEMA for d in days)
    price = dict(zip(shop.products["product_id"].to_pylist(),
                     shop.products["price"].to_pylist(), strict=True))
    assert all(price[p] == u for p, u in zip(orders["product_id"].to_pylist(),
                                             orders["unit_price"].to_pylist(), strict=True))
    lines: dict[str, list[tuple[int, datetime]]] = defaultdict(list)
    for order, line, at in zip(*(orders[c].to_pylist() for c in
                                 ("order_id", "line_number", "ordered_at")), strict=True):
        lines[order].append((line, at))
    for numbered in lines.values():
        numbered.sort()
        assert [n for n, _ in numbered] == list(range(1, len(numbered) + 1))
        assert [t for _, t in numbered] == sorted(t for _, t in numbered)
    assert all(pc.match_substring_regex(orders["order_id"], r"^O-\d{8}-\d{5,}$").to_pylist())
    for day in days:
        dates = pc.cast(day.orders["ordered_at"], pa.date32()).to_pylist()
        assert set(dates) <= {day.date}
        assert np.all(np.diff(day.orders["ordered_at"].to_numpy().astype(np.int64)) >= 0)


def test_about_two_percent_of_lines_come_back_within_two_weeks(orders: pa.Table) -> None:
    sales, returns = _sales(orders), _returns(orders)
    assert returns.num_rows > 0
    assert pc.all(pc.less(returns["quantity"], 0)).as_py()
    sold = {(r["order_id"], r["product_id"]): r for r in sales.to_pylist()}
    sold_lines = defaultdict(int)
    for order_id, _ in sold:
        sold_lines[order_id] += 1
    for r in returns.to_pylist():
        sale = sold[(r["order_id"], r["product_id"])]
        assert -r["quantity"] <= sale["quantity"]
        assert r["customer_id"] == sale["customer_id"]
        assert r["line_number"] > sold_lines[r["order_id"]]
        days_later = (r["ordered_at"].date() - sale["ordered_at"].date()).days
        assert 1 <= days_later <= 14
    # Lines sold early enough that every return falls inside the period.
    cutoff = CONFIG.start + timedelta(days=CONFIG.days - 14)
    early = {k for k, r in sold.items() if r["ordered_at"].date() < cutoff}
    returned = {(r["order_id"], r["product_id"]) for r in returns.to_pylist()}
    assert 0.008 < len(returned & early) / len(early) < 0.04
