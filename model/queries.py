"""The predictive steps' inputs: SQL files in `model/sql/` over the lake's curated tables."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

import pyarrow as pa

from shared.lake import Lake, Zone
from shared.warehouse import DuckDBEngine, table_input


def read_sql(name: str) -> str:
    return resources.files("model").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def curated_query(lake: Lake, name: str, tables: Sequence[str],
                  params: dict[str, object] | None = None) -> pa.Table | None:
    """`model/sql/<name>.sql` over the curated `tables`, with `$name` parameters; None when
    one of the tables does not exist yet (nothing refreshed)."""
    if not all(lake.table_exists(Zone.CURATED, table) for table in tables):
        return None
    with DuckDBEngine() as engine:
        for table in tables:
            engine.bind(table, table_input(lake, lake.table(Zone.CURATED, table)))
        return engine.table(read_sql(name), params)
