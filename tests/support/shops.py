"""A lake fed with a small simulated shop through the production paths, and the refreshed
tables of two lakes compared."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from shared.batch.ingest import upload_file
from shared.batch.mapping import load_mapping
from shared.events.ingest import EventBatch
from shared.lake import Lake
from shared.settings import Settings
from shared.simulator import ShopConfig, SimulatedDay, SimulatedShop, simulate_shop
from shared.warehouse import refresh
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


POISON = [b"not json", b'{"event_type": "teleport"}', b"{}"]
POISON_AT = datetime(2026, 10, 3, 12)
BAD_ORDER_LINE = '"O-BAD-1",1,"2026-10-04T10:00:00Z","C00001","P00001",lots,9.99,"GBP","sale"\n'


def build_kpi_lake(root: Path) -> Path:
    """The small shop delivered whole, with a few poison events and an export with a damaged
    line, refreshed: every KPI has rows, ingest health has quarantines of both kinds."""
    lake = Lake.open(str(root / "lake"))
    shop = simulate_shop(SMALL_SHOP)
    fed = fed_shop(lake, shop, list(shop.days()), root / "exports")
    fed.deliver(1, len(fed.days))
    fed.feed.services.ingest(EventBatch(
        "eventhub", "9", POISON, np.arange(len(POISON), dtype=np.int64),
        np.full(len(POISON), np.datetime64(POISON_AT, "us"))))
    damaged = root / "exports" / "orders-damaged.csv"
    first_export = sorted((root / "exports").glob("orders-*.csv"))[0]
    damaged.write_text(first_export.read_text() + BAD_ORDER_LINE)
    upload_file(lake, damaged, load_mapping("shop_orders"))
    refresh(lake)
    return root / "lake"


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


def assert_same_rows(left: pa.Table, right: pa.Table, name: str,
                     float_tolerance: float = 1e-9) -> None:
    """Equal as sets of rows and in schema: every column exact (decimals too) but floats,
    which may differ in the last digits (engines sum in different orders)."""
    assert left.schema == right.schema, f"{name}: {left.schema} != {right.schema}"
    assert left.num_rows == right.num_rows, f"{name}: {left.num_rows} != {right.num_rows} rows"
    floats = [field.name for field in left.schema if pa.types.is_floating(field.type)]
    exact = [column for column in left.column_names if column not in floats]
    order = [(column, "ascending") for column in exact + floats]
    left, right = left.sort_by(order), right.sort_by(order)
    for column in exact:
        if not left[column].equals(right[column]):
            first = next(i for i, (a, b) in enumerate(zip(left[column].to_pylist(),
                                                          right[column].to_pylist(),
                                                          strict=True)) if a != b)
            raise AssertionError(f"{name}.{column} differs, first in row "
                                 f"{left.slice(first, 1).to_pylist()} != "
                                 f"{right.slice(first, 1).to_pylist()}")
    for column in floats:
        for a, b in zip(left[column].to_pylist(), right[column].to_pylist(), strict=True):
            assert (a is None) == (b is None) and (
                a is None or abs(a - b) <= float_tolerance * max(abs(a), abs(b))
            ), f"{name}.{column}: {a} != {b}"
