"""One mid-sized simulated shop, generated once and shared by the simulator tests."""

from __future__ import annotations

import pyarrow as pa
import pytest

from shared.simulator import ShopConfig, SimulatedDay, SimulatedShop, simulate_shop

CONFIG = ShopConfig(seed=11, days=28, products=200, customers=800, sessions_per_day=800)


@pytest.fixture(scope="session")
def shop() -> SimulatedShop:
    return simulate_shop(CONFIG)


@pytest.fixture(scope="session")
def days(shop: SimulatedShop) -> list[SimulatedDay]:
    return list(shop.days())


@pytest.fixture(scope="session")
def events(days: list[SimulatedDay]) -> pa.Table:
    return pa.concat_tables([d.events for d in days])


@pytest.fixture(scope="session")
def orders(days: list[SimulatedDay]) -> pa.Table:
    return pa.concat_tables([d.orders for d in days])
