"""The landed zone (`raw/landed/<dataset>/`): each batch dataset's canonical shape, and
where its files are.

A mapping (`shared/batch/mappings/*.toml`) turns one export's columns into one of these
datasets; batch landing writes them here and the refresh reads them from here, so both
depend on this module and not on each other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import pyarrow as pa
import pyarrow.dataset as ds

from shared.lake import Lake, Zone
from shared.types import MONEY, UTC_TIMESTAMP


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
        pa.field("ordered_at", UTC_TIMESTAMP, nullable=False),
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
        pa.field("updated_at", UTC_TIMESTAMP),  # since when these attributes hold; null: unknown
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

ROW_QUARANTINE_SCHEMA = pa.schema([
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
    "implausible_timestamp": "a timestamp before 1970 or after 2199: a placeholder such as "
                             "0001-01-01 or 9999-12-31, not a moment",
    "bad_date": "a date matches none of the mapping's formats",
}
"""Why a single row is quarantined (the rest of the file still lands)."""

PLAUSIBLE_TIMESTAMPS = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))
"""The moments an export's timestamps may take (from, until): a date far outside them would
stretch the calendar, and every daily table and chart, across centuries."""


LANDED_COLUMNS = [pa.field("source_file", pa.string(), nullable=False),
                  pa.field("landed_at", UTC_TIMESTAMP, nullable=False)]
"""Added to every landed batch row: which file (content hash) and when it landed."""


def landed_schema(dataset: Dataset) -> pa.Schema:
    schema = SCHEMAS[dataset]
    for column in LANDED_COLUMNS:
        schema = schema.append(column)
    return schema


def landed_folder(lake: Lake, dataset: Dataset) -> str:
    return lake.path(Zone.RAW, "landed", dataset.value)


def landed_files(lake: Lake, dataset: Dataset) -> list[str]:
    """File names (content hashes) of every landed file of the dataset (empty ones are
    what an interrupted write left: see `shared.warehouse.sources.raw_event_files`)."""
    return [info.base_name for info in lake.file_infos(landed_folder(lake, dataset), ".parquet")
            if info.size]


def landed_rows(lake: Lake, dataset: Dataset, names: list[str] | None = None) -> ds.Dataset:
    """Landed rows of all (or the named) files of a dataset."""
    folder = landed_folder(lake, dataset)
    if names is None:
        names = landed_files(lake, dataset)
    return ds.dataset([f"{folder}/{name}" for name in names], schema=landed_schema(dataset),
                      filesystem=lake.fs, format="parquet")
