"""The batch exports: what a retailer would upload, written a day at a time."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv

from shared.simulator import ShopConfig, simulate_shop, write_exports

from .checks import ISO_MILLIS


def test_exports_hold_every_row_with_headers_and_iso_timestamps(tmp_path: Path) -> None:
    shop = simulate_shop(ShopConfig(seed=5, days=6, products=50, customers=150,
                                    sessions_per_day=250))
    files = write_exports(shop, tmp_path / "out")
    days = list(shop.days())
    orders = pa.concat_tables([d.orders for d in days])
    events = pa.concat_tables([d.events for d in days])
    assert (files.products_rows, files.customers_rows) == (50, shop.customers.num_rows)
    assert (files.orders_rows, files.events_rows) == (orders.num_rows, events.num_rows)

    products = pacsv.read_csv(files.products)
    assert products.column_names == shop.products.column_names
    assert products["product_id"].to_pylist() == shop.products["product_id"].to_pylist()
    customers = pacsv.read_csv(files.customers, convert_options=pacsv.ConvertOptions(
        column_types={"updated_at": pa.string()}))
    assert customers.num_rows == files.customers_rows
    assert customers["name"].to_pylist() == shop.customers["name"].to_pylist()  # UTF-8, quotes
    assert all(ISO_MILLIS.match(t) for t in customers["updated_at"].to_pylist())
    written_orders = pacsv.read_csv(files.orders, convert_options=pacsv.ConvertOptions(
        column_types={"ordered_at": pa.string()}))
    assert written_orders.column_names == orders.column_names
    assert written_orders.num_rows == files.orders_rows > 0
    assert all(ISO_MILLIS.match(t) for t in written_orders["ordered_at"].to_pylist())
    assert written_orders["quantity"].to_pylist() == orders["quantity"].to_pylist()

    lines = files.events.read_bytes().splitlines()
    assert len(lines) == files.events_rows
    assert [orjson.loads(line)["event_id"] for line in lines] == events["event_id"].to_pylist()
