"""A lake fed with a small simulated shop through the production paths (tests/support/shops.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from shared.lake import Lake
from shared.simulator import SimulatedDay, SimulatedShop, simulate_shop
from tests.support.shops import SMALL_SHOP, FedShop, fed_shop


@pytest.fixture(scope="session")
def small_shop() -> tuple[SimulatedShop, list[SimulatedDay]]:
    shop = simulate_shop(SMALL_SHOP)
    return shop, list(shop.days())


@pytest.fixture(name="fed_shop")
def fed_shop_factory(tmp_path: Path, small_shop: tuple[SimulatedShop, list[SimulatedDay]]
                     ) -> Callable[[Lake], FedShop]:
    """A factory: the small shop's catalogue uploaded to the given lake, nothing else yet."""
    shop, days = small_shop
    return lambda lake: fed_shop(lake, shop, days, tmp_path / "exports")
