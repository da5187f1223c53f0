"""One process's part of a refresh: the files of a snapshot, the engine that runs the
steps (DuckDB, or Spark on Synapse), the tables it opened, and the inputs of each table's
SQL bound by name. Planning reads only what landed since the last refresh, so it always
runs on an in-process DuckDB (`planner`), whichever engine runs the steps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from types import TracebackType

import pyarrow as pa
import pyarrow.fs as pafs
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from shared.lake import Lake, StaleWriteError, Zone
from shared.lease import LeaseLostError
from shared.types import Progress
from shared.warehouse.engine import DuckDBEngine, SqlEngine, key_table, on_dates
from shared.warehouse.sources import (
    Rows,
    landed_input,
    partition_dates,
    raw_events_input,
    table_input,
)
from shared.warehouse.specs import CALENDAR, LANDED, RAW_EVENTS, Catalog, Step, TableSpec
from shared.warehouse.state import Plan, RefreshState, Snapshot, Watermark

CHUNK_BYTES = 64 * 1024 * 1024
"""Raw event Parquet read per query: bounds memory whatever the history's length."""

EngineFactory = Callable[[], SqlEngine]
"""Makes the engine a session runs its steps on (DuckDB by default)."""


@dataclass(frozen=True)
class TableRefresh:
    table: str
    action: str  # "partitions", "merged", "replaced", "unchanged"
    partitions: int = 0
    seconds: float = 0.0


class RefreshSession:
    """Opened per process (and per refresh step): it reads only the snapshot's files."""

    def __init__(self, lake: Lake, catalog: Catalog, snapshot: Snapshot,
                 chunk_bytes: int = CHUNK_BYTES, progress: Progress | None = None,
                 engine: EngineFactory = DuckDBEngine) -> None:
        self.lake = lake
        self._engine_factory = engine
        self.catalog = catalog
        self.snapshot = snapshot
        self.chunk_bytes = chunk_bytes
        self.progress = progress or (lambda _: None)
        self.state = RefreshState(lake)
        folder = lake.path(Zone.RAW, "events")
        self.raw_files = {
            date.fromisoformat(day): [pafs.FileInfo(f"{folder}/{path}", pafs.FileType.File,
                                                    size=size)
                                      for path, size in sorted(files.items())]
            for day, files in snapshot.event_files.items()}
        self.landed = {view: snapshot.landed.get(dataset.value, [])
                       for view, dataset in LANDED.items()}
        """Landed input -> the names of its files in the snapshot."""
        self.tables: list[TableRefresh] = []
        self.plan_in_hand: Plan | None = None
        """The plan being carried out (kept if this run loses the lake while writing)."""
        # Opened tables and their datasets, dropped when the table is written.
        self._deltas: dict[str, DeltaTable] = {}
        self._datasets: dict[str, Rows] = {}
        self._landed_dates: dict[tuple[str, str], set[date]] = {}

    def __enter__(self) -> RefreshSession:
        self.planner = DuckDBEngine()
        self.engine: SqlEngine = (self.planner if self._engine_factory is DuckDBEngine
                                  else self._engine_factory())
        self.as_files = self.engine.wants_files(self.lake)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.planner.close()
        if self.engine is not self.planner:
            self.engine.close()
        if isinstance(error, LeaseLostError | StaleWriteError) and self.plan_in_hand:
            self.state.keep_lost_plan(self.plan_in_hand)

    def ordered_tables(self) -> list[TableRefresh]:
        order = {spec.table: number for number, spec in enumerate(self.catalog)}
        return sorted(self.tables, key=lambda table: order[table.table])

    def record(self, spec: TableSpec, action: str, partitions: int = 0,
               seconds: float = 0.0) -> None:
        self.tables.append(TableRefresh(spec.table, action, partitions, seconds))

    @cached_property
    def previous(self) -> Watermark:
        return self.state.watermark()

    # -- tables -----------------------------------------------------------------------

    def delta(self, spec: TableSpec) -> DeltaTable | None:
        if spec.name not in self._deltas:
            try:
                self._deltas[spec.name] = self.lake.table(spec.zone, spec.table)
            except TableNotFoundError:
                return None
        return self._deltas[spec.name]

    def exists(self, spec: TableSpec) -> bool:
        return self.delta(spec) is not None

    def reopen(self, spec: TableSpec) -> None:
        """Open the table again, at its latest version."""
        self._deltas.pop(spec.name, None)

    def rows(self, spec: TableSpec, date_column: str | None = None,
             dates: list[date] | None = None) -> Rows:
        delta = self.delta(spec)
        if delta is None:
            raise RuntimeError(f"{spec.table} does not exist yet")
        if dates is not None:
            return table_input(self.lake, delta, date_column, dates, as_files=self.as_files)
        if spec.name not in self._datasets:
            self._datasets[spec.name] = table_input(self.lake, delta, as_files=self.as_files)
        return self._datasets[spec.name]

    def after_write(self, spec: TableSpec) -> None:
        """After a write: the open table catches up with its log; its file list is stale."""
        delta = self._deltas.get(spec.name)
        if delta is not None:
            delta.update_incremental()
        self._datasets.pop(spec.name, None)

    def partition_dates(self, spec: TableSpec) -> set[date]:
        """The date partitions a partitioned table has now (none if it does not exist)."""
        if not self.exists(spec):
            return set()
        return partition_dates(self.rows(spec), spec.date_column)

    # -- dates ------------------------------------------------------------------------

    def all_dates(self, spec: TableSpec) -> set[date]:
        """Every date partition the table will have: its source's dates for a partition-
        step table, else the partitions of the table that drives its dates."""
        if spec.step is Step.PARTITION:
            ((source, dated),) = spec.inputs.items()
            if source == RAW_EVENTS:
                return set(self.raw_files)
            return self.landed_dates(source, dated.dates)
        driver, _ = self.catalog.dated_table_input(spec)
        if self.exists(driver):
            return partition_dates(self.rows(driver), driver.date_column)
        return self.all_dates(driver)

    def landed_dates(self, view: str, expression: str) -> set[date]:
        """The dates of every landed row of an input (read once per refresh)."""
        if (view, expression) not in self._landed_dates:
            self.engine.bind("all_landed", self.landed_input(view))
            self._landed_dates[view, expression] = values(self.engine.table(
                f"SELECT DISTINCT {expression} FROM all_landed"))
        return self._landed_dates[view, expression]

    def date_source(self, spec: TableSpec) -> str:
        """The source whose dates drive a partitioned table's, through its dated inputs."""
        while spec.step is not Step.PARTITION:
            spec, _ = self.catalog.dated_table_input(spec)
        (source,) = spec.inputs
        return source

    def chunks(self, spec: TableSpec, dates: list[date]) -> list[list[date]]:
        """Dates grouped so each query reads at most `chunk_bytes` of raw events (tables
        whose dates come from events); other tables take all their dates at once."""
        if self.date_source(spec) != RAW_EVENTS:
            return [dates] if dates else []
        chunks: list[list[date]] = []
        size = 0
        for day in dates:
            day_bytes = sum(info.size for info in self.raw_files.get(day, []))
            if not chunks or size + day_bytes > self.chunk_bytes:
                chunks.append([])
                size = 0
            chunks[-1].append(day)
            size += day_bytes
        return chunks

    def calendar(self) -> list[str]:
        """First and last ISO date with data in the partition step's tables (as rebuilt)."""
        days = set().union(*(self.partition_dates(spec)
                             for spec in self.catalog.step(Step.PARTITION)))
        return [d.isoformat() for d in (min(days), max(days))] if days else []

    def dates_of(self, spec: TableSpec, date_column: str, keys: dict[str, set[str]]
                 ) -> set[date]:
        """Dates of the table's rows whose key columns take any of the given values."""
        wanted = {column: values for column, values in keys.items() if values}
        if not wanted or not self.exists(spec):
            return set()
        self.engine.bind("keyed", self.rows(spec))
        for column, values_of_column in wanted.items():
            self.engine.bind(f"keyed_{column}", key_table(values_of_column))
        conditions = [f"{column} IN (SELECT key FROM keyed_{column})" for column in wanted]
        return values(self.engine.table(
            f"SELECT DISTINCT {date_column} FROM keyed WHERE {' OR '.join(conditions)}"))

    # -- inputs -----------------------------------------------------------------------

    def landed_input(self, view: str, names: list[str] | None = None) -> Rows:
        """The snapshot's (or the named) files of a landed input, as the engine binds them."""
        return landed_input(self.lake, LANDED[view], self.landed[view] if names is None
                            else names, as_files=self.as_files)

    def bind_inputs(self, spec: TableSpec, dates: list[date] | None,
                    calendar: list[str] | None = None) -> None:
        """Bind everything the table's SQL reads; dated inputs only for `dates` (if given)."""
        for name in spec.reads:
            dated = spec.inputs.get(name) if dates is not None else None
            if name == RAW_EVENTS:
                chosen = dates if dated else sorted(self.raw_files)
                files = [f for d in chosen for f in self.raw_files.get(d, [])]
                self.engine.bind(name, raw_events_input(self.lake, files,
                                                        as_files=self.as_files))
            elif name in LANDED:
                self._bind_landed(name, dated.dates if dated else None,
                                  dated.groups if dated else None, dates)
            elif name == CALENDAR:
                self.engine.bind(name, _days(calendar or self.calendar()))
            elif dated:
                self.engine.bind(name, self.rows(self.catalog[name], dated.dates, dates))
            else:
                self.engine.bind(name, self.rows(self.catalog[name]))

    def _bind_landed(self, view: str, expression: str | None, groups: str | None,
                     dates: list[date] | None) -> None:
        rows = self.landed_input(view)
        if expression is None or dates is None:
            self.engine.bind(view, rows)
            return
        self.engine.bind(f"{view}__all", rows)
        dated = on_dates(expression, dates)
        self.engine.define(view, f"SELECT * FROM {view}__all WHERE " + (
            f"{groups} IN (SELECT {groups} FROM {view}__all WHERE {dated})" if groups
            else dated))


def _days(calendar: list[str]) -> pa.Table:
    first, last = (date.fromisoformat(d) for d in calendar) if calendar else (None, None)
    span = (last - first).days + 1 if first and last else 0
    return pa.table({"date_day": pa.array([first + timedelta(days=i) for i in range(span)],
                                          pa.date32())})


def values(table: pa.Table) -> set:
    """The first column's values, as a set."""
    return set(table.column(0).to_pylist())


