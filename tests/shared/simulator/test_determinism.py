"""Same seed, same shop: wholly, and day by day."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from shared.simulator import ShopConfig, SimulatedDay, SimulatedShop, simulate_shop

from .shop import CONFIG

SMALL = ShopConfig(seed=3, days=20, products=60, customers=200, sessions_per_day=300)


def test_same_seed_gives_identical_tables() -> None:
    first, second = simulate_shop(SMALL), simulate_shop(SMALL)
    assert first.products.equals(second.products)
    assert first.bundles.equals(second.bundles)
    assert first.customers.equals(second.customers)
    for a, b in zip(first.days(), second.days(), strict=True):
        assert a.date == b.date
        assert a.events.equals(b.events)
        assert a.orders.equals(b.orders)


def test_a_day_regenerated_alone_equals_the_same_day_of_a_full_run(
    shop: SimulatedShop, days: list[SimulatedDay]
) -> None:
    index = 17  # late enough that earlier days' returns and reviews fall on it
    alone = shop.day(days[index].date)
    assert alone.events.equals(days[index].events)
    assert alone.orders.equals(days[index].orders)
    planned_earlier = (alone.orders["status"].to_pylist().count("return")
                       + alone.events["event_type"].to_pylist().count("review"))
    assert planned_earlier > 0


def test_another_seed_gives_another_shop() -> None:
    other = simulate_shop(dataclasses.replace(SMALL, seed=4))
    same = simulate_shop(SMALL)
    assert not other.products.equals(same.products)
    assert not next(other.days()).events.equals(next(same.days()).events)


def test_days_outside_the_period_are_refused(shop: SimulatedShop) -> None:
    for outside in (CONFIG.start - timedelta(days=1), CONFIG.start + timedelta(days=CONFIG.days)):
        with pytest.raises(ValueError, match="outside"):
            shop.day(outside)
