"""The shop as the files a retailer would upload: catalogue, customers, orders, events.

Orders and events are written a day at a time as they are generated, so exporting a
long period needs no more memory than one day.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from .bodies import event_bodies
from .columns import ORDERS_SCHEMA
from .shop import SimulatedShop
from .strings import rfc3339_column

_CSV_OPTIONS = pacsv.WriteOptions(quoting_style="needed")


@dataclass(frozen=True)
class ExportFiles:
    """Where the exports were written and how many data rows (or events) each holds."""

    products: Path
    customers: Path
    orders: Path
    events: Path
    products_rows: int
    customers_rows: int
    orders_rows: int
    events_rows: int


def write_exports(shop: SimulatedShop, out_dir: Path) -> ExportFiles:
    """Write products.csv, customers.csv (last day), orders.csv and events.ndjson.

    CSVs are UTF-8 with a header row; timestamps are RFC 3339 UTC with milliseconds.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {name: out_dir / name for name in
             ("products.csv", "customers.csv", "orders.csv", "events.ndjson")}
    products = shop.products
    customers = shop.customers
    pacsv.write_csv(products, files["products.csv"], _CSV_OPTIONS)
    pacsv.write_csv(_iso_timestamps(customers), files["customers.csv"], _CSV_OPTIONS)

    orders_rows = events_rows = 0
    orders_schema = _iso_timestamps(ORDERS_SCHEMA.empty_table()).schema
    with (
        pacsv.CSVWriter(files["orders.csv"], orders_schema, write_options=_CSV_OPTIONS) as orders,
        files["events.ndjson"].open("wb") as events,
    ):
        for day in shop.days():
            orders.write_table(_iso_timestamps(day.orders))
            orders_rows += day.orders.num_rows
            bodies = event_bodies(day.events)
            if bodies:
                events.write(b"\n".join(bodies) + b"\n")
            events_rows += len(bodies)
    return ExportFiles(
        products=files["products.csv"],
        customers=files["customers.csv"],
        orders=files["orders.csv"],
        events=files["events.ndjson"],
        products_rows=products.num_rows,
        customers_rows=customers.num_rows,
        orders_rows=orders_rows,
        events_rows=events_rows,
    )


def write_csv(table: pa.Table, path: Path) -> Path:
    """One table as an export file: UTF-8, header row, RFC 3339 timestamps."""
    pacsv.write_csv(_iso_timestamps(table), path, _CSV_OPTIONS)
    return path


def _iso_timestamps(table: pa.Table) -> pa.Table:
    """Timestamp columns as RFC 3339 strings: Arrow's CSV writer would use a space."""
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            text = rfc3339_column(table.column(i).combine_chunks())
            table = table.set_column(i, pa.field(field.name, pa.string()), text)
    return table
