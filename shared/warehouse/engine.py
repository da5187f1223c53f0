"""The engines that run the transforms' SQL: what a refresh asks of one, and DuckDB's.

DuckDB runs in-process (embedded mode, `func start`, one Function); Spark runs the same
SQL, translated, on a Synapse pool (`shared.warehouse.spark`). A refresh session binds
inputs by name, defines views over them, reads small results and writes tables through
an engine, never naming which one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from types import TracebackType
from typing import Protocol

import duckdb
import pyarrow as pa
from deltalake import DeltaTable

from shared.lake import Lake, Zone
from shared.warehouse.sources import ParquetFiles, Rows

BATCH_ROWS = 256 * 1024


def on_dates(expression: str, dates: Iterable[date]) -> str:
    """`expression IN (DATE 'y-m-d', …)` (sorted, so the SQL text is deterministic); FALSE
    for no dates, as Spark refuses an empty IN list."""
    listed = ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(dates))
    return f"{expression} IN ({listed})" if listed else "FALSE"


def key_table(keys: Iterable[str]) -> pa.Table:
    """Business keys as a one-column table (`key`) to bind and semi-join on."""
    return pa.table({"key": pa.array(sorted(keys), pa.string())})


def parquet_scan(files: ParquetFiles) -> str:
    """DuckDB's `read_parquet(...)` of the files (at least one), partition columns typed."""
    paths = ", ".join("'" + path.replace("'", "''") + "'" for path in files.paths)
    options = "hive_partitioning = false"
    if files.partitioning:
        types = ", ".join(f"'{column}': '{kind}'" for column, kind in files.partitioning.items())
        options = f"hive_partitioning = true, hive_types = {{{types}}}"
    return f"read_parquet([{paths}], {options})"


class SqlEngine(Protocol):
    """What a refresh session asks of an engine. SQL is DuckDB's dialect, whichever runs it;
    a name is bound or defined before the statements that read it."""

    def wants_files(self, lake: Lake) -> bool:
        """Whether inputs should be handed over as lists of Parquet files (`ParquetFiles`)
        rather than Arrow datasets."""

    def bind(self, name: str, data: Rows | pa.Table) -> None: ...

    def define(self, name: str, sql: str, *, materialize: bool = False) -> None:
        """Name a query; `materialize` computes it once for the queries that follow."""

    def table(self, sql: str) -> pa.Table:
        """A (small) result, brought into this process."""

    def write(self, lake: Lake, sql: str, zone: Zone, table: str, *, schema: pa.Schema,
              partition_by: str | None, dates: list[date] | None,
              delta: DeltaTable | None) -> None:
        """Write the query's rows over the table: over the date partitions `dates` of
        `partition_by` (all other partitions kept), or the whole table when `dates` is
        None. `schema` is the table's (the embedded engine's types); `delta` the table
        when it exists and is open."""

    def close(self) -> None: ...


def bind_where(engine: SqlEngine, name: str, data: Rows | pa.Table, column: str,
               values: set[str]) -> None:
    """Bind as `name` only the rows whose `column` is one of `values` (a semi-join, which
    the engine pushes into the scan, so a long list of keys costs no more than a short one)."""
    engine.bind(f"{name}__all", data)
    engine.bind(f"{name}__keys", key_table(values))
    engine.define(name, f"SELECT * FROM {name}__all"
                        f" WHERE {column} IN (SELECT key FROM {name}__keys)")


class DuckDBEngine:
    """One DuckDB connection for a refresh; inputs are bound by name before each query."""

    def __init__(self, threads: int | None = None) -> None:
        self._con = duckdb.connect()
        # Dates of timestamps are UTC dates, whatever the machine's zone.
        self._con.execute("SET TimeZone = 'UTC'")
        # Progress bars of long queries would land in the output of whatever runs a refresh.
        self._con.execute("SET enable_progress_bar = false")
        # Row order is never meaningful in these tables; not keeping it saves memory.
        self._con.execute("SET preserve_insertion_order = false")
        if threads:
            self._con.execute(f"SET threads = {int(threads)}")
        self._bound: dict[str, str] = {}  # name -> how it is bound
        self._sources: dict[str, Rows | pa.Table] = {}  # name -> what it was bound to

    def wants_files(self, lake: Lake) -> bool:
        return lake.local  # DuckDB's own Parquet reader, several times faster on local files

    def bind(self, name: str, data: Rows | pa.Table) -> None:
        if self._sources.get(name) is data:
            return  # already bound to this very input (a table's files are read once)
        if isinstance(data, ParquetFiles):
            self._bind_files(name, data)
        else:
            self._unbind(name)
            self._con.register(name, data)
            self._bound[name] = "arrow"
        self._sources[name] = data

    def _bind_files(self, name: str, files: ParquetFiles) -> None:
        if not files.paths:  # read_parquet needs at least one file
            self.bind(name, files.schema.empty_table())
            return
        self.define(name, f"SELECT * FROM {parquet_scan(files)}")

    def define(self, name: str, sql: str, *, materialize: bool = False) -> None:
        """Name a query: a view, or (`materialize`) a temporary table read once and then
        shared by the queries that follow (DuckDB spills it to disk if memory runs short)."""
        self._unbind(name)
        kind = "TABLE" if materialize else "VIEW"
        self._con.execute(f"CREATE TEMP {kind} {name} AS {sql}")
        self._bound[name] = kind

    def _unbind(self, name: str) -> None:
        self._sources.pop(name, None)
        kind = self._bound.pop(name, None)
        if kind == "arrow":
            self._con.unregister(name)
        elif kind is not None:
            self._con.execute(f"DROP {kind} {name}")

    def stream(self, sql: str) -> pa.RecordBatchReader:
        return self._con.sql(sql).to_arrow_reader(BATCH_ROWS)

    def table(self, sql: str, params: dict[str, object] | None = None) -> pa.Table:
        return self._con.sql(sql, params=params).to_arrow_table()

    def write(self, lake: Lake, sql: str, zone: Zone, table: str, *, schema: pa.Schema,
              partition_by: str | None, dates: list[date] | None,
              delta: DeltaTable | None) -> None:
        predicate = None if dates is None else (
            f"{partition_by} IN ({', '.join(repr(d.isoformat()) for d in dates)})")
        # Closed even if the write fails before reading it all: until then the connection
        # runs no other query (a retry's).
        with self.stream(sql) as rows:
            lake.write_table(rows, zone, table, mode="overwrite",
                             partition_by=[partition_by] if partition_by else None,
                             predicate=predicate, table=delta)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
