"""Answer KPI queries from the curated Delta tables, cached per table version.

Each table a KPI reads is loaded into an in-process DuckDB once per Delta version (from its
live files) and kept there; every request first brings the tables it reads up to their
latest version (`update_incremental`: the new log entries only), so a refresh is seen by the
next request, and an answer is cached under the versions it was computed from, so nothing is
read or computed again while nothing changed. A table that does not exist yet reads as empty;
one that cannot be read (a corrupt commit, a missing file) as what was read of it last.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import orjson
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

from shared.analytics.ingest_log import INGEST_LOG_SCHEMA, IngestLog
from shared.analytics.specs import FILTER_PARAMETERS, INGEST_LOG, KPIS, KpiSpec
from shared.lake import Lake
from shared.warehouse.engine import parquet_scan
from shared.warehouse.sources import ParquetFiles, Rows, table_input
from shared.warehouse.specs import CATALOG

logger = logging.getLogger("shoplake.kpis")

CACHED_ANSWERS = 512
CACHED_BYTES = 64 * 1024 * 1024
"""The answer cache's bounds: entries, and bytes of JSON."""
REOPEN_AFTER_S = 60.0
"""A table is opened anew at least this often: a table removed and written again from
version 0 is then read within a minute (following the log from the old version would not
see it)."""
DIMENSIONS = ("dim_date", "dim_product")
"""Read by every request: the data's first and last day, and the categories."""


@dataclass(frozen=True)
class KpiFilters:
    date_from: date | None = None
    date_to: date | None = None
    category: str | None = None
    limit: int | None = None

    def given(self) -> list[str]:
        """The filters set, by their names in the API."""
        return [name for name, field in FILTER_PARAMETERS.items()
                if getattr(self, field) is not None]


class KpiError(ValueError):
    """A request the KPIs cannot answer; `problems` are (where, what) pairs, `valid` says
    what would have been accepted."""

    def __init__(self, message: str, problems: list[tuple[str, str]],
                 valid: dict[str, Any]) -> None:
        super().__init__(message)
        self.problems = problems
        self.valid = valid


class KpiReader:
    """One lake's KPIs; safe to share between threads (requests take turns)."""

    def __init__(self, lake: Lake, kpis: dict[str, KpiSpec] = KPIS,
                 cached_answers: int = CACHED_ANSWERS) -> None:
        self.lake = lake
        self.kpis = kpis
        self._con = duckdb.connect()
        self._con.execute("SET TimeZone = 'UTC'")
        self._lock = threading.Lock()
        self._deltas: dict[str, tuple[DeltaTable, float]] = {}  # table -> (it, opened at)
        self._loaded: dict[str, object] = {}  # table -> the version in DuckDB
        self._ingest = IngestLog(lake)
        self._answers: OrderedDict[tuple, bytes] = OrderedDict()
        self._dimensions_read: tuple[tuple, list[str], dict[str, str | None]] | None = None
        self._cached_bytes = 0
        self._cached_answers = cached_answers

    def close(self) -> None:
        self._con.close()

    # -- answers ----------------------------------------------------------------------

    def overview(self) -> bytes:
        """The KPIs, the categories and the data's first and last day, as JSON."""
        with self._lock:
            versions = self._sync(DIMENSIONS)
            return self._cached(("overview", versions), lambda: {
                "kpis": [_describe(spec) for spec in self.kpis.values()],
                "categories": self._dimensions()[0],
                "dates": self._dimensions()[1],
                "periods": periods(self._dimensions()[1]),
                "as_of": dict(zip(DIMENSIONS, versions, strict=True)),
            })

    def answer(self, name: str, filters: KpiFilters) -> bytes:
        """The KPI's rows for the filters, as JSON; KpiError when either is not valid."""
        spec = self.kpis.get(name)
        if spec is None:
            raise KpiError(f"there is no KPI {name!r}", [("path.name", "unknown KPI")],
                           {"kpis": sorted(self.kpis)})
        tables = tuple(dict.fromkeys((*DIMENSIONS, *spec.reads)))
        with self._lock:
            versions = self._sync(tables)
            resolved = self._resolve(spec, filters)
            return self._cached((name, resolved, versions), lambda: {
                "kpi": name,
                "title": spec.title,
                "filters": {"from": resolved.date_from, "to": resolved.date_to,
                            "category": resolved.category, "limit": resolved.limit},
                "as_of": dict(zip(tables, versions, strict=True)),
                "rows": self._rows(spec, resolved),
            })

    def _cached(self, key: tuple, compute: Any) -> bytes:
        answer = self._answers.get(key)
        if answer is not None:
            self._answers.move_to_end(key)
            return answer
        answer = orjson.dumps(compute(), default=_json_default)
        self._answers[key] = answer
        self._cached_bytes += len(answer)
        while len(self._answers) > self._cached_answers or (
                self._cached_bytes > CACHED_BYTES and len(self._answers) > 1):
            self._cached_bytes -= len(self._answers.popitem(last=False)[1])
        return answer

    def _resolve(self, spec: KpiSpec, filters: KpiFilters) -> KpiFilters:
        """The filters checked against the KPI and the data, with defaults filled in."""
        problems = [(f"query.{name}", f"{spec.name} takes no {name} filter")
                    for name in filters.given() if name not in spec.filters]
        categories, extent = self._dimensions()
        if filters.category is not None and filters.category not in categories:
            problems.append(("query.category", f"no category {filters.category!r}"))
        if spec.limit and filters.limit is not None and not (
                1 <= filters.limit <= spec.limit.max):
            problems.append(("query.limit", f"limit is between 1 and {spec.limit.max}"))
        first = filters.date_from or _day(extent["first"]) or _today()
        last = filters.date_to or _day(extent["last"]) or _today()
        if first > last:
            problems.append(("query.from", f"from ({first}) is after to ({last})"))
        if problems:
            raise KpiError(f"{spec.name}: the filters are not valid", problems, {
                "filters": list(spec.filters), "categories": categories,
                "dates": extent, **({"limit": spec.limit.model_dump()} if spec.limit else {})})
        limit = (filters.limit or spec.limit.default) if spec.limit else None
        return replace(filters, date_from=first, date_to=last, limit=limit)

    def _rows(self, spec: KpiSpec, filters: KpiFilters) -> list[dict[str, Any]]:
        first, last = filters.date_from, filters.date_to
        # The period of the same length just before, as much of it as the calendar has.
        before = min((last - first).days + 1, (first - date.min).days)
        values = {"date_from": first, "date_to": last,
                  "previous_from": first - timedelta(days=before) if before else None,
                  "previous_to": first - timedelta(days=1) if before else None,
                  "category": filters.category, "limit": filters.limit}
        return self._con.sql(spec.sql, params={p: values[p] for p in spec.parameters}
                             ).to_arrow_table().to_pylist()

    def _dimensions(self) -> tuple[list[str], dict[str, str | None]]:
        """The categories and the data's first and last day, read again only when the
        dimensions' loaded versions change (every request needs them)."""
        versions = tuple(self._loaded.get(table) for table in DIMENSIONS)
        if self._dimensions_read is None or self._dimensions_read[0] != versions:
            self._dimensions_read = (versions, self._categories(), self._extent())
        return self._dimensions_read[1], self._dimensions_read[2]

    def _categories(self) -> list[str]:
        return [row[0] for row in self._con.execute(
            "SELECT DISTINCT category FROM dim_product WHERE category IS NOT NULL"
            " ORDER BY category").fetchall()]

    def _extent(self) -> dict[str, str | None]:
        ((first, last),) = self._con.execute("SELECT MIN(date), MAX(date) FROM dim_date"
                                             ).fetchall()
        return {"first": first and first.isoformat(), "last": last and last.isoformat()}

    # -- tables -----------------------------------------------------------------------

    def _sync(self, names: tuple[str, ...]) -> tuple:
        """Bring each named table to its latest version in DuckDB; their versions."""
        return tuple(self._sync_one(name) for name in names)

    def _sync_one(self, name: str) -> object:
        if name == INGEST_LOG:
            rows = self._ingest.table()
            if self._loaded.get(name) != self._ingest.generation:
                self._load(name, rows, INGEST_LOG_SCHEMA)
                self._loaded[name] = self._ingest.generation
            return self._loaded[name]
        schema = CATALOG.schemas[name]
        for _attempt in range(2):
            try:
                delta = self._delta(name)
                version = -1 if delta is None else delta.version()
                if self._loaded.get(name) != version:
                    self._load(name, schema.empty_table() if delta is None
                               else table_input(self.lake, delta), schema)
                    self._loaded[name] = version
                return version
            except (DeltaError, OSError, duckdb.Error) as error:
                self._deltas.pop(name, None)  # opened anew for the second attempt
                failure = error
        # A damaged table (a corrupt commit, a missing file) is no reason to fail every
        # answer that reads it: keep what was read last, or read it as empty.
        logger.warning("cannot read %s (%s): answering with %s", name, failure,
                       "its last version read" if name in self._loaded else "no rows")
        if name not in self._loaded:
            self._load(name, schema.empty_table(), schema)
            self._loaded[name] = -1
        return self._loaded[name]

    def _delta(self, name: str) -> DeltaTable | None:
        """The table at its latest version; None when it does not exist (yet)."""
        opened = self._deltas.get(name)
        if opened is not None and time.monotonic() - opened[1] < REOPEN_AFTER_S:
            try:
                opened[0].update_incremental()
                return opened[0]
            except (DeltaError, OSError):
                pass  # rebuilt from scratch, say: open it anew
        self._deltas.pop(name, None)
        spec = CATALOG[name]
        try:
            delta = self.lake.table(spec.zone, spec.table)
        except TableNotFoundError:
            return None
        self._deltas[name] = (delta, time.monotonic())
        return delta

    def _load(self, name: str, rows: Rows | pa.Table, schema: pa.Schema) -> None:
        """The rows into DuckDB's memory, as `schema` has them (a column a table written by
        an older version lacks reads as NULL): a local table's files through DuckDB's own
        Parquet reader (several times faster), others as Arrow. All or nothing: what was
        loaded before stays until the new rows are all in."""
        staged = f"{name}__next"
        self._con.register("incoming", schema.empty_table())
        try:
            self._con.execute(f"CREATE OR REPLACE TEMP TABLE {staged} AS SELECT * FROM incoming")
        finally:
            self._con.unregister("incoming")
        try:
            if not (isinstance(rows, ParquetFiles) and not rows.paths):
                columns = ", ".join(f'"{column}"' for column in schema.names
                                    if column in set(rows.schema.names))
                insert = f"INSERT INTO {staged} BY NAME SELECT {columns} FROM "
                if isinstance(rows, ParquetFiles):
                    self._con.execute(insert + parquet_scan(rows))
                else:
                    self._con.register("incoming", rows)
                    try:
                        self._con.execute(insert + "incoming")
                    finally:
                        self._con.unregister("incoming")
            self._con.execute(f"DROP TABLE IF EXISTS {name}")
            self._con.execute(f"ALTER TABLE {staged} RENAME TO {name}")
        except duckdb.Error:
            self._con.execute(f"DROP TABLE IF EXISTS {staged}")
            raise


def periods(extent: dict[str, str | None], months: int = 12) -> list[dict[str, str]]:
    """Periods to pick from, ending on the data's last day: the last 7, 28 and 90 days (those
    the data covers), its latest `months` calendar months, and all of it."""
    first, last = _day(extent["first"]), _day(extent["last"])
    if first is None or last is None:
        return []
    found = [{"label": f"Last {days} days", "from": (last - timedelta(days=days - 1)).isoformat(),
              "to": last.isoformat()}
             for days in (7, 28, 90) if (last - first).days + 1 >= days]
    month = last.replace(day=1)
    for _ in range(months):
        found.append({"label": month.strftime("%B %Y"), "from": max(month, first).isoformat(),
                      "to": min(last, _month_end(month)).isoformat()})
        if month <= first.replace(day=1):  # the data's first month (and never before year 1)
            break
        month = (month - timedelta(days=1)).replace(day=1)
    found.append({"label": "All time", "from": first.isoformat(), "to": last.isoformat()})
    return found


def _month_end(month: date) -> date:
    """The last day of the month that starts on `month` (December 9999 included)."""
    if month.month == 12:
        return month.replace(day=31)
    return month.replace(month=month.month + 1) - timedelta(days=1)


def _describe(spec: KpiSpec) -> dict[str, Any]:
    return {"name": spec.name, "title": spec.title, "description": spec.description,
            "filters": list(spec.filters),
            "limit": spec.limit.model_dump() if spec.limit else None,
            "columns": spec.columns}


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _today() -> date:
    return datetime.now(UTC).date()

