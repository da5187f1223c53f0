"""Refresh processed and curated tables from what landed, rebuilding only what changed.

Order of work, each step an atomic Delta commit:
1. plan: raw event date partitions whose files changed since the watermark, new landed
   batch files (and the order dates they touch); a pending plan of an interrupted run is
   added, and the plan is saved, with the listing it was computed from, before anything
   is written; every later step reads the files of that listing only;
2. the partition step: the planned date partitions of the tables over raw and landed
   inputs (`stg_events`, `stg_order_lines`);
3. the dimensions step: tables replaced when their inputs changed (`stg_customers`,
   `dim_date`…), then merged dimensions; dimensions that changed add the dates of the
   rows built on them (a product's orders and events) to the plan, which is saved again
   before the merge;
4. the facts step: facts and daily KPIs for the planned dates (Delta overwrite with a
   predicate);
5. the KPI step: whole-history KPIs, replaced when an input changed or merged for the
   keys (customers) the new data mentions;
6. the watermark (the planning listing: files that landed since wait for the next
   refresh), then the pending plan is removed.

Which table belongs to which step, how it is written and what drives its dates is in its
spec (`specs.py`, `tables/`); this module and `steps.py` loop over the catalog.

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
from datetime import UTC, date, datetime

from shared.lake import Lake, Zone
from shared.landed import Dataset, landed_files
from shared.warehouse import steps
from shared.warehouse.engine import DuckDBEngine
from shared.warehouse.planning import plan_changes
from shared.warehouse.session import (
    CHUNK_BYTES,
    EngineFactory,
    Progress,
    RefreshSession,
    TableRefresh,
)
from shared.warehouse.sources import raw_event_files
from shared.warehouse.specs import CATALOG, Catalog, Step
from shared.warehouse.state import (
    DamagedPlanError,
    Plan,
    RefreshState,
    Snapshot,
    Watermark,
    fingerprint,
)

logger = logging.getLogger("shoplake.refresh")


class RefreshStepError(RuntimeError):
    """A refresh step was called before the steps it depends on."""


class NoPlannedRefreshError(RefreshStepError):
    """A refresh step was called with no pending plan to work from."""


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
    """ISO dates whose partition-step tables must be rebuilt (`refresh_partition`), sorted."""
    run_id: str
    """Names the plan: `refresh_kpis(lake, run_id)` retried after it finished is a no-op."""

    def to_json(self) -> dict[str, object]:
        return {"full": self.full, "resumed": self.resumed, "partitions": list(self.partitions),
                "run_id": self.run_id}


def refresh(lake: Lake, *, full: bool = False, chunk_bytes: int = CHUNK_BYTES,
            progress: Progress | None = None, catalog: Catalog = CATALOG,
            engine: EngineFactory = DuckDBEngine) -> RefreshResult:
    """Bring processed/ and curated/ up to date with raw/ (everything when `full`); the
    steps run on `engine` (DuckDB in this process by default)."""
    started = time.perf_counter()
    catalog.check()  # a spec that does not match its SQL stops the run here, not midway
    with lake.writer(), RefreshSession(lake, catalog, _listing(lake), chunk_bytes,
                                       progress, engine) as session:
        plan, resumed = _plan(session, full)
        steps.partition_step(session, plan)
        for step in (Step.DIMENSIONS, Step.FACTS, Step.KPIS):
            steps.run_step(session, plan, step)
        _finish(session, plan)
    return RefreshResult(full=plan.full, tables=session.ordered_tables(), resumed=resumed,
                         seconds=time.perf_counter() - started)


# -- the same refresh as separate steps, each in a process of its own if wished ----------


def plan_refresh(lake: Lake, *, full: bool = False, catalog: Catalog = CATALOG
                 ) -> PlannedRefresh:
    """List the lake, plan what to rebuild (with any interrupted run's plan) and save it."""
    catalog.check()
    with lake.writer(), RefreshSession(lake, catalog, _listing(lake)) as session:
        plan, resumed = _plan(session, full)
    return PlannedRefresh(plan.full, resumed, [d.isoformat() for d in sorted(plan.partitions)],
                          plan.run_id)


def refresh_partition(lake: Lake, day: date, *, catalog: Catalog = CATALOG,
                      engine: EngineFactory = DuckDBEngine) -> list[TableRefresh]:
    """Rebuild the partition step's tables for one planned date.

    Writes that date's partitions only, so the dates of a plan may run concurrently.
    """
    with lake.writer():
        state = RefreshState(lake)
        plan = _pending_plan(state, "refresh_partition")
        if day not in plan.partitions:
            raise RefreshStepError(
                f"refresh_partition: {day} is not a date of the planned refresh")
        with RefreshSession(lake, catalog, plan.snapshot, engine=engine) as session:
            session.plan_in_hand = plan
            steps.partition_day(session, plan, day)
        state.mark_partition_done(plan.run_id, day)
    return session.ordered_tables()


def refresh_dimensions(lake: Lake, *, catalog: Catalog = CATALOG,
                       engine: EngineFactory = DuckDBEngine) -> list[TableRefresh]:
    """The dimensions step (once every planned partition is rebuilt); changed dimensions
    add the dates of the rows built on them to the plan."""
    def ready(_: str, state: RefreshState, plan: Plan) -> None:
        missing = plan.partitions - state.partitions_done(plan.run_id)
        if missing:
            raise RefreshStepError(
                f"refresh_dimensions: run refresh_partition first for {len(missing)} planned"
                f" date(s): {', '.join(d.isoformat() for d in sorted(missing))}")

    def run(session: RefreshSession, plan: Plan) -> None:
        steps.create_unplanned(session)
        plan.done.discard(Step.FACTS.value)  # facts follow the dimensions as now refreshed
        steps.run_step(session, plan, Step.DIMENSIONS)

    return _step(lake, catalog, engine, "refresh_dimensions", ready, run)


def refresh_facts(lake: Lake, *, catalog: Catalog = CATALOG,
                  engine: EngineFactory = DuckDBEngine) -> list[TableRefresh]:
    """The facts step: facts and daily KPIs for the planned dates (after
    `refresh_dimensions`)."""
    return _step(lake, catalog, engine, "refresh_facts", _after(Step.DIMENSIONS),
                 lambda session, plan: steps.run_step(session, plan, Step.FACTS))


def refresh_kpis(lake: Lake, run_id: str | None = None, *, catalog: Catalog = CATALOG,
                 engine: EngineFactory = DuckDBEngine) -> list[TableRefresh]:
    """The KPI step, then the watermark (the planning listing), then the plan is removed
    (after `refresh_facts`). With the plan's `run_id`, a retry of a call that already
    finished (its answer lost on the way) finds its run done and does nothing."""
    def run(session: RefreshSession, plan: Plan) -> None:
        steps.run_step(session, plan, Step.KPIS)
        _finish(session, plan)

    with lake.writer():
        state = RefreshState(lake)
        if run_id is not None and not state.has_pending_plan() \
                and state.watermark().run_id == run_id:
            return []
        return _step(lake, catalog, engine, "refresh_kpis", _after(Step.FACTS), run,
                     save=False)


Ready = Callable[[str, RefreshState, Plan], None]
"""Raises `RefreshStepError` if the named step may not run yet."""


def _step(lake: Lake, catalog: Catalog, engine: EngineFactory, name: str, ready: Ready,
          run: Callable[[RefreshSession, Plan], None], *, save: bool = True
          ) -> list[TableRefresh]:
    """Run a step of the pending plan in this process, then save the plan."""
    with lake.writer():
        state = RefreshState(lake)
        plan = _pending_plan(state, name)
        ready(name, state, plan)
        with RefreshSession(lake, catalog, plan.snapshot, engine=engine) as session:
            session.plan_in_hand = plan
            run(session, plan)
        if save:
            state.save_pending_plan(plan)
    return session.ordered_tables()


def _after(step: Step) -> Ready:
    def ready(name: str, _: RefreshState, plan: Plan) -> None:
        if step.value not in plan.done:
            raise RefreshStepError(f"{name}: run refresh_{step.value} first")
    return ready


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


def _plan(session: RefreshSession, full: bool) -> tuple[Plan, bool]:
    """This refresh's plan, with an interrupted one's, saved; and whether there was one."""
    state = session.state
    try:
        pending = state.pending_plan()
    except DamagedPlanError as error:
        logger.warning("%s", error)
        pending = Plan(full=True)
    plan = plan_changes(session, full)
    if pending is not None:
        plan = plan.union(pending)
    lost = state.lost_plans()
    for name, redo in lost.items():
        logger.warning("redoing the refresh of run %s, which lost the lake", name)
        plan = plan.union(redo)
    plan.absorbed = sorted(lost)
    plan.watermark_version = session.previous.version
    state.save_pending_plan(plan)
    session.plan_in_hand = plan
    return plan, pending is not None


def _finish(session: RefreshSession, plan: Plan) -> None:
    """Record the snapshot as refreshed, then drop the plan.

    The watermark is replaced only if it is still the one the plan started from (a
    writer that lost the lake must not move it), or is damaged; if it is this plan's
    already, only the plan is dropped.
    """
    state = session.state
    current = state.watermark()
    if current.run_id != plan.run_id:  # (else written; the plan was not dropped)
        state.save_watermark(current.version if current.damaged else plan.watermark_version,
                             Watermark(
            event_partitions={d.isoformat(): fingerprint(files)
                              for d, files in sorted(session.raw_files.items())},
            landed={view.removeprefix("landed_"): names
                    for view, names in session.landed.items()},
            calendar=plan.calendar or [],
            refreshed_at=datetime.now(UTC).isoformat(timespec="seconds"),
            run_id=plan.run_id,
        ))
    state.clear_pending_plan()
    state.drop_lost_plans(plan.absorbed)
