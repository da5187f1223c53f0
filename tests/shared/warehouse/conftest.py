"""A lake fed with a small simulated shop through the production paths."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from shared.feed import ShopFeed
from shared.lake import Lake
from shared.services import Services
from shared.settings import Settings
from shared.simulator import ShopConfig, SimulatedDay, SimulatedShop, simulate_shop
from shared.warehouse.models import MODELS


@dataclass
class FedShop:
    lake: Lake
    shop: SimulatedShop
    days: list[SimulatedDay]
    feed: ShopFeed

    def deliver(self, first: int, last: int) -> None:
        """Days first..last (1-based): events, orders, and the customer list as of `last`."""
        for day in self.days[first - 1:last]:
            self.feed.events(day)
            self.feed.orders(day)
        as_of = self.days[last - 1].date
        self.feed.upload(self.shop.customers_as_of(as_of), "shop_customers",
                         f"customers-{as_of}.csv")


SMALL_SHOP = ShopConfig(seed=5, start=date(2026, 10, 1), days=8, products=60, customers=300,
                        sessions_per_day=120, return_rate=0.3, segment_change_share=0.3,
                        country_change_share=0.1)


@pytest.fixture(scope="session")
def small_shop() -> tuple[SimulatedShop, list[SimulatedDay]]:
    shop = simulate_shop(SMALL_SHOP)
    return shop, list(shop.days())


@pytest.fixture
def fed_shop(tmp_path: Path, small_shop: tuple[SimulatedShop, list[SimulatedDay]]
             ) -> Callable[[Lake], FedShop]:
    """A factory: the small shop's catalogue uploaded to the given lake, nothing else yet."""
    shop, days = small_shop

    def make(lake: Lake) -> FedShop:
        feed = ShopFeed(Services(Settings(lake_url=lake.url), lake=lake), tmp_path / "exports")
        feed.upload(shop.products, "shop_products", "products.csv")
        return FedShop(lake, shop, days, feed)

    return make


def snapshot(lake: Lake) -> dict[str, pa.Table]:
    """Every refreshed table's rows in a canonical order (for equality across runs)."""
    tables = {}
    for model in MODELS:
        rows = lake.table(model.zone, model.table).to_pyarrow_table()
        rows = rows.select(sorted(rows.column_names))
        tables[model.name] = rows.sort_by([(name, "ascending") for name in rows.column_names
                                           if not pa.types.is_nested(rows.schema.field(name).type)])
    return tables


def assert_same_tables(left: dict[str, pa.Table], right: dict[str, pa.Table]) -> None:
    assert left.keys() == right.keys()
    for name in left:
        assert left[name].schema == right[name].schema, name
        assert left[name].num_rows == right[name].num_rows, name
        assert left[name].equals(right[name]), f"{name} differs"


def count(table: pa.Table, mask: pa.Array | None = None) -> int:
    return table.num_rows if mask is None else pc.sum(pc.cast(mask, pa.int64())).as_py() or 0
