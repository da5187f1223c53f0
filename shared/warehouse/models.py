"""The tables the refresh builds: one SQL file each, with how it is stored and refreshed.

Like dbt models, each SQL file is a plain SELECT over other tables by name; this module
declares what the SQL cannot: where the result lives, its key (tests check uniqueness),
its partition column and how a refresh writes it. The list is in dependency order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path

from shared.lake import Zone

SQL_FOLDER = Path(__file__).with_name("sql")


class Write(StrEnum):
    PARTITIONS = "partitions"
    """Rebuild the date partitions a refresh touches (Delta overwrite with a predicate)."""
    MERGE = "merge"
    """Compute the rows of the business keys new data mentions, merge them on the key:
    only changed rows are written."""
    REPLACE = "replace"
    """Compute the whole (small) table and replace it when its inputs changed."""


@dataclass(frozen=True)
class Model:
    name: str
    zone: Zone
    table: str
    key: tuple[str, ...]
    write: Write
    partition_by: str | None = None
    scoped_inputs: dict[str, str] = field(default_factory=dict)
    """Inputs read only for the partitions being rebuilt: view name -> its date column."""
    grouped_inputs: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Inputs read only for the groups that have a row on the dates being rebuilt:
    view name -> (group column, date expression). Dedupe by key needs every version of a
    key, and all of a key's versions share its group (an order line's order)."""

    @property
    def sql(self) -> str:
        return _sql(self.name)

    @property
    def date_column(self) -> str:
        """The date partition column of a PARTITIONS model."""
        if self.write is not Write.PARTITIONS or self.partition_by is None:
            raise ValueError(f"{self.name} is not rebuilt by date partition")
        return self.partition_by


@cache
def _sql(name: str) -> str:
    return (SQL_FOLDER / f"{name}.sql").read_text(encoding="utf-8")


MODELS: tuple[Model, ...] = (
    Model("stg_events", Zone.PROCESSED, "events", ("event_id",), Write.PARTITIONS,
          "event_date", {"raw_events": "event_date"}),
    Model("stg_order_lines", Zone.PROCESSED, "order_lines", ("order_id", "line_number"),
          Write.PARTITIONS, "order_date",
          grouped_inputs={"landed_order_lines": ("order_id", "CAST(ordered_at AS DATE)")}),
    Model("stg_customers", Zone.PROCESSED, "customers", ("customer_id", "valid_from"),
          Write.REPLACE),
    Model("stg_products", Zone.PROCESSED, "products", ("product_id",), Write.REPLACE),
    Model("dim_date", Zone.CURATED, "dim_date", ("date",), Write.REPLACE),
    Model("dim_product", Zone.CURATED, "dim_product", ("product_id",), Write.MERGE),
    Model("dim_customer", Zone.CURATED, "dim_customer", ("customer_key",), Write.MERGE),
    Model("fact_sales", Zone.CURATED, "fact_sales", ("order_id", "line_number"),
          Write.PARTITIONS, "order_date", {"stg_order_lines": "order_date"}),
    Model("fact_events", Zone.CURATED, "fact_events",
          ("event_date", "event_type", "product_id"), Write.PARTITIONS, "event_date",
          {"stg_events": "event_date"}),
    Model("kpi_revenue_by_category_day", Zone.CURATED, "kpi_revenue_by_category_day",
          ("order_date", "category"), Write.PARTITIONS, "order_date",
          {"fact_sales": "order_date"}),
    Model("kpi_conversion_funnel", Zone.CURATED, "kpi_conversion_funnel", ("event_date",),
          Write.PARTITIONS, "event_date", {"stg_events": "event_date"}),
    Model("kpi_customer_lifetime_value", Zone.CURATED, "kpi_customer_lifetime_value",
          ("customer_id",), Write.MERGE),
    Model("kpi_top_products", Zone.CURATED, "kpi_top_products", ("category", "product_id"),
          Write.REPLACE, "category"),
)

BY_NAME = {model.name: model for model in MODELS}
