"""The canonical shape of each batch dataset, whatever a retailer's export looks like.

A mapping (`shared/batch/mappings/*.toml`) turns one export's columns into one of these
datasets; everything downstream (landing, the SQL transforms) sees only these columns.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 4)
"""Prices are exact decimals: revenue must reconcile to the cent with the source file."""


class Dataset(StrEnum):
    ORDER_LINES = "order_lines"
    CUSTOMERS = "customers"
    PRODUCTS = "products"


SOURCE_ROW = pa.field("source_row", pa.int64(), nullable=False)
"""Physical line (1-based, the header is line 1) where the record starts in the file."""

SCHEMAS: dict[Dataset, pa.Schema] = {
    Dataset.ORDER_LINES: pa.schema([
        pa.field("order_id", pa.string(), nullable=False),
        pa.field("line_number", pa.int32(), nullable=False),
        pa.field("ordered_at", TIMESTAMP, nullable=False),
        pa.field("customer_id", pa.string()),  # null: a guest
        pa.field("product_id", pa.string(), nullable=False),
        pa.field("product_name", pa.string()),
        pa.field("quantity", pa.int64(), nullable=False),  # negative for returns
        pa.field("unit_price", MONEY, nullable=False),
        pa.field("currency", pa.string()),
        pa.field("is_return", pa.bool_(), nullable=False),
        pa.field("country", pa.string()),  # the customer's country at order time
        SOURCE_ROW,
    ]),
    Dataset.CUSTOMERS: pa.schema([
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("email", pa.string()),
        pa.field("segment", pa.string()),
        pa.field("country", pa.string()),
        pa.field("signup_date", pa.date32()),
        pa.field("updated_at", TIMESTAMP),  # since when these attributes hold; null: unknown
        SOURCE_ROW,
    ]),
    Dataset.PRODUCTS: pa.schema([
        pa.field("product_id", pa.string(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("category", pa.string()),
        pa.field("unit_price", MONEY),
        pa.field("currency", pa.string()),
        SOURCE_ROW,
    ]),
}

REQUIRED_FIELDS: dict[Dataset, frozenset[str]] = {
    dataset: frozenset(f.name for f in schema if not f.nullable and f.name != "source_row")
    for dataset, schema in SCHEMAS.items()
}

QUARANTINE_SCHEMA = pa.schema([
    pa.field("row_number", pa.int64(), nullable=False),  # as SOURCE_ROW
    pa.field("reason", pa.string(), nullable=False),
    pa.field("field", pa.string()),  # the canonical field at fault, if one
    pa.field("detail", pa.string(), nullable=False),
    pa.field("original_line", pa.string(), nullable=False),  # the record's exact text
    pa.field("original", pa.map_(pa.string(), pa.string())),  # header -> raw value
])

ROW_REASONS = {
    "wrong_column_count": "the record has more or fewer fields than the header",
    "bad_encoding": "the record's bytes are not valid in the file's declared encoding",
    "missing_value": "a required field is empty",
    "bad_number": "a quantity or other integer field is not a whole number",
    "bad_decimal": "a price is not a decimal number",
    "bad_timestamp": "a timestamp matches none of the mapping's formats",
    "bad_date": "a date matches none of the mapping's formats",
}
"""Why a single row is quarantined (the rest of the file still lands)."""
