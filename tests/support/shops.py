"""A lake fed with a small simulated shop through the production paths, and the refreshed
tables of two lakes compared."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa

from shared.lake import Lake
from shared.settings import Settings
from shared.simulator import ShopConfig, SimulatedDay, SimulatedShop
from shared.warehouse.specs import CATALOG, Catalog
from shoplake.feed import ShopFeed
from shoplake.services import Services


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


def fed_shop(lake: Lake, shop: SimulatedShop, days: list[SimulatedDay],
             exports: Path) -> FedShop:
    """The shop's catalogue uploaded to `lake` (its exports written in `exports`), nothing
    else yet."""
    feed = ShopFeed(Services(Settings(lake_url=lake.url), lake=lake), exports)
    feed.upload(shop.products, "shop_products", "products.csv")
    return FedShop(lake, shop, days, feed)


def changed_catalogue(fed: FedShop) -> pa.Table:
    """The catalogue with the first product moved to another category."""
    products = fed.shop.products
    categories = products["category"].to_pylist()
    categories[0] = next(c for c in categories if c != categories[0])
    return products.set_column(products.schema.get_field_index("category"), "category",
                               pa.array(categories))


def snapshot(lake: Lake, catalog: Catalog = CATALOG) -> dict[str, pa.Table]:
    """Every refreshed table's rows in a canonical order (for equality across runs)."""
    tables = {}
    for model in catalog:
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
