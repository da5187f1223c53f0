"""The star schema, declared: each table is `tables/<name>.sql` plus `tables/<name>.toml`
(`specs.py` loads them into a `Catalog`); the incremental refresh (`refresh.py`: planning,
steps, write strategies) loops over the catalog, runs the SQL on an engine (DuckDB in
process, `engine.py`; Spark, `spark.py`, translated by `dialect.py`) and writes Delta
tables; `checks.py` runs each spec's data tests."""

from shared.warehouse.checks import DataTestResult, TableStatus, run_data_tests, table_status
from shared.warehouse.engine import DuckDBEngine, SqlEngine
from shared.warehouse.refresh import (
    NoPlannedRefreshError,
    PlannedRefresh,
    RefreshResult,
    RefreshStepError,
    TableRefresh,
    plan_refresh,
    refresh,
    refresh_dimensions,
    refresh_facts,
    refresh_kpis,
    refresh_partition,
)
from shared.warehouse.sources import table_input
from shared.warehouse.specs import CATALOG, Catalog, Step, TableSpec, Write, load_catalog
from shared.warehouse.state import RefreshState

__all__ = [
    "CATALOG",
    "Catalog",
    "DataTestResult",
    "DuckDBEngine",
    "NoPlannedRefreshError",
    "PlannedRefresh",
    "RefreshResult",
    "RefreshState",
    "RefreshStepError",
    "SqlEngine",
    "Step",
    "TableRefresh",
    "TableSpec",
    "TableStatus",
    "Write",
    "load_catalog",
    "plan_refresh",
    "refresh",
    "refresh_dimensions",
    "refresh_facts",
    "refresh_kpis",
    "refresh_partition",
    "run_data_tests",
    "table_input",
    "table_status",
]
