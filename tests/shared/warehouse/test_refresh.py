"""Incremental refresh: equal to a full one, scoped to what changed, replays harmless."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from shared.lake import Lake, Zone
from shared.warehouse.refresh import refresh
from shared.warehouse.specs import CATALOG
from tests.support.shops import FedShop, assert_same_tables, changed_catalogue, snapshot


def _partitions(result, table: str) -> int:
    return next(t.partitions for t in result.tables if t.table == table)


def _actions(result) -> dict[str, str]:
    return {t.table: t.action for t in result.tables}


def test_incremental_refreshes_equal_a_full_refresh(local_lake: Lake,
                                                    fed_shop: Callable[[Lake], FedShop]) -> None:
    fed = fed_shop(local_lake)
    fed.deliver(1, 5)
    refresh(local_lake)
    fed.deliver(6, 8)  # new days, and a customer list where segments and countries moved on
    fed.feed.upload(changed_catalogue(fed), "shop_products", "products-v2.csv")
    resent = fed.days[2].orders  # day 3 exported again, one line corrected
    quantities = resent["quantity"].to_pylist()
    quantities[0] += 1
    fed.feed.upload(resent.set_column(resent.schema.get_field_index("quantity"), "quantity",
                                      pa.array(quantities)),
                    "shop_orders", "orders-day3-corrected.csv")

    incremental = refresh(local_lake)
    assert not incremental.full
    assert _partitions(incremental, "events") == 3
    assert _partitions(incremental, "order_lines") >= 4  # days 6-8 (and returns) and day 3
    assert _actions(incremental)["dim_product"] == "merged"
    assert _actions(incremental)["dim_customer"] == "merged"
    after_incremental = snapshot(local_lake)

    full = refresh(local_lake, full=True)
    assert full.full
    assert_same_tables(after_incremental, snapshot(local_lake))


def test_a_resent_export_replaces_lines_instead_of_duplicating(
        local_lake: Lake, fed_shop: Callable[[Lake], FedShop]) -> None:
    fed = fed_shop(local_lake)
    fed.deliver(1, 3)
    refresh(local_lake)
    before = local_lake.table(Zone.CURATED, "fact_sales").to_pyarrow_table()
    day = fed.days[1].orders
    first_id, first_line = day["order_id"][0].as_py(), day["line_number"][0].as_py()
    quantities = day["quantity"].to_pylist()
    quantities[0] = 7
    fed.feed.upload(day.set_column(day.schema.get_field_index("quantity"), "quantity",
                                   pa.array(quantities)), "shop_orders", "again.csv")
    refresh(local_lake)
    after = local_lake.table(Zone.CURATED, "fact_sales").to_pyarrow_table()
    assert after.num_rows == before.num_rows
    line = after.filter(pc.and_(pc.equal(after["order_id"], first_id),
                                pc.equal(after["line_number"], first_line)))
    assert line["quantity"].to_pylist() == [7]


@pytest.fixture
def two_days(local_lake: Lake, fed_shop: Callable[[Lake], FedShop]) -> FedShop:
    """The first two days delivered and refreshed."""
    fed = fed_shop(local_lake)
    fed.deliver(1, 2)
    refresh(local_lake)
    return fed


def test_nothing_new_rebuilds_nothing(local_lake: Lake, two_days: FedShop) -> None:
    before = snapshot(local_lake)
    versions = {m.name: local_lake.table(m.zone, m.table).version() for m in CATALOG}
    again = refresh(local_lake)
    assert set(_actions(again).values()) == {"unchanged"}
    assert {m.name: local_lake.table(m.zone, m.table).version() for m in CATALOG} == versions
    assert_same_tables(before, snapshot(local_lake))


def test_redelivered_events_do_not_change_the_tables(local_lake: Lake,
                                                     two_days: FedShop) -> None:
    fed = two_days
    before = snapshot(local_lake)
    fed.feed._next_sequence = [0] * fed.feed.partitions  # the hub replays from the start
    fed.feed.events(fed.days[0])
    fed.feed.orders(fed.days[0])  # the same export uploaded twice: a no-op
    refresh(local_lake)
    assert_same_tables(before, snapshot(local_lake))


@pytest.mark.azurite
def test_refresh_on_azurite_matches_the_local_lake(azurite_lake: Lake, local_lake: Lake,
                                                   fed_shop: Callable[[Lake], FedShop]) -> None:
    for lake in (azurite_lake, local_lake):
        fed_shop(lake).deliver(1, 2)
        refresh(lake)
    assert_same_tables(snapshot(local_lake), snapshot(azurite_lake))
