"""Every event honours the contract, and sessions walk a believable funnel."""

from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from jsonschema import Draft202012Validator

from shared.events.contract import FIELDS, json_schema
from shared.simulator import EVENTS_SCHEMA, ShopConfig, SimulatedDay, event_bodies, simulate_shop

from .checks import contract_violations, of_type


def test_event_columns_are_the_contracts_with_a_real_timestamp() -> None:
    assert EVENTS_SCHEMA.names == [f.name for f in FIELDS]
    assert EVENTS_SCHEMA.field("occurred_at").type == pa.timestamp("us", tz="UTC")
    assert EVENTS_SCHEMA.field("quantity").type == pa.int64()


def test_every_day_satisfies_the_contract(days: list[SimulatedDay]) -> None:
    for day in days:
        assert day.events.schema == EVENTS_SCHEMA
        assert contract_violations(day.events, day.date) == [], day.date


def test_event_ids_are_unique_across_the_whole_period(events: pa.Table) -> None:
    assert pc.count_distinct(events["event_id"]).as_py() == events.num_rows


def test_bodies_validate_against_the_published_json_schema(events: pa.Table) -> None:
    validator = Draft202012Validator(json_schema())
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(events.num_rows, 3000, replace=False))
    rare = pc.indices_nonzero(pc.is_in(events["event_type"], pa.array(["review", "purchase"])))
    rows = np.union1d(sample, rare.to_numpy().astype(np.int64))
    for body in event_bodies(events.take(rows)):
        errors = list(validator.iter_errors(orjson.loads(body)))
        assert not errors, (body, errors[0].message)


def test_all_event_types_occur_with_a_plausible_mix(events: pa.Table) -> None:
    counts = dict(zip(*pc.value_counts(events["event_type"]).flatten(), strict=True))
    counts = {k.as_py(): v.as_py() for k, v in counts.items()}
    assert set(counts) == {"page_view", "product_view", "search", "add_to_cart",
                           "remove_from_cart", "purchase", "review"}
    assert counts["product_view"] > counts["page_view"] > counts["add_to_cart"]
    assert counts["add_to_cart"] > counts["purchase"] > counts["review"]
    guests = events.filter(pc.is_null(events["customer_id"]))
    share = pc.count_distinct(guests["session_id"]).as_py() / pc.count_distinct(
        events["session_id"]).as_py()
    assert 0.2 < share < 0.4


def test_sessions_narrow_like_a_funnel(events: pa.Table) -> None:
    def sessions_with(event_type: str) -> int:
        return pc.count_distinct(of_type(events, event_type)["session_id"]).as_py()

    sessions = pc.count_distinct(events["session_id"]).as_py()
    viewing, carting, buying = (sessions_with(t) for t in
                                ("product_view", "add_to_cart", "purchase"))
    assert sessions >= viewing > carting > buying > 0
    assert 0.02 < buying / sessions < 0.15


def test_sessions_start_on_a_page_and_move_forward_in_time(events: pa.Table) -> None:
    ordered = events.sort_by([("session_id", "ascending"), ("occurred_at", "ascending")])
    session = ordered["session_id"].to_numpy(zero_copy_only=False)
    at = ordered["occurred_at"].to_numpy().astype(np.int64)
    kinds = np.array(ordered["event_type"].to_pylist())
    first = np.r_[True, session[1:] != session[:-1]]
    assert set(kinds[first]) == {"page_view"}
    gaps = np.diff(at)[~first[1:]]
    assert gaps.min() > 0  # strictly increasing within a session
    assert gaps.max() <= 20 * 60 * 1_000_000
    assert np.median(gaps) > 5_000_000  # seconds to minutes between clicks


def test_purchases_were_carted_earlier_in_the_session_and_not_removed(events: pa.Table) -> None:
    purchases = of_type(events, "purchase").select(["session_id", "product_id", "occurred_at"])
    adds = of_type(events, "add_to_cart").select(["session_id", "product_id", "occurred_at"])
    removes = of_type(events, "remove_from_cart").select(["session_id", "product_id"])
    joined = purchases.join(adds, ["session_id", "product_id"], right_suffix="_add")
    assert joined.num_rows == purchases.num_rows
    assert pc.all(pc.less(joined["occurred_at_add"], joined["occurred_at"])).as_py()
    bought_removed = purchases.join(removes, ["session_id", "product_id"], join_type="inner")
    assert bought_removed.num_rows == 0


def test_reviews_are_of_products_the_customer_bought_before(
    events: pa.Table, orders: pa.Table
) -> None:
    reviews = of_type(events, "review")
    assert reviews.num_rows > 0 and reviews["customer_id"].null_count == 0
    sales = orders.filter(pc.equal(orders["status"], "sale"))
    first_bought = sales.group_by(["customer_id", "product_id"]).aggregate(
        [("ordered_at", "min")])
    joined = reviews.join(first_bought, ["customer_id", "product_id"])
    assert joined.num_rows == reviews.num_rows
    assert pc.all(pc.less(joined["ordered_at_min"], joined["occurred_at"])).as_py()


def test_activity_follows_the_clock(events: pa.Table) -> None:
    hour = pc.hour(events["occurred_at"]).to_numpy()
    night = np.isin(hour, [2, 3, 4, 5]).mean()
    evening = np.isin(hour, [18, 19, 20, 21]).mean()
    assert evening > 3 * night


@pytest.mark.parametrize(
    "config",
    [
        ShopConfig(days=1, products=30, customers=1, sessions_per_day=5),
        ShopConfig(days=2, products=31, customers=3, sessions_per_day=0.01),  # empty days
        ShopConfig(days=3, products=30, customers=5, sessions_per_day=50, guest_share=1.0),
        ShopConfig(days=3, products=30, customers=5, sessions_per_day=50, guest_share=0.0,
                   late_signup_share=1.0),
        ShopConfig(days=20, products=30, customers=50, sessions_per_day=100, guest_share=0.0,
                   return_rate=1.0, review_rate=1.0, bundle_affinity=1.0,
                   segment_change_share=1.0, country_change_share=1.0),
    ],
    ids=["one-day", "empty-days", "all-guests", "late-signups", "extreme-rates"],
)
def test_edge_configurations_stay_valid(config: ShopConfig) -> None:
    shop = simulate_shop(config)
    for day in shop.days():
        assert contract_violations(day.events, day.date) == []
        purchases = day.events["event_type"].to_pylist().count("purchase")
        assert day.orders["status"].to_pylist().count("sale") == purchases
        assert len(event_bodies(day.events)) == day.events.num_rows
        if day.orders.num_rows:
            keys = pc.binary_join_element_wise(
                day.orders["order_id"], day.orders["line_number"].cast(pa.string()), "#")
            assert pc.count_distinct(keys).as_py() == day.orders.num_rows
