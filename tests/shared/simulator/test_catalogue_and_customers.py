"""Products and customers look like a shop's, and customer records change over time."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import numpy as np
import pyarrow.compute as pc

from shared.simulator import SimulatedShop
from shared.simulator.catalogue import CATEGORIES

from .shop import CONFIG


def test_products_have_ids_names_categories_and_prices(shop: SimulatedShop) -> None:
    products = shop.products
    assert products.column_names == ["product_id", "name", "category", "price", "currency"]
    assert products.num_rows == CONFIG.products
    ids = products["product_id"].to_pylist()
    assert ids[16] == "P00017" and len(set(ids)) == len(ids)
    assert all(len(name.split()) >= 3 for name in products["name"].to_pylist())
    assert set(products["category"].to_pylist()) == {c.name for c in CATEGORIES}
    price = products["price"].to_numpy()
    assert price.min() > 0 and np.allclose(price, np.round(price, 2))
    by_category = {
        c: np.median(price[np.array(products["category"].to_pylist()) == c])
        for c in ("Stationery", "Sports & Outdoors")
    }
    assert by_category["Stationery"] < by_category["Sports & Outdoors"]
    assert set(products["currency"].to_pylist()) == {"GBP"}


def test_bundles_are_small_groups_within_a_category(shop: SimulatedShop) -> None:
    category = dict(zip(shop.products["product_id"].to_pylist(),
                        shop.products["category"].to_pylist(), strict=True))
    members: dict[str, list[str]] = {}
    for bundle, product in zip(*(shop.bundles[c].to_pylist() for c in shop.bundles.column_names),
                               strict=True):
        members.setdefault(bundle, []).append(product)
    assert sum(len(m) for m in members.values()) == CONFIG.products
    assert all(3 <= len(m) <= 5 for m in members.values())
    assert all(len({category[p] for p in m}) == 1 for m in members.values())


def test_customers_look_real(shop: SimulatedShop) -> None:
    customers = shop.customers
    assert customers.column_names == [
        "customer_id", "name", "email", "segment", "country", "signup_date", "updated_at"
    ]
    assert customers.num_rows == CONFIG.customers
    assert pc.count_distinct(customers["email"]).as_py() == CONFIG.customers
    assert all(pc.match_substring_regex(customers["email"], r"^[a-z.]+\d+@[a-z.]+$").to_pylist())
    countries = Counter(customers["country"].to_pylist())
    assert countries.most_common(1)[0][0] == "United Kingdom"
    assert countries["United Kingdom"] / CONFIG.customers > 0.7
    assert set(customers["segment"].to_pylist()) == {"new", "regular", "loyal", "vip"}
    last = CONFIG.start + timedelta(days=CONFIG.days - 1)
    assert max(customers["signup_date"].to_pylist()) <= last


def test_exports_on_different_days_differ_like_a_slowly_changing_dimension(
    shop: SimulatedShop,
) -> None:
    first_day = shop.customers_as_of(CONFIG.start)
    last_day = shop.customers_as_of(CONFIG.start + timedelta(days=CONFIG.days - 1))
    assert last_day.equals(shop.customers)
    assert first_day.num_rows < last_day.num_rows  # some sign up during the period
    before = {r["customer_id"]: r for r in first_day.to_pylist()}
    after = {r["customer_id"]: r for r in last_day.to_pylist() if r["customer_id"] in before}
    segment_moves = [c for c in after if after[c]["segment"] != before[c]["segment"]]
    country_moves = [c for c in after if after[c]["country"] != before[c]["country"]]
    assert 0.01 < len(segment_moves) / len(after) < 0.1
    assert 0 < len(country_moves) < len(segment_moves)
    changed = set(segment_moves) | set(country_moves)
    for c, row in after.items():
        assert (row["updated_at"] > before[c]["updated_at"]) == (c in changed)
        assert row["name"] == before[c]["name"] and row["email"] == before[c]["email"]
