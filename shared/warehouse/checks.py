"""The tables as they are: what each holds, and the data tests its spec declares."""

from __future__ import annotations

from dataclasses import dataclass

from deltalake.exceptions import TableNotFoundError

from shared.lake import Lake
from shared.warehouse.engine import Engine
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
    """Its Delta version (None: not built yet)."""
    rows: int | None


def table_status(lake: Lake, catalog: Catalog = CATALOG) -> list[TableStatus]:
    """Every table of the catalog, in refresh order, with its version and row count."""
    statuses = []
    for spec in catalog:
        try:
            delta = lake.table(spec.zone, spec.table)
            version, rows = delta.version(), delta.to_pyarrow_dataset().count_rows()
        except TableNotFoundError:
            version = rows = None
        statuses.append(TableStatus(spec.name, f"{spec.zone.value}/{spec.table}",
                                    spec.step.value, spec.write.value, spec.key, version, rows))
    return statuses


@dataclass(frozen=True)
class DataTestResult:
    table: str
    test: str
    """`unique(a, b)`, `not_null(a)` or `exists`."""
    failing_rows: int

    @property
    def passed(self) -> bool:
        return self.failing_rows == 0


def run_data_tests(lake: Lake, catalog: Catalog = CATALOG) -> list[DataTestResult]:
    """Every declared test of every table; a table not built yet fails `exists`."""
    results = []
    with Engine() as engine:
        for spec in catalog:
            try:
                engine.bind(spec.name, lake.table(spec.zone, spec.table).to_pyarrow_dataset())
            except TableNotFoundError:
                results.append(DataTestResult(spec.name, "exists", 1))
                continue
            results += _table_tests(engine, spec)
    return results


def _table_tests(engine: Engine, spec: TableSpec) -> list[DataTestResult]:
    unique = ", ".join(spec.unique)
    checks = {f"unique({unique})": f"SELECT COUNT(*) - COUNT(DISTINCT ({unique})) FROM {spec.name}"}
    for column in spec.tests.not_null:
        checks[f"not_null({column})"] = f"SELECT COUNT(*) FROM {spec.name} WHERE {column} IS NULL"
    return [DataTestResult(spec.name, test, engine.table(sql).column(0)[0].as_py())
            for test, sql in checks.items()]
