"""Refresh processed and curated tables from what landed, rebuilding only what changed.

Order of work, each step an atomic Delta commit:
1. plan: raw event date partitions whose files changed since the watermark, new landed
   batch files (and the order dates they touch); a pending plan of an interrupted run is
   added, and the plan is saved, with the listing it was computed from, before anything
   is written; every later step reads the files of that listing only;
2. processed tables: the date partitions of `stg_events` and `stg_order_lines`, then the
   snapshot tables (`stg_customers`, `stg_products`);
3. dimensions, merged; customers or products that changed add the dates of their orders
   (and of their products' events) to the plan, which is saved again before the merge;
4. facts and daily KPIs for the planned dates (Delta overwrite with a predicate);
5. whole-history KPIs: top products recomputed when any sale changed, lifetime value
   recomputed and merged for the customers the new data mentions;
6. the watermark (the planning listing: files that landed since wait for the next
   refresh), then the pending plan is removed.

Every step is a deterministic function of the lake's contents, so rerunning any prefix
gives the same tables: a refresh killed at any point is finished by the next one, and an
incremental refresh equals a full one.

`refresh` runs it all in one process, reading the dates of a step in bounded groups. An
orchestrator may instead run the steps as activities, in other processes: `plan_refresh`,
then `refresh_partition` for each planned date (concurrently if wished: each writes its
own date's partitions only), `refresh_dimensions`, `refresh_facts` and `refresh_kpis`.
Each re-reads the pending plan, refuses to run before the steps it depends on, and gives
the same tables when rerun (an activity retry); together they build what `refresh` does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from types import TracebackType

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from shared.batch.datasets import Dataset
from shared.lake import Lake, StaleWriteError, Zone
from shared.lease import LeaseLostError
from shared.warehouse.engine import Engine, date_list, references
from shared.warehouse.models import BY_NAME, MODELS, Model
from shared.warehouse.sources import (
    Rows,
    landed_files,
    landed_input,
    landed_rows,
    partition_dates,
    raw_event_files,
    raw_events_input,
    table_input,
)
from shared.warehouse.state import (
    DamagedPlanError,
    Plan,
    RefreshState,
    Snapshot,
    Watermark,
    fingerprint,
)

logger = logging.getLogger("shoplake.refresh")

CHUNK_BYTES = 64 * 1024 * 1024
"""Raw event Parquet read per query: bounds memory whatever the history's length."""

PARTITION_ATTEMPTS = 4
"""Writes of one date partition before a commit conflict is left to the caller's retry."""

LANDED_VIEWS = {f"landed_{dataset.value}": dataset for dataset in Dataset}
PROCESSED_FOR = {Dataset.CUSTOMERS.value: "stg_customers", Dataset.PRODUCTS.value: "stg_products"}
_ORDER = {model.table: number for number, model in enumerate(MODELS)}


class RefreshStepError(RuntimeError):
    """A refresh step was called before the steps it depends on."""


class NoPlannedRefreshError(RefreshStepError):
    """A refresh step was called with no pending plan to work from."""


@dataclass(frozen=True)
class TableRefresh:
    table: str
    action: str  # "partitions", "merged", "replaced", "unchanged"
    partitions: int = 0
    seconds: float = 0.0


@dataclass
class RefreshResult:
    full: bool
    tables: list[TableRefresh] = field(default_factory=list)
    seconds: float = 0.0
    resumed: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "full": self.full,
            "resumed": self.resumed,
            "seconds": round(self.seconds, 3),
            "tables": {t.table: {"action": t.action, "partitions": t.partitions,
                                 "seconds": round(t.seconds, 3)} for t in self.tables},
        }


@dataclass(frozen=True)
class PlannedRefresh:
    """What `plan_refresh` saved: `refresh_partition` is due for each of `partitions`."""

    full: bool
    resumed: bool
    """A pending plan of an interrupted run was included."""
    partitions: list[str]
    """ISO dates whose processed partitions must be rebuilt (`refresh_partition`), sorted."""
    run_id: str
    """Names the plan: `refresh_kpis(lake, run_id)` retried after it finished is a no-op."""

    def to_json(self) -> dict[str, object]:
        return {"full": self.full, "resumed": self.resumed, "partitions": list(self.partitions),
                "run_id": self.run_id}


Progress = Callable[[str], None]


@dataclass(frozen=True)
class _KeyedChange:
    model: Model
    business_key: str
    rows: pa.Table
    scope: set[str] | None
    """The business keys `rows` were computed for (None: all)."""
    changed: set[str]
    facts_changed: set[str]


def refresh(lake: Lake, *, full: bool = False, chunk_bytes: int = CHUNK_BYTES,
            progress: Progress | None = None) -> RefreshResult:
    """Bring processed/ and curated/ up to date with raw/ (everything when `full`)."""
    started = time.perf_counter()
    with lake.writer(), _Refresh(lake, _listing(lake), chunk_bytes, progress) as run:
        plan, resumed = run.plan(full)
        run.processed_partitions(plan)
        run.processed_snapshots(plan)
        run.dimensions(plan)
        run.facts(plan)
        run.global_kpis(plan)
        run.finish(plan)
    return RefreshResult(full=plan.full, tables=run.ordered_tables(), resumed=resumed,
                         seconds=time.perf_counter() - started)


# -- the same refresh as separate steps, each in a process of its own if wished ----------


def plan_refresh(lake: Lake, *, full: bool = False) -> PlannedRefresh:
    """List the lake, plan what to rebuild (with any interrupted run's plan) and save it."""
    with lake.writer(), _Refresh(lake, _listing(lake)) as run:
        plan, resumed = run.plan(full)
    return PlannedRefresh(plan.full, resumed, [d.isoformat() for d in sorted(plan.partitions)],
                          plan.run_id)


def refresh_partition(lake: Lake, day: date) -> list[TableRefresh]:
    """Rebuild the processed partitions of one planned date (events and/or order lines).

    Writes that date's partitions only, so the dates of a plan may run concurrently.
    """
    with lake.writer():
        state = RefreshState(lake)
        plan = _pending_plan(state, "refresh_partition")
        if day not in plan.partitions:
            raise RefreshStepError(
                f"refresh_partition: {day} is not a date of the planned refresh")
        with _Refresh(lake, plan.snapshot) as run:
            run.plan_in_hand = plan
            for name, dates in (("stg_events", plan.event_dates),
                                ("stg_order_lines", plan.order_dates)):
                if day in dates:
                    run.partition(BY_NAME[name], day)
        state.mark_partition_done(plan.run_id, day)
    return run.ordered_tables()


def refresh_dimensions(lake: Lake) -> list[TableRefresh]:
    """Processed snapshot tables, dim_date and the merged dimensions (once every planned
    partition is rebuilt); changed dimensions add the dates of their facts to the plan."""
    with lake.writer():
        state = RefreshState(lake)
        plan = _pending_plan(state, "refresh_dimensions")
        missing = plan.partitions - state.partitions_done(plan.run_id)
        if missing:
            raise RefreshStepError(
                f"refresh_dimensions: run refresh_partition first for {len(missing)} planned"
                f" date(s): {', '.join(d.isoformat() for d in sorted(missing))}")
        with _Refresh(lake, plan.snapshot) as run:
            run.plan_in_hand = plan
            run.unplanned_partitioned_tables()
            run.processed_snapshots(plan)
            run.dimensions(plan)
        plan.facts_done = False  # facts follow the dimensions as now refreshed
        state.save_pending_plan(plan)
    return run.ordered_tables()


def refresh_facts(lake: Lake) -> list[TableRefresh]:
    """Facts and daily KPIs for the planned dates (after `refresh_dimensions`)."""
    with lake.writer():
        state = RefreshState(lake)
        plan = _pending_plan(state, "refresh_facts")
        if plan.calendar is None:
            raise RefreshStepError("refresh_facts: run refresh_dimensions first")
        with _Refresh(lake, plan.snapshot) as run:
            run.plan_in_hand = plan
            run.facts(plan)
        plan.facts_done = True
        state.save_pending_plan(plan)
    return run.ordered_tables()


def refresh_kpis(lake: Lake, run_id: str | None = None) -> list[TableRefresh]:
    """Whole-history KPIs, then the watermark (the planning listing), then the plan is
    removed (after `refresh_facts`). With the plan's `run_id`, a retry of a call that
    already finished (its answer lost on the way) finds its run done and does nothing."""
    with lake.writer():
        state = RefreshState(lake)
        if run_id is not None and not state.has_pending_plan() \
                and state.watermark().run_id == run_id:
            return []
        plan = _pending_plan(state, "refresh_kpis")
        if not plan.facts_done:
            raise RefreshStepError("refresh_kpis: run refresh_facts first")
        with _Refresh(lake, plan.snapshot) as run:
            run.plan_in_hand = plan
            run.global_kpis(plan)
            run.finish(plan)
    return run.ordered_tables()


def _pending_plan(state: RefreshState, step: str) -> Plan:
    try:
        plan = state.pending_plan()
    except DamagedPlanError as error:
        raise NoPlannedRefreshError(f"{step}: {error}: run plan_refresh first") from None
    if plan is None:
        raise NoPlannedRefreshError(
            f"{step}: no planned refresh in _state/refresh/: run plan_refresh first")
    return plan


def _listing(lake: Lake) -> Snapshot:
    """The raw files there are now (one listing per folder)."""
    folder = lake.path(Zone.RAW, "events")
    return Snapshot(
        event_files={day.isoformat(): {info.path[len(folder) + 1:]: info.size for info in files}
                     for day, files in sorted(raw_event_files(lake).items())},
        landed={dataset.value: landed_files(lake, dataset) for dataset in Dataset},
    )


class _Refresh:
    """One process's part of a refresh: the files of a snapshot, one DuckDB connection."""

    def __init__(self, lake: Lake, snapshot: Snapshot, chunk_bytes: int = CHUNK_BYTES,
                 progress: Progress | None = None) -> None:
        self.lake = lake
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
        self.landed = {dataset: snapshot.landed.get(dataset.value, []) for dataset in Dataset}
        self.tables: list[TableRefresh] = []
        self.plan_in_hand: Plan | None = None
        """The plan being carried out (kept if this run loses the lake while writing)."""
        # Opened tables and their datasets, dropped when the table is written.
        self._deltas: dict[str, DeltaTable] = {}
        self._datasets: dict[str, Rows] = {}

    def __enter__(self) -> _Refresh:
        self.engine = Engine()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.engine.close()
        if isinstance(error, LeaseLostError | StaleWriteError) and self.plan_in_hand:
            self.state.keep_lost_plan(self.plan_in_hand)

    def ordered_tables(self) -> list[TableRefresh]:
        return sorted(self.tables, key=lambda table: _ORDER[table.table])

    @cached_property
    def previous(self) -> Watermark:
        return self.state.watermark()

    def plan(self, full: bool) -> tuple[Plan, bool]:
        """This refresh's plan, with an interrupted one's, saved; and whether there was one."""
        try:
            pending = self.state.pending_plan()
        except DamagedPlanError as error:
            logger.warning("%s", error)
            pending = Plan(full=True)
        plan = self._plan(full)
        if pending is not None:
            plan = plan.union(pending)
        lost = self.state.lost_plans()
        for name, redo in lost.items():
            logger.warning("redoing the refresh of run %s, which lost the lake", name)
            plan = plan.union(redo)
        plan.absorbed = sorted(lost)
        plan.watermark_version = self.previous.version
        self.state.save_pending_plan(plan)
        self.plan_in_hand = plan
        return plan, pending is not None

    def finish(self, plan: Plan) -> None:
        """Record the snapshot as refreshed, then drop the plan.

        The watermark is replaced only if it is still the one the plan started from (a
        writer that lost the lake must not move it), or is damaged; if it is this plan's
        already, only the plan is dropped.
        """
        current = self.state.watermark()
        if current.run_id != plan.run_id:  # (else written; the plan was not dropped)
            self._save_watermark(plan, current)
        self.state.clear_pending_plan()
        self.state.drop_lost_plans(plan.absorbed)

    def _save_watermark(self, plan: Plan, current: Watermark) -> None:
        self.state.save_watermark(current.version if current.damaged else
                                  plan.watermark_version, Watermark(
            event_partitions={d.isoformat(): fingerprint(files)
                              for d, files in sorted(self.raw_files.items())},
            landed={dataset.value: names for dataset, names in self.landed.items()},
            calendar=plan.calendar or [],
            refreshed_at=datetime.now(UTC).isoformat(timespec="seconds"),
            run_id=plan.run_id,
        ))

    # -- planning -------------------------------------------------------------------------

    def _plan(self, full: bool) -> Plan:
        if full:
            # Every partition there is or was: a date whose files vanished is emptied.
            return Plan(full=True,
                        event_dates=set(self.raw_files) | self._partition_dates("stg_events"),
                        order_dates=self._landed_order_dates
                        | self._partition_dates("stg_order_lines"),
                        changed_datasets={d.value for d in Dataset},
                        product_ids=None, customer_ids=None, snapshot=self.snapshot)
        before = self.previous.event_partitions
        event_dates = {d for d, files in self.raw_files.items()
                       if before.get(d.isoformat()) != fingerprint(files)}
        event_dates |= {date.fromisoformat(d) for d in before} - set(self.raw_files)
        new_files = {dataset: sorted(set(names) - set(self.previous.landed.get(dataset.value, [])))
                     for dataset, names in self.landed.items()}
        plan = Plan(event_dates=event_dates,
                    changed_datasets={d.value for d, names in new_files.items() if names},
                    snapshot=self.snapshot)
        engine = self.engine
        self._plan_order_lines(new_files[Dataset.ORDER_LINES], plan)
        for dataset, column, keys in ((Dataset.CUSTOMERS, "customer_id", plan.customer_ids),
                                      (Dataset.PRODUCTS, "product_id", plan.product_ids)):
            if new_files[dataset] and keys is not None:
                engine.bind("new_rows", landed_input(self.lake, dataset, new_files[dataset]))
                keys |= _values(engine.table(f"SELECT DISTINCT {column} FROM new_rows"))
        for model, attribute in ((BY_NAME["dim_product"], "product_ids"),
                                 (BY_NAME["dim_customer"], "customer_ids")):
            if not self._exists(model):
                setattr(plan, attribute, None)
        return plan

    def _plan_order_lines(self, new_files: list[str], plan: Plan) -> None:
        """Dates, products and customers of the new lines and of the lines they replace."""
        if not new_files:
            return
        engine = self.engine
        new_lines = landed_rows(self.lake, Dataset.ORDER_LINES, new_files).to_table(
            columns=["order_id", "line_number", "ordered_at", "product_id", "customer_id"])
        engine.bind("new_lines", new_lines)
        sql = ("SELECT CAST(ordered_at AS DATE) AS order_date, product_id, customer_id"
               " FROM new_lines")
        model = BY_NAME["stg_order_lines"]
        if self._exists(model) and new_lines.num_rows:
            # The lines these replace; the range lets Parquet statistics skip files.
            first, last = (v.as_py() for v in pc.min_max(new_lines["order_id"]).values())
            engine.bind("current_lines", self._rows(model))
            sql += (" UNION ALL SELECT order_date, product_id, customer_id FROM current_lines"
                    f" SEMI JOIN new_lines USING (order_id, line_number) WHERE order_id"
                    f" BETWEEN {_literal(first)} AND {_literal(last)}")
        engine.bind("touched", engine.table(sql))
        plan.order_dates |= set(_values(engine.table("SELECT DISTINCT order_date FROM touched")))
        if plan.product_ids is not None:
            plan.product_ids |= _values(engine.table("SELECT DISTINCT product_id FROM touched"))
        if plan.customer_ids is not None:
            plan.customer_ids |= _values(engine.table(
                "SELECT DISTINCT customer_id FROM touched WHERE customer_id IS NOT NULL"))

    # -- steps ----------------------------------------------------------------------------

    def processed_partitions(self, plan: Plan) -> None:
        self._partitions(BY_NAME["stg_events"], plan.event_dates, plan.full)
        self._partitions(BY_NAME["stg_order_lines"], plan.order_dates, plan.full)

    def unplanned_partitioned_tables(self) -> None:
        """Create, empty, the processed partitioned tables that no date's step created (no
        planned date had rows for them), as `processed_partitions` does."""
        for name in ("stg_events", "stg_order_lines"):
            model = BY_NAME[name]
            if not self._exists(model):
                self._partitions(model, set(), full=False)

    def processed_snapshots(self, plan: Plan) -> None:
        for dataset, name in PROCESSED_FOR.items():
            model = BY_NAME[name]
            if plan.full or dataset in plan.changed_datasets or not self._exists(model):
                self._replace(model)
            else:
                self.tables.append(TableRefresh(model.table, "unchanged"))

    def dimensions(self, plan: Plan) -> None:
        calendar = self._dim_date(plan)
        keys = {"product_id": plan.product_ids, "customer_id": plan.customer_ids}
        if None not in keys.values():
            # Only the order lines of affected products and customers matter: read once.
            for column, values in keys.items():
                self.engine.bind(f"{column}_keys", _keys(values))
            self.engine.bind("stg_order_lines__all", self._rows(BY_NAME["stg_order_lines"]))
            self.engine.define(
                "affected_order_lines", "SELECT * FROM stg_order_lines__all WHERE "
                + " OR ".join(f"{c} IN (SELECT key FROM {c}_keys)" for c in keys),
                materialize=True)
        products = self._keyed_change(BY_NAME["dim_product"], "product_id", plan.product_ids,
                                      watched="category")
        customers = self._keyed_change(BY_NAME["dim_customer"], "customer_id",
                                       plan.customer_ids)
        if (products.changed or customers.changed) and not plan.full:
            plan.dims_changed = True
            plan.sales_dates |= self._dates_of("stg_order_lines", "order_date", {
                "product_id": products.facts_changed, "customer_id": customers.facts_changed})
            plan.product_event_dates |= self._dates_of("stg_events", "event_date", {
                "product_id": products.facts_changed})
            self.state.save_pending_plan(plan)
        for change in (products, customers):
            self._write_keyed(change)
        plan.calendar = calendar  # set last: the dimensions are done

    def facts(self, plan: Plan) -> None:
        sales_dates = plan.order_dates | plan.sales_dates
        self._partitions(BY_NAME["fact_sales"], sales_dates, plan.full)
        self._partitions(BY_NAME["fact_events"], plan.event_dates | plan.product_event_dates,
                         plan.full)
        self._partitions(BY_NAME["kpi_revenue_by_category_day"], sales_dates, plan.full)
        self._partitions(BY_NAME["kpi_conversion_funnel"], plan.event_dates, plan.full)

    def global_kpis(self, plan: Plan) -> None:
        changed = plan.full or plan.dims_changed or plan.order_dates or plan.sales_dates
        top = BY_NAME["kpi_top_products"]
        if changed or not self._exists(top):
            self._replace(top)
        else:
            self.tables.append(TableRefresh(top.table, "unchanged"))
        # Lifetime value is per customer: only the customers the new data mentions change.
        lifetime = BY_NAME["kpi_customer_lifetime_value"]
        if plan.full or plan.customer_ids is None or not self._exists(lifetime):
            self._replace(lifetime)
        else:
            self._write_keyed(self._keyed_change(lifetime, "customer_id", plan.customer_ids))

    # -- writing --------------------------------------------------------------------------

    def _partitions(self, model: Model, dates: set[date], full: bool) -> None:
        """Rebuild the given date partitions (all of them, replacing the table, if `full`)."""
        if full:
            dates = self._all_dates(model)
        elif not dates and self._exists(model):
            self.tables.append(TableRefresh(model.table, "unchanged"))
            return
        started = time.perf_counter()
        replace_table = full or not self._exists(model)
        chunks = self._chunks(model, sorted(dates)) or [[]]
        for number, chunk in enumerate(chunks, start=1):
            self.progress(f"{model.table}: {len(chunk)} partition(s), part {number}/{len(chunks)}")
            self._write_dates(model, chunk, replace_table=replace_table and number == 1)
        self.tables.append(TableRefresh(model.table, "partitions", len(dates),
                                        time.perf_counter() - started))

    def partition(self, model: Model, day: date) -> None:
        """Rebuild one date partition and no other, even for a full plan or a new table.

        The dates of a plan may commit to one table concurrently: Delta retries a commit
        over others' commits of other dates' data by itself, but not over the table
        metadata that steps racing to create the table commit (each of them succeeds).
        Once the table is settled, writing again from its latest version succeeds.
        """
        started = time.perf_counter()
        for attempt in range(1, PARTITION_ATTEMPTS + 1):
            try:
                self._write_dates(model, [day], replace_table=False)
                break
            except CommitFailedError:
                if attempt == PARTITION_ATTEMPTS:
                    raise
                self._deltas.pop(model.name, None)  # reopened at its latest version
        self.tables.append(TableRefresh(model.table, "partitions", 1,
                                        time.perf_counter() - started))

    def _write_dates(self, model: Model, dates: list[date], *, replace_table: bool) -> None:
        """Write the model's rows of `dates` over those partitions (or the whole table)."""
        column = model.date_column
        self._bind_inputs(model, dates)
        # Closed even if the write fails before reading it all: until then the connection
        # runs no other query (a retry's).
        with self.engine.stream(
                f"SELECT * FROM ({model.sql}) AS result WHERE {column} IN ({date_list(dates)})"
                if dates else f"SELECT * FROM ({model.sql}) AS result LIMIT 0") as rows:
            self.lake.write_table(
                rows, model.zone, model.table, mode="overwrite", partition_by=[column],
                predicate=None if replace_table else
                f"{column} IN ({', '.join(repr(d.isoformat()) for d in dates)})",
                table=self._delta(model),
            )
        self._written(model)

    def _replace(self, model: Model) -> None:
        self.progress(f"{model.table}: whole table")
        started = time.perf_counter()
        self._bind_inputs(model, None)
        self.lake.write_table(self.engine.stream(model.sql), model.zone, model.table,
                              mode="overwrite",
                              partition_by=[model.partition_by] if model.partition_by else None,
                              table=self._delta(model))
        self._written(model)
        self.tables.append(TableRefresh(model.table, "replaced", 0,
                                        time.perf_counter() - started))

    def _dim_date(self, plan: Plan) -> list[str]:
        """Rebuild dim_date if its span changed; the span (first and last ISO date)."""
        model = BY_NAME["dim_date"]
        # Processed tables are up to date here: their partitions are the days with data.
        days = self._all_dates(BY_NAME["fact_events"]) | self._all_dates(BY_NAME["fact_sales"])
        first, last = (min(days), max(days)) if days else (None, None)
        calendar = [d.isoformat() for d in (first, last) if d]
        # The watermark remembers the span dim_date was last built for.
        if not plan.full and self.previous.calendar == calendar and self._exists(model):
            self.tables.append(TableRefresh(model.table, "unchanged"))
            return calendar
        span = (last - first).days + 1 if first and last else 0
        self.engine.bind("calendar", pa.table({
            "date_day": pa.array([first + timedelta(days=i) for i in range(span)], pa.date32())}))
        self._replace(model)
        return calendar

    def _keyed_change(self, model: Model, business_key: str, keys: set[str] | None,
                      watched: str | None = None) -> _KeyedChange:
        """A table's new rows for the business `keys` (all when None), and which changed.

        Its SQL computes each key's rows from that key's input rows only, so every input is
        read for `keys` alone. Facts copy a dimension's `watched` column (a product's
        category), or depend on all of a key's rows (a customer's versions) when None: keys
        where that changed are the ones whose facts must be rebuilt.
        """
        self._bind_inputs(model, None)
        if keys is not None:
            for name in references(model.sql, [m.name for m in MODELS if m is not model]):
                if name == "stg_order_lines":  # already narrowed by `_dimensions`
                    self.engine.define(name, f"SELECT * FROM affected_order_lines WHERE"
                                       f" {business_key} IN (SELECT key FROM {business_key}_keys)")
                else:
                    self.engine.bind_where(name, self._rows(BY_NAME[name]), business_key, keys)
        rows = self.engine.table(model.sql)
        if not self._exists(model):
            everything = _values(rows.select([business_key]))
            return _KeyedChange(model, business_key, rows, None, everything, everything)
        self.engine.bind("new_rows", rows)
        old_rows = self._rows(model)
        if keys is None:
            self.engine.bind("old_rows", old_rows)
        else:
            self.engine.bind_where("old_rows", old_rows, business_key, keys)
        changed = _values(self.engine.table(
            f"SELECT {business_key} FROM (SELECT * FROM new_rows EXCEPT SELECT * FROM old_rows)"
            f" UNION SELECT {business_key} FROM (SELECT * FROM old_rows EXCEPT"
            f" SELECT * FROM new_rows)"))
        facts_changed = changed if watched is None else _values(self.engine.table(
            f"SELECT {business_key} FROM new_rows FULL JOIN old_rows USING ({business_key})"
            f" WHERE new_rows.{watched} IS DISTINCT FROM old_rows.{watched}"))
        return _KeyedChange(model, business_key, rows, keys, changed, facts_changed)

    def _write_keyed(self, change: _KeyedChange) -> None:
        model = change.model
        if not self._exists(model):
            self.lake.write_table(change.rows, model.zone, model.table, mode="overwrite")
            self._written(model)
            self.tables.append(TableRefresh(model.table, "replaced"))
        elif not change.changed:
            self.tables.append(TableRefresh(model.table, "unchanged"))
        else:
            self.progress(f"{model.table}: merge")
            rows = change.rows
            if change.scope is not None:  # only the changed keys' rows, to the changed keys
                rows = rows.filter(pc.is_in(rows[change.business_key],
                                            pa.array(sorted(change.changed), pa.string())))
            self.lake.merge_table(rows, model.zone, model.table, key=model.key,
                                  scope=None if change.scope is None else
                                  (change.business_key, change.changed))
            self._written(model)
            self.tables.append(TableRefresh(model.table, "merged"))

    # -- inputs ---------------------------------------------------------------------------

    def _bind_inputs(self, model: Model, dates: list[date] | None) -> None:
        """Bind every table the model's SQL reads; scoped inputs only for `dates`."""
        sql = model.sql
        for view in references(sql, LANDED_VIEWS):
            rows = landed_input(self.lake, LANDED_VIEWS[view], self.landed[LANDED_VIEWS[view]])
            if view in model.grouped_inputs and dates is not None:
                group, day = model.grouped_inputs[view]
                self.engine.bind(f"{view}__all", rows)
                self.engine.define(view, f"SELECT * FROM {view}__all WHERE {group} IN"
                                   f" (SELECT {group} FROM {view}__all"
                                   f" WHERE {day} IN ({date_list(dates)}))")
            else:
                self.engine.bind(view, rows)
        if references(sql, ["raw_events"]):
            chosen = dates if dates is not None else sorted(self.raw_files)
            files = [f for d in chosen for f in self.raw_files.get(d, [])]
            self.engine.bind("raw_events", raw_events_input(self.lake, files))
        for name in references(sql, [m.name for m in MODELS if m is not model]):
            scope = model.scoped_inputs.get(name)
            self.engine.bind(name, self._rows(BY_NAME[name], scope,
                                              dates if scope and dates is not None else None))

    def _chunks(self, model: Model, dates: list[date]) -> list[list[date]]:
        """Dates grouped so each query reads at most `chunk_bytes` of raw events (models
        over events); models over order lines take all their dates at once."""
        if model.date_column != "event_date":
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

    def _all_dates(self, model: Model) -> set[date]:
        """Every date partition the model has (or, for processed events, will have)."""
        if model.name in ("stg_events", "fact_events", "kpi_conversion_funnel"):
            return set(self.raw_files)
        source = BY_NAME["stg_order_lines"]
        if model.name != "stg_order_lines" and self._exists(source):
            return partition_dates(self._rows(source), "order_date")
        return self._landed_order_dates

    @cached_property
    def _landed_order_dates(self) -> set[date]:
        """The order dates of every landed order line (read once: planning a full refresh
        and rebuilding stg_order_lines both need them)."""
        self.engine.bind("all_lines", landed_input(self.lake, Dataset.ORDER_LINES,
                                                   self.landed[Dataset.ORDER_LINES]))
        return _values(self.engine.table(
            "SELECT DISTINCT CAST(ordered_at AS DATE) FROM all_lines"))

    def _partition_dates(self, name: str) -> set[date]:
        """The date partitions a processed table has now (none if it does not exist)."""
        model = BY_NAME[name]
        if not self._exists(model):
            return set()
        return partition_dates(self._rows(model), model.date_column)

    def _dates_of(self, name: str, date_column: str, keys: dict[str, set[str]]) -> set[date]:
        """Dates of the model's rows whose key columns take any of the given values."""
        model = BY_NAME[name]
        wanted = {column: sorted(values) for column, values in keys.items() if values}
        if not wanted or not self._exists(model):
            return set()
        self.engine.bind("keyed", self._rows(model))
        conditions = [f"{column} IN (SELECT UNNEST(${number}))"
                      for number, column in enumerate(wanted, start=1)]
        sql = f"SELECT DISTINCT {date_column} FROM keyed WHERE {' OR '.join(conditions)}"
        return set(self.engine.query(sql, list(wanted.values())).column(0).to_pylist())

    def _delta(self, model: Model) -> DeltaTable | None:
        if model.name not in self._deltas:
            try:
                self._deltas[model.name] = self.lake.table(model.zone, model.table)
            except TableNotFoundError:
                return None
        return self._deltas[model.name]

    def _exists(self, model: Model) -> bool:
        return self._delta(model) is not None

    def _rows(self, model: Model, date_column: str | None = None,
              dates: list[date] | None = None) -> Rows:
        delta = self._delta(model)
        if delta is None:
            raise RuntimeError(f"{model.table} does not exist yet")
        if dates is not None:
            return table_input(self.lake, delta, date_column, dates)
        if model.name not in self._datasets:
            self._datasets[model.name] = table_input(self.lake, delta)
        return self._datasets[model.name]

    def _written(self, model: Model) -> None:
        """After a write: the open table catches up with its log; its file list is stale."""
        delta = self._deltas.get(model.name)
        if delta is not None:
            delta.update_incremental()
        self._datasets.pop(model.name, None)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _keys(values: set[str]) -> pa.Table:
    return pa.table({"key": pa.array(sorted(values), pa.string())})


def _values(table: pa.Table) -> set:
    """The first column's values, as a set."""
    return set(table.column(0).to_pylist())
