"""DuckDB, in-process: runs a model's SQL over Arrow datasets and streams the result out."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from types import TracebackType

import duckdb
import pyarrow as pa

from shared.warehouse.sources import ParquetFiles, Rows

BATCH_ROWS = 256 * 1024


def date_list(dates: Iterable[date]) -> str:
    """`DATE 'y-m-d', …` for an IN list (sorted, so the SQL text is deterministic)."""
    return ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(dates))


class Engine:
    """One DuckDB connection for a refresh; inputs are bound by name before each query."""

    def __init__(self, threads: int | None = None) -> None:
        self._con = duckdb.connect()
        # Dates of timestamps are UTC dates, whatever the machine's zone.
        self._con.execute("SET TimeZone = 'UTC'")
        # Row order is never meaningful in these tables; not keeping it saves memory.
        self._con.execute("SET preserve_insertion_order = false")
        if threads:
            self._con.execute(f"SET threads = {int(threads)}")
        self._bound: dict[str, str] = {}  # name -> how it is bound
        self._sources: dict[str, Rows | pa.Table] = {}  # name -> what it was bound to

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
        paths = ", ".join("'" + path.replace("'", "''") + "'" for path in files.paths)
        options = "hive_partitioning = false"
        if files.partitioning:
            types = ", ".join(f"'{column}': '{kind}'"
                              for column, kind in files.partitioning.items())
            options = f"hive_partitioning = true, hive_types = {{{types}}}"
        self.define(name, f"SELECT * FROM read_parquet([{paths}], {options})")

    def bind_where(self, name: str, data: Rows | pa.Table, column: str,
                   values: set[str]) -> None:
        """Bind only the rows whose `column` is one of `values` (a semi-join, pushed into
        the scan, so a long list of keys costs no more than a short one)."""
        self.bind(f"{name}__all", data)
        self.bind(f"{name}__keys", pa.table({"key": pa.array(sorted(values), pa.string())}))
        self.define(name, f"SELECT * FROM {name}__all"
                          f" WHERE {column} IN (SELECT key FROM {name}__keys)")

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

    def table(self, sql: str) -> pa.Table:
        return self._con.sql(sql).to_arrow_table()

    def query(self, sql: str, params: list[object]) -> pa.Table:
        """A small parameterised query (values bound, never spliced into the SQL)."""
        return self._con.sql(sql, params=params).to_arrow_table()

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
