"""One mid-sized simulated shop, generated once and shared by the simulator tests."""

from __future__ import annotations

import pyarrow as pa
import pytest

from shared.simulator import SimulatedDay, SimulatedShop, simulate_shop

from .shop import CONFIG


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
