"""The tables as they are: what each holds, and the data tests its spec declares."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from deltalake.exceptions import TableNotFoundError

from shared.lake import Lake
from shared.warehouse.engine import DuckDBEngine
from shared.warehouse.specs import CATALOG, Catalog, TableSpec


@dataclass(frozen=True)
class TableStatus:
    name: str
    path: str
    """Zone and folder in the lake (`curated/fact_sales`)."""
    step: str
    write: str
    key: tuple[str, ...]
    version: int | None
    """Its Delta version (None: not built yet, or unreadable)."""
    rows: int | None
    """From its Delta log: no data file is read."""
    error: str | None = None
    """Why its log cannot be read (a damaged table)."""


def table_status(lake: Lake, catalog: Catalog = CATALOG) -> list[TableStatus]:
    """Every table of the catalog, in refresh order, with its version and row count."""
    statuses = []
    for spec in catalog:
        version = rows = error = None
        try:
            delta = lake.table(spec.zone, spec.table)
            version = delta.version()
            counts = pa.table(delta.get_add_actions(flatten=True)).column("num_records")
            rows = int(pc.sum(counts).as_py() or 0)
        except TableNotFoundError:
            pass
        except Exception as exc:  # a damaged log: report it, list the other tables
            error = _first_line(exc)
        statuses.append(TableStatus(spec.name, f"{spec.zone.value}/{spec.table}",
                                    spec.step.value, spec.write.value, spec.key, version, rows,
                                    error))
    return statuses


@dataclass(frozen=True)
class DataTestResult:
    table: str
    test: str
    """`unique(a, b)`, `not_null(a)`, `built` (the table exists) or `readable`."""
    failing_rows: int
    error: str | None = None
    """Why the table could not be read (`readable`)."""

    @property
    def passed(self) -> bool:
        return self.failing_rows == 0 and self.error is None


def run_data_tests(lake: Lake, catalog: Catalog = CATALOG) -> list[DataTestResult]:
    """Every declared test of every table; a table not built yet fails `built`, one whose
    files cannot be read fails `readable` (and the others are still tested)."""
    results = []
    with DuckDBEngine() as engine:
        for spec in catalog:
            try:
                engine.bind(spec.name, lake.table(spec.zone, spec.table).to_pyarrow_dataset())
                results += _table_tests(engine, spec)
            except TableNotFoundError:
                results.append(DataTestResult(spec.name, "built", 1))
            except Exception as exc:  # a missing or damaged data file
                results.append(DataTestResult(spec.name, "readable", 1, _first_line(exc)))
    return results


def _table_tests(engine: DuckDBEngine, spec: TableSpec) -> list[DataTestResult]:
    unique = ", ".join(spec.unique)
    checks = {f"unique({unique})": f"SELECT COUNT(*) - COUNT(DISTINCT ({unique})) FROM {spec.name}"}
    for column in spec.tests.not_null:
        checks[f"not_null({column})"] = f"SELECT COUNT(*) FROM {spec.name} WHERE {column} IS NULL"
    return [DataTestResult(spec.name, test, engine.table(sql).column(0)[0].as_py())
            for test, sql in checks.items()]


def _first_line(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error) else ''}"
