"""The structure planted for analytics and the recommender is there to be found."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shared.simulator import SimulatedDay, SimulatedShop

from .checks import of_type


def test_weekends_are_about_thirty_percent_busier(days: list[SimulatedDay]) -> None:
    weekend = [d.events.num_rows for d in days if d.date.weekday() >= 5]
    weekday = [d.events.num_rows for d in days if d.date.weekday() < 5]
    assert 1.15 < np.mean(weekend) / np.mean(weekday) < 1.45


def test_a_few_products_draw_most_views(shop: SimulatedShop, events: pa.Table) -> None:
    views = pc.value_counts(of_type(events, "product_view")["product_id"]).field("counts")
    counts = np.sort(views.to_numpy())[::-1]
    top_tenth = counts[: shop.products.num_rows // 10].sum() / counts.sum()
    assert 1 / 3 < top_tenth < 0.9


def test_loyal_customers_convert_better_than_new_ones(
    shop: SimulatedShop, events: pa.Table
) -> None:
    segment = dict(zip(shop.customers["customer_id"].to_pylist(),
                       shop.customers["segment"].to_pylist(), strict=True))
    sessions: dict[str, set[str]] = defaultdict(set)
    buying: dict[str, set[str]] = defaultdict(set)
    for customer, session, kind in zip(events["customer_id"].to_pylist(),
                                       events["session_id"].to_pylist(),
                                       events["event_type"].to_pylist(), strict=True):
        if customer is not None:
            sessions[segment[customer]].add(session)
            if kind == "purchase":
                buying[segment[customer]].add(session)
    rate = {s: len(buying[s]) / len(sessions[s]) for s in sessions}
    assert rate["new"] < rate["regular"] < rate["vip"]
    per_customer = Counter(c for c in events["customer_id"].to_pylist() if c is not None)
    mean_events = {s: np.mean([n for c, n in per_customer.items() if segment[c] == s])
                   for s in ("new", "vip")}
    assert mean_events["vip"] > 2 * mean_events["new"]


def test_customers_keep_to_one_or_two_favourite_categories(
    shop: SimulatedShop, events: pa.Table
) -> None:
    category = dict(zip(shop.products["product_id"].to_pylist(),
                        shop.products["category"].to_pylist(), strict=True))
    views = of_type(events, "product_view").filter(
        pc.is_valid(of_type(events, "product_view")["customer_id"]))
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    for customer, product in zip(views["customer_id"].to_pylist(),
                                 views["product_id"].to_pylist(), strict=True):
        seen[customer][category[product]] += 1
    shares = [sum(n for _, n in c.most_common(2)) / c.total()
              for c in seen.values() if c.total() >= 30]
    guest_views = Counter(category[p] for p in of_type(events, "product_view").filter(
        pc.is_null(of_type(events, "product_view")["customer_id"]))["product_id"].to_pylist())
    everyone = sum(n for _, n in guest_views.most_common(2)) / guest_views.total()
    assert len(shares) > 50
    assert np.mean(shares) > everyone + 0.25


def _pairs_lift(baskets: list[set[str]], bundle: dict[str, str]) -> dict[bool, float]:
    """Observed over expected co-occurrences, for same-bundle and other product pairs."""
    baskets = [b for b in baskets if len(b) > 1]
    bought = Counter(p for b in baskets for p in b)
    together = Counter(pair for b in baskets for pair in itertools.combinations(sorted(b), 2))
    observed = {True: 0, False: 0}
    expected = {True: 0.0, False: 0.0}
    for a, b in itertools.combinations(sorted(bought), 2):
        same = bundle[a] == bundle[b]
        observed[same] += together[(a, b)]
        expected[same] += bought[a] * bought[b] / len(baskets)
    return {k: observed[k] / expected[k] for k in observed}


def test_bundle_members_are_bought_together(shop: SimulatedShop, orders: pa.Table) -> None:
    bundle = dict(zip(shop.bundles["product_id"].to_pylist(),
                      shop.bundles["bundle_id"].to_pylist(), strict=True))
    sales = orders.filter(pc.equal(orders["status"], "sale"))
    rows = list(zip(*(sales[c].to_pylist() for c in ("order_id", "customer_id", "product_id")),
                    strict=True))
    by_order: dict[str, set[str]] = defaultdict(set)
    for order, _, product in rows:
        by_order[order].add(product)
    lift = _pairs_lift(list(by_order.values()), bundle)
    assert lift[True] >= 5 * lift[False]

    # ... and across a customer's separate orders (a later session), not only in one cart.
    by_customer: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for order, customer, product in rows:
        if customer is not None:
            by_customer[customer].append((order, product))
    cross = Counter(
        bundle[p] == bundle[q]
        for lines in by_customer.values()
        for (o, p), (r, q) in itertools.combinations(lines, 2)
        if o != r and p != q
    )
    popularity = Counter(p for _, _, p in rows)
    same = sum(popularity[p] * popularity[q] for p, q in itertools.permutations(popularity, 2)
               if bundle[p] == bundle[q])
    pairs = sum(popularity.values()) ** 2 - sum(n * n for n in popularity.values())
    assert cross[True] / cross.total() > 2.5 * same / pairs
