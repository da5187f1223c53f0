"""The refresh's steps, each a loop over the catalog's tables of that step.

Within a step, tables are written in dependency order; merged tables are computed together
(they may share narrowed inputs), and what their changes add to later steps (dates to
rebuild, tables changed) is saved in the plan before any of them is written, so a run
killed after the merge still rebuilds what depends on it.
"""

from __future__ import annotations

from datetime import date

from shared.warehouse import writes
from shared.warehouse.planning import dates_for, input_changed
from shared.warehouse.session import RefreshSession
from shared.warehouse.specs import Step, TableSpec, Write
from shared.warehouse.state import Plan


def partition_step(session: RefreshSession, plan: Plan) -> None:
    """Every planned date of the partition step's tables (in bounded groups)."""
    for spec in session.catalog.step(Step.PARTITION):
        writes.write_partitions(session, spec, plan.dates.get(spec.name, set()), plan.full)


def partition_day(session: RefreshSession, plan: Plan, day: date) -> None:
    """One planned date of the partition step's tables (dates may run concurrently)."""
    for spec in session.catalog.step(Step.PARTITION):
        if day in plan.dates.get(spec.name, set()):
            writes.write_partition(session, spec, day)


def create_unplanned(session: RefreshSession) -> None:
    """Create, empty, the partition step's tables that no planned date created."""
    for spec in session.catalog.step(Step.PARTITION):
        if not session.exists(spec):
            writes.write_partitions(session, spec, set(), full=False)


def run_step(session: RefreshSession, plan: Plan, step: Step) -> None:
    """The tables of a step after the partition step, then the step is marked done."""
    specs = session.catalog.step(step)
    merged = [spec for spec in specs if spec.write is Write.MERGE]
    after_merge = [spec for spec in specs if spec.write is not Write.MERGE
                   and any(read in {m.name for m in merged} for read in spec.reads)]
    if step is Step.DIMENSIONS:
        plan.calendar = session.calendar()
    for spec in specs:
        if spec not in merged and spec not in after_merge:
            _write(session, plan, spec)
    if merged:
        _merge(session, plan, merged)
    for spec in after_merge:
        _write(session, plan, spec)
    plan.done.add(step.value)


def _write(session: RefreshSession, plan: Plan, spec: TableSpec) -> None:
    if spec.write is Write.PARTITIONS:
        writes.write_partitions(session, spec, dates_for(session, plan, spec), plan.full)
    elif plan.full or not session.exists(spec) or any(
            input_changed(session, plan, name) for name in spec.reads):
        writes.replace(session, spec, plan.calendar)
    else:
        session.record(spec, "unchanged")


def _merge(session: RefreshSession, plan: Plan, specs: list[TableSpec]) -> None:
    keys = {spec.name: None if plan.full or not session.exists(spec)
            else plan.keys.get(spec.merge.by) for spec in specs}
    narrowed = writes.narrow_shared_inputs(session, specs, keys)
    changes = [writes.keyed_change(session, spec, keys[spec.name], narrowed) for spec in specs]
    if not plan.full and _extend(session, plan, [c for c in changes if c.changed]):
        session.state.save_pending_plan(plan)
    for change in changes:
        writes.write_keyed(session, change)


def _extend(session: RefreshSession, plan: Plan, changes: list[writes.KeyedChange]) -> bool:
    """Record changed merged tables that later tables read, and the dates they add to the
    partitioned ones; whether the plan grew."""
    catalog = session.catalog
    changed = {change.spec.name: change for change in changes if catalog.readers(change.spec)}
    if not changed:
        return False
    plan.changed |= set(changed)
    for spec in catalog:
        touched = [changed[name] for name in spec.reads if name in changed]
        driver = catalog.dated_table_input(spec)
        if not touched or spec.write is not Write.PARTITIONS or driver is None:
            continue
        table, date_column = driver
        plan.extra_dates.setdefault(spec.name, set()).update(session.dates_of(
            table, date_column, _facts_changed(touched)))
    return True


def _facts_changed(changes: list[writes.KeyedChange]) -> dict[str, set[str]]:
    keys: dict[str, set[str]] = {}
    for change in changes:
        keys.setdefault(change.spec.merge.by, set()).update(change.facts_changed)
    return keys
